//! Benchmark (issue 8 item 5): what the sandbox's interruption costs the summer. The
//! real `guest_summer.wasm` consumes the same batches of chunks on three engines, in
//! the same run, rounds interleaved: no epoch interruption and no fuel (the baseline),
//! epoch interruption (the host's default), and epoch interruption plus fuel metering
//! (`--guest-fuel`). Reported as throughput and as ratios against the baseline.
//!
//! Each round is one transaction per engine: every batch through `consume`, then
//! `finalize-txn`; its output is dropped (nothing is committed), so every round starts
//! from the same empty store and does the same work.
//!
//! Run (needs `scripts/build-guests.sh`; the host crate optimised as in the message
//! benchmark):
//! ```text
//! cargo bench -p streamsum-host --bench sandbox --profile dev \
//!   --config 'profile.dev.package.streamsum-host.opt-level=3' \
//!   --config 'profile.dev.package.streamsum-host.debug-assertions=false' \
//!   --config 'profile.dev.package.streamsum-host.overflow-checks=false'
//! ```
//! Prints a table and writes `bench/results/sandbox.json`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use streamsum_host::runtime::{
    ComponentCache, Limits, MessageBatch, PluginEngine, ShardContext, SummerInstance, SummerPlugin,
};
use streamsum_host::store::ShardDb;
use streamsum_model::{encode_chunk, StreamId, SUMS_JOURNAL};

const JOURNAL: &str = "examples/stream-sum/chunks/part-000";
const STREAMS: usize = 100;
const CHUNKS_PER_STREAM: usize = 20;
const PER_BATCH: usize = 64;
const ROUNDS: usize = 7;

/// The engines compared, as (name, epoch interruption, fuel metering).
const ENGINES: [(&str, bool, bool); 3] = [
    ("none", false, false),
    ("epoch", true, false),
    ("epoch+fuel", true, true),
];

/// The workload's frames: `STREAMS` streams of `CHUNKS_PER_STREAM` chunks of
/// `chunk_bytes` bytes plus a final empty chunk, interleaved round-robin.
fn frames(chunk_bytes: usize) -> Vec<Vec<u8>> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut out = Vec::new();
    for seq in 1..=CHUNKS_PER_STREAM + 1 {
        for s in 0..STREAMS {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&(s as u64 + 1).to_be_bytes());
            let data: Vec<u8> = if seq > CHUNKS_PER_STREAM {
                Vec::new()
            } else {
                (0..chunk_bytes)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x as u8
                    })
                    .collect()
            };
            let mut frame = Vec::new();
            encode_chunk(&StreamId(id), seq as u64, &data, &mut frame);
            frame.push(b'\n');
            out.push(frame);
        }
    }
    out
}

/// The batches of `frames`, packed once and reused by every engine and round.
fn batches(frames: &[Vec<u8>]) -> Vec<MessageBatch> {
    let mut offset = 0u64;
    frames
        .chunks(PER_BATCH)
        .map(|group| {
            let mut batch = MessageBatch::new(JOURNAL);
            for f in group {
                batch.push(offset, f);
                offset += f.len() as u64;
            }
            batch
        })
        .collect()
}

/// One engine's instance of the summer.
struct Runner {
    name: &'static str,
    instance: SummerInstance,
    _db_dir: tempfile::TempDir,
}

fn runner(name: &'static str, epoch: bool, fuel: bool, wasm: &[u8], cache_dir: &std::path::Path) -> Runner {
    let engine = PluginEngine::with_options(epoch, fuel).expect("engine");
    let cache = ComponentCache::new(engine, cache_dir.join(name));
    let plugin = SummerPlugin::load_blocking(&cache, wasm, "guest_summer.wasm").expect("loading the summer");
    let db_dir = tempfile::tempdir().unwrap();
    let db = ShardDb::open_blocking(db_dir.path(), false).unwrap();
    let journals: Arc<BTreeSet<String>> = Arc::new([SUMS_JOURNAL.to_owned()].into());
    let ctx = ShardContext {
        shard: format!("bench-{name}"),
        db,
        journals,
    };
    let limits = Limits {
        call_timeout: Duration::from_secs(60),
        ..Limits::default()
    };
    let instance = SummerInstance::instantiate(&plugin, ctx, limits).expect("instantiating the summer");
    Runner {
        name,
        instance,
        _db_dir: db_dir,
    }
}

/// One transaction over every batch; returns its duration.
fn round(runner: &mut Runner, batches: &[MessageBatch]) -> Duration {
    let start = Instant::now();
    for batch in batches {
        runner
            .instance
            .consume(batch)
            .unwrap_or_else(|e| panic!("{}: {e}", runner.name));
    }
    let out = runner
        .instance
        .finalize_txn()
        .unwrap_or_else(|e| panic!("{}: {e}", runner.name));
    let took = start.elapsed();
    assert_eq!(out.published.len(), STREAMS, "one Sum per stream");
    took
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn guest_summer() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    target.join("wasm/guest_summer.wasm")
}

fn main() {
    let path = guest_summer();
    let wasm = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run scripts/build-guests.sh)", path.display()));
    let cache_dir = tempfile::tempdir().unwrap();
    let mut runners: Vec<Runner> = ENGINES
        .iter()
        .map(|&(name, epoch, fuel)| runner(name, epoch, fuel, &wasm, cache_dir.path()))
        .collect();

    let mut json = Vec::new();
    println!(
        "{:<14} {:<11} {:>12} {:>12} {:>10}",
        "workload", "engine", "msgs/s", "MB/s data", "vs none"
    );
    for chunk_bytes in [32usize, 4096] {
        let frames = frames(chunk_bytes);
        let batches = batches(&frames);
        let data_bytes = (STREAMS * CHUNKS_PER_STREAM * chunk_bytes) as f64;
        let mut times: Vec<Vec<Duration>> = vec![Vec::new(); runners.len()];
        for r in 0..=ROUNDS {
            for (i, runner) in runners.iter_mut().enumerate() {
                let took = round(runner, &batches);
                if r > 0 {
                    times[i].push(took); // Round 0 warms up.
                }
            }
        }
        let medians: Vec<Duration> = times.into_iter().map(median).collect();
        let base = medians[0].as_secs_f64();
        let workload = format!("{chunk_bytes}B chunks");
        for (runner, m) in runners.iter().zip(&medians) {
            let secs = m.as_secs_f64();
            let msgs = frames.len() as f64 / secs;
            let mbs = data_bytes / secs / 1e6;
            let ratio = base / secs;
            println!(
                "{workload:<14} {:<11} {msgs:>12.0} {mbs:>12.1} {ratio:>10.3}",
                runner.name
            );
            json.push(format!(
                "{{\"workload\":\"{workload}\",\"engine\":\"{}\",\"messages_per_sec\":{msgs:.0},\"data_mb_per_sec\":{mbs:.2},\"throughput_vs_none\":{ratio:.4},\"median_txn_secs\":{secs:.6}}}",
                runner.name
            ));
        }
    }
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../bench/results/sandbox.json");
    let body = format!(
        "{{\"bench\":\"sandbox\",\"streams\":{STREAMS},\"chunks_per_stream\":{CHUNKS_PER_STREAM},\"per_batch\":{PER_BATCH},\"rounds\":{ROUNDS},\"results\":[\n  {}\n]}}\n",
        json.join(",\n  ")
    );
    std::fs::write(&out, body).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
    println!("wrote {}", out.display());
}
