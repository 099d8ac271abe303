//! The chunker job when things go wrong: a wrong sum on the sums journal, a broker
//! that is not up yet, a host restarted in the middle of a run.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};

use futures::future::select_all;
use futures::{FutureExt, StreamExt};
use streamsum_host::journal::{AppendRequest, JournalClient, ReadRequest};
use streamsum_host::message::Publisher;
use streamsum_host::service::GrpcJournalClient;
use support::*;

const SUMS: &str = "examples/stream-sum/sums";

/// The first line appended to any of the `partitions` chunk partitions (blocking).
async fn first_chunk(client: &GrpcJournalClient, partitions: usize) -> String {
    let reads = (0..partitions).map(|p| {
        let req = ReadRequest {
            journal: format!("examples/stream-sum/chunks/part-{p:03}"),
            offset: 0,
            block: true,
            end_offset: 0,
        };
        let mut stream = client.read(req);
        async move {
            let mut bytes = Vec::new();
            while let Some(chunk) = stream.next().await {
                bytes.extend_from_slice(&chunk.expect("reading a chunk partition").content);
                if let Some(end) = bytes.iter().position(|&b| b == b'\n') {
                    return String::from_utf8(bytes[..end].to_vec()).unwrap();
                }
            }
            std::future::pending().await
        }
        .boxed()
    });
    select_all(reads).await.0
}

/// Waits for a child, collecting its output.
async fn finish(child: Child) -> std::process::Output {
    tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap()
}

