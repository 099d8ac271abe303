//! The hostile shard's status in process (issue 8): after `--max-shard-failures`
//! consecutive failures it is FAILED for good (`gave_up`) with the named reason, while
//! the other shards stay PRIMARY. Drives `app::Service` directly, so the status is read
//! from the same snapshots a shard listing serves.

mod support;

use std::time::{Duration, Instant};

use clap::Parser;
use streamsum_host::app::Service;
use streamsum_host::cli::Cli;
use streamsum_host::consumer::ShardState;
use streamsum_host::journal::AppendRequest;
use streamsum_host::message::publisher::Publisher;
use support::wasm;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_that_keeps_failing_is_marked_failed_with_the_reason_and_the_others_keep_running() {
    let dir = tempfile::tempdir().unwrap();
    let app_for = format!("chunks-part-001={}", wasm("hostile_summer.wasm").display());
    let cli = Cli::try_parse_from([
        "streamsum-host",
        "--app",
        wasm("guest_summer.wasm").to_str().unwrap(),
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--partitions",
        "2",
        "--app-for",
        &app_for,
        "--max-shard-failures",
        "3",
        "--guest-key-bytes",
        "64",
    ])
    .unwrap();
    let service = Service::start(&cli.app).await.unwrap();

    let mut publisher = Publisher::with_own_clock();
    let journal = "examples/stream-sum/chunks/part-001";
    publisher
        .publish_committed(journal, br#"{"hostile":"big-key","size":100}"#)
        .unwrap();
    let bytes = publisher.take_appends().pop().unwrap().bytes;
    service
        .client()
        .append(AppendRequest::new(journal, bytes))
        .await
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(60);
    let failed = loop {
        let shards = service.shards();
        if let Some(s) = shards.iter().find(|s| s.id == "chunks-part-001" && s.gave_up) {
            break s.clone();
        }
        assert!(Instant::now() < deadline, "the hostile shard never gave up: {shards:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(failed.state, ShardState::Failed);
    assert_eq!(failed.failures, 3);
    let reason = failed.last_error.unwrap();
    assert!(
        reason.contains("guest exceeded the key_bytes limit: 100 > 64"),
        "{reason}"
    );
    assert_eq!(failed.transactions, 0);

    let healthy = service
        .shards()
        .into_iter()
        .find(|s| s.id == "chunks-part-000")
        .unwrap();
    assert_eq!(healthy.state, ShardState::Primary, "{healthy:?}");
    assert!(!healthy.gave_up);
    service.stop().await.unwrap();
}
