//! Crash suite (a): the shards process aborts at each named crash point of the commit
//! and recovery sequences (`STREAMSUM_CRASH_AT`, feature `crash-points`), is
//! restarted, and the chunker — in its own process, against a broker in a third —
//! still verifies every sum exactly once within its SLA.

mod crash_support;
mod support;

use std::time::Duration;

use crash_support::*;

const STREAMS: u32 = 30;
const CHUNKS: u32 = 8;
/// Bound on each whole scenario (the chunker's own SLA, 40 s per sum, is tighter for
/// any one stream).
const LIMIT: Duration = Duration::from_secs(120);

/// Runs a chunker while a shards process with `STREAMSUM_CRASH_AT=crash_at` aborts
/// there; restarts the shards without it and checks the job and the sums journal.
/// With `wipe_first`, shards run normally first and lose their stores, so that the
/// crashing process has logs to play.
async fn crash_and_recover(crash_at: &str, extra: &[&str], wipe_first: bool) {
    let dir = tempfile::tempdir().unwrap();
    let (_broker, url) = start_broker(&dir.path().join("broker"), "127.0.0.1:0");
    let shards_dir = dir.path().join("shards");
    let job = Chunker::start(&url, &dir.path().join("chunker"), STREAMS, CHUNKS);

    if wipe_first {
        // Commit some, then lose the local stores: the next start plays the logs.
        let mut first = start_shards(&url, &shards_dir, extra, &[]);
        // (Sums are appended before their transaction's log record: wait for several.)
        for _ in 0..10 {
            next_sums_commit(&url, LIMIT).await;
        }
        first.kill9();
        std::fs::remove_dir_all(shards_dir.join("shards")).unwrap();
    }
    let mut crashing = start_shards(&url, &shards_dir, extra, &[("STREAMSUM_CRASH_AT", crash_at)]);
    let status = crashing.exited_within(LIMIT).await.unwrap_or_else(|| {
        panic!(
            "the shards process did not abort at {crash_at} within {LIMIT:?} (is streamsum-host built with \
             `--features crash-points`? `cargo test --workspace` does that)\n{}",
            crashing.log_text()
        )
    });
    let log = crashing.log_text();
    let point = crash_at.split(':').next().unwrap();
    assert!(aborted(status), "{status}: {log}");
    assert!(log.contains(&format!("crash point {point} reached")), "{log}");

    let _shards = start_shards(&url, &shards_dir, extra, &[]);
    let streams = job.streams;
    job.succeeds(LIMIT).await;
    assert_exactly_once(&url, streams as usize).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_publishing_before_the_log_append() {
    crash_and_recover("after-publish:3", &[], false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_log_append_before_rocksdb() {
    crash_and_recover("after-log-append:3", &[], false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_commit_before_the_acks() {
    crash_and_recover("after-commit:3", &[], false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_the_middle_of_playback() {
    crash_and_recover("mid-playback:2", &[], true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_the_middle_of_a_snapshot() {
    // A snapshot after every transaction.
    crash_and_recover("mid-snapshot:2", &["--snapshot-every-bytes", "1"], false).await;
}
