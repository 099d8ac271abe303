//! Operating a running host (issue 10): `/metrics` counters move during a chunker run
//! and agree exactly with the journals; `/api/status` and `/metrics` answer with what
//! is known when the broker is gone; the HTTP listener refuses what it does not serve;
//! logs are JSON lines with `--log-format json`; `journals list` prints a table or
//! JSON.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use support::{chunker, describe, host_bin, json_u64, output, read_all, wasm, Host};

/// `GET path` (or any raw request) against `base`; returns (status code, body).
pub fn http(base: &str, request: &str) -> (u16, String) {
    let addr = base.strip_prefix("http://").expect("an http:// URL");
    let mut stream = TcpStream::connect(addr).expect("connecting to the metrics listener");
    stream.write_all(request.as_bytes()).unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, body.to_string())
}

/// `GET path`.
pub fn get(base: &str, path: &str) -> (u16, String) {
    http(base, &format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n"))
}

/// Sum of the samples of `name` whose labels contain every `labels` pair.
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(series, _)| series == &name || series.starts_with(&format!("{name}{{")))
        .filter(|(series, _)| labels.iter().all(|(k, v)| series.contains(&format!("{k}=\"{v}\""))))
        .map(|(_, v)| v.parse::<f64>().unwrap())
        .sum()
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

