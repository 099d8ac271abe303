//! Figures measured by other benchmark programs, run as subprocesses once per
//! repetition (each interleaves its own subject and baseline):
//! - `bench_summer` (example): `summer_chunks_per_sec`, `native_chunks_per_sec`,
//!   `wasm_over_native`, `floor_chunks_per_sec`, `summer_over_floor`,
//!   `guest_call_overhead_ns` per batch and per message;
//! - the `swap` bench: `swap_pause_ms` (a shard's pause at its swap: the longer commit
//!   gap either side of its swap boundary, median over shards and swaps; the worst of
//!   them is `swap_pause_worst_ms`) and `swap_pause_over_median_txn` (over the median gap
//!   between commits without a swap, in the same run).

use std::path::Path;
use std::process::Command;

use anyhow::{anyhow, bail, Context};
use serde_json::Value;

use crate::procs::last_lines;
use crate::stats::{Figures, Target};
use crate::Settings;

/// The names the summer step produces.
pub const SUMMER_NAMES: &str =
    "summer_chunks_per_sec, native_chunks_per_sec, wasm_over_native, floor_chunks_per_sec, summer_over_floor, guest_call_overhead_ns_per_batch, guest_call_overhead_ns_per_message";
/// The names the swap step produces.
pub const SWAP_NAMES: &str = "swap_pause_ms, swap_pause_worst_ms, swap_ordinary_boundary_ms, swap_pause_over_median_txn";

/// Declares the figures.
pub fn declare(f: &mut Figures) {
    let one = "one shard consumes a prefilled journal of 32-byte chunks and commits";
    f.declare("summer_chunks_per_sec", "chunks/s", one, Some("native_chunks_per_sec"), None);
    f.declare("native_chunks_per_sec", "chunks/s", "as summer_chunks_per_sec with the summer compiled into the host", None, None);
    f.declare("wasm_over_native", "ratio", "summer / native of the same repetition", None, Some(Target::AtLeast(0.9)));
    f.declare("floor_chunks_per_sec", "chunks/s", "in-process: split lines, parse chunk JSON, update SHA-1 states in a map", None, None);
    f.declare("summer_over_floor", "ratio", "summer / floor of the same repetition", None, Some(Target::AtLeast(0.5)));
    f.declare("guest_call_overhead_ns_per_batch", "ns", "round trip of a consume call with an empty batch", None, None);
    f.declare(
        "guest_call_overhead_ns_per_message",
        "ns",
        "slope of consume time over batch size (minimal messages)",
        Some("native_call_overhead_ns_per_message"),
        None,
    );
    f.declare("native_call_overhead_ns_per_message", "ns", "the same slope for the native summer", None, None);
    f.declare("swap_pause_ms", "ms", "a shard's pause at its swap: the longer commit gap either side of the boundary where it swapped, median over shards and swaps (hot reloads under load)", Some("median_txn_ms"), Some(Target::Under(10.0)));
    f.declare("swap_pause_worst_ms", "ms", "the worst of those pauses over all shards and swaps of the repetition", Some("swap_pause_ms"), None);
    f.declare("swap_ordinary_boundary_ms", "ms", "the same statistic (longer gap either side) at boundaries without a swap, same run", None, None);
    f.declare("median_txn_ms", "ms", "median gap between commits without a swap, same run", None, None);
    f.declare("swap_pause_over_median_txn", "ratio", "swap_pause_ms / median_txn_ms of the same repetition", None, Some(Target::AtMost(1.0)));
}

/// Runs `cmd`, failing with its last lines of stderr.
fn run(mut cmd: Command, what: &str) -> anyhow::Result<()> {
    let out = cmd.output().with_context(|| format!("starting {what}"))?;
    if !out.status.success() {
        bail!("{what} failed ({}): {}", out.status, last_lines(&String::from_utf8_lossy(&out.stderr), 6));
    }
    Ok(())
}

