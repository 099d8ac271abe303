//! `KeySpace` against a real etcd: loading, following, decoding failures, losing the
//! connection, compaction, and loading in pages.

mod common;

use common::{keyspace, put_all, within, ROOT};
use streamsum_cluster::etcd::etcd_client::{PutOptions, Txn, TxnOp};
use streamsum_cluster::etcd::{connect, KeySpace};
use streamsum_cluster::testing::{EtcdServer, Link};
use tokio::sync::watch;

fn keys(ks: &KeySpace<String>) -> Vec<(String, String)> {
    ks.snapshot().iter().map(|(k, kv)| (k.trim_start_matches(ROOT).to_string(), kv.decoded.clone())).collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[tokio::test]
async fn a_keyspace_loads_its_root_then_follows_puts_and_deletes() {
    let etcd = EtcdServer::start().await.unwrap();
    let client = etcd.client().await;
    let lease = client.lease_client().grant(60, None).await.unwrap().id();
    client.kv_client().put(format!("{ROOT}/members/z#a"), "3", Some(PutOptions::new().with_lease(lease))).await.unwrap();
    let loaded_at = put_all(&client, &pairs(&[("/items/a", "1")])).await;
    client.kv_client().put(format!("{ROOT}x/not-under-the-root"), "", None).await.unwrap();
    client.kv_client().put("/elsewhere", "", None).await.unwrap();

    let (_stop, shutdown) = watch::channel(false);
    let (ks, _task) = keyspace(client.clone(), shutdown).await;
    assert_eq!(keys(&ks), pairs(&[("/items/a", "1"), ("/members/z#a", "3")]), "only keys under {ROOT}/");
    assert_eq!(ks.snapshot().revision(), loaded_at + 2, "loaded at etcd's current revision");
    let member = ks.snapshot().get(&format!("{ROOT}/members/z#a")).unwrap().clone();
    assert_eq!((member.lease, member.version, member.value.as_slice()), (lease, 1, b"3".as_slice()));

    let changes = ks.subscribe();
    let revision = put_all(&client, &pairs(&[("/items/a", "2"), ("/items/b", "1")])).await;
    let deleted = client.kv_client().delete(format!("{ROOT}/members/z#a"), None).await.unwrap().header().unwrap().revision();
    let snapshot = within("the delete", ks.wait_for_revision(deleted)).await;
    assert_eq!(snapshot.revision(), deleted);
    assert_eq!(keys(&ks), pairs(&[("/items/a", "2"), ("/items/b", "1")]));
    let a = snapshot.get(&format!("{ROOT}/items/a")).unwrap();
    assert_eq!((a.mod_revision, a.version, a.create_revision), (revision, 2, loaded_at));
    assert!(changes.has_changed().unwrap(), "subscribers are told of new revisions");
    let between = within("an earlier revision", ks.wait_for_revision(revision)).await;
    assert!(between.revision() >= revision, "waiting for a past revision returns at once");
}

#[tokio::test]
async fn keys_that_do_not_decode_are_skipped_and_the_rest_still_applies() {
    let etcd = EtcdServer::start().await.unwrap();
    let client = etcd.client().await;
    put_all(&client, &pairs(&[("/items/ok", "1"), ("/assign/not-an-assignment-key", ""), ("/members/z#a", "2")])).await;
    client.kv_client().put(format!("{ROOT}/items/binary"), vec![0xff, 0xfe], None).await.unwrap();

    let (_stop, shutdown) = watch::channel(false);
    let (ks, _task) = keyspace(client.clone(), shutdown).await;
    assert_eq!(keys(&ks), pairs(&[("/items/ok", "1"), ("/members/z#a", "2")]), "a malformed key and a non-UTF-8 value are skipped");

    // A bad new value keeps the key's last good value; a bad new key stays out.
    let txn = Txn::new().and_then([
        TxnOp::put(format!("{ROOT}/items/ok"), vec![0xff], None),
        TxnOp::put(format!("{ROOT}/items/new"), vec![0xfe], None),
        TxnOp::put(format!("{ROOT}/members/z#a"), "5", None),
    ]);
    let revision = client.kv_client().txn(txn).await.unwrap().header().unwrap().revision();
    within("the bad values", ks.wait_for_revision(revision)).await;
    assert_eq!(keys(&ks), pairs(&[("/items/ok", "1"), ("/members/z#a", "5")]));

    let fixed = put_all(&client, &pairs(&[("/items/ok", "3"), ("/items/new", "4")])).await;
    within("the fixed values", ks.wait_for_revision(fixed)).await;
    assert_eq!(keys(&ks), pairs(&[("/items/new", "4"), ("/items/ok", "3"), ("/members/z#a", "5")]));
}

#[tokio::test]
async fn a_keyspace_cut_off_from_etcd_keeps_retrying_and_reloads_after_a_compaction() {
    let etcd = EtcdServer::start().await.unwrap();
    let direct = etcd.client().await;
    let link = Link::start(&etcd.endpoint()).await.unwrap();
    let (_stop, shutdown) = watch::channel(false);
    let (ks, task) = keyspace(connect(&[link.endpoint()]).await.unwrap(), shutdown).await;
    let mut health = ks.health();
    within("the watch", health.wait_for(|h| h.watching)).await.unwrap();
    let first = put_all(&direct, &pairs(&[("/items/a", "1")])).await;
    within("the first put", ks.wait_for_revision(first)).await;

    link.cut();
    let failing = within("failures", health.wait_for(|h| h.failures >= 3)).await.unwrap().clone();
    assert!(!failing.watching && failing.last_error.is_some(), "{failing:?}");
    assert!(!task.is_finished(), "an unreachable etcd does not end the watch");

    // Meanwhile: changes, then a compaction that drops the events the watch missed.
    put_all(&direct, &pairs(&[("/items/b", "2")])).await;
    direct.kv_client().delete(format!("{ROOT}/items/a"), None).await.unwrap();
    let last = put_all(&direct, &pairs(&[("/items/c", "3")])).await;
    direct.kv_client().compact(last, None).await.unwrap();
    assert_eq!(keys(&ks), pairs(&[("/items/a", "1")]), "readers keep the last snapshot");

    link.restore();
    let reloaded = within("the reload", ks.wait_for_revision(last)).await;
    assert_eq!(keys(&ks), pairs(&[("/items/b", "2"), ("/items/c", "3")]));
    assert!(reloaded.revision() >= last);
    let healthy = within("the watch again", health.wait_for(|h| h.watching)).await.unwrap().clone();
    assert_eq!((healthy.loads, healthy.failures), (2, 0), "one reload after the compaction: {healthy:?}");

    let after = put_all(&direct, &pairs(&[("/items/d", "4")])).await;
    within("a put after the reload", ks.wait_for_revision(after)).await;
    assert_eq!(keys(&ks).len(), 3, "the watch resumed after the reload");
}

#[tokio::test]
async fn loading_a_root_larger_than_a_page_reads_every_key_at_one_revision() {
    let etcd = EtcdServer::start().await.unwrap();
    let client = etcd.client().await;
    let n = 1_100; // LOAD_PAGE is 1000 keys.
    for chunk in (0..n).collect::<Vec<_>>().chunks(128) {
        let ops: Vec<TxnOp> = chunk.iter().map(|i| TxnOp::put(format!("{ROOT}/items/i{i:05}"), "1", None)).collect();
        client.kv_client().txn(Txn::new().and_then(ops)).await.unwrap();
    }
    let (_stop, shutdown) = watch::channel(false);
    let (ks, _task) = keyspace(client, shutdown).await;
    let snapshot = ks.snapshot();
    assert_eq!(snapshot.len(), n);
    assert_eq!(snapshot.prefixed(&format!("{ROOT}/items/")).count(), n);
}
