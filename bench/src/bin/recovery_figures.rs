//! Figures for issue 6: how long a shard's recovery takes, as a function of its
//! recovery log's size, with and without a snapshot; how long a take-over takes for a
//! store that is already (almost) up to date — what a hot standby keeps — versus one
//! rebuilt from nothing; and, for long runs of a shard's own commit path (fenced
//! appends, snapshots every 8 MiB, pruning before each snapshot, recovery logs rolling
//! at 4 MiB), how much of its log stays on disk and how long a rebuild then takes.
//!
//! Not a test: `cargo run --release -p streamsum-bench --bin recovery_figures`
//! prints one JSON object per measurement, then a table. Logs are written to an
//! on-disk broker storage (the same journal code the broker serves) and played with
//! `consumer::recovery::recover`, the code a shard runs on start.

use std::sync::Arc;
use std::time::Instant;

use streamsum_host::consumer::recovery::recover;
use streamsum_host::journal::defaults::RECOVERY_LOG_FRAGMENT_LENGTH;
use streamsum_host::journal::defaults::{recovery_log, stream_sum_specs};
use streamsum_host::journal::{JournalClient, LocalClient, Storage};
use streamsum_host::store::{LogOp, LogRecord, ShardDb};
use tokio::sync::watch;

use streamsum_bench::synthetic_log::{SyntheticLog, KEYS};

/// Recovers into the store in `dir`; returns (ms, records played).
async fn time_recovery(log: &SyntheticLog, dir: &std::path::Path) -> (f64, u64) {
    let (took, records) = log.recover_into(dir).await.unwrap();
    (took.as_secs_f64() * 1e3, records)
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
            let mut log = SyntheticLog::new(&tmp.path().join("broker")).unwrap();
            if with_snapshot {
                // Snapshot at 95% of the log; the last 5% of transactions follow it.
                log.txns(txns * 95 / 100).await.unwrap();
                log.snapshot().await.unwrap();
                log.txns(txns - txns * 95 / 100).await.unwrap();
            } else {
                log.txns(txns).await.unwrap();
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
        let mut log = SyntheticLog::new(&tmp.path().join("broker")).unwrap();
        log.txns(20_000).await.unwrap();
        let replica = tmp.path().join("replica");
        time_recovery(&log, &replica).await;
        log.txns(tail).await.unwrap();
        let (ms, played) = time_recovery(&log, &replica).await;
        println!("{{\"figure\":\"takeover\",\"replica\":true,\"tail_txns\":{tail},\"records_played\":{played},\"ms\":{ms:.1}}}");
        rows.push(format!(
            "| take-over, replica behind by {tail} txns | 20000+{tail} txns | replica | {played} | {ms:.1} |"
        ));
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut log = SyntheticLog::new(&tmp.path().join("broker")).unwrap();
    log.txns(20_100).await.unwrap();
    let (ms, played) = time_recovery(&log, &tmp.path().join("fresh")).await;
    println!("{{\"figure\":\"takeover\",\"replica\":false,\"records_played\":{played},\"ms\":{ms:.1}}}");
    rows.push(format!("| take-over, no replica | 20100 txns | none | {played} | {ms:.1} |"));

    println!("\n| what | log | start | records played | ms |\n|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
}
