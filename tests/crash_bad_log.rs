//! A recovery log it cannot trust stops a shard from starting: a record that fails its
//! checksum is reported with the journal and offset, and the shard never becomes
//! primary (it retries with backoff, reporting the same error), rather than starting
//! from wrong state.

mod crash_support;
mod support;

use std::time::Duration;

use crash_support::*;
use streamsum_host::journal::{AppendRequest, JournalClient};
use streamsum_host::service::GrpcJournalClient;
use streamsum_host::store::LogRecord;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_recovery_log_record_is_reported_and_the_shard_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let (_broker, url) = start_broker(&dir.path().join("broker"), "127.0.0.1:0");
    let client = GrpcJournalClient::new(&url).unwrap();
    let journal = "examples/stream-sum/recovery-logs/chunks-part-001";
    // A well-framed record whose payload was damaged after its checksum was taken.
    let mut frame = LogRecord { seq_no: 1, author: 5, checkpoint: Some(b"cp".to_vec()), ..LogRecord::default() }.frame();
    let last = frame.len() - 1;
    frame[last] ^= 0x01;
    let bad = client.append(AppendRequest::new(journal, frame)).await.unwrap();

    let shards = start_shards(&url, &dir.path().join("shards"), &[], &[]);
    let want = format!("recovery log {journal} at offset {}: record checksum mismatch", bad.begin);
    let began = std::time::Instant::now();
    while shards.log_text().matches(&want).count() < 2 {
        assert!(began.elapsed() < Duration::from_secs(60), "{want:?} not reported twice:\n{}", shards.log_text());
        // No signal exists for "a line was logged": poll the log file.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log = shards.log_text();
    assert!(!log.lines().any(|l| l.contains("shard is primary") && l.contains("chunks-part-001")), "{log}");
    // The other shards, whose logs are intact, started.
    assert!(log.lines().any(|l| l.contains("shard is primary") && l.contains("chunks-part-000")), "{log}");
}
