//! Replicated journals (issue 16) on real broker processes that are killed for real:
//!
//! - `kill -9` of the primary of a journal with replication 3 on 3 brokers, during a
//!   steady stream of appends: every append acknowledged before (or after) the kill is
//!   read back afterwards at its offsets, byte for byte, exactly once; no torn record
//!   is ever served; appends resume through the new primary once the killed broker is
//!   back (its stale copy is brought in line by the new primary). The time from the
//!   kill to the next acknowledged append is printed and written as JSON.
//! - a replica killed: as Gazette's, appends wait until `replication` brokers serve
//!   the journal again (INSUFFICIENT_JOURNAL_BROKERS meanwhile, nothing written), then
//!   go on, the new broker filled in with every byte.
//!
//! Each test starts its own etcd and `streamsum-host broker --etcd` processes.

mod cluster_support;
mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cluster_support::brokers::{apply, local_bytes, routes_until, Broker};
use streamsum_cluster::testing::EtcdServer;
use streamsum_host::journal::{AppendRequest, JournalClient, JournalError};
use streamsum_host::message::append::is_retryable;
use streamsum_host::service::GrpcJournalClient;
use support::{describe, read_all};

const JOURNAL: &str = "test/replicated";

fn spec(replication: u32) -> String {
    format!("name: {JOURNAL}\nreplication: {replication}\nlabels:\n- {{name: content-type, value: application/x-ndjson}}\n")
}

/// The route of the journal as `journals list` prints it: `zone#id:STATUS` per member.
fn members(route: &str) -> Vec<String> {
    route.split(',').filter(|m| !m.is_empty()).map(|m| m.split(':').next().unwrap().trim_start_matches("local#").to_string()).collect()
}

fn primary(route: &str) -> Option<String> {
    route.split(',').find(|m| m.ends_with(":PRIMARY")).map(|m| m.split(':').next().unwrap().trim_start_matches("local#").to_string())
}

/// Waits until the journal's route on `broker` has `n` members and a primary, none of
/// them in `without`; returns the members, primary first.
fn route_with(broker: &str, n: usize, without: &[&str]) -> (String, Vec<String>) {
    let what = format!("{JOURNAL} served by {n} brokers, none of {without:?}");
    let routes = routes_until(broker, &what, |r| {
        r.get(JOURNAL).is_some_and(|route| {
            let m = members(route);
            m.len() == n && primary(route).is_some() && !m.iter().any(|x| without.contains(&x.as_str()))
        })
    });
    let route = &routes[JOURNAL];
    (primary(route).unwrap(), members(route))
}

/// An acknowledged append.
#[derive(Clone, Debug)]
struct Acked {
    content: Bytes,
    begin: i64,
    end: i64,
    at: Instant,
}

/// Appends numbered records through `client` until `stop`, retrying what fails
/// transiently with a new attempt number (so each attempt's bytes are unique); every
/// acknowledged one goes to `acked`.
fn appender(client: GrpcJournalClient, acked: Arc<Mutex<Vec<Acked>>>, stop: tokio::sync::watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for seq in 0u64.. {
            for attempt in 0u64.. {
                if *stop.borrow() {
                    return;
                }
                let content = Bytes::from(format!("{{\"seq\":{seq},\"try\":{attempt},\"pad\":\"{}\"}}\n", "x".repeat((seq % 97) as usize)));
                match client.append(AppendRequest::new(JOURNAL, content.clone())).await {
                    Ok(r) => {
                        acked.lock().unwrap().push(Acked { content, begin: r.begin, end: r.end, at: Instant::now() });
                        break;
                    }
                    Err(e) if is_retryable(&e) => {
                        // A client's retry backoff, as the chunker's and the shards' are.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    Err(e) => panic!("append of seq {seq}: {e}"),
                }
            }
        }
    })
}

/// Waits (polling the appender's progress) until `n` appends were acknowledged.
async fn acked_at_least(acked: &Arc<Mutex<Vec<Acked>>>, n: usize, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < n {
        assert!(Instant::now() < deadline, "{what}: {} of {n} appends acknowledged", acked.lock().unwrap().len());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Every record of the journal's bytes is whole, and every acknowledged append is at
/// its offsets, byte for byte, and nowhere else.
fn check_journal(bytes: &[u8], acked: &[Acked]) {
    assert!(bytes.is_empty() || bytes.ends_with(b"\n"), "the journal ends inside a record");
    let text = std::str::from_utf8(bytes).expect("the journal is UTF-8");
    for (i, line) in text.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("record {i} is torn ({e}): {line:?}"));
        assert!(v["seq"].is_u64() && v["try"].is_u64(), "record {i}: {line}");
    }
    let mut count = std::collections::HashMap::<&str, usize>::new();
    for line in text.split_inclusive('\n') {
        *count.entry(line).or_default() += 1;
    }
    for a in acked {
        let at = &bytes[a.begin as usize..a.end as usize];
        assert_eq!(at, &a.content[..], "acknowledged [{}, {}) reads back differently", a.begin, a.end);
        let line = std::str::from_utf8(&a.content).unwrap();
        assert_eq!(count.get(line), Some(&1), "acknowledged {line:?} is in the journal exactly once");
    }
}

