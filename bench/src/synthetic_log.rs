//! A synthetic recovery log, written as a summer's shard writes one: transactions of 8
//! keys over 4000 streams (`{"SeqNo":…,"SHA1":…}` values), optionally a snapshot record
//! with the `snapshot` register pointing at it, and its playback into a fresh store
//! through `consumer::recovery::recover` (the code a shard runs on start).
//!
//! Shared by `recovery_figures` (`src/bin/recovery_figures.rs`) and the suite's
//! recovery step (`src/steps/recovery.rs`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use streamsum_host::consumer::recovery::recover;
use streamsum_host::journal::defaults::{recovery_log, stream_sum_specs};
use streamsum_host::journal::{AppendRequest, JournalClient, LabelSet, LocalClient, Storage};
use streamsum_host::store::recoverylog::SNAPSHOT_REGISTER;
use streamsum_host::store::{LogOp, LogRecord, ShardDb};
use tokio::sync::watch;

/// Keys each transaction writes.
const OPS_PER_TXN: usize = 8;
/// Distinct keys (streams) of the shard's state.
pub const KEYS: u64 = 4000;

/// A recovery log being written, in its own on-disk broker storage.
pub struct SyntheticLog {
    /// The broker holding the log.
    pub client: Arc<dyn JournalClient>,
    /// The log's journal.
    pub journal: String,
    /// The state the log's records build (what a snapshot holds).
    state: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Sequence number of the last record.
    seq: u64,
    /// xorshift state for keys and values.
    x: u64,
}

impl SyntheticLog {
    /// A new, empty log in a broker storage at `dir`.
    pub fn new(dir: &Path) -> anyhow::Result<SyntheticLog> {
        let storage = Storage::open(dir)?;
        storage.create_missing(stream_sum_specs(1))?;
        Ok(SyntheticLog {
            client: Arc::new(LocalClient::new(storage)),
            journal: recovery_log(0),
            state: BTreeMap::new(),
            seq: 0,
            x: 0x9e37_79b9_7f4a_7c15,
        })
    }

    fn next(&mut self) -> u64 {
        self.x ^= self.x << 13;
        self.x ^= self.x >> 7;
        self.x ^= self.x << 17;
        self.x
    }

    /// Appends `n` transaction records, 500 per append; returns the log's head.
    pub async fn txns(&mut self, n: u64) -> anyhow::Result<i64> {
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
        Ok(self.client.barrier(&self.journal).await?)
    }

    /// Appends a snapshot of the state and points the register at it.
    pub async fn snapshot(&mut self) -> anyhow::Result<()> {
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

    /// Plays the log into the store at `dir` (fresh, or one played before, which then
    /// replays only the tail): how long it took and how many records were played.
    pub async fn recover_into(&self, dir: &Path) -> anyhow::Result<(Duration, u64)> {
        let (_tx, stop) = watch::channel(false);
        let db = ShardDb::open_blocking(dir, false)?;
        let began = Instant::now();
        let (_, stats) = recover("bench", self.client.clone(), &self.journal, &db, 0, &stop).await?;
        Ok((began.elapsed(), stats.records))
    }
}
