//! Shared fixtures of the etcd tests: values as text, members that announce
//! themselves and run the allocator, and bounded waits.
#![allow(dead_code)] // Each test binary uses its own part.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use streamsum_cluster::allocator::{Assignment, MemberId};
use streamsum_cluster::etcd::etcd_client::Client;
use streamsum_cluster::etcd::{
    check_key, connect, AllocState, Allocator, AllocatorStatus, AllocatorValues, Announcement, Error, Exit, KeySpace, Snapshot,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The root every test's keys live under.
pub const ROOT: &str = "/test/cluster";
/// Lease TTL of test members: short, so expiry tests are quick.
pub const TTL: Duration = Duration::from_secs(2);
/// Bound on every wait for a signal: a signal that never comes fails the test.
pub const WITHIN: Duration = Duration::from_secs(20);

/// Awaits `f`, failing the test with `what` if it takes longer than [`WITHIN`].
pub async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(WITHIN, f).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {WITHIN:?} waiting for {what}"),
    }
}

/// Decodes every value as UTF-8 text, refusing malformed allocator keys.
pub fn text(key: &str, value: &[u8]) -> Result<String, String> {
    check_key(ROOT, key).map_err(|e| e.to_string())?;
    String::from_utf8(value.to_vec()).map_err(|e| e.to_string())
}

/// A keyspace of [`ROOT`] as text, loaded and watched until `shutdown`.
pub async fn keyspace(client: Client, shutdown: watch::Receiver<bool>) -> (KeySpace<String>, JoinHandle<()>) {
    let ks = KeySpace::load(client, ROOT, text).await.expect("loading the keyspace");
    let task = tokio::spawn(ks.clone().watch(shutdown));
    (ks, task)
}

/// Member values are item limits, item values replication factors; an assignment
/// is consistent when its value is STANDBY or PRIMARY (a shard's statuses), or
/// always (a journal whose replicas need no catching up).
pub struct TextValues {
    pub always_consistent: bool,
}

impl AllocatorValues<String> for TextValues {
    fn item_limit(&self, member: &String) -> u32 {
        member.parse().unwrap_or(0)
    }
    fn desired_replication(&self, item: &String) -> u32 {
        item.parse().unwrap_or(0)
    }
    fn is_consistent(&self, _: &Assignment, value: &String, _: &[(&Assignment, &String)]) -> bool {
        self.always_consistent || value == "STANDBY" || value == "PRIMARY"
    }
}

/// A member process: its own client and keyspace, its announcement, its allocator.
pub struct TestMember {
    pub id: MemberId,
    pub announcement: Option<Announcement>,
    pub keyspace: KeySpace<String>,
    pub status: watch::Receiver<AllocatorStatus>,
    pub allocator: JoinHandle<Result<Exit, Error>>,
    shutdown: watch::Sender<bool>,
    watch: JoinHandle<()>,
}

impl TestMember {
    /// Announces `zone#suffix` with `limit` through `endpoint` and starts its loop.
    pub async fn start(endpoint: &str, zone: &str, suffix: &str, limit: u32, values: Arc<TextValues>) -> TestMember {
        let client = connect(&[endpoint]).await.unwrap();
        let id = MemberId::new(zone, suffix);
        let announcement = Announcement::announce_member(client.clone(), ROOT, &id, limit.to_string(), TTL).await.expect("announcing");
        let (shutdown, rx) = watch::channel(false);
        let (keyspace, watch) = keyspace(client.clone(), rx.clone()).await;
        let allocator = Allocator::new(client, keyspace.clone(), id.clone(), values);
        let status = allocator.status();
        let allocator = tokio::spawn(allocator.run(announcement.revision(), rx));
        TestMember { id, announcement: Some(announcement), keyspace, status, allocator, shutdown, watch }
    }

    /// Revokes the member's lease; returns the revision its keys vanished at.
    pub async fn revoke(&mut self) -> i64 {
        let revision = self.announcement.take().expect("announced").revoke().await.expect("revoking");
        let _ = self.shutdown.send(true);
        revision
    }

    /// Stops the loop and the watch (the lease is left to the announcement).
    pub fn stop(&self) {
        let _ = self.shutdown.send(true);
    }

    /// Waits until this member's allocator has finished a round at or after
    /// `revision` and found nothing to do.
    pub async fn idle_at(&mut self, revision: i64) -> AllocatorStatus {
        let status = within("the allocator to go idle", self.status.wait_for(|s| s.revision >= revision && s.idle)).await;
        status.expect("the allocator is running").clone()
    }
}

impl Drop for TestMember {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        self.allocator.abort();
        self.watch.abort();
    }
}

/// `(item, member suffix, slot)` of every assignment in `snapshot`.
pub fn assignment_keys(snapshot: &Snapshot<String>) -> BTreeSet<(String, String, u32)> {
    let state = AllocState::new(ROOT, snapshot, &TextValues { always_consistent: true });
    state.assignments.iter().map(|a| (a.assignment.item_id.clone(), a.assignment.member_suffix.clone(), a.assignment.slot)).collect()
}

/// `(item, member suffix)` pairs, whatever the slot.
pub fn placements(snapshot: &Snapshot<String>) -> BTreeSet<(String, String)> {
    assignment_keys(snapshot).into_iter().map(|(item, member, _)| (item, member)).collect()
}

/// The same pairs from a desired answer.
pub fn desired_placements(desired: &BTreeMap<String, BTreeSet<MemberId>>) -> BTreeSet<(String, String)> {
    desired.iter().flat_map(|(item, members)| members.iter().map(move |m| (item.clone(), m.suffix.clone()))).collect()
}

/// Whether every item's slots are exactly 0, 1, … (one primary, no gaps).
pub fn slots_packed(snapshot: &Snapshot<String>) -> bool {
    let mut slots: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for (item, _, slot) in assignment_keys(snapshot) {
        slots.entry(item).or_default().push(slot);
    }
    slots.values_mut().all(|s| {
        s.sort();
        s.iter().enumerate().all(|(i, slot)| *slot as usize == i)
    })
}

/// Puts `(key tail, value)`s under [`ROOT`] in one transaction; returns its revision.
pub async fn put_all(client: &Client, kvs: &[(String, String)]) -> i64 {
    use streamsum_cluster::etcd::etcd_client::{Txn, TxnOp};
    let ops: Vec<TxnOp> = kvs.iter().map(|(k, v)| TxnOp::put(format!("{ROOT}{k}"), v.as_str(), None)).collect();
    let response = client.kv_client().txn(Txn::new().and_then(ops)).await.expect("putting");
    response.header().unwrap().revision()
}
