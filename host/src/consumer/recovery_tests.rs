//! Tests of [`super::recovery`] on a real on-disk broker storage: fencing, resuming
//! and rebuilding a store, snapshots.

use std::sync::Arc;

use tokio::sync::watch;

use super::recovery::{recover, Fenced};
use crate::journal::defaults::{recovery_log, stream_sum_specs};
use crate::journal::{AppendRequest, JournalClient, LocalClient, Storage};
use crate::store::{LogOp, LogRecord, ShardDb};

fn client(dir: &std::path::Path) -> Arc<dyn JournalClient> {
    let storage = Storage::open(dir).unwrap();
    storage.create_missing(stream_sum_specs(1)).unwrap();
    Arc::new(LocalClient::new(storage))
}

fn put(key: &str, value: &str) -> LogRecord {
    LogRecord {
        ops: vec![LogOp { key: key.as_bytes().to_vec(), value: Some(value.as_bytes().to_vec()) }],
        checkpoint: Some(format!("cp-{value}").into_bytes()),
        ..LogRecord::default()
    }
}

async fn commit(
    log: &mut super::recovery::RecoveryLog,
    db: &ShardDb,
    rec: LogRecord,
    stop: &watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let (rec, applied) = log.append(rec, stop).await?;
    db.apply_record_blocking(&rec, &applied)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_owner_fences_the_old_one_and_sees_all_it_committed() {
    let tmp = tempfile::tempdir().unwrap();
    let client = client(&tmp.path().join("broker"));
    let journal = recovery_log(0);
    let (_tx, stop) = watch::channel(false);

    let db_a = ShardDb::open_blocking(&tmp.path().join("a"), false).unwrap();
    let (mut log_a, _) = recover("s", client.clone(), &journal, &db_a, 0, &stop).await.unwrap();
    commit(&mut log_a, &db_a, put("k", "1"), &stop).await.unwrap();

    // B takes over on another store: it is rebuilt from the log alone.
    let db_b = ShardDb::open_blocking(&tmp.path().join("b"), false).unwrap();
    let (mut log_b, stats) = recover("s", client.clone(), &journal, &db_b, 0, &stop).await.unwrap();
    assert!(stats.rebuilt);
    assert_eq!(stats.records, 1);
    assert_eq!(db_b.get(b"k").unwrap(), Some(b"1".to_vec()));

    // A, now a zombie, cannot commit; B can.
    let err = commit(&mut log_a, &db_a, put("k", "zombie"), &stop).await.unwrap_err();
    let fenced = err.downcast_ref::<Fenced>().expect("a Fenced error");
    assert!(
        fenced
            .to_string()
            .starts_with(&format!("shard s is fenced: another process took over its recovery log {journal}")),
        "{fenced}"
    );
    commit(&mut log_b, &db_b, put("k", "2"), &stop).await.unwrap();

    // A's store resumes from where it stopped and gets B's commit, never its own.
    let (_, stats) = recover("s", client.clone(), &journal, &db_a, 0, &stop).await.unwrap();
    assert!(!stats.rebuilt);
    assert_eq!(stats.records, 1);
    assert_eq!(db_a.get(b"k").unwrap(), Some(b"2".to_vec()));
    assert_eq!(db_a.load_checkpoint_blocking().unwrap(), Some(b"cp-2".to_vec()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn playback_starts_at_the_newest_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let client = client(&tmp.path().join("broker"));
    let journal = recovery_log(0);
    let (_tx, stop) = watch::channel(false);
    let db = ShardDb::open_blocking(&tmp.path().join("a"), false).unwrap();
    // Snapshot after every 200 bytes of log.
    let (mut log, _) = recover("s", client.clone(), &journal, &db, 200, &stop).await.unwrap();
    for i in 0..20 {
        commit(&mut log, &db, put(&format!("k{}", i % 5), &i.to_string()), &stop).await.unwrap();
        log.maybe_snapshot(&db, &stop).await.unwrap();
    }
    let fresh = ShardDb::open_blocking(&tmp.path().join("b"), false).unwrap();
    let (_, stats) = recover("s", client.clone(), &journal, &fresh, 200, &stop).await.unwrap();
    assert!(stats.rebuilt);
    assert!(stats.records < 10, "played {} records, not the whole log", stats.records);
    for k in 0..5 {
        let key = format!("k{k}");
        assert_eq!(fresh.get(key.as_bytes()).unwrap(), db.get(key.as_bytes()).unwrap(), "{key}");
    }
    assert_eq!(fresh.load_checkpoint_blocking().unwrap(), Some(b"cp-19".to_vec()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_with_a_corrupted_record_refuses_to_start_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let client = client(&tmp.path().join("broker"));
    let journal = recovery_log(0);
    let (_tx, stop) = watch::channel(false);
    let db = ShardDb::open_blocking(&tmp.path().join("a"), false).unwrap();
    let (mut log, _) = recover("s", client.clone(), &journal, &db, 0, &stop).await.unwrap();
    commit(&mut log, &db, put("k", "1"), &stop).await.unwrap();
    // Garbage that is not a record lands in the log (e.g. a misdirected append).
    let bad = client.append(AppendRequest::new(journal.clone(), &b"{\"ID\":1}\n"[..])).await.unwrap();

    let fresh = ShardDb::open_blocking(&tmp.path().join("b"), false).unwrap();
    let err = recover("s", client.clone(), &journal, &fresh, 0, &stop).await.err().unwrap();
    let msg = format!("{err:#}");
    assert!(msg.contains(&format!("recovery log {journal} at offset {}: no record frame here", bad.begin)), "{msg}");
    // The intact store does not start either: the damage is past its position.
    let err = recover("s", client, &journal, &db, 0, &stop).await.err().unwrap();
    assert!(format!("{err:#}").contains(&format!("at offset {}", bad.begin)), "{err:#}");
}

/// Bytes of `journal`'s files on disk (fragments and index).
fn on_disk(storage: &Storage, journal: &str) -> u64 {
    let dir = storage.journal(journal).unwrap().dir().to_path_buf();
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_run_prunes_the_log_before_each_snapshot_and_still_rebuilds_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = Storage::open(tmp.path().join("broker")).unwrap();
    let mut specs = stream_sum_specs(1);
    let journal = recovery_log(0);
    for s in specs.iter_mut().filter(|s| s.name == journal) {
        s.fragment.length = 1024; // Roll often, so that pruning has whole fragments to drop.
    }
    storage.create_missing(specs).unwrap();
    let client: Arc<dyn JournalClient> = Arc::new(LocalClient::new(storage.clone()));
    let (_tx, stop) = watch::channel(false);
    let db = ShardDb::open_blocking(&tmp.path().join("a"), false).unwrap();
    let (mut log, _) = recover("s", client.clone(), &journal, &db, 4096, &stop).await.unwrap();
    let value = |i: usize| format!("{i:0>100}");
    let mut stale = None;
    let mut largest = 0;
    for i in 0..600 {
        commit(&mut log, &db, put(&format!("k{}", i % 20), &value(i)), &stop).await.unwrap();
        log.maybe_snapshot(&db, &stop).await.unwrap();
        if i == 30 {
            // A copy of the store as of now, as a replica that stopped here would have.
            let path = tmp.path().join("stale");
            let db2 = ShardDb::open_blocking(&path, false).unwrap();
            recover("s2", client.clone(), &journal, &db2, 0, &stop).await.unwrap();
            stale = Some(db2);
            // Take the log back (the recover above fenced `log`).
            (log, _) = recover("s", client.clone(), &journal, &db, 4096, &stop).await.unwrap();
        }
        if i >= 100 {
            largest = largest.max(on_disk(&storage, &journal));
        }
    }
    let written = storage.journal(&journal).unwrap().head();
    let low = storage.journal(&journal).unwrap().low();
    assert!(written > 80_000, "the run wrote {written} log bytes");
    assert!(low > written - 12_000, "pruned up to {low} of {written}");
    // Snapshot interval (4 KiB) + a fragment (1 KiB, plus one record) + a snapshot
    // (~2.6 KiB) + index records: far below what was written.
    assert!(largest < 16_000, "the log took up to {largest} bytes on disk (of {written} written)");

    // A fresh store and the stale one (its position was pruned) rebuild exactly.
    let fresh = ShardDb::open_blocking(&tmp.path().join("b"), false).unwrap();
    for target in [fresh, stale.unwrap()] {
        let (_, stats) = recover("s", client.clone(), &journal, &target, 4096, &stop).await.unwrap();
        assert!(stats.rebuilt);
        for k in 0..20 {
            let key = format!("k{k}");
            assert_eq!(target.get(key.as_bytes()).unwrap(), db.get(key.as_bytes()).unwrap(), "{key}");
        }
        assert_eq!(target.load_checkpoint_blocking().unwrap(), Some(format!("cp-{}", value(599)).into_bytes()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_owner_snapshots_and_prunes_as_lease_renewals_fill_its_log() {
    let tmp = tempfile::tempdir().unwrap();
    let storage = Storage::open(tmp.path().join("broker")).unwrap();
    let mut specs = stream_sum_specs(1);
    let journal = recovery_log(0);
    for s in specs.iter_mut().filter(|s| s.name == journal) {
        s.fragment.length = 1024;
    }
    storage.create_missing(specs).unwrap();
    let client: Arc<dyn JournalClient> = Arc::new(LocalClient::new(storage.clone()));
    let (_tx, stop) = watch::channel(false);
    let db = ShardDb::open_blocking(&tmp.path().join("a"), false).unwrap();
    let (mut log, _) = recover("s", client.clone(), &journal, &db, 512, &stop).await.unwrap();
    for i in 0..5 {
        commit(&mut log, &db, put(&format!("k{i}"), &format!("v{i}")), &stop).await.unwrap();
    }
    log.maybe_snapshot(&db, &stop).await.unwrap();
    let (heads, watched) = watch::channel(0);
    log.watch_heads(watched);
    // The primary's heartbeat, renewing its lease every 10 ms; nothing else is written.
    let beat = tokio::spawn(super::standby::heartbeat(
        client.clone(),
        "s".into(),
        journal.clone(),
        log.author(),
        std::time::Duration::from_millis(40),
        true,
        heads,
    ));
    let began = storage.journal(&journal).unwrap().head();
    let mut largest = 0;
    for _ in 0..20 {
        // Idle: the transaction loop waits for this, then snapshots.
        let due = tokio::time::timeout(std::time::Duration::from_secs(10), log.snapshot_due()).await;
        due.expect("renewals did not make a snapshot due");
        assert!(log.since_snapshot() >= 512);
        log.maybe_snapshot(&db, &stop).await.unwrap();
        assert!(log.since_snapshot() < 512, "the snapshot restarted the count");
        largest = largest.max(on_disk(&storage, &journal));
    }
    beat.abort();
    let written = storage.journal(&journal).unwrap().head() - began;
    eprintln!("idle: {written} log bytes written, at most {largest} bytes on disk");
    assert!(written > 20 * 512, "renewals and snapshots wrote {written} bytes");
    // A fragment and a half, a snapshot of five keys, an interval of renewals, and
    // their index records (each carries the registers): bounded, however long idle.
    assert!(largest < 24_000, "the idle log took up to {largest} bytes on disk (of {written} written)");
    assert!(storage.journal(&journal).unwrap().low() > began, "pruned past where idling began");

    // A new owner rebuilds the same store from the newest snapshot.
    let fresh = ShardDb::open_blocking(&tmp.path().join("b"), false).unwrap();
    let (_, stats) = recover("s", client.clone(), &journal, &fresh, 512, &stop).await.unwrap();
    assert!(stats.rebuilt && stats.bytes < 4096, "{stats:?}");
    for i in 0..5 {
        let key = format!("k{i}");
        assert_eq!(fresh.get(key.as_bytes()).unwrap(), Some(format!("v{i}").into_bytes()), "{key}");
    }
    assert_eq!(fresh.load_checkpoint_blocking().unwrap(), Some(b"cp-v4".to_vec()));
}
