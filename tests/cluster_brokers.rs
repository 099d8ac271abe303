//! Brokers in a cluster (issue 15): journals are specs in etcd, applied through any
//! broker and spread over the brokers by the allocator; any broker lists them all with
//! their routes and reaches a journal it does not serve; a killed broker's journals
//! are re-assigned to the survivors once its lease expires.
//!
//! Each test starts its own etcd and real `streamsum-host broker --etcd` processes.

mod cluster_support;
mod support;

use std::collections::BTreeMap;

use bytes::Bytes;
use cluster_support::brokers::{apply, local_bytes, routes, routes_until, Broker};
use streamsum_cluster::testing::EtcdServer;
use streamsum_host::journal::{AppendRequest, JournalClient};
use streamsum_host::service::GrpcJournalClient;
use support::{describe, read_all};

/// Six journals under `test/`, as gazctl's YAML.
const JOURNALS: &str = "name: test/\nreplication: 1\nlabels:\n- {name: content-type, value: application/x-ndjson}\nchildren:\n\
    - name: test/j-0\n- name: test/j-1\n- name: test/j-2\n- name: test/j-3\n- name: test/j-4\n- name: test/j-5\n";

fn primaries_on(routes: &BTreeMap<String, String>, id: &str) -> Vec<String> {
    let primary = format!("local#{id}:PRIMARY");
    routes.iter().filter(|(_, r)| **r == primary).map(|(j, _)| j.clone()).collect()
}

fn all_routed(routes: &BTreeMap<String, String>) -> bool {
    routes.len() == 6 && routes.values().all(|r| r.ends_with(":PRIMARY") && !r.contains(','))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journals_are_specs_in_etcd_spread_over_the_brokers_and_reachable_through_any() {
    let etcd = EtcdServer::start().await.expect("starting etcd");
    let dir = tempfile::tempdir().unwrap();
    let b1 = Broker::start(&etcd.endpoint(), "b1", dir.path());
    let b2 = Broker::start(&etcd.endpoint(), "b2", dir.path());

    let out = apply(dir.path(), &b1.url, JOURNALS);
    assert!(out.status.success(), "{}", describe(&out));
    // Both brokers list every journal; the allocator gives each its share, one primary
    // per journal and no replica (replication 1).
    let listed = routes_until(&b2.url, "six journals, each with one primary", all_routed);
    assert_eq!(primaries_on(&listed, "b1").len(), 3, "{listed:#?}");
    assert_eq!(primaries_on(&listed, "b2").len(), 3, "{listed:#?}");
    assert_eq!(routes(&b1.url), listed, "every broker lists the same journals and routes");

    // A journal served by b1 is appended to through b2 (proxied) and read back from both.
    let on_b1 = primaries_on(&listed, "b1")[0].clone();
    let via_b2 = GrpcJournalClient::new(&b2.url).unwrap();
    let direct = GrpcJournalClient::new(&b1.url).unwrap();
    let content = Bytes::from_static(b"{\"through\":\"b2\"}\n");
    let appended = via_b2.append(AppendRequest::new(on_b1.clone(), content.clone())).await.expect("appending through b2");
    assert_eq!((appended.begin, appended.end), (0, content.len() as i64));
    assert_eq!(read_all(&direct, &on_b1).await, content, "{on_b1} on its own broker holds exactly the bytes");
    assert_eq!(read_all(&via_b2, &on_b1).await, content, "and reads through the other broker give the same");
    let b1_dir = std::fs::read_dir(dir.path().join("b1/journals")).unwrap().count();
    let b2_dir = std::fs::read_dir(dir.path().join("b2/journals")).unwrap().count();
    assert_eq!((b1_dir, b2_dir), (3, 3), "each broker keeps only its own journals' content");

    // A replicated journal (issue 16) has both brokers in its route, and an append
    // through either is on both brokers' disks, byte for byte, once acknowledged.
    let out = apply(dir.path(), &b2.url, "name: test/r\nreplication: 2\nlabels:\n- {name: content-type, value: application/x-ndjson}\n");
    assert!(out.status.success(), "{}", describe(&out));
    routes_until(&b1.url, "test/r on both brokers", |r| r.get("test/r").is_some_and(|r| r.split(',').count() == 2 && r.contains(":PRIMARY")));
    let mut expect = Vec::new();
    for (i, client) in [&via_b2, &direct].into_iter().enumerate() {
        let content = Bytes::from(format!("{{\"replicated\":{i}}}\n"));
        client.append(AppendRequest::new("test/r", content.clone())).await.expect("appending to test/r");
        expect.extend_from_slice(&content);
    }
    for b in ["b1", "b2"] {
        assert_eq!(local_bytes(&dir.path().join(b), "test_r-"), expect, "{b} holds test/r's bytes");
    }
    assert_eq!(read_all(&via_b2, "test/r").await, expect);
    // A delete through either broker removes the spec for both.
    let out = apply(dir.path(), &b2.url, "name: test/j-5\ndelete: true\n");
    assert!(out.status.success(), "{}", describe(&out));
    let after = routes_until(&b1.url, "j-5 deleted", |r| r.len() == 6 && !r.contains_key("test/j-5"));
    assert!(!after.contains_key("test/j-5"), "{after:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_broker_s_journals_move_to_the_survivor_once_its_lease_expires() {
    let etcd = EtcdServer::start().await.expect("starting etcd");
    let dir = tempfile::tempdir().unwrap();
    let b1 = Broker::start(&etcd.endpoint(), "b1", dir.path());
    let mut b2 = Broker::start(&etcd.endpoint(), "b2", dir.path());
    let out = apply(dir.path(), &b1.url, JOURNALS);
    assert!(out.status.success(), "{}", describe(&out));
    let before = routes_until(&b1.url, "six journals, each with one primary", all_routed);
    let moved = primaries_on(&before, "b2");
    let stayed = primaries_on(&before, "b1");
    assert!(!moved.is_empty() && !stayed.is_empty(), "{before:#?}");

    b2.kill9();
    let after = routes_until(&b1.url, "b2's journals on b1", |r| all_routed(r) && primaries_on(r, "b1").len() == 6);
    assert_eq!(after.len(), 6);
    // The survivor serves them: appends through it are acknowledged. (With
    // replication 1 and no fragment store, the content of b2's journals before the
    // kill stayed on b2's disk; tests/cluster_replication.rs and cluster_fragments.rs
    // keep it with replication or a store.)
    let client = GrpcJournalClient::new(&b1.url).unwrap();
    for journal in moved.iter().chain(&stayed) {
        client.append(AppendRequest::new(journal.clone(), Bytes::from_static(b"{}\n"))).await.unwrap_or_else(|e| panic!("{journal}: {e}"));
    }
}
