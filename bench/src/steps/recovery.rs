//! Recovery figures: `recovery_sec_per_gb_log`, how long a shard's recovery (the code a
//! shard runs on start, `consumer::recovery::recover`) takes per GB of recovery log,
//! without and with a snapshot (at 95 % of the log); the logs are written once per
//! run, each repetition plays both into fresh stores, interleaved.
//!
//! The log writer is `bench/src/synthetic_log.rs` (also used by
//! `src/bin/recovery_figures.rs`): transactions of 8 keys over 4000 streams, as the
//! summer writes them.

use std::path::Path;

use crate::stats::Figures;
use streamsum_bench::synthetic_log::SyntheticLog;
use crate::Settings;

/// The names this step produces.
pub const NAMES: &str = "recovery_sec_per_gb_log, recovery_sec_per_gb_log_with_snapshot";

/// Declares the figures.
pub fn declare(f: &mut Figures) {
    f.declare("recovery_sec_per_gb_log", "s/GB", "playing a recovery log into an empty store, per GB of log", None, None);
    f.declare(
        "recovery_sec_per_gb_log_with_snapshot",
        "s/GB",
        "the same log size with a snapshot at 95 %, per GB of the whole log",
        Some("recovery_sec_per_gb_log"),
        None,
    );
}

/// The two logs of a run (written on the first repetition).
pub struct Logs {
    /// Keeps the logs' directory.
    _dir: tempfile::TempDir,
    /// A log of transactions only, and its bytes.
    plain: (SyntheticLog, i64),
    /// The same with a snapshot at 95 %, and its bytes.
    snap: (SyntheticLog, i64),
}

/// Writes the two logs of `txns` transactions each.
pub async fn write_logs(tmp: &Path, txns: u64) -> anyhow::Result<Logs> {
    let dir = tempfile::tempdir_in(tmp)?;
    let mut plain = SyntheticLog::new(&dir.path().join("plain"))?;
    let plain_bytes = plain.txns(txns).await?;
    let mut snap = SyntheticLog::new(&dir.path().join("snap"))?;
    snap.txns(txns * 95 / 100).await?;
    snap.snapshot().await?;
    let snap_bytes = snap.txns(txns - txns * 95 / 100).await?;
    Ok(Logs { _dir: dir, plain: (plain, plain_bytes), snap: (snap, snap_bytes) })
}

/// One repetition: both logs played into fresh stores.
pub fn rep(s: &Settings, f: &mut Figures, rt: &tokio::runtime::Runtime, logs: &mut Option<Logs>) -> anyhow::Result<()> {
    if logs.is_none() {
        let txns = if s.quick { 5_000 } else { 30_000 };
        *logs = Some(rt.block_on(write_logs(&s.tmp, txns))?);
    }
    let logs = logs.as_ref().expect("written above");
    let dir = tempfile::tempdir_in(&s.tmp)?;
    let plain = rt.block_on(logs.plain.0.recover_into(&dir.path().join("plain")))?.0.as_secs_f64();
    let snap = rt.block_on(logs.snap.0.recover_into(&dir.path().join("snap")))?.0.as_secs_f64();
    let (gb_plain, gb_snap) = (logs.plain.1 as f64 / 1e9, logs.snap.1 as f64 / 1e9);
    eprintln!(
        "  recovery: {:.1} MB log in {:.3} s ({:.1} s/GB); with snapshot {:.1} MB in {:.3} s ({:.1} s/GB)",
        gb_plain * 1e3,
        plain,
        plain / gb_plain,
        gb_snap * 1e3,
        snap,
        snap / gb_snap
    );
    f.push("recovery_sec_per_gb_log", plain / gb_plain);
    f.push("recovery_sec_per_gb_log_with_snapshot", snap / gb_snap);
    Ok(())
}
