//! The benchmark suite of issue 9: every figure, each as the median (with min and max)
//! of interleaved repetitions against a baseline measured in the same invocation, plus
//! the scaling curves; writes `bench/results/latest.json` and SVG plots and prints a
//! table. Run it with `scripts/bench.sh` (which builds what it needs):
//!
//! ```text
//! scripts/bench.sh [--quick] [--reps N] [--only summer,e2e,journal,swap,recovery,takeover,replication,curves]
//! ```
//!
//! Each repetition runs every step once, in order; within a step the subject and its
//! baseline alternate (wasm then native summer, raw fsync then broker appends, …), so
//! drifting machine load hits both alike. A step that fails is reported with the
//! figures it would have produced, and the suite goes on.

mod procs;
mod programs;
mod report;
mod stats;
mod steps;
mod svg;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{anyhow, bail, Context};
use serde_json::json;

use procs::Bins;
use stats::Figures;
use steps::{curves, e2e, journal, recovery, replication, summer, swap, takeover};

/// What a run does, from the command line.
pub struct Settings {
    /// Repetitions of every figure.
    pub reps: usize,
    /// Smaller jobs, fewer repetitions: a smoke run.
    pub quick: bool,
    /// Steps to run (all when empty).
    pub only: Vec<String>,
    /// Where latest.json and the SVGs go.
    pub out_dir: PathBuf,
    /// Scratch space on the disk being measured.
    pub tmp: PathBuf,
    /// Binaries and guests.
    pub bins: Bins,
}

const STEPS: [&str; 8] = ["summer", "e2e", "journal", "swap", "recovery", "takeover", "replication", "curves"];

fn parse_args() -> anyhow::Result<Settings> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    let (mut reps, mut quick, mut only, mut out_dir, mut tmp, mut bin_dir) = (None, false, Vec::new(), None, None, None);
    while let Some(flag) = it.next() {
        let mut value = || it.next().cloned().ok_or_else(|| anyhow!("{flag} needs a value"));
        match flag.as_str() {
            "--quick" => quick = true,
            "--reps" => {
                let v = value()?;
                let n: usize = v.parse().map_err(|_| anyhow!("--reps {v}: not a whole number"))?;
                if n == 0 {
                    bail!("--reps must be at least 1");
                }
                reps = Some(n);
            }
            "--only" => {
                only = value()?.split(',').map(str::to_string).collect();
                if let Some(bad) = only.iter().find(|s| !STEPS.contains(&s.as_str())) {
                    bail!("--only {bad}: not a step (steps: {})", STEPS.join(","));
                }
            }
            "--out-dir" => out_dir = Some(PathBuf::from(value()?)),
            "--tmp" => tmp = Some(PathBuf::from(value()?)),
            "--bin-dir" => bin_dir = Some(PathBuf::from(value()?)),
            other => bail!("unknown flag {other} (expected --quick, --reps N, --only STEPS, --out-dir DIR, --tmp DIR, --bin-dir DIR)"),
        }
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let bins = find_bins(bin_dir)?;
    let tmp = tmp.unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&tmp).with_context(|| format!("--tmp {}", tmp.display()))?;
    Ok(Settings { reps: reps.unwrap_or(if quick { 2 } else { 5 }), quick, only, out_dir: out_dir.unwrap_or_else(|| repo.join("bench/results")), tmp, bins })
}

/// The binaries: in `--bin-dir` (as `scripts/bench.sh` lays them out), or next to this
/// binary in the target directory.
fn find_bins(bin_dir: Option<PathBuf>) -> anyhow::Result<Bins> {
    let (host, wasm, summer, swap) = match bin_dir {
        Some(d) => (d.join("streamsum-host"), d.join("wasm"), d.join("bench_summer"), d.join("swap")),
        None => {
            let exe = std::env::current_exe()?;
            // target/<profile>/bench_suite: the host and bench_summer are its siblings.
            let profile = exe.parent().ok_or_else(|| anyhow!("no target directory above {}", exe.display()))?;
            let target = profile.parent().unwrap_or(profile);
            (profile.join("streamsum-host"), target.join("wasm"), profile.join("bench_summer"), profile.join("swap"))
        }
    };
    for (path, how) in [(&host, "cargo build --release -p streamsum-host --features native-summer"), (&wasm.join("guest_summer.wasm"), "scripts/build-guests.sh")] {
        if !path.exists() {
            bail!("{} is missing (build it: {how}; or run scripts/bench.sh)", path.display());
        }
    }
    Ok(Bins { host, wasm, bench_summer: summer.exists().then_some(summer), swap: swap.exists().then_some(swap) })
}

