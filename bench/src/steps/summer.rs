//! Step `summer`: one repetition of `bench_summer` (`src/bin/bench_summer.rs`) as a
//! subprocess, which interleaves one shard with the wasm summer, the same shard with the
//! native summer (the baseline) and the in-process floor, and measures the cost of a
//! call across the component boundary. Figures: `summer_chunks_per_sec`,
//! `native_chunks_per_sec`, `wasm_over_native`, `floor_chunks_per_sec`,
//! `summer_over_floor`, `guest_call_overhead_ns` per batch and per message.

use std::process::Command;

use anyhow::anyhow;

use crate::programs::{number, run_for_json};
use crate::stats::{Figures, Target};
use crate::Settings;

/// The names this step produces.
pub const NAMES: &str =
    "summer_chunks_per_sec, native_chunks_per_sec, wasm_over_native, floor_chunks_per_sec, summer_over_floor, guest_call_overhead_ns_per_batch, guest_call_overhead_ns_per_message";

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
}

/// Where each figure is in `bench_summer`'s JSON.
const FIGURES: [(&str, &[&str]); 8] = [
    ("summer_chunks_per_sec", &["summer_chunks_per_sec"]),
    ("native_chunks_per_sec", &["native_chunks_per_sec"]),
    ("wasm_over_native", &["wasm_over_native"]),
    ("floor_chunks_per_sec", &["floor_chunks_per_sec"]),
    ("summer_over_floor", &["summer_over_floor"]),
    ("guest_call_overhead_ns_per_batch", &["guest_call_overhead_ns", "per_batch"]),
    ("guest_call_overhead_ns_per_message", &["guest_call_overhead_ns", "per_message"]),
    ("native_call_overhead_ns_per_message", &["guest_call_overhead_ns", "native_per_message"]),
];

/// One repetition of `bench_summer --reps 1`.
pub fn rep(s: &Settings, f: &mut Figures) -> anyhow::Result<()> {
    let bin = s.bins.bench_summer.as_ref().ok_or_else(|| anyhow!("the bench_summer binary is not built (scripts/bench.sh builds it)"))?;
    let dir = tempfile::tempdir_in(&s.tmp)?;
    let out = dir.path().join("summer.json");
    let mut cmd = Command::new(bin);
    cmd.arg("--reps").arg("1").arg("--out").arg(&out).arg("--wasm").arg(s.bins.wasm.join("guest_summer.wasm"));
    if s.quick {
        cmd.arg("--quick");
    }
    cmd.env("TMPDIR", &s.tmp);
    let json = run_for_json(cmd, "bench_summer", &out)?;
    let values: Vec<(&str, f64)> = FIGURES.iter().map(|(name, path)| Ok((*name, number(&json, path)?))).collect::<anyhow::Result<_>>()?;
    eprintln!("  summer: {}", values.iter().map(|(n, v)| format!("{n} {v:.3}")).collect::<Vec<_>>().join(", "));
    for (name, v) in values {
        f.push(name, v);
    }
    Ok(())
}
