//! Crash suite: recovery-log pruning (issue 6). Shards writing a snapshot every 8 KiB
//! of log prune the fragments before each snapshot, so after a run that wrote many
//! times that much, each recovery log keeps only its tail on the broker's disk; a
//! `kill -9` and a restart on an EMPTY data directory still rebuild every store
//! exactly (same keys, values and checkpoint as the store of the killed process), from
//! the newest snapshot of the pruned logs.

mod crash_support;
mod support;

use std::time::Duration;

use crash_support::*;
use streamsum_host::journal::{JournalClient, LabelSelector, LabelSet};
use streamsum_host::service::GrpcJournalClient;

const LIMIT: Duration = Duration::from_secs(120);
/// `--snapshot-every-bytes` of the shards.
const SNAPSHOT_EVERY: u64 = 8 << 10;
/// Fragment length given to the recovery logs (the smallest Gazette allows is 1 KiB).
const FRAGMENT: i64 = 4 << 10;

/// Makes the recovery logs roll at 4 KiB, so that 8 KiB snapshots leave whole
/// fragments to prune (Gazette's operators set `fragment.length` per journal the same
/// way).
async fn shrink_recovery_log_fragments(client: &GrpcJournalClient) {
    set_recovery_log_fragment_length(client, FRAGMENT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruned_recovery_logs_stay_small_and_still_rebuild_every_store_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let broker_dir = dir.path().join("broker");
    let (_broker, url) = start_broker(&broker_dir, "127.0.0.1:0");
    let client = GrpcJournalClient::new(&url).unwrap();
    shrink_recovery_log_fragments(&client).await;

    let extra = ["--snapshot-every-bytes", &SNAPSHOT_EVERY.to_string()];
    let job = Chunker::start(&url, &dir.path().join("chunker"), 150, 8);
    let mut first = start_shards(&url, &dir.path().join("a"), &extra, &[]);
    let streams = job.streams;
    job.succeeds(LIMIT).await;
    assert_exactly_once(&url, streams as usize).await;

    // Each log wrote many snapshot intervals, but keeps only its tail.
    let heads: Vec<i64> = client
        .list(LabelSelector::including(LabelSet::from_pairs([("content-type", "application/x-gazette-recoverylog")])))
        .await
        .unwrap()
        .iter()
        .map(|j| j.write_head)
        .collect();
    let on_disk = recovery_logs_on_disk(&broker_dir);
    eprintln!("recovery logs: written {heads:?}, on disk {on_disk:?}");
    assert!(heads.iter().all(|&h| h > 8 * SNAPSHOT_EVERY as i64), "every log wrote > 8 snapshot intervals: {heads:?}");
    let log = first.log_text();
    assert!(log.contains("pruned the recovery log before the newest snapshot"), "{log}");
    for (name, bytes) in &on_disk {
        // An interval since the newest snapshot, the fragment holding it, the
        // snapshot itself (a few KiB of stream state) and the index: ≈ 24 KiB.
        assert!(*bytes < 48 << 10, "{name} keeps {bytes} bytes on disk");
    }

    // kill -9, then a new process on an empty data directory rebuilds each store.
    first.kill9();
    let second = start_shards(&url, &dir.path().join("b"), &extra, &[]);
    until_count(&second, "shard is primary", PARTITIONS, LIMIT).await;
    let played: Vec<String> =
        second.log_text().lines().filter(|l| l.contains("recovery log played")).map(str::to_owned).collect();
    assert_eq!(played.len(), PARTITIONS, "{played:#?}");
    assert!(played.iter().all(|l| l.contains("rebuilt=true") && l.contains("from_snapshot=Some(")), "{played:#?}");
    drop(second); // kill -9: the stores are closed and can be opened here.

    for shard in (0..PARTITIONS).map(|i| format!("chunks-part-{i:03}")) {
        let old = store_state(&dir.path().join("a/shards").join(&shard));
        let new = store_state(&dir.path().join("b/shards").join(&shard));
        assert!(old.1.is_some(), "{shard} has a checkpoint");
        assert_eq!(new, old, "{shard}: the rebuilt store differs from the killed process's");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standbys_follow_a_log_pruned_under_them_and_one_left_behind_rebuilds() {
    let dir = tempfile::tempdir().unwrap();
    let (_broker, url) = start_broker(&dir.path().join("broker"), "127.0.0.1:0");
    shrink_recovery_log_fragments(&GrpcJournalClient::new(&url).unwrap()).await;
    let extra = ["--snapshot-every-bytes", &SNAPSHOT_EVERY.to_string(), "--hot-standbys", "1", "--lease", "2s"];
    // Paced, so the job outlasts every phase below however fast the machine is: 2 × 150
    // streams × 17 chunks at 120 chunks/s last ≥ 42 s.
    let job = Chunker::start_with(&url, &dir.path().join("chunker"), 150, 16, &["--rate", "120"]);
    let mut primary = start_shards(&url, &dir.path().join("a"), &extra, &[]);
    next_sums_commit(&url, LIMIT).await;
    let mut standby = start_shards(&url, &dir.path().join("b"), &extra, &[]);
    until_count(&standby, "hot standby caught up", PARTITIONS, LIMIT).await;
    // The standby tails while the primary snapshots and prunes under it …
    let pruned = count(&primary, "pruned the recovery log");
    until_count(&primary, "pruned the recovery log", pruned + PARTITIONS, LIMIT).await;
    // … then stops, and the log is pruned past where its stores stopped.
    standby.kill9();
    let pruned = count(&primary, "pruned the recovery log");
    until_count(&primary, "pruned the recovery log", pruned + 2 * PARTITIONS, LIMIT).await;
    let standby = start_shards(&url, &dir.path().join("b"), &extra, &[]);
    until_count(&standby, "hot standby caught up", PARTITIONS, LIMIT).await;
    assert_eq!(count(&standby, "the store is behind the newest snapshot"), PARTITIONS, "{}", standby.log_text());
    for _ in 0..3 {
        next_sums_commit(&url, LIMIT).await;
    }
    primary.kill9();
    let streams = job.streams;
    job.succeeds(LIMIT).await;
    assert_exactly_once(&url, streams as usize).await;
    // It took over every shard from stores it kept current: no rebuild at take-over.
    let log = standby.log_text();
    assert_eq!(count(&standby, "the primary's lease expired; taking over"), PARTITIONS, "{log}");
    let played: Vec<&str> = log.lines().filter(|l| l.contains("recovery log played")).collect();
    assert_eq!(played.len(), PARTITIONS, "{log}");
    assert!(played.iter().all(|l| l.contains("rebuilt=false")), "{played:#?}");
}
