//! Crash suite: an idle primary's recovery log stays bounded (issue 6: "recovery time
//! stays bounded however long the shard has run"). With hot standbys, a primary renews
//! its lease in the log every lease / 4 and its standby renews its slot every lease / 3,
//! even when no input arrives; those renewals count toward the snapshot interval, so
//! an idle primary snapshots and prunes too. After the chunker's job the shards sit
//! idle while the log is written many times over by renewals and idle snapshots; on
//! the broker's disk each log keeps only a bounded tail. Then `kill -9` of the primary:
//! the standby, which tailed the log (and its pruning) all along, takes over without a
//! rebuild and holds exactly the store the primary had.

mod crash_support;
mod support;

use std::time::Duration;

use crash_support::*;
use streamsum_host::service::GrpcJournalClient;

const LIMIT: Duration = Duration::from_secs(120);
/// `--snapshot-every-bytes`: a dozen renewals or more per interval.
const SNAPSHOT_EVERY: u64 = 512;
/// Fragment length of the recovery logs (the smallest Gazette allows).
const FRAGMENT: i64 = 1 << 10;
/// Idle snapshots per shard to wait for.
const IDLE_SNAPSHOTS: usize = 6;
/// What a log may keep on disk: the fragments from the one holding the newest snapshot
/// (≈ 1 KiB: the state of ~10 streams) on, up to two intervals of renewals when a
/// snapshot is being written, and the compacted index, which dominates: one record
/// of ≈ 300 bytes per renewal (each changes a register, so each record carries the
/// author, lease and slot registers) against ≈ 25 bytes of log content. Measured
/// 14–26 KiB at the peaks (index compactions under way, snapshots delayed by load);
/// without idle snapshots it grows by ≈ 1 KiB/s with a 2 s lease, without bound.
const ON_DISK_BOUND: u64 = 40 << 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_primary_keeps_its_recovery_log_bounded_and_its_standby_still_takes_over() {
    let dir = tempfile::tempdir().unwrap();
    let broker_dir = dir.path().join("broker");
    let (_broker, url) = start_broker(&broker_dir, "127.0.0.1:0");
    let client = GrpcJournalClient::new(&url).unwrap();
    set_recovery_log_fragment_length(&client, FRAGMENT).await;
    let extra = ["--snapshot-every-bytes", &SNAPSHOT_EVERY.to_string(), "--hot-standbys", "1", "--lease", "2s"];

    // Some state in every store, then no more input.
    let job = Chunker::start(&url, &dir.path().join("chunker"), 20, 4);
    let mut primary = start_shards(&url, &dir.path().join("a"), &extra, &[]);
    until_count(&primary, "shard is primary", PARTITIONS, LIMIT).await;
    let standby = start_shards(&url, &dir.path().join("b"), &extra, &[]);
    let streams = job.streams;
    job.succeeds(LIMIT).await;
    assert_exactly_once(&url, streams as usize).await;
    until_count(&standby, "hot standby caught up", PARTITIONS, LIMIT).await;

    // Idle: only renewals (and the snapshots they make due) are written from here on.
    let pruned = count(&primary, "pruned the recovery log before the newest snapshot");
    let heads_before = recovery_log_heads(&client).await;
    let snapshots = count(&primary, "snapshot written");
    let mut most_on_disk = 0;
    for round in 1..=IDLE_SNAPSHOTS {
        until_count(&primary, "snapshot written", snapshots + round * PARTITIONS, LIMIT).await;
        let on_disk = recovery_logs_on_disk(&broker_dir);
        most_on_disk = on_disk.iter().map(|(_, b)| *b).max().unwrap().max(most_on_disk);
        for (name, bytes) in &on_disk {
            assert!(*bytes < ON_DISK_BOUND, "idle round {round}: {name} keeps {bytes} bytes on disk");
        }
    }
    let heads_after = recovery_log_heads(&client).await;
    let grown: Vec<i64> = heads_before.iter().zip(&heads_after).map(|(b, a)| a - b).collect();
    eprintln!("idle recovery logs grew by {grown:?} bytes; at most {most_on_disk} bytes on disk");
    // Every log was written many intervals past the snapshot it had when idling began
    // (over a hundred renewals of ≈ 25 bytes) …
    assert!(grown.iter().all(|&g| g > IDLE_SNAPSHOTS as i64 * SNAPSHOT_EVERY as i64), "idle growth {grown:?}");
    // … because the idle primary pruned it.
    let now_pruned = count(&primary, "pruned the recovery log before the newest snapshot");
    assert!(now_pruned >= pruned + PARTITIONS, "{pruned} → {now_pruned} prunes:\n{}", primary.log_text());

    // The standby followed the snapshots and the pruning: it takes over hot.
    let played_before = count(&standby, "recovery log played");
    assert_eq!(played_before, 0, "{}", standby.log_text());
    primary.kill9();
    until_count(&standby, "the primary's lease expired; taking over", PARTITIONS, LIMIT).await;
    until_count(&standby, "shard is primary", PARTITIONS, LIMIT).await;
    let log = standby.log_text();
    let played: Vec<&str> = log.lines().filter(|l| l.contains("recovery log played")).collect();
    assert_eq!(played.len(), PARTITIONS, "{log}");
    assert!(played.iter().all(|l| l.contains("rebuilt=false")), "{played:#?}");
    drop(standby); // kill -9: its stores can be opened here.
    for shard in (0..PARTITIONS).map(|i| format!("chunks-part-{i:03}")) {
        let old = store_state(&dir.path().join("a/shards").join(&shard));
        let new = store_state(&dir.path().join("b/shards").join(&shard));
        assert!(old.1.is_some(), "{shard} has a checkpoint");
        assert_eq!(new, old, "{shard}: the standby's store differs from the killed primary's");
    }
}
