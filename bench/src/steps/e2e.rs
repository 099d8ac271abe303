//! End-to-end figures and the scaling curves: chunker → journals → summer → sums →
//! verified, with real processes (`streamsum-host` service and `streamsum-host
//! chunker`), read from the chunker's report.
//!
//! One repetition runs, interleaved: the wasm summer at full load (unthrottled), the
//! native summer at full load (its baseline), then the wasm summer at half load
//! (`--rate` = half of the full-load chunks/s of the same repetition).

use std::path::Path;
use std::time::{Duration, Instant};

use sha1::{Digest, Sha1};

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

fn strings(v: &[&str]) -> Vec<String> {
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

/// Partition (= shard) counts of the scaling curve.
pub const PARTITIONS: [usize; 5] = [1, 2, 4, 8, 16];
/// Chunk sizes of the scaling curve, 32 B … 64 KiB.
pub const CHUNK_SIZES: [u32; 7] = [32, 128, 512, 2048, 8192, 32768, 65536];

/// Scaling samples: key → one value per repetition.
pub type Curve = std::collections::BTreeMap<String, Vec<f64>>;

/// One repetition of the partitions curve: chunks/s per partition count.
pub fn partitions_rep(s: &Settings, curve: &mut Curve) -> anyhow::Result<()> {
    let (streams, chunks) = if s.quick { ("10", "50") } else { ("25", "100") };
    for p in PARTITIONS {
        let ps = p.to_string();
        let args = strings(&["--streams", streams, "--chunks", chunks, "--workers", "4"]);
        let r = job(&s.bins, &s.tmp, &["--partitions", &ps], &args).map_err(|e| e.context(format!("scaling: --partitions {p}")))?;
        eprintln!("  scaling: {p:>2} partitions: {:.0} chunks/s, p99 {:.1} ms", r.chunks_per_sec, r.p99_ms);
        curve.entry(format!("partitions/{p}/chunks_per_sec")).or_default().push(r.chunks_per_sec);
        curve.entry(format!("partitions/{p}/p99_ms")).or_default().push(r.p99_ms);
    }
    Ok(())
}

/// One repetition of the chunk-size curve: data MiB/s and chunks/s per chunk size,
/// and SHA-1's own MiB/s (the `sha1` crate, in this process) in the same repetition.
pub fn chunk_size_rep(s: &Settings, curve: &mut Curve) -> anyhow::Result<()> {
    let budget: u64 = if s.quick { 8 << 20 } else { 48 << 20 };
    let chunks = 50u64;
    for size in CHUNK_SIZES {
        let streams = (budget / (4 * (chunks + 1) * u64::from(size))).clamp(1, 50);
        let args = vec![
            "--streams".to_string(),
            streams.to_string(),
            "--chunks".into(),
            chunks.to_string(),
            "--workers".into(),
            "4".into(),
            "--chunk-size".into(),
            size.to_string(),
        ];
        let r = job(&s.bins, &s.tmp, &[], &args).map_err(|e| e.context(format!("scaling: --chunk-size {size}")))?;
        eprintln!("  scaling: {size:>5} B chunks: {:.0} chunks/s, {:.2} MiB/s of data", r.chunks_per_sec, r.mib_per_sec);
        curve.entry(format!("chunk_size/{size}/mib_per_sec")).or_default().push(r.mib_per_sec);
        curve.entry(format!("chunk_size/{size}/chunks_per_sec")).or_default().push(r.chunks_per_sec);
    }
    let sha = sha1_mib_per_sec(if s.quick { 64 << 20 } else { 256 << 20 });
    eprintln!("  scaling: SHA-1 alone: {sha:.0} MiB/s");
    curve.entry("sha1_mib_per_sec".into()).or_default().push(sha);
    Ok(())
}

/// SHA-1 throughput of this machine: `bytes` hashed in 64 KiB updates.
pub fn sha1_mib_per_sec(bytes: usize) -> f64 {
    let block: Vec<u8> = (0..65536u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let began = Instant::now();
    let mut h = Sha1::new();
    for _ in 0..bytes / block.len() {
        h.update(&block);
    }
    let digest = h.finalize();
    std::hint::black_box(digest);
    bytes as f64 / (1 << 20) as f64 / began.elapsed().as_secs_f64()
}
