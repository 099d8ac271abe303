//! Hostile guests against a live host (issue 8, DESIGN §9): the real `streamsum-host`
//! runs `hostile_summer.wasm` on shard `chunks-part-002` only (`--app-for`) and the
//! healthy summer on the others, while the real chunker verifies sums on the healthy
//! partitions (`--exclude-partition`). For each misbehaviour: the host keeps serving
//! and the chunker's sums verify, the hostile shard goes FAILED for good after
//! `--max-shard-failures` lives with the limit named in its log line, and its committed
//! state (the guest's `count` key and the checkpoint's read-through offset, read from
//! its RocksDB after the host stops) is what it was before the hostile message.
//! A component importing what the sandbox lacks is refused at start, naming the import.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use streamsum_host::consumer::checkpoint::Checkpoint;
use streamsum_host::journal::{AppendRequest, AppendResult, JournalClient};
use streamsum_host::message::publisher::Publisher;
use streamsum_host::service::GrpcJournalClient;
use streamsum_host::store::ShardDb;
use support::*;

/// The partition (and shard) the hostile guest runs on.
const HOSTILE: &str = "examples/stream-sum/chunks/part-002";
const HOSTILE_SHARD: &str = "chunks-part-002";

/// Appends `messages` (JSON objects) to `journal` as committed (OUTSIDE_TXN) messages.
async fn publish(client: &GrpcJournalClient, journal: &str, messages: &[&str]) -> AppendResult {
    let mut publisher = Publisher::with_own_clock();
    for m in messages {
        publisher.publish_committed(journal, m.as_bytes()).unwrap();
    }
    let append = publisher.take_appends().pop().unwrap();
    client.append(AppendRequest::new(journal, append.bytes)).await.unwrap()
}

