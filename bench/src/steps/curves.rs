//! Step `curves`: the scaling curves, end-to-end throughput (the same job as step `e2e`,
//! on a fresh service each time) against the number of partitions (= shards) and
//! against the chunk size; the chunk-size curve's baseline is SHA-1's own throughput
//! (the `sha1` crate, in this process) in the same repetition.

use std::time::Instant;

use sha1::{Digest, Sha1};

use super::e2e::{job, strings};
use crate::Settings;

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
