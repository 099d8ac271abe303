//! Figures for issue 6: how long a shard's recovery takes, as a function of its
//! recovery log's size, with and without a snapshot; how long a take-over takes for a
//! store that is already (almost) up to date — what a hot standby keeps — versus one
//! rebuilt from nothing; and, for long runs of a shard's own commit path (fenced
//! appends, snapshots every 8 MiB, pruning before each snapshot, recovery logs rolling
//! at 4 MiB), how much of its log stays on disk and how long a rebuild then takes.
//!
//! Not a test: `cargo run --release -p streamsum-host --example recovery_figures`
//! prints one JSON object per measurement, then a table. Logs are written to an
//! on-disk broker storage (the same journal code the broker serves) and played with
//! `consumer::recovery::recover`, the code a shard runs on start.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use streamsum_host::consumer::recovery::recover;
use streamsum_host::journal::defaults::RECOVERY_LOG_FRAGMENT_LENGTH;
use streamsum_host::journal::defaults::{recovery_log, stream_sum_specs};
use streamsum_host::journal::{AppendRequest, JournalClient, LabelSet, LocalClient, Storage};
use streamsum_host::store::recoverylog::SNAPSHOT_REGISTER;
use streamsum_host::store::{LogOp, LogRecord, ShardDb};
use tokio::sync::watch;

/// Keys each transaction writes.
const OPS_PER_TXN: usize = 8;
/// Distinct keys (streams) of the shard's state.
const KEYS: u64 = 4000;

struct Log {
    client: Arc<dyn JournalClient>,
    journal: String,
    state: BTreeMap<Vec<u8>, Vec<u8>>,
    seq: u64,
    x: u64,
}

impl Log {
    fn next(&mut self) -> u64 {
        self.x ^= self.x << 13;
        self.x ^= self.x >> 7;
        self.x ^= self.x << 17;
        self.x
    }

    /// Appends `n` transaction records, 500 per append.
    async fn txns(&mut self, n: u64) {
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
                self.client.append(AppendRequest::new(self.journal.clone(), std::mem::take(&mut buf))).await.unwrap();
            }
        }
    }

    /// Appends a snapshot of the state and points the register at it.
    async fn snapshot(&mut self) {
        self.seq += 1;
        let ops = self.state.iter().map(|(k, v)| LogOp { key: k.clone(), value: Some(v.clone()) }).collect();
        let rec = LogRecord { seq_no: self.seq, author: 1, ops, checkpoint: Some(vec![7; 200]), snapshot: true };
        let head = self.client.barrier(&self.journal).await.unwrap();
        let req = AppendRequest {
            offset: head,
            union_registers: LabelSet::from_pairs([(SNAPSHOT_REGISTER, head.to_string().as_str())]),
            ..AppendRequest::new(self.journal.clone(), rec.frame())
        };
        self.client.append(req).await.unwrap();
    }
}

fn new_log(dir: &std::path::Path) -> Log {
    let storage = Storage::open(dir).unwrap();
    storage.create_missing(stream_sum_specs(1)).unwrap();
    Log {
        client: Arc::new(LocalClient::new(storage)),
        journal: recovery_log(0),
        state: BTreeMap::new(),
        seq: 0,
        x: 0x9e3779b97f4a7c15,
    }
}

/// Recovers into the store in `dir`; returns (ms, records played).
async fn time_recovery(log: &Log, dir: &std::path::Path) -> (f64, u64) {
    let (_tx, stop) = watch::channel(false);
    let db = ShardDb::open_blocking(dir, false).unwrap();
    let began = Instant::now();
    let (_, stats) = recover("bench", log.client.clone(), &log.journal, &db, 0, &stop).await.unwrap();
    (began.elapsed().as_secs_f64() * 1e3, stats.records)
}

/// Bytes of `journal`'s files (fragments and index) on disk.
fn on_disk(storage: &Storage, journal: &str) -> u64 {
    let dir = storage.journal(journal).unwrap().dir().to_path_buf();
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum()
}