/// Runs `step`, recording a failure (error or panic) under `names` instead of stopping.
fn step(f: &mut Figures, what: &str, names: &str, body: impl FnOnce(&mut Figures) -> anyhow::Result<()>) {
    let began = Instant::now();
    let outcome = catch_unwind(AssertUnwindSafe(|| body(f)));
    let error = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(format!("{e:#}")),
        Err(panic) => Some(panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_else(|| "panicked".into())),
    };
    match error {
        None => eprintln!("  ({what}: {:.1}s)", began.elapsed().as_secs_f64()),
        Some(e) => {
            eprintln!("  FAILED {what} ({names}): {e}");
            f.failures.push((names.to_string(), format!("{what}: {e}")));
        }
    }
}

fn machine(s: &Settings, load_before: String) -> serde_json::Value {
    let sh = |cmd: &mut Command| cmd.output().ok().filter(|o| o.status.success()).map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let commit = sh(Command::new("git").arg("-C").arg(&repo).args(["rev-parse", "HEAD"]));
    let changed = sh(Command::new("git").arg("-C").arg(&repo).args(["status", "--porcelain", "--untracked-files=no"]));
    let changed: Vec<&str> = changed.lines().map(str::trim).collect();
    let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|t| t.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()));
    json!({
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "cpu": cpu,
        "load_average_before": load_before,
        "load_average_after": loadavg(),
        "build_profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        "git_commit": commit,
        "git_dirty": !changed.is_empty(),
        "git_changed_files": changed,
        "date": sh(Command::new("date").args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])),
        "reps": s.reps,
        "quick": s.quick,
        "kernel": sh(Command::new("uname").arg("-r")),
    })
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim().to_string()
}

fn wants(s: &Settings, name: &str) -> bool {
    s.only.is_empty() || s.only.iter().any(|o| o == name)
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("bench_suite: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> anyhow::Result<()> {
    let s = parse_args()?;
    let load_before = loadavg();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut f = Figures::default();
    summer::declare(&mut f);
    e2e::declare(&mut f);
    journal::declare(&mut f);
    swap::declare(&mut f);
    recovery::declare(&mut f);
    takeover::declare(&mut f);
    replication::declare(&mut f);
    let began = Instant::now();
    // The recovery step's logs, written on its first repetition and played in each.
    let mut logs = None;
    for rep in 0..s.reps {
        eprintln!("repetition {}/{} (load {})", rep + 1, s.reps, loadavg());
        repetition(&s, &mut f, &rt, &mut logs);
    }
    let mut curve = curves::Curve::new();
    if wants(&s, "curves") {
        run_curves(&s, &mut f, &mut curve);
    }
    // Figures of steps that were not run are left out (failed ones stay, as FAILED).
    if !s.only.is_empty() {
        let failed: Vec<String> = f.failures.iter().flat_map(|(names, _)| names.split(", ").map(str::to_string).collect::<Vec<_>>()).collect();
        f.figures.retain(|name, fig| !fig.samples.is_empty() || failed.contains(name));
    }
    let elapsed = began.elapsed().as_secs_f64();
    report::write(&s.out_dir, &f, &curve, machine(&s, load_before), elapsed)
}

/// One repetition: every step that `--only` asks for, once, in order.
fn repetition(s: &Settings, f: &mut Figures, rt: &tokio::runtime::Runtime, logs: &mut Option<recovery::Logs>) {
    if wants(s, "summer") {
        step(f, "summer (bench_summer)", summer::NAMES, |f| summer::rep(s, f));
    }
    if wants(s, "e2e") {
        step(f, "e2e", e2e::NAMES, |f| e2e::rep(s, f));
    }
    if wants(s, "journal") {
        step(f, "journal", journal::NAMES, |f| journal::rep(s, f, rt));
    }
    if wants(s, "swap") {
        step(f, "swap (swap bench)", swap::NAMES, |f| swap::rep(s, f));
    }
    if wants(s, "recovery") {
        step(f, "recovery", recovery::NAMES, |f| recovery::rep(s, f, rt, logs));
    }
    if wants(s, "takeover") {
        step(f, "takeover", takeover::NAMES, |f| takeover::rep(s, f, rt));
    }
    if wants(s, "replication") {
        step(f, "replication", replication::NAMES, |f| replication::rep(s, f, rt));
    }
}

/// The scaling curves: fewer repetitions than the figures (one with `--quick`).
fn run_curves(s: &Settings, f: &mut Figures, curve: &mut curves::Curve) {
    let curve_reps = if s.quick { 1 } else { s.reps.min(3) };
    for rep in 0..curve_reps {
        eprintln!("scaling curves, repetition {}/{curve_reps}", rep + 1);
        let mut cf = Figures::default();
        step(&mut cf, "scaling: partitions", "scaling_partitions", |_| curves::partitions_rep(s, curve));
        step(&mut cf, "scaling: chunk size", "scaling_chunk_size", |_| curves::chunk_size_rep(s, curve));
        f.failures.extend(cf.failures);
    }
}
