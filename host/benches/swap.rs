//! Benchmark (issue 7 item 6): what a hot swap costs a running service.
//!
//! Runs the main service in process (embedded broker, 4 shards, `guest_summer.wasm`
//! copied to a temporary `--app` file) under an endless in-process chunker job, then
//! replaces the `--app` file by rename with 10 distinct builds (the summer plus a
//! custom section), one every 2 s. A poller thread samples every shard's status every
//! 200 µs and keeps each shard's commit times. Figures, all from the same run:
//!
//! - **take-up**: from the rename of the file to every shard running the new version
//!   (file watch, SHA-256, compile through the cache, link, and each shard reaching
//!   its next transaction boundary and instantiating);
//! - **pause**: for each swap, the longest gap between two consecutive committed
//!   transactions of any shard at the boundary where it swapped, against the median
//!   gap between consecutive commits outside every take-up window; also the longest
//!   gap overlapping the take-up window (which includes the compile, competing for the
//!   CPU with the shards).
//!
//! Gaps in which the poller missed a commit are left out of both. Run:
//! ```text
//! scripts/build-guests.sh && cargo bench -p streamsum-host --bench swap --profile dev
//! ```
//! Prints a summary and writes `bench/results/swap.json`. For `scripts/bench.sh`:
//! `STREAMSUM_BENCH_SWAPS` (number of swaps), `STREAMSUM_BENCH_OUT` (the JSON file),
//! `STREAMSUM_WASM_DIR` (where the guests are).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use streamsum_host::app::{AppArgs, Service};
use streamsum_host::cli::ChunkerArgs;

/// Swaps of a run, unless `STREAMSUM_BENCH_SWAPS` says otherwise (the suite runs fewer).
const SWAPS: u32 = 10;
const BETWEEN_SWAPS: Duration = Duration::from_secs(2);
const POLL: Duration = Duration::from_micros(200);

fn wasm(name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("STREAMSUM_WASM_DIR") {
        return PathBuf::from(dir).join(name);
    }
    let exe = std::env::current_exe().expect("bench executable path");
    let target = exe.ancestors().nth(3).expect("target directory").to_path_buf();
    let path = target.join("wasm").join(name);
    assert!(path.exists(), "{} is missing: run scripts/build-guests.sh", path.display());
    path
}

/// `base` plus a custom section holding `n`: a distinct, valid build.
fn variant(base: &[u8], n: u32) -> Vec<u8> {
    let name = b"streamsum-swap-variant";
    let mut out = base.to_vec();
    out.push(0);
    out.push((1 + name.len() + 4) as u8);
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    out.extend_from_slice(&n.to_le_bytes());
    out
}

/// One sample of a shard: transactions committed, time of the last commit, swaps.
#[derive(Clone)]
struct Sample {
    transactions: u64,
    at: SystemTime,
    /// Swaps the shard had made when sampled.
    swaps: u64,
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(run());
}

