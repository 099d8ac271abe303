//! Member announcements against a real etcd: the key under a kept-alive lease, a
//! duplicate id, a graceful revoke, a lease lost when etcd is out of reach, updates.

mod common;

use std::time::Instant;

use common::{keyspace, within, ROOT, TTL};
use streamsum_cluster::allocator::MemberId;
use streamsum_cluster::etcd::etcd_client::PutOptions;
use streamsum_cluster::etcd::{connect, Announcement, Error};
use streamsum_cluster::testing::{EtcdServer, Link};
use tokio::sync::watch;

fn member(suffix: &str) -> MemberId {
    MemberId::new("zone-a", suffix)
}

fn member_key(suffix: &str) -> String {
    format!("{ROOT}/members/zone-a#{suffix}")
}

#[tokio::test]
async fn an_announced_key_outlives_its_ttl_while_the_lease_is_kept_alive() {
    let etcd = EtcdServer::start().await.unwrap();
    let client = etcd.client().await;
    let ann = Announcement::announce_member(client.clone(), ROOT, &member("a"), "3", TTL).await.unwrap();
    assert_eq!((ann.key(), ann.ttl()), (member_key("a").as_str(), TTL));
    assert_eq!(ann.revision(), ann.create_revision());

    // A second lease of the same TTL, granted later and never renewed, is the clock.
    let probe_lease = client.lease_client().grant(TTL.as_secs() as i64, None).await.unwrap().id();
    let probe = format!("{ROOT}/probe");
    client.kv_client().put(probe.as_str(), "", Some(PutOptions::new().with_lease(probe_lease))).await.unwrap();
    let (_stop, shutdown) = watch::channel(false);
    let (ks, _task) = keyspace(client.clone(), shutdown).await;
    within("the probe to expire", ks.wait_until(|s| s.get(&probe).is_none())).await;

    let snapshot = ks.snapshot();
    let kv = snapshot.get(&member_key("a")).expect("the announced key outlived an older TTL");
    assert_eq!((kv.decoded.as_str(), kv.lease, kv.create_revision), ("3", ann.lease(), ann.create_revision()));
    assert!(!ann.is_lost());
}

#[tokio::test]
async fn announcing_an_id_that_is_live_fails_and_names_the_key() {
    let etcd = EtcdServer::start().await.unwrap();
    let client = etcd.client().await;
    let first = Announcement::announce_member(client.clone(), ROOT, &member("a"), "3", TTL).await.unwrap();
    let second = Announcement::announce_member(client.clone(), ROOT, &member("a"), "4", TTL).await;
    let error = match second {
        Err(error @ Error::AlreadyAnnounced { .. }) => error,
        Err(other) => panic!("expected AlreadyAnnounced, got {other}"),
        Ok(_) => panic!("a second announcement of one id succeeded"),
    };
    assert!(matches!(&error, Error::AlreadyAnnounced { key, lease } if *key == member_key("a") && *lease == first.lease()));
    let message = error.to_string();
    assert!(message.contains(&member_key("a")) && message.contains("another process"), "{message}");

    let leases = client.lease_client().leases().await.unwrap();
    let ids: Vec<i64> = leases.leases().iter().map(|l| l.id()).collect();
    assert_eq!(ids, [first.lease()], "the loser's lease was revoked");
    let value = client.kv_client().get(member_key("a"), None).await.unwrap();
    assert_eq!(value.kvs()[0].value(), b"3", "the live member's key is untouched");
}

#[tokio::test]
async fn revoking_removes_the_key_and_everything_under_its_lease_at_once() {
    let etcd = EtcdServer::start().await.unwrap();
    let client = etcd.client().await;
    let ann = Announcement::announce_member(client.clone(), ROOT, &member("a"), "3", TTL).await.unwrap();
    let assignment = format!("{ROOT}/assign/item#zone-a#a#0");
    client.kv_client().put(assignment.as_str(), "", Some(PutOptions::new().with_lease(ann.lease()))).await.unwrap();
    let (_stop, shutdown) = watch::channel(false);
    let (ks, _task) = keyspace(client.clone(), shutdown).await;
    assert_eq!(ks.snapshot().len(), 2);

    let mut lost = ann.lease_lost();
    let started = Instant::now();
    let revoked = ann.revoke().await.unwrap();
    let snapshot = within("the revocation", ks.wait_for_revision(revoked)).await;
    assert!(snapshot.is_empty(), "the member key and its assignment vanish in one revision");
    assert!(started.elapsed() < TTL, "at once, not by expiry");
    assert!(*lost.borrow_and_update(), "a revoked lease counts as lost");
}

#[tokio::test]
async fn an_announcement_cut_off_from_etcd_reports_its_lease_lost_and_its_key_expires() {
    let etcd = EtcdServer::start().await.unwrap();
    let direct = etcd.client().await;
    let link = Link::start(&etcd.endpoint()).await.unwrap();
    let ann = Announcement::announce_member(connect(&[link.endpoint()]).await.unwrap(), ROOT, &member("a"), "3", TTL).await.unwrap();
    let (_stop, shutdown) = watch::channel(false);
    let (ks, _task) = keyspace(direct, shutdown).await;
    assert!(ks.snapshot().get(ann.key()).is_some());

    let cut = Instant::now();
    link.cut();
    let mut lost = ann.lease_lost();
    within("the lease to be reported lost", lost.wait_for(|lost| *lost)).await.unwrap();
    let reported = cut.elapsed();
    within("the key to expire", ks.wait_until(|s| s.get(&member_key("a")).is_none())).await;
    let expired = cut.elapsed();
    assert!(reported <= TTL + std::time::Duration::from_secs(1), "reported within about a TTL, after {reported:?}");
    assert!(expired >= reported.saturating_sub(std::time::Duration::from_millis(100)), "etcd expired it ({expired:?}) no earlier than we said ({reported:?})");
}

#[tokio::test]
async fn an_update_replaces_the_value_keeps_the_lease_and_refuses_a_key_changed_meanwhile() {
    let etcd = EtcdServer::start().await.unwrap();
    let client = etcd.client().await;
    let mut ann = Announcement::announce_member(client.clone(), ROOT, &member("a"), "3", TTL).await.unwrap();
    let revision = ann.update("0").await.unwrap();
    let got = client.kv_client().get(member_key("a"), None).await.unwrap();
    let kv = &got.kvs()[0];
    assert_eq!((kv.value(), kv.lease(), kv.mod_revision()), (b"0".as_slice(), ann.lease(), revision));

    client.kv_client().put(member_key("a"), "9", Some(PutOptions::new().with_ignore_lease())).await.unwrap();
    match ann.update("1").await {
        Err(Error::Conflict { key, expected }) => assert_eq!((key, expected), (member_key("a"), revision)),
        other => panic!("expected a conflict, got {other:?}"),
    }
}
