//! The allocator loop against a real etcd: three members, one leader, assignments as
//! `solve` says; a member leaving and one joining; and consistency gating removals
//! and promotions.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::*;
use streamsum_cluster::allocator::{solve, Assignment, Item, Member};
use streamsum_cluster::etcd::{update_assignment, AllocState, Exit, KeySpace};
use streamsum_cluster::testing::EtcdServer;
use tokio::sync::watch;

const ZONE: &str = "z";

fn values(always_consistent: bool) -> Arc<TextValues> {
    Arc::new(TextValues { always_consistent })
}

fn models(ks: &KeySpace<String>) -> (Vec<Member>, Vec<Item>, Vec<Assignment>) {
    let state = AllocState::new(ROOT, &ks.snapshot(), &TextValues { always_consistent: true });
    (state.member_models(), state.item_models(), state.assignment_models())
}

/// Waits until the assignments are `want` (as (item, member) pairs) with packed slots.
async fn converged_to(ks: &KeySpace<String>, want: &BTreeSet<(String, String)>) -> i64 {
    let s = within("convergence", ks.wait_until(|s| placements(s) == *want && slots_packed(s))).await;
    s.revision()
}

fn on(pairs: &BTreeSet<(String, String)>, member: &str) -> usize {
    pairs.iter().filter(|(_, m)| m == member).count()
}

#[tokio::test]
async fn three_members_allocate_as_solve_says_then_only_a_leavers_items_and_a_joiners_share_move() {
    let etcd = EtcdServer::start().await.unwrap();
    let client = etcd.client().await;
    let (_stop, shutdown) = watch::channel(false);
    let (ks, _task) = keyspace(client.clone(), shutdown).await;

    let mut m1 = TestMember::start(&etcd.endpoint(), ZONE, "m1", 10, values(true)).await;
    let mut m2 = TestMember::start(&etcd.endpoint(), ZONE, "m2", 10, values(true)).await;
    let mut m3 = TestMember::start(&etcd.endpoint(), ZONE, "m3", 10, values(true)).await;
    let items: Vec<(String, String)> = (0..6).map(|i| (format!("/items/item-{i}"), "2".to_string())).collect();
    put_all(&client, &items).await;

    // Members and items arrived before any assignment: the leader solved from nothing.
    within("the items", ks.wait_until(|s| s.prefixed(&format!("{ROOT}/items/")).count() == 6)).await;
    let (members, items, _) = models(&ks);
    let desired = solve(&members, &items, &[]);
    let before = desired_placements(&desired);
    assert_eq!(before.len(), 12);
    let revision = converged_to(&ks, &before).await;
    let leader = m1.idle_at(revision).await;
    assert!(leader.leader && leader.txns > 0, "m1, the oldest member, leads: {leader:?}");
    for m in [&mut m2, &mut m3] {
        let status = m.idle_at(revision).await;
        assert!(!status.leader && status.txns == 0 && status.solves == 0, "{} only watches: {status:?}", m.id);
    }
    let primaries = assignment_keys(&ks.snapshot()).iter().filter(|(_, _, slot)| *slot == 0).count();
    assert_eq!(primaries, 6, "every item has exactly one slot 0");
    let state = AllocState::new(ROOT, &ks.snapshot(), &TextValues { always_consistent: true });
    for a in &state.assignments {
        let holder = state.member(&a.assignment.member()).unwrap();
        assert_eq!(a.kv.lease, holder.kv.lease, "{} lives under its member's lease", a.key);
    }
    assert_eq!([on(&before, "m1"), on(&before, "m2"), on(&before, "m3")], [4, 4, 4]);

    // The leader leaves: its assignments go with its lease, m2 takes over and re-places
    // exactly those.
    let (_, _, current) = models(&ks);
    let left: Vec<Assignment> = current.into_iter().filter(|a| a.member_suffix != "m1").collect();
    m1.revoke().await;
    let remaining: Vec<Member> = members.iter().filter(|m| m.suffix != "m1").cloned().collect();
    let after_leave = desired_placements(&solve(&remaining, &items, &left));
    let revision = converged_to(&ks, &after_leave).await;
    assert!(m2.idle_at(revision).await.leader, "the next-oldest member leads");
    let kept: BTreeSet<_> = before.iter().filter(|(_, m)| m != "m1").cloned().collect();
    assert!(kept.is_subset(&after_leave), "nothing but m1's assignments moved");
    assert_eq!(after_leave.difference(&kept).count(), on(&before, "m1"), "each of m1's assignments was re-placed once");

    // A member joins: it takes its fair share (⌈10 × 12 / 30⌉ = 4) and nothing else moves.
    let mut m4 = TestMember::start(&etcd.endpoint(), ZONE, "m4", 10, values(true)).await;
    within("m4's key", ks.wait_until(|s| s.get(&format!("{ROOT}/members/z#m4")).is_some())).await;
    let (members, items, current) = models(&ks);
    let after_join = desired_placements(&solve(&members, &items, &current));
    let revision = converged_to(&ks, &after_join).await;
    assert!(m2.idle_at(revision).await.leader);
    assert!(!m4.idle_at(revision).await.leader, "a new member never takes over");
    let added: Vec<_> = after_join.difference(&after_leave).collect();
    let removed: Vec<_> = after_leave.difference(&after_join).collect();
    assert!(added.iter().all(|(_, m)| m == "m4"), "only the newcomer gains: {added:?}");
    assert_eq!((added.len(), removed.len()), (4, 4), "it takes exactly its share");
}