/// `txns` transactions of 64 keys through a shard's commit path (fenced append,
/// apply, snapshot every `snapshot_every` bytes, pruning); returns (log bytes written,
/// bytes on disk, ms to rebuild an empty store).
async fn long_run(txns: u64, snapshot_every: u64) -> (i64, u64, f64) {
    let tmp = tempfile::tempdir().unwrap();
    let storage = Storage::open(tmp.path().join("broker")).unwrap();
    storage.create_missing(stream_sum_specs(1)).unwrap();
    let client: Arc<dyn JournalClient> = Arc::new(LocalClient::new(storage.clone()));
    let journal = recovery_log(0);
    let (_tx, stop) = watch::channel(false);
    let db = ShardDb::open_blocking(&tmp.path().join("primary"), false).unwrap();
    let (mut log, _) = recover("bench", client.clone(), &journal, &db, snapshot_every, &stop).await.unwrap();
    let mut x = 0x9e3779b97f4a7c15u64;
    for seq in 0..txns {
        let ops = (0..64)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let key = format!("stream-{:08}", x % KEYS).into_bytes();
                LogOp { key, value: Some(format!("{{\"SeqNo\":{seq},\"SHA1\":\"{x:040x}\"}}").into_bytes()) }
            })
            .collect();
        let rec = LogRecord { ops, checkpoint: Some(vec![7; 200]), ..LogRecord::default() };
        let (rec, applied) = log.append(rec, &stop).await.unwrap();
        db.apply_record_blocking(&rec, &applied).unwrap();
        log.maybe_snapshot(&db, &stop).await.unwrap();
    }
    let written = storage.journal(&journal).unwrap().head();
    let disk = on_disk(&storage, &journal);
    let fresh = ShardDb::open_blocking(&tmp.path().join("fresh"), false).unwrap();
    let began = Instant::now();
    recover("bench", client.clone(), &journal, &fresh, snapshot_every, &stop).await.unwrap();
    (written, disk, began.elapsed().as_secs_f64() * 1e3)
}

#[tokio::main]
async fn main() {
    let mut rows = Vec::new();
    for &txns in &[2_000u64, 10_000, 20_000] {
        let (written, disk, ms) = long_run(txns, 8 << 20).await;
        println!(
            "{{\"figure\":\"long-run\",\"txns\":{txns},\"log_bytes_written\":{written},\"log_bytes_on_disk\":{disk},\"fragment_length\":{RECOVERY_LOG_FRAGMENT_LENGTH},\"rebuild_ms\":{ms:.1}}}"
        );
        rows.push(format!(
            "| long run, snapshots every 8 MiB, pruned | {txns} txns, {:.1} MiB written, {:.1} MiB on disk | snapshot | – | {ms:.1} |",
            written as f64 / 1048576.0,
            disk as f64 / 1048576.0
        ));
    }
    for &txns in &[1_000u64, 5_000, 20_000, 50_000] {
        for with_snapshot in [false, true] {
            let tmp = tempfile::tempdir().unwrap();
            let mut log = new_log(&tmp.path().join("broker"));
            if with_snapshot {
                // Snapshot at 95% of the log; the last 5% of transactions follow it.
                log.txns(txns * 95 / 100).await;
                log.snapshot().await;
                log.txns(txns - txns * 95 / 100).await;
            } else {
                log.txns(txns).await;
            }
            let bytes = log.client.barrier(&log.journal).await.unwrap();
            let (ms, played) = time_recovery(&log, &tmp.path().join("fresh")).await;
            println!(
                "{{\"figure\":\"recovery\",\"txns\":{txns},\"log_bytes\":{bytes},\"snapshot\":{with_snapshot},\"records_played\":{played},\"ms\":{ms:.1}}}"
            );
            rows.push(format!(
                "| recovery from the log | {txns} txns, {:.1} MiB | {} | {played} | {ms:.1} |",
                bytes as f64 / 1048576.0,
                if with_snapshot { "snapshot at 95%" } else { "none" }
            ));
        }
    }
    // Take-over: a store that holds all but the last `tail` transactions (as a hot
    // standby tailing the log does) versus rebuilding it from the whole log.
    for &tail in &[0u64, 10, 100] {
        let tmp = tempfile::tempdir().unwrap();
        let mut log = new_log(&tmp.path().join("broker"));
        log.txns(20_000).await;
        let replica = tmp.path().join("replica");
        time_recovery(&log, &replica).await;
        log.txns(tail).await;
        let (ms, played) = time_recovery(&log, &replica).await;
        println!("{{\"figure\":\"takeover\",\"replica\":true,\"tail_txns\":{tail},\"records_played\":{played},\"ms\":{ms:.1}}}");
        rows.push(format!(
            "| take-over, replica behind by {tail} txns | 20000+{tail} txns | replica | {played} | {ms:.1} |"
        ));
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut log = new_log(&tmp.path().join("broker"));
    log.txns(20_100).await;
    let (ms, played) = time_recovery(&log, &tmp.path().join("fresh")).await;
    println!("{{\"figure\":\"takeover\",\"replica\":false,\"records_played\":{played},\"ms\":{ms:.1}}}");
    rows.push(format!("| take-over, no replica | 20100 txns | none | {played} | {ms:.1} |"));

    println!("\n| what | log | start | records played | ms |\n|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
}
