//! Step `e2e`: end-to-end figures, chunker → journals → summer → sums → verified, with
//! real processes (`streamsum-host` service and `streamsum-host chunker`), read from
//! the chunker's report.
//!
//! One repetition runs, interleaved: the wasm summer at full load (unthrottled), the
//! native summer at full load (its baseline), then the wasm summer at half load
//! (`--rate` = half of the full-load chunks/s of the same repetition).

use std::path::Path;
use std::time::Duration;

use crate::procs::{run_chunker, start_service, Bins, JobFigures};
use crate::stats::{Figures, Target};
use crate::Settings;

/// Longest a single job may take.
const JOB_LIMIT: Duration = Duration::from_secs(300);

/// The names this step produces (for failure reports).
pub const NAMES: &str = "e2e_chunks_per_sec, e2e_p50_ms, e2e_p99_ms, e2e_native_chunks_per_sec, e2e_half_load_p99_ms";

/// Declares the figures.
pub fn declare(f: &mut Figures) {
    let about = "chunker -> journals -> wasm summer -> sums -> verified, 32-byte chunks, 4 workers, 8 shards";
    f.declare("e2e_chunks_per_sec", "chunks/s", about, Some("e2e_native_chunks_per_sec"), None);
    f.declare("e2e_native_chunks_per_sec", "chunks/s", "as e2e_chunks_per_sec with --native-summer", None, None);
    f.declare("e2e_p50_ms", "ms", "full load: final chunk -> verified sum, p50", Some("e2e_native_p50_ms"), None);
    f.declare("e2e_p99_ms", "ms", "full load: final chunk -> verified sum, p99", Some("e2e_native_p99_ms"), None);
    f.declare("e2e_native_p50_ms", "ms", "full load, native summer, p50", None, None);
    f.declare("e2e_native_p99_ms", "ms", "full load, native summer, p99", None, None);
    f.declare("e2e_half_load_rate", "chunks/s", "the --rate given to the half-load job", None, None);
    f.declare("e2e_half_load_chunks_per_sec", "chunks/s", "--rate = half of the same repetition's full-load chunks/s", Some("e2e_chunks_per_sec"), None);
    f.declare("e2e_half_load_p50_ms", "ms", "half load: final chunk -> verified sum, p50", Some("e2e_p50_ms"), None);
    f.declare("e2e_half_load_p99_ms", "ms", "half load: final chunk -> verified sum, p99", Some("e2e_p99_ms"), Some(Target::Under(50.0)));
}

/// One job on a fresh service.
pub fn job(bins: &Bins, tmp: &Path, service_extra: &[&str], args: &[String]) -> anyhow::Result<JobFigures> {
    let dir = tempfile::tempdir_in(tmp)?;
    let (mut service, url) = start_service(bins, dir.path(), service_extra)?;
    let result = run_chunker(bins, &url, dir.path(), args, JOB_LIMIT);
    service.terminate();
    result
}

/// `v` as owned strings (a job's arguments).
pub fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// One repetition of the end-to-end figures.
pub fn rep(s: &Settings, f: &mut Figures) -> anyhow::Result<()> {
    let (streams, chunks) = if s.quick { ("20", "50") } else { ("50", "100") };
    let args = strings(&["--streams", streams, "--chunks", chunks, "--workers", "4"]);
    let full = job(&s.bins, &s.tmp, &[], &args).map_err(|e| e.context("e2e full load, wasm summer"))?;
    let native = job(&s.bins, &s.tmp, &["--native-summer"], &args).map_err(|e| e.context("e2e full load, native summer"))?;
    let rate = format!("{:.1}", full.chunks_per_sec / 2.0);
    let mut half_args = args.clone();
    half_args.extend(["--rate".to_string(), rate.clone()]);
    let half = job(&s.bins, &s.tmp, &[], &half_args).map_err(|e| e.context(format!("e2e half load (--rate {rate})")))?;
    eprintln!(
        "  e2e: full {:.0} chunks/s p50 {:.1} p99 {:.1} ms | native {:.0} chunks/s | half (--rate {rate}) {:.0} chunks/s p50 {:.1} p99 {:.1} ms",
        full.chunks_per_sec, full.p50_ms, full.p99_ms, native.chunks_per_sec, half.chunks_per_sec, half.p50_ms, half.p99_ms
    );
    f.push("e2e_chunks_per_sec", full.chunks_per_sec);
    f.push("e2e_p50_ms", full.p50_ms);
    f.push("e2e_p99_ms", full.p99_ms);
    f.push("e2e_native_chunks_per_sec", native.chunks_per_sec);
    f.push("e2e_native_p50_ms", native.p50_ms);
    f.push("e2e_native_p99_ms", native.p99_ms);
    f.push("e2e_half_load_rate", full.chunks_per_sec / 2.0);
    f.push("e2e_half_load_chunks_per_sec", half.chunks_per_sec);
    f.push("e2e_half_load_p50_ms", half.p50_ms);
    f.push("e2e_half_load_p99_ms", half.p99_ms);
    Ok(())
}