#[tokio::test]
async fn a_primary_is_removed_only_once_its_replacement_reports_consistent() {
    let etcd = EtcdServer::start().await.unwrap();
    let client = etcd.client().await;
    let (_stop, shutdown) = watch::channel(false);
    let (ks, _task) = keyspace(client.clone(), shutdown).await;
    let m1 = TestMember::start(&etcd.endpoint(), ZONE, "m1", 10, values(false)).await;
    let m2 = TestMember::start(&etcd.endpoint(), ZONE, "m2", 10, values(false)).await;
    put_all(&client, &[("/items/shard".to_string(), "1".to_string())]).await;

    let s = within("a primary", ks.wait_until(|s| assignment_keys(s).len() == 1)).await;
    let (_, primary, _) = assignment_keys(&s).into_iter().next().unwrap();
    let (mut p, mut q) = if primary == "m1" { (m1, m2) } else { (m2, m1) };
    let key = |member: &str, slot: u32| format!("{ROOT}/assign/shard#{ZONE}#{member}#{slot}");
    let mod_revision = s.get(&key(&primary, 0)).unwrap().mod_revision;
    let marked = update_assignment(&client, &key(&primary, 0), mod_revision, "PRIMARY").await.unwrap();
    within("the status", ks.wait_for_revision(marked)).await;

    // Drain the primary's member: the shard is added to the other, which backfills…
    let drained = p.announcement.as_mut().unwrap().update("0").await.unwrap();
    let other = q.id.suffix.clone();
    let s = within("the replacement", ks.wait_until(|s| s.revision() >= drained && assignment_keys(s).contains(&("shard".into(), other.clone(), 1)))).await;
    let leader = if p.status.borrow().leader { &mut p } else { &mut q };
    leader.idle_at(s.revision()).await;
    assert!(
        ks.snapshot().get(&key(&primary, 0)).is_some(),
        "the primary stays until its replacement is consistent: {:?}",
        assignment_keys(&ks.snapshot())
    );

    // …and reports STANDBY: now the primary goes and the standby is promoted in place.
    let s = ks.snapshot();
    let standby = s.get(&key(&other, 1)).unwrap().mod_revision;
    update_assignment(&client, &key(&other, 1), standby, "STANDBY").await.unwrap();
    let s = within("the promotion", ks.wait_until(|s| assignment_keys(s) == BTreeSet::from([("shard".into(), other.clone(), 0)]))).await;
    let promoted = s.get(&key(&other, 0)).unwrap();
    assert_eq!(promoted.decoded, "STANDBY", "the move keeps the replica's status");
    assert_eq!(promoted.lease, q.announcement.as_ref().unwrap().lease(), "and its lease");
    let exit = within("the drained member's loop", &mut p.allocator).await.unwrap().unwrap();
    assert_eq!(exit, Exit::Drained, "a member with no limit and nothing assigned is done");
}

#[tokio::test]
async fn an_item_losing_its_primary_promotes_a_consistent_replica_over_a_lower_slot() {
    let etcd = EtcdServer::start().await.unwrap();
    let client = etcd.client().await;
    let (_stop, shutdown) = watch::channel(false);
    let (ks, _task) = keyspace(client.clone(), shutdown).await;
    let mut m1 = TestMember::start(&etcd.endpoint(), ZONE, "m1", 10, values(false)).await;
    let mut m2 = TestMember::start(&etcd.endpoint(), ZONE, "m2", 10, values(false)).await;
    let m3 = TestMember::start(&etcd.endpoint(), ZONE, "m3", 10, values(false)).await;
    put_all(&client, &[("/items/shard".to_string(), "3".to_string())]).await;

    let want = BTreeSet::from([("shard".into(), "m1".into(), 0), ("shard".into(), "m2".into(), 1), ("shard".into(), "m3".into(), 2)]);
    let s = within("three assignments", ks.wait_until(|s| assignment_keys(s) == want)).await;
    let key = |member: &str, slot: u32| format!("{ROOT}/assign/shard#{ZONE}#{member}#{slot}");
    // m1 is primary, m3 a ready standby, m2 still backfilling (no status).
    let mut through = 0;
    for (member, slot, status) in [("m1", 0, "PRIMARY"), ("m3", 2, "STANDBY")] {
        let revision = s.get(&key(member, slot)).unwrap().mod_revision;
        through = update_assignment(&client, &key(member, slot), revision, status).await.unwrap();
    }
    m1.idle_at(through).await;

    m1.revoke().await;
    let want = BTreeSet::from([("shard".into(), "m3".into(), 0), ("shard".into(), "m2".into(), 1)]);
    let s = within("the promotion", ks.wait_until(|s| assignment_keys(s) == want)).await;
    let promoted = s.get(&key("m3", 0)).unwrap();
    assert_eq!((promoted.decoded.as_str(), promoted.lease), ("STANDBY", m3.announcement.as_ref().unwrap().lease()));
    let status = m2.idle_at(s.revision()).await;
    assert!(status.leader && status.txns > 0, "m2 took over as leader: {status:?}");
}
