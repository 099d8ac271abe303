//! Step `swap`: one repetition of the host's `swap` bench (`host/benches/swap.rs`) as a
//! subprocess: hot reloads of the summer under load. Figures: `swap_pause_ms` (a
//! shard's pause at its swap: the longer commit gap either side of its swap boundary,
//! median over shards and swaps; the worst of them is `swap_pause_worst_ms`), against
//! the same statistic at boundaries without a swap and the median gap between commits
//! without a swap (`swap_pause_over_median_txn`), all from the same run.

use std::process::Command;

use anyhow::anyhow;
use serde_json::Value;

use crate::programs::{number, run_for_json};
use crate::stats::{Figures, Target};
use crate::Settings;

/// The names this step produces.
pub const NAMES: &str = "swap_pause_ms, swap_pause_worst_ms, swap_ordinary_boundary_ms, swap_pause_over_median_txn";

/// Declares the figures.
pub fn declare(f: &mut Figures) {
    f.declare("swap_pause_ms", "ms", "a shard's pause at its swap: the longer commit gap either side of the boundary where it swapped, median over shards and swaps (hot reloads under load)", Some("median_txn_ms"), Some(Target::Under(10.0)));
    f.declare("swap_pause_worst_ms", "ms", "the worst of those pauses over all shards and swaps of the repetition", Some("swap_pause_ms"), None);
    f.declare("swap_ordinary_boundary_ms", "ms", "the same statistic (longer gap either side) at boundaries without a swap, same run", None, None);
    f.declare("median_txn_ms", "ms", "median gap between commits without a swap, same run", None, None);
    f.declare("swap_pause_over_median_txn", "ratio", "swap_pause_ms / median_txn_ms of the same repetition", None, Some(Target::AtMost(1.0)));
}

/// One repetition of the swap bench (2 hot reloads with `--quick`, else 4).
pub fn rep(s: &Settings, f: &mut Figures) -> anyhow::Result<()> {
    let bin = s.bins.swap.as_ref().ok_or_else(|| anyhow!("the swap bench is not built (scripts/bench.sh builds it)"))?;
    let dir = tempfile::tempdir_in(&s.tmp)?;
    let out = dir.path().join("swap.json");
    let mut cmd = Command::new(bin);
    cmd.env("STREAMSUM_BENCH_SWAPS", if s.quick { "2" } else { "4" })
        .env("STREAMSUM_BENCH_OUT", &out)
        .env("STREAMSUM_WASM_DIR", &s.bins.wasm)
        .env("STREAMSUM_LOG", "error")
        .env("TMPDIR", &s.tmp);
    let json = run_for_json(cmd, "the swap bench", &out)?;
    let pauses: Vec<f64> = json["pause_ms_per_swap"].as_array().map(|a| a.iter().filter_map(Value::as_f64).collect()).unwrap_or_default();
    let pause = pauses.iter().cloned().reduce(f64::max).ok_or_else(|| anyhow!("no pauses in {out:?}"))?;
    let median_txn = number(&json, &["median_commit_gap_ms_without_swap"])?;
    let shard_pause = number(&json, &["shard_pause_ms_median"])?;
    let ordinary = number(&json, &["ordinary_boundary_same_statistic_ms_median"])?;
    eprintln!("  swap: per-shard pause {shard_pause:.2} ms (ordinary boundary {ordinary:.2} ms), worst {pause:.2} ms ({pauses:?}), median commit gap {median_txn:.2} ms");
    f.push("swap_pause_ms", shard_pause);
    f.push("swap_pause_worst_ms", pause);
    f.push("swap_ordinary_boundary_ms", ordinary);
    f.push("median_txn_ms", median_txn);
    f.push("swap_pause_over_median_txn", shard_pause / median_txn);
    Ok(())
}