async fn run() {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app.wasm");
    let base = std::fs::read(wasm("guest_summer.wasm")).unwrap();
    std::fs::write(&app, &base).unwrap();
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        app: AppArgs,
    }
    let data = dir.path().join("data");
    let argv = ["bench", "--app", app.to_str().unwrap(), "--data-dir", data.to_str().unwrap()];
    let argv = argv.into_iter().chain(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--partitions", "4"]);
    let args = <Cli as clap::Parser>::parse_from(argv).app;
    let service = Arc::new(Service::start(&args).await.unwrap());
    let url = service.broker_url().unwrap();
    let job = tokio::spawn(streamsum_host::chunker::run(ChunkerArgs {
        app: wasm("guest_chunker.wasm"),
        broker: url,
        streams: -1,
        chunks: 100,
        workers: 4,
        chunk_size: None,
        sla: Duration::from_secs(40),
        files: Vec::new(),
        cache_dir: dir.path().join("chunker-cache"),
        exclude_partition: Vec::new(),
        rate: None,
    }));

    // The poller: each shard's distinct (transactions, last commit) samples.
    let stop = Arc::new(AtomicBool::new(false));
    let poller = {
        let (service, stop) = (service.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut samples: Vec<Vec<Sample>> = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let shards = service.shards();
                samples.resize(shards.len(), Vec::new());
                for (s, snap) in samples.iter_mut().zip(&shards) {
                    let (Some(at), t) = (snap.last_commit, snap.transactions) else { continue };
                    if s.last().is_none_or(|l| l.transactions != t) {
                        s.push(Sample { transactions: t, at, swaps: snap.swaps });
                    }
                }
                std::thread::sleep(POLL);
            }
            samples
        })
    };

    tokio::time::sleep(Duration::from_secs(3)).await; // Warm up.
    let mut windows: Vec<(SystemTime, SystemTime)> = Vec::new();
    let mut take_up_ms = Vec::new();
    let swaps: u32 = std::env::var("STREAMSUM_BENCH_SWAPS").ok().and_then(|v| v.parse().ok()).unwrap_or(SWAPS);
    for n in 1..=swaps {
        let bytes = variant(&base, n);
        let version = streamsum_host::runtime::PluginVersion::of(&bytes);
        let tmp = app.with_extension("tmp");
        std::fs::write(&tmp, &bytes).unwrap();
        let (t0, i0) = (SystemTime::now(), Instant::now());
        std::fs::rename(&tmp, &app).unwrap();
        loop {
            if service.shards().iter().all(|s| s.plugin == version.as_str()) {
                break;
            }
            assert!(i0.elapsed() < Duration::from_secs(60), "swap {n} not taken up: {:?}", service.shards());
            tokio::time::sleep(POLL).await;
        }
        let took = i0.elapsed();
        windows.push((t0, t0 + took));
        take_up_ms.push(took.as_secs_f64() * 1e3);
        tokio::time::sleep(BETWEEN_SWAPS).await;
    }
    stop.store(true, Ordering::Relaxed);
    let samples = poller.join().unwrap();
    job.abort();
    let service = Arc::try_unwrap(service).ok().expect("the poller is done");
    service.stop().await.unwrap();

    let overlaps = |a: SystemTime, b: SystemTime, w: &(SystemTime, SystemTime)| a <= w.1 && b >= w.0;
    let mut normal = Vec::new();
    let mut pauses = vec![0f64; windows.len()];
    let mut in_window = vec![0f64; windows.len()];
    // Per shard and swap (not the max over shards): the longer gap either side of the
    // boundary where the shard swapped; and the same statistic at ordinary boundaries.
    let (mut shard_pauses, mut normal_around) = (Vec::new(), Vec::new());
    let (mut before, mut after) = (Vec::new(), Vec::new());
    let gap_ms = |a: &Sample, b: &Sample| b.at.duration_since(a.at).unwrap_or_default().as_secs_f64() * 1e3;
    for shard in &samples {
        for (i, pair) in shard.windows(2).enumerate() {
            if pair[1].transactions != pair[0].transactions + 1 {
                continue; // The poller missed a commit in between.
            }
            let gap = gap_ms(&pair[0], &pair[1]);
            match windows.iter().position(|w| overlaps(pair[0].at, pair[1].at, w)) {
                Some(k) => in_window[k] = in_window[k].max(gap),
                None => normal.push(gap),
            }
            // The shard swapped at the boundary after commit i or i + 1 (the sample
            // may be taken just after the swap): the pause is the longer of the gaps
            // on either side of that boundary.
            if pair[1].swaps > pair[0].swaps && pair[1].swaps as usize <= pauses.len() {
                let k = pair[1].swaps as usize - 1;
                let next = shard.get(i + 2).filter(|c| c.transactions == pair[1].transactions + 1);
                let around = next.map_or(gap, |c| gap.max(gap_ms(&pair[1], c)));
                pauses[k] = pauses[k].max(around);
                shard_pauses.push(around);
                before.push(gap);
                after.extend(next.map(|c| gap_ms(&pair[1], c)));
            } else if let Some(c) = shard.get(i + 2).filter(|c| c.transactions == pair[1].transactions + 1) {
                if !windows.iter().any(|w| overlaps(pair[0].at, c.at, w)) {
                    normal_around.push(gap.max(gap_ms(&pair[1], c)));
                }
            }
        }
    }
    let commits: usize = samples.iter().map(Vec::len).sum();
    normal.sort_by(f64::total_cmp);
    let median_gap = median(&mut normal.clone());
    let p99_gap = normal.get(normal.len() * 99 / 100).copied().unwrap_or(f64::NAN); // `normal` is sorted
    let max_gap = normal.iter().cloned().fold(0.0, f64::max);
    let max_pause = pauses.iter().cloned().fold(0.0, f64::max);
    let median_pause = median(&mut pauses.clone());
    let median_take_up = median(&mut take_up_ms.clone());
    let max_take_up = take_up_ms.iter().cloned().fold(0.0, f64::max);
    println!("hot swap under an endless 4-worker chunker job, 4 shards, {swaps} swaps, {commits} commits sampled");
    println!(
        "gap between commits without a swap: median {median_gap:.2} ms, p99 {p99_gap:.2} ms, max {max_gap:.2} ms ({} gaps)",
        normal.len()
    );
    println!("longest gap at a shard's swap boundary: median over swaps {median_pause:.2} ms, max {max_pause:.2} ms");
    let median_window = median(&mut in_window.clone());
    println!("longest gap overlapping rename-to-take-up (compile competing for CPU): median over swaps {median_window:.2} ms");
    let (shard_pause, around) = (median(&mut shard_pauses.clone()), median(&mut normal_around.clone()));
    println!(
        "per shard: gap at its swap boundary median {shard_pause:.2} ms ({:.2}x the median gap); same statistic at ordinary boundaries {around:.2} ms",
        shard_pause / median_gap
    );
    println!(
        "per shard: the gap ending at the swap sample median {:.2} ms, the one after it {:.2} ms",
        median(&mut before.clone()),
        median(&mut after.clone())
    );
    // A version becomes ready at a moment unrelated to the commits, so the gap it falls
    // in is length-biased (the inspection paradox): compare with the median gap met by
    // a random instant, i.e. the time-weighted median of the ordinary gaps.
    let total: f64 = normal.iter().sum();
    let mut acc = 0.0;
    let weighted_median = normal.iter().copied().find(|g| {
        acc += g;
        acc >= total / 2.0
    });
    let weighted_median = weighted_median.unwrap_or(f64::NAN);
    println!(
        "per shard: gap met by a random instant (time-weighted median of ordinary gaps) {weighted_median:.2} ms; swap gap over it {:.2}x",
        median(&mut before.clone()) / weighted_median
    );
    println!("file renamed -> all shards on the new version: median {median_take_up:.1} ms, max {max_take_up:.1} ms");
    let report = serde_json::json!({
        "benchmark": "hot swap pause and take-up",
        "swaps": swaps,
        "shards": samples.len(),
        "commits_sampled": commits,
        "median_commit_gap_ms_without_swap": median_gap,
        "p99_commit_gap_ms_without_swap": p99_gap,
        "max_commit_gap_ms_without_swap": max_gap,
        "pause_ms_per_swap": pauses,
        "longest_gap_ms_in_take_up_window_per_swap": in_window,
        "take_up_ms_per_swap": take_up_ms,
        "shard_pause_ms_median": shard_pause,
        "shard_pause_over_median_gap": shard_pause / median_gap,
        "ordinary_boundary_same_statistic_ms_median": around,
        "shard_gap_ending_at_swap_ms_median": median(&mut before.clone()),
        "shard_first_new_version_gap_ms_median": median(&mut after.clone()),
        "time_weighted_median_commit_gap_ms": weighted_median,
    });
    let out = match std::env::var_os("STREAMSUM_BENCH_OUT") {
        Some(file) => PathBuf::from(file),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/results/swap.json"),
    };
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(&out, serde_json::to_string_pretty(&report).unwrap()).unwrap();
}