fn read_json(path: &Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// `json[key]["median"]`, or `json[key]` if it is a number.
fn get(json: &Value, path: &[&str]) -> anyhow::Result<f64> {
    let mut v = json;
    for k in path {
        v = &v[*k];
    }
    v.get("median").unwrap_or(v).as_f64().ok_or_else(|| anyhow!("no number at {} in {json}", path.join(".")))
}

/// One repetition of `bench_summer --reps 1`.
pub fn summer_rep(s: &Settings, f: &mut Figures) -> anyhow::Result<()> {
    let bin = s.bins.bench_summer.as_ref().ok_or_else(|| anyhow!("the bench_summer example is not built (scripts/bench.sh builds it)"))?;
    let dir = tempfile::tempdir_in(&s.tmp)?;
    let out = dir.path().join("summer.json");
    let mut cmd = Command::new(bin);
    cmd.arg("--reps").arg("1").arg("--out").arg(&out).arg("--wasm").arg(s.bins.wasm.join("guest_summer.wasm"));
    if s.quick {
        cmd.arg("--quick");
    }
    cmd.env("TMPDIR", &s.tmp);
    run(cmd, "bench_summer")?;
    let json = read_json(&out)?;
    let figures = [
        ("summer_chunks_per_sec", vec!["summer_chunks_per_sec"]),
        ("native_chunks_per_sec", vec!["native_chunks_per_sec"]),
        ("wasm_over_native", vec!["wasm_over_native"]),
        ("floor_chunks_per_sec", vec!["floor_chunks_per_sec"]),
        ("summer_over_floor", vec!["summer_over_floor"]),
        ("guest_call_overhead_ns_per_batch", vec!["guest_call_overhead_ns", "per_batch"]),
        ("guest_call_overhead_ns_per_message", vec!["guest_call_overhead_ns", "per_message"]),
        ("native_call_overhead_ns_per_message", vec!["guest_call_overhead_ns", "native_per_message"]),
    ];
    let values: Vec<(&str, f64)> = figures.iter().map(|(name, path)| Ok((*name, get(&json, path)?))).collect::<anyhow::Result<_>>()?;
    eprintln!("  summer: {}", values.iter().map(|(n, v)| format!("{n} {v:.3}")).collect::<Vec<_>>().join(", "));
    for (name, v) in values {
        f.push(name, v);
    }
    Ok(())
}

/// One repetition of the swap bench (`swaps` hot reloads under load).
pub fn swap_rep(s: &Settings, f: &mut Figures) -> anyhow::Result<()> {
    let bin = s.bins.swap.as_ref().ok_or_else(|| anyhow!("the swap bench is not built (scripts/bench.sh builds it)"))?;
    let dir = tempfile::tempdir_in(&s.tmp)?;
    let out = dir.path().join("swap.json");
    let mut cmd = Command::new(bin);
    cmd.env("STREAMSUM_BENCH_SWAPS", if s.quick { "2" } else { "4" })
        .env("STREAMSUM_BENCH_OUT", &out)
        .env("STREAMSUM_WASM_DIR", &s.bins.wasm)
        .env("STREAMSUM_LOG", "error")
        .env("TMPDIR", &s.tmp);
    run(cmd, "the swap bench")?;
    let json = read_json(&out)?;
    let pauses: Vec<f64> = json["pause_ms_per_swap"].as_array().map(|a| a.iter().filter_map(Value::as_f64).collect()).unwrap_or_default();
    let pause = pauses.iter().cloned().reduce(f64::max).ok_or_else(|| anyhow!("no pauses in {out:?}"))?;
    let median_txn = get(&json, &["median_commit_gap_ms_without_swap"])?;
    let shard_pause = get(&json, &["shard_pause_ms_median"])?;
    let ordinary = get(&json, &["ordinary_boundary_same_statistic_ms_median"])?;
    eprintln!("  swap: per-shard pause {shard_pause:.2} ms (ordinary boundary {ordinary:.2} ms), worst {pause:.2} ms ({pauses:?}), median commit gap {median_txn:.2} ms");
    f.push("swap_pause_ms", shard_pause);
    f.push("swap_pause_worst_ms", pause);
    f.push("swap_ordinary_boundary_ms", ordinary);
    f.push("median_txn_ms", median_txn);
    f.push("swap_pause_over_median_txn", shard_pause / median_txn);
    Ok(())
}
