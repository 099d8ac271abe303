//! Broker figures: `append_mb_per_sec` of 64 concurrent appenders of 200-byte records
//! against an in-process broker on disk, and `fsync_per_sec` of the raw device (one
//! 200-byte write + `fdatasync` at a time, same directory), interleaved in each
//! repetition. Their relation: `appends_per_fsync` (how many appends each device sync
//! carries: group commit) and `broker_syncs_over_fsync` (the broker's group-commit
//! rounds per second over the raw sync rate).
//!
//! The same measurements as `bench_journal` (`src/bin/bench_journal.rs`), reduced to the suite's figures.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use streamsum_host::journal::{AppendRequest, JournalClient};
use streamsum_host::service::{EmbeddedBroker, EmbeddedOptions};

use crate::stats::Figures;
use crate::Settings;

/// Bytes per record.
const RECORD: usize = 200;
/// Concurrent appenders.
const APPENDERS: usize = 64;

/// The names this step produces.
pub const NAMES: &str = "append_mb_per_sec, fsync_per_sec, appends_per_fsync, broker_syncs_over_fsync";

/// Declares the figures.
pub fn declare(f: &mut Figures) {
    f.declare("append_mb_per_sec", "MB/s", "64 appenders of 200-byte records, in-process broker on disk", None, None);
    f.declare("appends_per_sec", "appends/s", "as append_mb_per_sec, in appends", Some("fsync_per_sec"), None);
    f.declare("fsync_per_sec", "syncs/s", "raw device: one 200-byte write + fdatasync at a time", None, None);
    f.declare("appends_per_fsync", "ratio", "appends_per_sec / fsync_per_sec of the same repetition", None, None);
    f.declare("broker_syncs_over_fsync", "ratio", "the broker's group-commit rounds/s over fsync_per_sec", None, None);
}

/// Serial write + fdatasync of 200-byte records for `secs`: syncs per second.
fn raw_fsync(dir: &Path, secs: f64) -> anyhow::Result<f64> {
    let path = dir.join("raw-fdatasync.bin");
    let mut f = OpenOptions::new().create(true).truncate(true).write(true).open(&path)?;
    let rec = [b'r'; RECORD];
    let (began, mut n) = (Instant::now(), 0u64);
    while began.elapsed().as_secs_f64() < secs {
        f.write_all(&rec)?;
        f.sync_data()?;
        n += 1;
    }
    let rate = n as f64 / began.elapsed().as_secs_f64();
    std::fs::remove_file(&path)?;
    Ok(rate)
}

/// `APPENDERS` appenders back to back for `secs`: (appends/s, group-commit rounds/s).
async fn appends(dir: &Path, secs: f64) -> anyhow::Result<(f64, f64)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let broker = EmbeddedBroker::start(&dir.join("broker"), listener, EmbeddedOptions { partitions: 1, ..Default::default() }).await?;
    let client: Arc<dyn JournalClient> = Arc::new(broker.client());
    let journal = streamsum_host::journal::defaults::chunk_partition(0);
    let rounds0 = broker.storage().sync_rounds();
    let began = Instant::now();
    let deadline = began + Duration::from_secs_f64(secs);
    let tasks: Vec<_> = (0..APPENDERS)
        .map(|i| {
            let (client, journal) = (client.clone(), journal.clone());
            tokio::spawn(async move {
                let mut rec = format!("appender-{i:03} ").into_bytes();
                rec.resize(RECORD - 1, b'.');
                rec.push(b'\n');
                let rec = bytes::Bytes::from(rec);
                let mut n = 0u64;
                while Instant::now() < deadline {
                    client.append(AppendRequest::new(journal.clone(), rec.clone())).await?;
                    n += 1;
                }
                Ok::<u64, anyhow::Error>(n)
            })
        })
        .collect();
    let mut n = 0;
    for t in tasks {
        n += t.await??;
    }
    let elapsed = began.elapsed().as_secs_f64();
    let rounds = broker.storage().sync_rounds() - rounds0;
    broker.shutdown().await?;
    Ok((n as f64 / elapsed, rounds as f64 / elapsed))
}

/// One repetition: raw fsync (the baseline), then the broker's appends.
pub fn rep(s: &Settings, f: &mut Figures, rt: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    let secs = if s.quick { 1.0 } else { 2.0 };
    let dir = tempfile::tempdir_in(&s.tmp)?;
    let fsync = raw_fsync(dir.path(), secs)?;
    let (appends_per_sec, rounds_per_sec) = rt.block_on(appends(dir.path(), secs))?;
    let mb = appends_per_sec * RECORD as f64 / 1e6;
    eprintln!("  journal: raw fdatasync {fsync:.0}/s | broker {appends_per_sec:.0} appends/s = {mb:.2} MB/s, {rounds_per_sec:.0} sync rounds/s");
    f.push("fsync_per_sec", fsync);
    f.push("append_mb_per_sec", mb);
    f.push("appends_per_sec", appends_per_sec);
    f.push("appends_per_fsync", appends_per_sec / fsync);
    f.push("broker_syncs_over_fsync", rounds_per_sec / fsync);
    Ok(())
}