/// Waits until `journal` contains `needle` (the hostile guest's commit marker).
async fn wait_for_journal(client: &GrpcJournalClient, journal: &str, needle: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let bytes = read_all(client, journal).await;
        if String::from_utf8_lossy(&bytes).contains(needle) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{needle} never appeared in {journal}:\n{}\nhost log:\n{}",
            String::from_utf8_lossy(&bytes),
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the host log has a line containing every one of `needles`; returns it.
async fn wait_for_log(log: &Path, needles: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = strip_ansi(&std::fs::read_to_string(log).unwrap_or_default());
        if let Some(line) = text.lines().find(|l| needles.iter().all(|n| l.contains(n))) {
            return line.to_owned();
        }
        assert!(Instant::now() < deadline, "no log line with {needles:?} in:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs `act` on the hostile shard with `flags` added, checks everything the module
/// doc promises, and returns the host's whole log.
async fn hostile(act: &str, flags: &[&str], reason: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let app_for = format!("{HOSTILE_SHARD}={}", wasm("hostile_summer.wasm").display());
    let mut args = vec![
        "--partitions",
        "3",
        "--app-for",
        &app_for,
        "--max-shard-failures",
        "2",
        "--max-txn-duration",
        "200ms",
        "--guest-call-timeout",
        "500ms",
    ];
    args.extend_from_slice(flags);
    let host = Host::start(&dir.path().join("host"), &args);
    let client = host.client();

    // Committed state before the hostile message: three benign messages, counted.
    let benign = publish(&client, HOSTILE, &[r#"{"n":1}"#, r#"{"n":2}"#, r#"{"n":3}"#]).await;
    wait_for_journal(&client, HOSTILE, r#""committed_count":3}"#, &host.log).await;
    let hostile_append = publish(&client, HOSTILE, &[act]).await;

    // The healthy shards keep verifying sums meanwhile.
    let mut cmd = chunker(&host.url, &dir.path().join("cache"));
    cmd.args([
        "--streams",
        "5",
        "--chunks",
        "5",
        "--workers",
        "2",
        "--exclude-partition",
        HOSTILE,
    ]);
    let out = tokio::task::spawn_blocking(move || output(&mut cmd)).await.unwrap();
    assert!(out.status.success(), "{act}: {}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("2 workers, 10 streams verified"),
        "{}",
        describe(&out)
    );

    // The hostile shard is FAILED for good, naming what the guest did.
    let line = wait_for_log(&host.log, &["shard FAILED", HOSTILE_SHARD]).await;
    assert!(
        line.contains(reason),
        "{act}: the reason should name {reason:?}: {line}"
    );
    assert!(line.contains("failures=2"), "{line}");

    // The host still serves: a healthy partition takes an append after the failure.
    let after = publish(&client, "examples/stream-sum/chunks/part-000", &[r#"{"probe":1}"#]).await;
    assert!(after.end > after.begin);
    let log = host.log.clone();
    host.stop();

    // The failing shard's committed state is unchanged: count 3, nothing of the
    // hostile transaction, read-through before the hostile message.
    let db = ShardDb::open_blocking(&dir.path().join("host/shards").join(HOSTILE_SHARD), false).unwrap();
    assert_eq!(db.get(b"count").unwrap().as_deref(), Some(&b"3"[..]), "{act}");
    assert_eq!(db.get(b"big").unwrap(), None);
    let checkpoint = Checkpoint::decode(&db.load_checkpoint_blocking().unwrap().unwrap()).unwrap();
    let read_through = checkpoint.sequencer.read_through[HOSTILE];
    assert!(
        read_through >= benign.end && read_through <= hostile_append.begin,
        "{act}: read-through {read_through} should lie in [{}, {}]",
        benign.end,
        hostile_append.begin
    );
    strip_ansi(&std::fs::read_to_string(log).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_infinite_loop_in_consume_hits_the_call_deadline() {
    hostile(
        r#"{"hostile":"loop-consume"}"#,
        &[],
        "guest consume ran past its deadline of 500ms",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_infinite_loop_in_finalize_txn_hits_the_call_deadline() {
    hostile(
        r#"{"hostile":"loop-finalize"}"#,
        &[],
        "guest finalize-txn ran past its deadline of 500ms",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_infinite_loop_runs_out_of_fuel_when_metering_is_on() {
    hostile(
        r#"{"hostile":"loop-consume"}"#,
        &["--guest-fuel", "50000000"],
        "guest consume exceeded the fuel limit: ran out of its 50000000 units of fuel",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn growing_memory_hits_the_memory_limit() {
    hostile(
        r#"{"hostile":"grow-memory"}"#,
        &["--guest-memory", "32MiB"],
        "guest exceeded the memory_bytes limit",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_recursion_traps_with_a_stack_overflow() {
    hostile(r#"{"hostile":"recurse"}"#, &[], "call stack exhausted").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_on_the_fourth_message_traps() {
    hostile(r#"{"hostile":"unreachable"}"#, &[], "guest consume trapped").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_the_size_limit_is_refused_by_name() {
    hostile(
        r#"{"hostile":"big-message","size":2000}"#,
        &["--guest-message-bytes", "1KiB"],
        "guest exceeded the message_bytes limit: 2000 > 1024",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_without_end_hits_the_transaction_message_limit() {
    hostile(
        r#"{"hostile":"publish-forever"}"#,
        &["--guest-txn-messages", "1000"],
        "guest exceeded the txn_messages limit",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_over_the_size_limit_is_refused_by_name() {
    hostile(
        r#"{"hostile":"big-key","size":100}"#,
        &["--guest-key-bytes", "64"],
        "guest exceeded the key_bytes limit: 100 > 64",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_over_the_size_limit_is_refused_by_name() {
    hostile(
        r#"{"hostile":"big-value","size":5000}"#,
        &["--guest-value-bytes", "4KiB"],
        "guest exceeded the value_bytes limit: 5000 > 4096",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writing_stdout_without_end_is_capped_in_the_log_and_stopped_by_the_deadline() {
    let log = hostile(
        r#"{"hostile":"stdout-forever"}"#,
        &["--guest-txn-log-bytes", "4KiB"],
        "ran past its deadline",
    )
    .await;
    // Two lives, each allowed 4 KiB of ~60-byte lines per transaction: the rest dropped.
    let lines = log.lines().filter(|l| l.contains("hostile guest line")).count();
    assert!(lines > 0, "the guest's stdout should reach the log:\n{log}");
    assert!(
        lines <= 2 * 4096 / 20,
        "{lines} guest lines: the log volume limit did not hold"
    );
    let first = log.lines().find(|l| l.contains("hostile guest line 0")).unwrap();
    assert!(
        first.contains(HOSTILE_SHARD),
        "guest lines are tagged with the shard: {first}"
    );
}

/// A component importing an interface the host does not provide is refused at start.
fn refused_at_load(wasm_name: &str, import: &str) {
    let dir = tempfile::tempdir().unwrap();
    let app_for = format!("{HOSTILE_SHARD}={}", wasm(wasm_name).display());
    let out = output(
        std::process::Command::new(host_bin())
            .arg("--app")
            .arg(wasm("guest_summer.wasm"))
            .arg("--data-dir")
            .arg(dir.path())
            .args(["--listen", "127.0.0.1:0", "--partitions", "3", "--app-for", &app_for])
            .env_remove("RUST_BACKTRACE"),
    );
    assert!(!out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(import), "the error should name {import}: {stderr}");
    assert!(stderr.contains(&format!("--app-for {HOSTILE_SHARD}")), "{stderr}");
}

#[test]
fn a_guest_that_opens_a_file_fails_to_link_naming_wasi_filesystem() {
    refused_at_load("hostile_summer_open_file.wasm", "wasi:filesystem");
}

#[test]
fn a_guest_that_opens_a_socket_fails_to_link_naming_wasi_sockets() {
    refused_at_load("hostile_summer_open_socket.wasm", "wasi:sockets");
}
