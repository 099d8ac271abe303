//! The benchmark suite of issue 9: every figure, each as the median (with min and max)
//! of interleaved repetitions against a baseline measured in the same invocation, plus
//! the scaling curves; writes `bench/results/latest.json` and SVG plots and prints a
//! table. Run it with `scripts/bench.sh` (which builds what it needs):
//!
//! ```text
//! scripts/bench.sh [--quick] [--reps N] [--only summer,e2e,journal,swap,recovery,takeover,curves]
//! ```
//!
//! Each repetition runs every step once, in order; within a step the subject and its
//! baseline alternate (wasm then native summer, raw fsync then broker appends, …), so
//! drifting machine load hits both alike. A step that fails is reported with the
//! figures it would have produced, and the suite goes on.

mod procs;
mod stats;
mod steps;
mod svg;

use steps::{e2e, external, journal, recovery, takeover};


use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{anyhow, bail, Context};
use serde_json::json;

use procs::Bins;
use stats::{summarize, Figures};

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

const STEPS: [&str; 7] = ["summer", "e2e", "journal", "swap", "recovery", "takeover", "curves"];

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
/// example in the target directory.
fn find_bins(bin_dir: Option<PathBuf>) -> anyhow::Result<Bins> {
    let (host, wasm, summer, swap) = match bin_dir {
        Some(d) => (d.join("streamsum-host"), d.join("wasm"), d.join("bench_summer"), d.join("swap")),
        None => {
            let exe = std::env::current_exe()?;
            let profile = exe.ancestors().nth(2).ok_or_else(|| anyhow!("no target directory above {}", exe.display()))?;
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
    external::declare(&mut f);
    e2e::declare(&mut f);
    journal::declare(&mut f);
    recovery::declare(&mut f);
    takeover::declare(&mut f);
    let began = Instant::now();
    let mut logs = None;
    for rep in 0..s.reps {
        eprintln!("repetition {}/{} (load {})", rep + 1, s.reps, loadavg());
        if wants(&s, "summer") {
            step(&mut f, "summer (bench_summer)", external::SUMMER_NAMES, |f| external::summer_rep(&s, f));
        }
        if wants(&s, "e2e") {
            step(&mut f, "e2e", e2e::NAMES, |f| e2e::rep(&s, f));
        }
        if wants(&s, "journal") {
            step(&mut f, "journal", journal::NAMES, |f| journal::rep(&s, f, &rt));
        }
        if wants(&s, "swap") {
            step(&mut f, "swap (swap bench)", external::SWAP_NAMES, |f| external::swap_rep(&s, f));
        }
        if wants(&s, "recovery") {
            step(&mut f, "recovery", recovery::NAMES, |f| recovery::rep(&s, f, &rt, &mut logs));
        }
        if wants(&s, "takeover") {
            step(&mut f, "takeover", takeover::NAMES, |f| takeover::rep(&s, f, &rt));
        }
    }
    let mut curve = e2e::Curve::new();
    if wants(&s, "curves") {
        let curve_reps = if s.quick { 1 } else { s.reps.min(3) };
        for rep in 0..curve_reps {
            eprintln!("scaling curves, repetition {}/{curve_reps}", rep + 1);
            let mut cf = Figures::default();
            step(&mut cf, "scaling: partitions", "scaling_partitions", |_| e2e::partitions_rep(&s, &mut curve));
            step(&mut cf, "scaling: chunk size", "scaling_chunk_size", |_| e2e::chunk_size_rep(&s, &mut curve));
            f.failures.extend(cf.failures);
        }
    }
    // Figures of steps that were not run are left out (failed ones stay, as FAILED).
    if !s.only.is_empty() {
        let failed: Vec<String> = f.failures.iter().flat_map(|(names, _)| names.split(", ").map(str::to_string).collect::<Vec<_>>()).collect();
        f.figures.retain(|name, fig| !fig.samples.is_empty() || failed.contains(name));
    }
    let elapsed = began.elapsed().as_secs_f64();
    write_results(&s, &f, &curve, machine(&s, load_before), elapsed)?;
    Ok(())
}

/// The line of `bench/README.md` after which the suite writes the latest table.
const README_MARKER: &str = "<!-- latest table: generated by the suite into bench/results/latest.md -->";

/// One line saying when, where and how the table was measured, and the curves.
fn run_line(report: &serde_json::Value) -> String {
    let m = &report["machine"];
    let mut out = format!(
        "Measured {} on {} cores ({}), load average before {} / after {}, {} build of commit {}{}, {} repetitions{}, {:.0} s.\n",
        m["date"].as_str().unwrap_or("?"),
        m["cores"],
        m["cpu"].as_str().unwrap_or("?"),
        m["load_average_before"].as_str().unwrap_or("?").split(' ').take(3).collect::<Vec<_>>().join(" "),
        m["load_average_after"].as_str().unwrap_or("?").split(' ').take(3).collect::<Vec<_>>().join(" "),
        m["build_profile"].as_str().unwrap_or("?"),
        m["git_commit"].as_str().unwrap_or("?").get(..10).unwrap_or("?"),
        if m["git_dirty"] == true { " (with uncommitted changes)" } else { "" },
        m["reps"],
        if m["quick"] == true { " (--quick)" } else { "" },
        report["seconds"].as_f64().unwrap_or(0.0),
    );
    if let Some(curves) = report["curves"].as_object().filter(|c| !c.is_empty()) {
        out.push_str("\nScaling curves (median, min–max):\n\n| curve point | median | min–max |\n|---|---|---|\n");
        for (k, v) in curves {
            let n = |key: &str| v[key].as_f64().map_or("-".to_string(), stats::num);
            out.push_str(&format!("| `{k}` | {} | {}–{} |\n", n("median"), n("min"), n("max")));
        }
    }
    for f in report["failures"].as_array().into_iter().flatten() {
        out.push_str(&format!("\nFAILED ({}): {}\n", f["figures"].as_str().unwrap_or(""), f["error"].as_str().unwrap_or("")));
    }
    out
}

fn curve_json(curve: &e2e::Curve) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for (k, v) in curve {
        if let Some(s) = summarize(v) {
            out.insert(k.clone(), json!({"median": s.median, "min": s.min, "max": s.max, "reps": s.reps, "samples": v}));
        }
    }
    serde_json::Value::Object(out)
}

/// (x, median, min, max) of `curve[prefix/x/suffix]` for each x.
fn points<T: std::fmt::Display + Copy + Into<f64>>(curve: &e2e::Curve, prefix: &str, xs: &[T], suffix: &str) -> Vec<(f64, f64, f64, f64)> {
    xs.iter()
        .filter_map(|&x| curve.get(&format!("{prefix}/{x}/{suffix}")).and_then(|v| summarize(v)).map(|s| (x.into(), s.median, s.min, s.max)))
        .collect()
}

fn write_results(s: &Settings, f: &Figures, curve: &e2e::Curve, machine: serde_json::Value, elapsed: f64) -> anyhow::Result<()> {
    std::fs::create_dir_all(&s.out_dir).with_context(|| format!("creating {}", s.out_dir.display()))?;
    let failures: Vec<serde_json::Value> = f.failures.iter().map(|(names, e)| json!({"figures": names, "error": e})).collect();
    let report = json!({
        "suite": "streamsum benchmark suite (issue 9): medians of interleaved repetitions, baselines from the same run",
        "machine": machine,
        "seconds": elapsed,
        "figures": f.to_json(),
        "curves": curve_json(curve),
        "failures": failures,
    });
    let path = s.out_dir.join("latest.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report)? + "\n").with_context(|| format!("writing {}", path.display()))?;

    let mut svgs: BTreeMap<&str, String> = BTreeMap::new();
    let parts = points(curve, "partitions", &e2e::PARTITIONS.map(|p| p as u32), "chunks_per_sec");
    if !parts.is_empty() {
        svgs.insert(
            "scaling_partitions.svg",
            svg::LineChart {
                title: "End-to-end throughput vs partitions (= shards), 4 chunker workers".into(),
                x_label: "chunk partitions (shards)".into(),
                y_label: "chunks/s".into(),
                log_x: true,
                log_y: false,
                series: vec![svg::Series { name: "wasm summer, 32-byte chunks".into(), points: parts }],
            }
            .render(),
        );
    }
    let sizes = points(curve, "chunk_size", &e2e::CHUNK_SIZES, "mib_per_sec");
    if !sizes.is_empty() {
        let mut series = vec![svg::Series { name: "end to end, data MiB/s".into(), points: sizes.clone() }];
        if let Some(sha) = curve.get("sha1_mib_per_sec").and_then(|v| summarize(v)) {
            series.push(svg::Series { name: format!("SHA-1 alone (sha1 crate): {:.0} MiB/s", sha.median), points: sizes.iter().map(|p| (p.0, sha.median, sha.min, sha.max)).collect() });
        }
        svgs.insert(
            "scaling_chunk_size.svg",
            svg::LineChart { title: "End-to-end data throughput vs chunk size".into(), x_label: "chunk size, bytes (log scale)".into(), y_label: "MiB/s (log scale)".into(), log_x: true, log_y: true, series }.render(),
        );
    }
    let bars = |names: &[&str]| -> Vec<(String, f64, Option<f64>)> {
        names
            .iter()
            .filter_map(|n| {
                let fig = f.figures.get(*n)?;
                let m = summarize(&fig.samples)?.median;
                let t = fig.target.map(|t| match t {
                    stats::Target::AtLeast(v) | stats::Target::AtMost(v) | stats::Target::Under(v) => v,
                });
                Some((n.to_string(), m, t))
            })
            .collect()
    };
    for (file, title, unit, names) in [
        ("ratios.svg", "Ratios against same-run baselines", "ratio", &["wasm_over_native", "summer_over_floor", "swap_pause_over_median_txn", "broker_syncs_over_fsync"][..]),
        ("journal.svg", "Broker appends vs the raw device's fdatasync rate", "per second", &["appends_per_sec", "fsync_per_sec"][..]),
        ("throughput.svg", "Throughput", "chunks/s", &["summer_chunks_per_sec", "native_chunks_per_sec", "floor_chunks_per_sec", "e2e_chunks_per_sec", "e2e_native_chunks_per_sec", "e2e_half_load_chunks_per_sec"][..]),
        ("latency.svg", "Latencies and pauses", "ms", &["e2e_p50_ms", "e2e_p99_ms", "e2e_native_p99_ms", "e2e_half_load_p50_ms", "e2e_half_load_p99_ms", "swap_pause_ms", "median_txn_ms"][..]),
        ("takeover.svg", "Take-over after kill -9", "ms", &["takeover_ms", "takeover_ms_without_standby"][..]),
    ] {
        let b = bars(names);
        if !b.is_empty() {
            svgs.insert(file, svg::bar_chart(title, unit, &b));
        }
    }
    for (file, text) in &svgs {
        let p = s.out_dir.join(file);
        std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
    }

    let header = ["figure", "median", "min–max", "baseline (same run)", "ratio", "target", "met?"];
    let rows = f.rows();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}", w = *w)).collect::<Vec<_>>().join("  ");
    println!("\n{}", line(header.iter().map(|h| h.to_string()).collect()));
    for r in &rows {
        println!("{}", line(r.to_vec()));
    }
    if !curve.is_empty() {
        println!("\nscaling curves (median chunks/s or MiB/s):");
        for (k, v) in curve {
            if let Some(sm) = summarize(v) {
                println!("  {k:<40} {} ({}–{})", stats::num(sm.median), stats::num(sm.min), stats::num(sm.max));
            }
        }
    }
    for (names, e) in &f.failures {
        println!("FAILED ({names}): {e}");
    }
    let md = s.out_dir.join("latest.md");
    let table = format!("{}\n{}", stats::markdown(&header, &rows), run_line(&report));
    std::fs::write(&md, &table).with_context(|| format!("writing {}", md.display()))?;
    // bench/README.md shows the latest table: everything after its marker line.
    if let Some(readme) = s.out_dir.parent().map(|d| d.join("README.md")).filter(|p| p.exists()) {
        let text = std::fs::read_to_string(&readme)?;
        if let Some(at) = text.find(README_MARKER) {
            let end = at + README_MARKER.len();
            std::fs::write(&readme, format!("{}\n\n{table}", &text[..end])).with_context(|| format!("writing {}", readme.display()))?;
        }
    }
    println!("\nwrote {} ({:.0} s), {}, and {} SVG plots in {}", path.display(), elapsed, md.display(), svgs.len(), s.out_dir.display());
    Ok(())
}
