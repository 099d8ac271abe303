//! Fragment stores (issue 16) on real brokers of a cluster:
//!
//! - a journal replicated on two brokers persists its fragments to its store (a
//!   directory, or S3 served by moto); both brokers stop and lose their disks; new
//!   brokers serve every byte from the store, `ListFragments` lists the stored
//!   fragments with their store and time, and appends go on at the old head;
//! - `fragment.retention` removes stored fragments older than it, and the brokers'
//!   local copies; a read from 0 then starts at the first fragment kept.
//!
//! Each test starts its own etcd (and moto) and `streamsum-host broker --etcd`
//! processes.

mod cluster_support;
mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use cluster_support::brokers::{apply, routes_until, Broker};
use cluster_support::moto::Moto;
use streamsum_cluster::testing::EtcdServer;
use streamsum_host::journal::{AppendRequest, JournalClient};
use streamsum_host::service::proto;
use streamsum_host::service::GrpcJournalClient;
use support::{describe, read_all};

const JOURNAL: &str = "test/persisted";

/// Test credentials for moto (which accepts any).
const AWS_ENV: [(&str, &str); 2] = [("AWS_ACCESS_KEY_ID", "streamsum-test"), ("AWS_SECRET_ACCESS_KEY", "streamsum-test")];

fn spec(store: &str, replication: u32, retention: &str) -> String {
    format!(
        "name: {JOURNAL}\nreplication: {replication}\nlabels:\n- {{name: content-type, value: application/x-ndjson}}\n\
         fragment:\n  length: 1024\n  stores: [\"{store}\"]\n  refresh_interval: 1s\n  retention: {retention}\n"
    )
}

/// `ListFragments` of the journal at `broker`: `(begin, end, backing_store, mod_time)`.
async fn fragments(broker: &str) -> Vec<(i64, i64, String, i64)> {
    let mut stub = proto::journal_client::JournalClient::connect(broker.to_string()).await.unwrap();
    let resp = stub.list_fragments(proto::FragmentsRequest { journal: JOURNAL.into(), ..Default::default() }).await.unwrap().into_inner();
    assert_eq!(resp.status, 0, "{resp:?}");
    resp.fragments.into_iter().map(|f| f.spec.unwrap()).map(|f| (f.begin, f.end, f.backing_store, f.mod_time)).collect()
}

/// Polls `ListFragments` at `broker` until `ok` holds (a broker's store listing has
/// no push signal), failing with the last listing after 60 s.
async fn fragments_until(broker: &str, what: &str, ok: impl Fn(&[(i64, i64, String, i64)]) -> bool) -> Vec<(i64, i64, String, i64)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = fragments(broker).await;
        if ok(&now) {
            return now;
        }
        assert!(Instant::now() < deadline, "{what}: still {now:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Appends records `from..to` through `client`, retrying what fails transiently (a
/// new broker still taking its assignment); returns their bytes.
async fn append_records(client: &GrpcJournalClient, from: usize, to: usize) -> Vec<u8> {
    let mut all = Vec::new();
    for i in from..to {
        let content = Bytes::from(format!("{{\"record\":{i},\"pad\":\"{}\"}}\n", "y".repeat(i % 23)));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match client.append(AppendRequest::new(JOURNAL, content.clone())).await {
                Ok(_) => break,
                Err(e) if streamsum_host::message::append::is_retryable(&e) && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(10)).await
                }
                Err(e) => panic!("append of record {i}: {e}"),
            }
        }
        all.extend_from_slice(&content);
    }
    all
}