/// An etcd, brokers b1–b3 and the journal applied with replication 3 and served by all
/// three; also its primary.
async fn three_brokers() -> (EtcdServer, tempfile::TempDir, Vec<Broker>, String) {
    let etcd = EtcdServer::start().await.expect("starting etcd");
    let dir = tempfile::tempdir().unwrap();
    let brokers: Vec<Broker> = ["b1", "b2", "b3"].iter().map(|id| Broker::start(&etcd.endpoint(), id, dir.path())).collect();
    let out = apply(dir.path(), &brokers[0].url, &spec(3));
    assert!(out.status.success(), "{}", describe(&out));
    let (primary, _) = route_with(&brokers[0].url, 3, &[]);
    (etcd, dir, brokers, primary)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_primary_loses_no_acknowledged_append() {
    let (etcd, dir, mut brokers, primary) = three_brokers().await;
    let victim = brokers.iter().position(|b| b.id == primary).unwrap();
    let survivor = brokers.iter().position(|b| b.id != primary).unwrap();

    // A steady stream of appends through a broker that survives (it proxies them to
    // the primary, whoever that is).
    let acked = Arc::new(Mutex::new(Vec::new()));
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let client = GrpcJournalClient::new(&brokers[survivor].url).unwrap();
    let task = appender(client.clone(), acked.clone(), stop_rx);
    acked_at_least(&acked, 150, "before the kill").await;

    brokers[victim].kill9();
    let killed = Instant::now();
    let before = acked.lock().unwrap().len();
    // Its lease expires, then it is started again on its own data, as a supervisor
    // would; the journal has 3 brokers again, and appends resume.
    let survivor_url = brokers[survivor].url.clone();
    let (new_primary, _) = route_with(&survivor_url, 2, &[&primary]);
    let expired = killed.elapsed();
    // With 2 brokers for replication 3, appends wait, but reads go on: every append
    // acknowledged before the kill is readable through the new primary.
    let acked_then: Vec<Acked> = acked.lock().unwrap()[..before].to_vec();
    let want = acked_then.last().unwrap().end as usize;
    let deadline = Instant::now() + Duration::from_secs(30);
    let readable = loop {
        let bytes = read_all(&client, JOURNAL).await;
        if bytes.len() >= want || Instant::now() > deadline {
            break bytes;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(readable.len() >= want, "only {} of {want} acknowledged bytes readable with 2 of 3 brokers", readable.len());
    check_journal(&readable[..want], &acked_then);
    brokers[victim] = Broker::start(&etcd.endpoint(), &primary, dir.path());
    let (_, back) = route_with(&survivor_url, 3, &[]);
    assert!(back.contains(&primary), "{back:?}");
    acked_at_least(&acked, before + 150, "after the restart").await;
    stop.send_replace(true);
    task.await.unwrap();

    let acked = acked.lock().unwrap().clone();
    let next = acked[before..].iter().map(|a| a.at).min().unwrap();
    let kill_to_ack = next.duration_since(killed);
    let bytes = read_all(&client, JOURNAL).await;
    check_journal(&bytes, &acked);
    assert_eq!(bytes.len() as i64, acked.last().unwrap().end, "the journal ends with the last acknowledged append");
    // Every broker holds the same bytes, the restarted one included.
    for b in &brokers {
        assert_eq!(local_bytes(&b.data_dir, "test_replicated-"), bytes, "{} holds the journal's bytes", b.id);
    }
    println!(
        "replication 3, kill -9 of primary {primary}: lease 2s, kill → route without it {} ms, kill → next acknowledged append {} ms (through new primary {new_primary}, after the restart); {} appends acknowledged before the kill, {} after, none lost",
        expired.as_millis(),
        kill_to_ack.as_millis(),
        before,
        acked.len() - before
    );
    let json = format!(
        r#"{{"figure":"replicated_kill_primary","replication":3,"brokers":3,"lease_ms":2000,"kill_to_expiry_ms":{},"kill_to_next_ack_ms":{},"acked_before":{},"acked_after":{}}}"#,
        expired.as_millis(),
        kill_to_ack.as_millis(),
        before,
        acked.len() - before
    );
    let out = std::env::var_os("STREAMSUM_REPLICATION_OUT").map(std::path::PathBuf::from).unwrap_or_else(|| support::target_dir().join("replication-kill.json"));
    std::fs::write(&out, json + "\n").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_replica_killed_appends_wait_for_replication_brokers() {
    let (etcd, dir, mut brokers, primary) = three_brokers().await;
    let p = brokers.iter().position(|b| b.id == primary).unwrap();
    let client = GrpcJournalClient::new(&brokers[p].url).unwrap();
    let mut expect = Vec::new();
    for i in 0..20 {
        let content = Bytes::from(format!("{{\"seq\":{i},\"try\":0}}\n"));
        client.append(AppendRequest::new(JOURNAL, content.clone())).await.unwrap();
        expect.extend_from_slice(&content);
    }
    let replica = brokers.iter().position(|b| b.id != primary).unwrap();
    let gone = brokers[replica].id.clone();
    brokers[replica].kill9();
    route_with(&brokers[p].url, 2, &[&gone]);
    // Two brokers for replication 3: refused as Gazette does, and nothing is written.
    match client.append(AppendRequest::new(JOURNAL, Bytes::from_static(b"{\"seq\":-1}\n"))).await {
        Err(JournalError::Status { status, .. }) => assert_eq!(status, "INSUFFICIENT_JOURNAL_BROKERS"),
        other => panic!("an append with 2 of 3 brokers: {other:?}"),
    }
    assert!(is_retryable(&JournalError::Status { journal: JOURNAL.into(), status: "INSUFFICIENT_JOURNAL_BROKERS".into() }), "writers wait and retry");
    assert_eq!(read_all(&client, JOURNAL).await, expect);
    // A third broker joins: it is filled in with every byte, and appends go on.
    brokers.push(Broker::start(&etcd.endpoint(), "b4", dir.path()));
    route_with(&brokers[p].url, 3, &[&gone]);
    // (The new broker may not know yet that it serves the journal: the append is then
    // refused as a client retries it, as Gazette's clients do.)
    let content = Bytes::from_static(b"{\"seq\":20,\"try\":0}\n");
    let deadline = Instant::now() + Duration::from_secs(30);
    let r = loop {
        match client.append(AppendRequest::new(JOURNAL, content.clone())).await {
            Ok(r) => break r,
            Err(e) if is_retryable(&e) && Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(10)).await,
            Err(e) => panic!("appending with 3 brokers again: {e}"),
        }
    };
    expect.extend_from_slice(&content);
    assert_eq!(r.end, expect.len() as i64);
    assert_eq!(local_bytes(&brokers[3].data_dir, "test_replicated-"), expect, "the new broker holds every byte");
    assert_eq!(read_all(&client, JOURNAL).await, expect);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_spare_broker_appends_resume_once_the_killed_primary_s_lease_expires() {
    let (etcd, dir, mut brokers, primary) = three_brokers().await;
    brokers.push(Broker::start(&etcd.endpoint(), "b4", dir.path()));
    let victim = brokers.iter().position(|b| b.id == primary).unwrap();
    let survivor = brokers.iter().position(|b| b.id != primary && b.id != "b4").unwrap();
    let acked = Arc::new(Mutex::new(Vec::new()));
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let client = GrpcJournalClient::new(&brokers[survivor].url).unwrap();
    let task = appender(client.clone(), acked.clone(), stop_rx);
    acked_at_least(&acked, 100, "before the kill").await;
    brokers[victim].kill9();
    let before = acked.lock().unwrap().len();
    // The spare takes the killed broker's place; the new primary fills it in.
    let (_, now) = route_with(&brokers[survivor].url, 3, &[&primary]);
    assert!(now.contains(&"b4".to_string()), "{now:?}");
    let logs = || {
        ["b1", "b2", "b3", "b4"].iter().map(|b| format!("--- {b}\n{}", std::fs::read_to_string(dir.path().join(format!("{b}.log"))).unwrap_or_default())).collect::<String>()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < before + 100 {
        assert!(Instant::now() < deadline, "appends did not resume with the spare broker:\n{}", logs());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.send_replace(true);
    task.await.unwrap();
    let acked = acked.lock().unwrap().clone();
    let bytes = read_all(&client, JOURNAL).await;
    check_journal(&bytes, &acked);
    let b4 = brokers.iter().find(|b| b.id == "b4").unwrap();
    assert_eq!(local_bytes(&b4.data_dir, "test_replicated-"), bytes, "the spare holds every byte");
}
