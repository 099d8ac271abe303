//! Recovery figures: `recovery_sec_per_gb_log`, how long a shard's recovery (the code a
//! shard runs on start, `consumer::recovery::recover`) takes per GB of recovery log,
//! without and with a snapshot (at 95 % of the log); the logs are written once per
//! run, each repetition plays both into fresh stores, interleaved.
//!
//! The log writer is the one of `examples/recovery_figures.rs`: transactions of 8
//! keys over 4000 streams, as the summer writes them.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use streamsum_host::consumer::recovery::recover;
use streamsum_host::journal::defaults::{recovery_log, stream_sum_specs};
use streamsum_host::journal::{AppendRequest, JournalClient, LabelSet, LocalClient, Storage};
use streamsum_host::store::recoverylog::SNAPSHOT_REGISTER;
use streamsum_host::store::{LogOp, LogRecord, ShardDb};
use tokio::sync::watch;

use crate::stats::Figures;
use crate::Settings;

/// Keys each transaction writes.
const OPS_PER_TXN: usize = 8;
/// Distinct keys (streams).
const KEYS: u64 = 4000;

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

/// A recovery log being written.
pub struct Log {
    client: Arc<dyn JournalClient>,
    journal: String,
    state: BTreeMap<Vec<u8>, Vec<u8>>,
    seq: u64,
    x: u64,
    /// Bytes of the log.
    pub bytes: i64,
}

impl Log {
    fn new(dir: &Path) -> anyhow::Result<Log> {
        let storage = Storage::open(dir)?;
        storage.create_missing(stream_sum_specs(1))?;
        Ok(Log { client: Arc::new(LocalClient::new(storage)), journal: recovery_log(0), state: BTreeMap::new(), seq: 0, x: 0x9e37_79b9_7f4a_7c15, bytes: 0 })
    }

    fn next(&mut self) -> u64 {
        self.x ^= self.x << 13;
        self.x ^= self.x >> 7;
        self.x ^= self.x << 17;
        self.x
    }

    /// Appends `n` transaction records, 500 per append.
    async fn txns(&mut self, n: u64) -> anyhow::Result<()> {
        let mut buf = Vec::new();
        for i in 0..n {
            self.seq += 1;
            let ops: Vec<LogOp> = (0..OPS_PER_TXN)
                .map(|_| {
                    let key = format!("stream-{:08}", self.next() % KEYS).into_bytes();
                    let (seq, sha) = (self.seq, self.next());
                    let value = format!("{{\"SeqNo\":{seq},\"SHA1\":\"{sha:040x}\"}}").into_bytes();
                    self.state.insert(key.clone(), value.clone());
                    LogOp { key, value: Some(value) }
                })
                .collect();
            let rec = LogRecord { seq_no: self.seq, author: 1, ops, checkpoint: Some(vec![7; 200]), snapshot: false };
            buf.extend(rec.frame());
            if i % 500 == 499 || i + 1 == n {
                self.client.append(AppendRequest::new(self.journal.clone(), std::mem::take(&mut buf))).await?;
            }
        }
        self.bytes = self.client.barrier(&self.journal).await?;
        Ok(())
    }

    /// Appends a snapshot of the state and points the register at it.
    async fn snapshot(&mut self) -> anyhow::Result<()> {
        self.seq += 1;
        let ops = self.state.iter().map(|(k, v)| LogOp { key: k.clone(), value: Some(v.clone()) }).collect();
        let rec = LogRecord { seq_no: self.seq, author: 1, ops, checkpoint: Some(vec![7; 200]), snapshot: true };
        let head = self.client.barrier(&self.journal).await?;
        let req = AppendRequest {
            offset: head,
            union_registers: LabelSet::from_pairs([(SNAPSHOT_REGISTER, head.to_string().as_str())]),
            ..AppendRequest::new(self.journal.clone(), rec.frame())
        };
        self.client.append(req).await?;
        Ok(())
    }

    /// Plays the log into a fresh store in `dir`: seconds.
    async fn recover_into(&self, dir: &Path) -> anyhow::Result<f64> {
        let (_tx, stop) = watch::channel(false);
        let db = ShardDb::open_blocking(dir, false)?;
        let began = Instant::now();
        recover("bench", self.client.clone(), &self.journal, &db, 0, &stop).await?;
        Ok(began.elapsed().as_secs_f64())
    }
}

/// The two logs of a run (written on the first repetition).
pub struct Logs {
    /// Keeps the logs' directory.
    _dir: tempfile::TempDir,
    plain: Log,
    snap: Log,
}

/// Writes the two logs of `txns` transactions each.
pub async fn write_logs(tmp: &Path, txns: u64) -> anyhow::Result<Logs> {
    let dir = tempfile::tempdir_in(tmp)?;
    let mut plain = Log::new(&dir.path().join("plain"))?;
    plain.txns(txns).await?;
    let mut snap = Log::new(&dir.path().join("snap"))?;
    snap.txns(txns * 95 / 100).await?;
    snap.snapshot().await?;
    snap.txns(txns - txns * 95 / 100).await?;
    Ok(Logs { _dir: dir, plain, snap })
}

/// One repetition: both logs played into fresh stores.
pub fn rep(s: &Settings, f: &mut Figures, rt: &tokio::runtime::Runtime, logs: &mut Option<Logs>) -> anyhow::Result<()> {
    if logs.is_none() {
        let txns = if s.quick { 5_000 } else { 30_000 };
        *logs = Some(rt.block_on(write_logs(&s.tmp, txns))?);
    }
    let logs = logs.as_ref().expect("written above");
    let dir = tempfile::tempdir_in(&s.tmp)?;
    let plain = rt.block_on(logs.plain.recover_into(&dir.path().join("plain")))?;
    let snap = rt.block_on(logs.snap.recover_into(&dir.path().join("snap")))?;
    let (gb_plain, gb_snap) = (logs.plain.bytes as f64 / 1e9, logs.snap.bytes as f64 / 1e9);
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