/// Waits for a child whose stderr goes to `log`, returning its output with that log.
async fn finish_logged(child: Child, log: &std::path::Path) -> std::process::Output {
    let mut out = finish(child).await;
    out.stderr = std::fs::read(log).unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_sum_on_the_sums_journal_fails_the_job_naming_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    // The summer holds each transaction open for 3 s, so its (correct) Sum is committed
    // only well after the forged one below.
    let host = Host::start(
        &dir.path().join("host"),
        &[
            "--partitions",
            "4",
            "--min-txn-duration",
            "3s",
            "--max-txn-duration",
            "4s",
        ],
    );
    let log = dir.path().join("chunker.log");
    let child = chunker(&host.url, &dir.path().join("cache"))
        .args(["--streams", "1", "--chunks", "3", "--workers", "1"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();

    // As soon as the stream's first chunk shows up, forge its Sum: right id and
    // SeqNo, wrong SHA-1, published committed by another producer.
    let client = host.client();
    let line = first_chunk(&client, 4).await;
    let id = json_str(&line, "ID").unwrap().to_string();
    let zeros = "0".repeat(40);
    let forged = format!(r#"{{"ID":"{id}","SeqNo":4,"SHA1":"{zeros}"}}"#);
    let mut publisher = Publisher::with_own_clock();
    publisher.publish_committed(SUMS, forged.as_bytes()).unwrap();
    let bytes: Vec<u8> = publisher.take_appends().into_iter().flat_map(|a| a.bytes).collect();
    client.append(AppendRequest::new(SUMS, bytes)).await.unwrap();

    let out = finish_logged(child, &log).await;
    assert!(!out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    let want = format!("Error: chunker worker 0: mis-matched sum for stream {id}: expected seq_no 4 sha1 ");
    assert!(last.starts_with(&want), "{}", describe(&out));
    assert!(
        last.ends_with(&format!(", got seq_no 4 sha1 {zeros}")),
        "{}",
        describe(&out)
    );
    host.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chunker_waits_for_a_broker_that_is_not_up_yet() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let mut child = chunker(&url, &dir.path().join("cache"))
        .args(["--streams", "5", "--chunks", "5", "--workers", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // The chunker says it is retrying (rather than exiting); only then the host starts.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let seen = tokio::task::spawn_blocking(move || {
        let mut seen = String::new();
        while stderr.read_line(&mut seen).unwrap() > 0 {
            if seen.contains("cannot list the chunk partitions; retrying") {
                let rest = std::thread::spawn(move || {
                    let mut rest = String::new();
                    let _ = stderr.read_to_string(&mut rest);
                    rest
                });
                return (seen, Some(rest));
            }
        }
        (seen, None)
    })
    .await
    .unwrap();
    let (before, Some(rest)) = seen else {
        panic!("the chunker exited instead of retrying:\n{}", seen.0)
    };
    let host = Host::start_on(
        &dir.path().join("host"),
        &format!("127.0.0.1:{port}"),
        &["--partitions", "4"],
    );

    let out = finish(child).await;
    let stderr = format!("{before}{}", rest.join().unwrap());
    assert!(out.status.success(), "{}\n{stderr}", describe(&out));
    assert!(
        stderr.contains("chunker report: 2 workers, 10 streams verified, 60 chunks"),
        "{stderr}"
    );
    host.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_restarted_mid_run_still_gives_every_sum_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("host");
    let host = Host::start(&data, &["--partitions", "4"]);
    let addr = host.url.trim_start_matches("http://").to_string();
    let log = dir.path().join("chunker.log");
    let child = chunker(&host.url, &dir.path().join("cache"))
        .args(["--streams", "40", "--chunks", "20", "--workers", "2"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();

    // Once some sums are committed, stop the host (SIGTERM) and start it again on the
    // same address and data; the chunker retries meanwhile.
    let client = host.client();
    let mut stream = client.read(ReadRequest {
        journal: SUMS.into(),
        offset: 0,
        block: true,
        end_offset: 0,
    });
    let mut seen = Vec::new();
    while seen.iter().filter(|&&b| b == b'\n').count() < 10 {
        seen.extend_from_slice(&stream.next().await.unwrap().unwrap().content);
    }
    drop(stream);
    host.stop();
    let host = Host::start_on(&data, &addr, &["--partitions", "4"]);

    let out = finish_logged(child, &log).await;
    assert!(out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("chunker report: 2 workers, 80 streams verified, 1680 chunks"),
        "{stderr}"
    );

    // Read committed, the sums journal holds exactly one Sum per stream.
    let per_stream = sums_per_stream(&host.client()).await;
    assert_eq!(per_stream.len(), 80);
    assert!(per_stream.values().all(|&n| n == 1), "{per_stream:?}");
    host.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sum_published_twice_fails_the_job_as_duplicated() {
    let dir = tempfile::tempdir().unwrap();
    // Transactions last at least 1 s: the second stream's sum comes well after the
    // first one's, which leaves time to re-publish the first.
    let host = Host::start(
        &dir.path().join("host"),
        &[
            "--partitions",
            "4",
            "--min-txn-duration",
            "1s",
            "--max-txn-duration",
            "2s",
        ],
    );
    let log = dir.path().join("chunker.log");
    let child = chunker(&host.url, &dir.path().join("cache"))
        .args(["--streams", "2", "--chunks", "1", "--workers", "1"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();

    // Wait for the first committed Sum (a Sum line, then an ACK line), then publish a
    // copy of it, committed, as a second producer would.
    let client = host.client();
    let mut stream = client.read(ReadRequest {
        journal: SUMS.into(),
        offset: 0,
        block: true,
        end_offset: 0,
    });
    let mut text = String::new();
    let first = loop {
        text.push_str(std::str::from_utf8(&stream.next().await.unwrap().unwrap().content).unwrap());
        let lines: Vec<&str> = text.lines().collect();
        if let Some(i) = lines.iter().position(|l| l.contains("\"SHA1\"")) {
            if lines[i + 1..].iter().any(|l| !l.contains("\"ID\"")) {
                break lines[i].to_string();
            }
        }
    };
    drop(stream);
    let (id, sha1) = (json_str(&first, "ID").unwrap(), json_str(&first, "SHA1").unwrap());
    let copy = format!(r#"{{"ID":"{id}","SeqNo":2,"SHA1":"{sha1}"}}"#);
    let mut publisher = Publisher::with_own_clock();
    publisher.publish_committed(SUMS, copy.as_bytes()).unwrap();
    let bytes: Vec<u8> = publisher.take_appends().into_iter().flat_map(|a| a.bytes).collect();
    client.append(AppendRequest::new(SUMS, bytes)).await.unwrap();

    let out = finish_logged(child, &log).await;
    assert!(!out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let want = format!("Error: chunker worker 0: duplicated sum for stream {id}: seq_no 2 sha1 {sha1}");
    assert_eq!(stderr.lines().last().unwrap_or_default(), want, "{}", describe(&out));
    host.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_job_stops_on_sigint_saying_how_far_it_got() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::start(&dir.path().join("host"), &["--partitions", "4"]);
    let log = dir.path().join("chunker.log");
    let child = chunker(&host.url, &dir.path().join("cache"))
        .args(["--streams", "-1", "--chunks", "5", "--workers", "2"])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();

    // Once a few sums are committed, interrupt the chunker.
    let client = host.client();
    let mut stream = client.read(ReadRequest {
        journal: SUMS.into(),
        offset: 0,
        block: true,
        end_offset: 0,
    });
    let mut lines = 0;
    while lines < 20 {
        lines += stream
            .next()
            .await
            .unwrap()
            .unwrap()
            .content
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
    }
    drop(stream);
    std::process::Command::new("kill")
        .arg("-INT")
        .arg(child.id().to_string())
        .status()
        .unwrap();

    let out = finish_logged(child, &log).await;
    assert!(!out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("Error: interrupted after publishing "),
        "{}",
        describe(&out)
    );
    let chunks: u64 = last.split_whitespace().nth(4).unwrap().parse().unwrap();
    assert!(
        chunks >= 10 * 6,
        "at least the ten streams whose sums were seen: {last}"
    );
    host.stop();
}