/// Two brokers hold the journal, persist it, stop and lose their disks; two new ones
/// serve it from `store` alone and go on appending.
async fn every_byte_survives_the_loss_of_every_disk(store: &str, env: &[(&str, &str)]) {
    let etcd = EtcdServer::start().await.expect("starting etcd");
    let dir = tempfile::tempdir().unwrap();
    let mut old: Vec<Broker> = ["b1", "b2"].iter().map(|id| Broker::start_with(&etcd.endpoint(), id, dir.path(), env)).collect();
    let out = apply(dir.path(), &old[0].url, &spec(store, 2, "0s"));
    assert!(out.status.success(), "{}", describe(&out));
    routes_until(&old[0].url, "the journal on both brokers", |r| r.get(JOURNAL).is_some_and(|r| r.split(',').count() == 2));
    let client = GrpcJournalClient::new(&old[0].url).unwrap();
    let mut expect = append_records(&client, 0, 120).await;
    let head = expect.len() as i64;
    // Closed fragments reach the store while the brokers run.
    let listed = fragments_until(&old[0].url, "a closed fragment in the store", |f| f.iter().any(|(_, _, s, _)| s == store)).await;
    assert!(listed.iter().all(|(b, e, _, _)| b < e), "{listed:#?}");
    // A graceful stop persists the last fragment too; then both disks are lost.
    for b in &mut old {
        assert!(b.terminate().success(), "broker {} stopped", b.id);
        std::fs::remove_dir_all(&b.data_dir).unwrap();
    }
    drop(old);

    let new: Vec<Broker> = ["b3", "b4"].iter().map(|id| Broker::start_with(&etcd.endpoint(), id, dir.path(), env)).collect();
    routes_until(&new[0].url, "the journal on the new brokers", |r| {
        r.get(JOURNAL).is_some_and(|r| r.split(',').count() == 2 && r.contains("b3") && r.contains("b4"))
    });
    let client = GrpcJournalClient::new(&new[1].url).unwrap();
    // Appends go on at the old head (the first one may wait for the new pipeline).
    let more = append_records(&client, 120, 130).await;
    assert_eq!(read_all(&client, JOURNAL).await[..head as usize], expect[..], "the old bytes, from the store");
    expect.extend_from_slice(&more);
    assert_eq!(read_all(&client, JOURNAL).await, expect, "old bytes from the store, new ones after them");
    let listed = fragments(&new[0].url).await;
    let stored: Vec<_> = listed.iter().filter(|(_, _, s, _)| s == store).collect();
    assert_eq!(stored.first().map(|f| f.0), Some(0), "{listed:#?}");
    assert!(stored.windows(2).all(|w| w[0].1 == w[1].0), "stored fragments are contiguous: {listed:#?}");
    assert_eq!(stored.last().map(|f| f.1), Some(head), "the store held every byte before the loss: {listed:#?}");
    assert!(stored.iter().all(|(_, _, _, t)| *t > 0), "stored fragments carry their time: {listed:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_store_keeps_every_byte_when_every_broker_loses_its_disk() {
    let store_dir = tempfile::tempdir().unwrap();
    let store = format!("file://{}/fragments/", store_dir.path().display());
    every_byte_survives_the_loss_of_every_disk(&store, &[]).await;
    // Gazette's layout: <journal>/<begin>-<end>-<sha1>.raw
    let names: Vec<String> = std::fs::read_dir(store_dir.path().join("fragments").join(JOURNAL))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.is_empty() && names.iter().all(|n| n.ends_with(".raw") && n.split('-').count() == 3), "{names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_store_keeps_every_byte_when_every_broker_loses_its_disk() {
    let logs = tempfile::tempdir().unwrap();
    let moto = Moto::start("fragments", &logs.path().join("moto.log"));
    let store = format!("s3://fragments/streamsum/?endpoint={}", moto.endpoint);
    every_byte_survives_the_loss_of_every_disk(&store, &AWS_ENV).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_removes_old_stored_fragments_and_their_local_copies() {
    let etcd = EtcdServer::start().await.expect("starting etcd");
    let dir = tempfile::tempdir().unwrap();
    let store_dir = tempfile::tempdir().unwrap();
    let store = format!("file://{}/", store_dir.path().display());
    let b = Broker::start(&etcd.endpoint(), "b1", dir.path());
    let out = apply(dir.path(), &b.url, &spec(&store, 1, "2s"));
    assert!(out.status.success(), "{}", describe(&out));
    routes_until(&b.url, "the journal on its broker", |r| r.get(JOURNAL).is_some_and(|r| r.ends_with(":PRIMARY")));
    let client = GrpcJournalClient::new(&b.url).unwrap();
    let first = append_records(&client, 0, 60).await;
    let stored = fragments_until(&b.url, "the first fragment stored", |f| f.first().is_some_and(|(b, _, s, _)| *b == 0 && s == &store)).await;
    let first_end = stored[0].1;
    // Newer appends keep going; the first fragment expires 2 s after it was stored,
    // and goes from the store and from the broker's disk.
    let after = fragments_until(&b.url, "the first fragment expired", |f| f.first().is_some_and(|(b, _, _, _)| *b >= first_end) || f.is_empty()).await;
    assert!(!store_dir.path().join(JOURNAL).read_dir().unwrap().any(|e| e.unwrap().file_name().to_string_lossy().starts_with("0000000000000000-")), "the stored object is gone");
    let rest = read_all(&client, JOURNAL).await;
    assert!(first.ends_with(&rest) && rest.len() < first.len(), "a read from 0 starts at the first fragment kept ({} of {} bytes): {after:#?}", rest.len(), first.len());
}