#[test]
fn metrics_move_during_a_run_and_agree_with_the_journals() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(&dir.path().join("data"), &["--log-format", "json"]);
    let (code, before) = get(&host.metrics, "/metrics");
    assert_eq!(code, 200);
    for p in 0..8 {
        let shard = format!("chunks-part-00{p}");
        assert!(before.contains(&format!("streamsum_shard_info{{shard=\"{shard}\"")), "{before}");
        assert_eq!(metric(&before, "streamsum_transactions_committed_total", &[("shard", &shard)]), 0.0, "{before}");
    }

    let out = output(chunker(&host.url, &dir.path().join("cache")).args([
        "--streams",
        "5",
        "--chunks",
        "20",
        "--workers",
        "1",
    ]));
    assert!(out.status.success(), "{}", describe(&out));

    let (_, after) = get(&host.metrics, "/metrics");
    // 5 streams of 20 data chunks plus one final chunk each, all committed.
    assert_eq!(metric(&after, "streamsum_messages_consumed_total", &[]), 105.0, "{after}");
    let txns = metric(&after, "streamsum_transactions_committed_total", &[]);
    assert!(txns >= 1.0, "{after}");
    assert_eq!(metric(&after, "streamsum_transaction_seconds_count", &[]), txns, "every commit is timed");
    assert_eq!(metric(&after, "streamsum_transaction_phase_seconds_count", &[("phase", "finalize")]), txns);
    assert_eq!(metric(&after, "streamsum_transaction_phase_seconds_count", &[("phase", "commit_wait")]), txns);
    assert!(metric(&after, "streamsum_guest_calls_total", &[("call", "consume")]) >= 1.0);
    assert_eq!(metric(&after, "streamsum_guest_calls_total", &[("call", "finalize-txn")]), txns);
    assert_eq!(metric(&after, "streamsum_guest_failures_total", &[]), 0.0);

    let url = host.url.clone();
    let (sums, chunk_bytes) = block_on(async move {
        let client = streamsum_host::service::GrpcJournalClient::new(&url).unwrap();
        let sums = read_all(&client, "examples/stream-sum/sums").await.len() as f64;
        let mut chunk_bytes = 0.0;
        for p in 0..8 {
            chunk_bytes += read_all(&client, &format!("examples/stream-sum/chunks/part-00{p}")).await.len() as f64;
        }
        (sums, chunk_bytes)
    });
    assert!(sums > 0.0);
    assert_eq!(metric(&after, "streamsum_append_bytes_total", &[("journal", "examples/stream-sum/sums")]), sums);
    assert_eq!(metric(&after, "streamsum_journal_write_head", &[("journal", "examples/stream-sum/sums")]), sums);
    // Only the shards append to the sums journal (sums and ACKs: every byte counted
    // above), and the chunker publishes committed messages only: every chunk byte
    // went to a guest exactly once.
    assert_eq!(metric(&after, "streamsum_bytes_consumed_total", &[]), chunk_bytes, "{after}");

    let (code, status) = get(&host.metrics, "/api/status");
    assert_eq!(code, 200);
    assert_eq!(json_u64(&status, "transactions_total"), Some(txns as u64), "{status}");
    assert_eq!(json_u64(&status, "messages_total"), Some(105), "{status}");

    let log = host.log.clone();
    host.stop();
    let text = std::fs::read_to_string(log).unwrap();
    assert!(text.lines().count() >= 3, "{text}");
    for line in text.lines() {
        assert!(
            line.starts_with('{') && line.ends_with('}') && line.contains("\"level\":"),
            "not a JSON log line: {line}"
        );
    }
    assert!(text.contains("\"message\":\"shard is primary\""), "{text}");

    // Restarted on the same data, every shard reports its checkpoint as its progress
    // before it commits anything: nothing left to read, no lag.
    let host = Host::start(&dir.path().join("data"), &[]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let json = loop {
        let out = output(Command::new(support::host_bin()).args(["shards", "list", "--format", "json", "--broker", &host.url]));
        assert!(out.status.success(), "{}", describe(&out));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let shards = json["shards"].as_array().unwrap().clone();
        if shards.len() == 8 && shards.iter().all(|s| s["status"] == "PRIMARY") {
            break shards;
        }
        assert!(std::time::Instant::now() < deadline, "the shards did not all become primary: {json}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    for s in &json {
        assert_eq!((&s["transactions"], &s["lag"]), (&0.into(), &0.into()), "a recovered primary reads through its checkpoint: {s}");
    }
    assert!(json.iter().any(|s| s["read_through"].as_i64() > Some(0)), "{json:?}");
    host.stop();
}

#[test]
fn the_listener_refuses_what_it_does_not_serve() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(&dir.path().join("data"), &[]);
    let (code, body) = get(&host.metrics, "/nope");
    assert_eq!((code, body.as_str()), (404, "no page /nope: try /, /metrics or /api/status\n"));
    let (code, body) = http(&host.metrics, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert_eq!((code, body.as_str()), (405, "POST is not supported: use GET\n"));
    let (code, _) = http(&host.metrics, "garbage\r\n\r\n");
    assert_eq!(code, 400);
    let (code, page) = get(&host.metrics, "/");
    assert_eq!(code, 200);
    assert!(page.starts_with("<!doctype html>") && page.contains("id=\"rate-chart\""), "{page}");
    assert!(!page.contains("http://") && !page.contains("https://"), "the page must not load external assets");
}

#[test]
fn status_answers_with_what_is_known_when_the_broker_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Command::new(host_bin())
        .args(["broker", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("broker"))
        .env("STREAMSUM_LOG", "off")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(broker.stdout.take().unwrap()).lines();
    let url = lines.next().unwrap().unwrap().strip_prefix("broker listening on ").unwrap().trim().to_string();

    let mut host = Command::new(host_bin())
        .arg("--app")
        .arg(wasm("guest_summer.wasm"))
        .args(["--broker", &url, "--metrics-listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("host"))
        .env("STREAMSUM_LOG", "off")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(host.stdout.take().unwrap()).lines();
    let metrics = lines.next().unwrap().unwrap().strip_prefix("metrics listening on ").unwrap().trim().to_string();
    let (code, status) = get(&metrics, "/api/status");
    assert_eq!(code, 200);
    assert!(status.contains("\"errors\":[]") && status.contains("examples/stream-sum/sums"), "{status}");

    // The broker goes away: the shards fail and retry, the listing fails.
    let _ = Command::new("kill").arg("-KILL").arg(broker.id().to_string()).status();
    broker.wait().unwrap();
    let (code, status) = get(&metrics, "/api/status");
    assert_eq!(code, 200, "{status}");
    assert!(status.contains("\"errors\":[\"listing journals: ") && status.contains("\"journals\":[]"), "{status}");
    assert!(status.contains("\"id\":\"chunks-part-007\""), "the shards are still listed: {status}");
    let (code, text) = get(&metrics, "/metrics");
    assert_eq!(code, 200, "{text}");
    assert_eq!(metric(&text, "streamsum_status_errors", &[]), 1.0, "{text}");
    assert!(text.contains("streamsum_shard_info{shard=\"chunks-part-000\""), "{text}");

    let _ = Command::new("kill").arg("-TERM").arg(host.id().to_string()).status();
    host.wait().unwrap();
}

/// The cells of the row of `table` that starts with `first`, cut at the offsets of the
/// header's column names and trimmed; an empty cell stays an empty string.
fn cells<'t>(table: &'t str, first: &str) -> Vec<&'t str> {
    let header = table.lines().next().unwrap();
    let row = table.lines().find(|l| l.starts_with(first)).unwrap_or_else(|| panic!("no row {first}:\n{table}"));
    let bytes = header.as_bytes();
    let starts: Vec<usize> =
        (0..bytes.len()).filter(|&i| bytes[i] != b' ' && (i == 0 || bytes[i - 1] == b' ')).collect();
    let cell = |from: usize, to: usize| row.get(from.min(row.len())..to.min(row.len())).unwrap_or("").trim();
    starts.iter().enumerate().map(|(k, &from)| cell(from, starts.get(k + 1).copied().unwrap_or(row.len()))).collect()
}

#[test]
fn journals_list_prints_a_table_or_json() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(&dir.path().join("data"), &[]);
    let list = |args: &[&str]| {
        let out = output(Command::new(host_bin()).args(["journals", "list", "--broker", &host.url]).args(args));
        assert!(out.status.success(), "{}", describe(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    let table = list(&["-l", "app.gazette.dev/message-type=stream_sum.Sum"]);
    let want_labels = "app.gazette.dev/message-type=stream_sum.Sum,content-type=application/x-ndjson";
    let rows: Vec<Vec<&str>> = table.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(
        rows,
        vec![
            vec!["JOURNAL", "LABELS", "WRITE", "HEAD", "ROUTE"],
            vec!["examples/stream-sum/sums", want_labels, "0", "local#streamsum-broker:PRIMARY"]
        ],
        "{table}"
    );
    let header = table.lines().next().unwrap();
    let row = table.lines().nth(1).unwrap();
    assert_eq!(header.find("LABELS"), row.find("app.gazette.dev"), "columns are aligned:\n{table}");

    let json = list(&["--format", "json", "-l", "prefix=examples/stream-sum/chunks/"]);
    assert_eq!(json.lines().count(), 8, "{json}");
    assert!(json.lines().all(|l| l.starts_with("{\"") && l.contains("\"write_head\":0")), "{json}");
    let shards = |format: &str| {
        let out = output(Command::new(host_bin()).args(["shards", "list", "--broker", &host.url, "--format", format]));
        assert!(out.status.success(), "{}", describe(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    let table = shards("table");
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header[..7], ["ID", "STATUS", "ROUTE", "PLUGIN", "READ-THROUGH", "LAG", "LAST-COMMIT"], "{table}");
    // Columns are cut at the header's offsets: a shard still recovering has no plugin yet,
    // an empty cell that splitting on whitespace would swallow.
    let row = cells(&table, "chunks-part-003");
    assert_eq!((row[4], row[5]), ("0", "0"), "read-through and lag of an idle shard:\n{table}");
    // The route comes from Shard/List, read just after the status: a shard still
    // recovering then (BACKFILL in Gazette's codes) may be PRIMARY by now.
    let replica = row[2].strip_prefix("local#streamsum-broker:").unwrap_or_else(|| panic!("routed here:\n{table}"));
    assert!(["PRIMARY", "BACKFILL"].contains(&replica), "a serving shard's replica status:\n{table}");
    let json = shards("json");
    assert_eq!(json.matches("\"lag\":0").count(), 8);
    assert_eq!(json.matches("\"suffix\":\"streamsum-broker\"").count(), 8, "every shard is routed here: {json}");

    // The embedded host's shards are fixed: apply says so, after checking the file.
    let apply = |text: &str| {
        let file = dir.path().join("shards.yaml");
        std::fs::write(&file, text).unwrap();
        output(Command::new(host_bin()).args(["shards", "apply", "--broker", &host.url]).arg(&file))
    };
    let good = "common:\n  recovery_log_prefix: examples/stream-sum/recovery-logs\n  max_txn_duration: 1s\nshards:\n- id: chunks-part-009\n  sources: [journal: examples/stream-sum/chunks/part-009]\n";
    let out = apply(good);
    assert!(!out.status.success());
    assert!(describe(&out).contains("fixed when it starts") && describe(&out).contains("--etcd"), "{}", describe(&out));
    let out = apply("shards:\n- id: chunks-part-009\n  sources: [journal: examples/stream-sum/chunks/part-009]\n");
    assert!(describe(&out).contains("shards.yaml: shard \"chunks-part-009\": recovery_log_prefix is required"), "{}", describe(&out));
    let tsv = list(&["--format", "tsv", "-l", "name=examples/stream-sum/sums"]);
    assert_eq!(tsv.split('\t').take(2).collect::<Vec<_>>(), ["examples/stream-sum/sums", "0"], "{tsv}");
}
