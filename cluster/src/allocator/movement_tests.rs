//! The movement, limit, zone and safety guarantees `solve` and `converge` make,
//! each checked on a fixture built to exercise it.

use std::collections::BTreeSet;

use super::network::fair_share;
use super::test_support::*;
use super::{changes, converge, solve, Desired, Item, Member, MemberId, Op};

/// Two zones of two members, and `n` items of R = 2, allocated and converged.
fn two_zone_cluster(limit: u32, n: usize) -> Cluster {
    let members = vec![member("a", "a1", limit), member("a", "a2", limit), member("b", "b1", limit), member("b", "b2", limit)];
    let items = (0..n).map(|i| item(&format!("item-{i:02}"), 2)).collect();
    let mut c = Cluster::new(members, items, vec![]);
    c.serve_until_idle(Mark::All);
    c
}

fn zones_of(desired: &Desired, item: &str) -> BTreeSet<String> {
    desired[item].iter().map(|m| m.zone.clone()).collect()
}

#[test]
fn a_new_member_takes_only_its_share_and_only_from_its_zone() {
    let mut c = two_zone_cluster(20, 30);
    c.members.push(member("a", "a3", 20));
    let desired = solve(&c.members, &c.items, &c.current);
    let change = changes(&c.current, &desired);
    let new = MemberId::new("a", "a3");
    let on_new = desired.values().filter(|m| m.contains(&new)).count();
    let share = fair_share(20, 60, 100) as usize;
    assert_eq!(change.added, on_new, "every added assignment is the new member's");
    assert!(on_new > 0 && on_new <= share, "the new member takes {on_new}, its share is {share}");
    for (item, members) in &desired {
        assert_eq!(zones_of(&desired, item).len(), 2, "{item} still spans both zones: {members:?}");
    }
    let removed_from: BTreeSet<MemberId> =
        c.current.iter().filter(|a| !desired[&a.item_id].contains(&a.member())).map(|a| a.member()).collect();
    assert!(removed_from.iter().all(|m| m.zone == "a"), "zone b keeps its replicas: {removed_from:?}");
}

#[test]
fn a_new_member_in_a_single_zone_cluster_takes_exactly_its_share() {
    let members = vec![member("z", "m1", 10), member("z", "m2", 10), member("z", "m3", 10)];
    let items: Vec<Item> = (0..12).map(|i| item(&format!("i{i:02}"), 1)).collect();
    let mut c = Cluster::new(members, items, vec![]);
    c.serve_until_idle(Mark::All);
    assert_eq!(c.counts().values().copied().collect::<Vec<_>>(), [4, 4, 4]);
    c.members.push(member("z", "m4", 10));
    let desired = solve(&c.members, &c.items, &c.current);
    let change = changes(&c.current, &desired);
    assert_eq!((change.added, change.removed), (3, 3), "fair shares are ⌈10 × 12 / 40⌉ = 3");
    c.serve_until_idle(Mark::All);
    assert_eq!(c.counts().values().copied().collect::<Vec<_>>(), [3, 3, 3, 3]);
}

#[test]
fn a_removed_member_moves_its_items_and_nothing_else() {
    let mut c = two_zone_cluster(40, 30);
    let gone = MemberId::new("b", "b2");
    let held = c.current.iter().filter(|a| a.member() == gone).count();
    assert!(held > 0);
    c.members.retain(|m| m.id() != gone);
    c.current.retain(|a| a.member() != gone); // Its lease took its assignments.
    let desired = solve(&c.members, &c.items, &c.current);
    let change = changes(&c.current, &desired);
    assert_eq!((change.added, change.removed), (held, 0), "{desired:?}");
    c.serve_until_idle(Mark::All);
    assert_eq!(c.current.len(), 60, "every item is back to two replicas");
}

#[test]
fn member_limits_hold_when_demand_exceeds_capacity() {
    let members = vec![member("a", "a1", 3), member("a", "a2", 1), member("b", "b1", 2), member("b", "b2", 0)];
    let items: Vec<Item> = (0..6).map(|i| item(&format!("i{i}"), 3)).collect();
    let desired = solve(&members, &items, &[]);
    let counts = counts(&as_current(&desired));
    for m in &members {
        assert!(counts.get(&m.id()).copied().unwrap_or(0) <= m.item_limit, "{m:?}: {counts:?}");
    }
    assert_eq!(counts.values().sum::<u32>(), 6, "all six slots are used");
    assert!(desired.values().all(|m| m.len() == 1), "each item gets a primary first: {desired:?}");
}

#[test]
fn replication_beyond_the_members_uses_each_member_once() {
    let members = vec![member("a", "1", 5), member("b", "1", 5), member("b", "2", 5)];
    let desired = solve(&members, &[item("wide", 5), item("narrow", 1)], &[]);
    assert_eq!(desired["wide"].len(), 3);
    assert_eq!(desired["narrow"].len(), 1);
}

#[test]
fn items_with_two_or_more_replicas_span_two_zones() {
    let members: Vec<Member> = ["a", "b", "c"].iter().flat_map(|z| (0..3).map(move |i| member(z, &format!("m{i}"), 50))).collect();
    let items: Vec<Item> = (0..40).map(|i| item(&format!("i{i:02}"), 2 + (i % 3))).collect();
    let desired = solve(&members, &items, &[]);
    for i in &items {
        assert_eq!(desired[&i.id].len(), i.desired_replication as usize);
        assert!(zones_of(&desired, &i.id).len() >= 2, "{}: {:?}", i.id, desired[&i.id]);
    }
}

#[test]
fn disabled_items_lose_their_assignments_and_others_keep_theirs() {
    let members = vec![member("a", "1", 5), member("b", "1", 5)];
    let current = asns(&["off#a#1#0", "off#b#1#1", "on#a#1#0", "on#b#1#1"], true);
    let mut c = Cluster::new(members, vec![item("off", 0), item("on", 2)], current);
    assert_eq!(c.desired()["off"], BTreeSet::new());
    c.serve_until_idle(Mark::All);
    assert_eq!(c.keys(), strings(&["on#a#1#0", "on#b#1#1"]));
}

#[test]
fn converge_promotes_a_consistent_replica_over_an_idle_one() {
    // The primary's member is drained; N has no primaries but is not ready, Q is.
    let members = vec![member("z", "P", 0), member("z", "Q", 1), member("z", "N", 9)];
    let current = asns(&["x#z#P#0", "x#z#Q#1"], true).into_iter().chain(asns(&["x#z#N#2"], false)).collect::<Vec<_>>();
    let desired: Desired = [("x".to_string(), [MemberId::new("z", "N")].into())].into();
    let ops = converge(&members, &[item("x", 1)], &current, &desired);
    let keys: Vec<String> = ops.iter().map(|op| format!("{} {}", if matches!(op, Op::Put(_)) { "put" } else { "del" }, short_key(op.assignment()))).collect();
    assert_eq!(keys, ["del x#z#P#0", "del x#z#Q#1", "put x#z#Q#0"]);
    assert!(ops[2].assignment().consistent, "the move keeps Q's status");
}

#[test]
fn converge_never_leaves_an_item_without_a_primary_while_its_replacement_catches_up() {
    let members = vec![member("a", "old", 0), member("a", "new", 5), member("b", "B", 5)];
    let current = asns(&["x#a#old#0", "x#b#B#1"], true);
    let mut c = Cluster::new(members, vec![item("x", 2)], current);
    c.serve_until_idle(Mark::Nothing);
    assert_eq!(c.keys(), strings(&["x#a#new#2", "x#a#old#0", "x#b#B#1"]), "old stays primary until new is ready");
    c.serve_until_idle(Mark::All); // Each step is checked by `Cluster::step`.
    assert_eq!(c.keys(), strings(&["x#a#new#1", "x#b#B#0"]));
}

#[test]
fn solve_gives_the_same_answer_whatever_the_input_order() {
    let c = two_zone_cluster(20, 30);
    let mut members = c.members.clone();
    let mut items = c.items.clone();
    let mut current = c.current.clone();
    let want = solve(&members, &items, &current);
    members.reverse();
    items.rotate_left(7);
    current.reverse();
    assert_eq!(solve(&members, &items, &current), want);
    assert_eq!(solve(&members, &items, &current), want, "and on every call");
}

#[test]
fn a_converged_allocation_is_a_fixed_point() {
    let mut c = two_zone_cluster(20, 30);
    c.members.push(member("b", "b3", 20));
    c.serve_until_idle(Mark::All);
    let desired = solve(&c.members, &c.items, &c.current);
    assert_eq!(changes(&c.current, &desired).added, 0);
    assert!(converge(&c.members, &c.items, &c.current, &desired).is_empty());
}

#[test]
fn at_scale_a_joining_member_takes_its_share_and_every_item_keeps_two_zones() {
    // 1,500 items of R = 3 over 15 members in 3 zones, then a 16th member joins.
    let limit = 400;
    let members: Vec<Member> = (0..15).map(|i| member(&format!("z{}", i % 3), &format!("m{i:02}"), limit)).collect();
    let items: Vec<Item> = (0..1500).map(|i| item(&format!("journal/{i:05}"), 3)).collect();
    let current = as_current(&solve(&members, &items, &[]));
    assert_eq!(current.len(), 4500, "every item got its three replicas");

    let mut joined = members.clone();
    joined.push(member("z0", "new", limit));
    let desired = solve(&joined, &items, &current);
    let change = changes(&current, &desired);
    let new = MemberId::new("z0", "new");
    let on_new = desired.values().filter(|m| m.contains(&new)).count();
    let share = fair_share(limit, 4500, 16 * u64::from(limit)) as usize;
    assert_eq!(change.added, on_new, "only the new member gains assignments");
    assert_eq!(change.removed, on_new, "each of them moved from one old member");
    assert!(on_new > share * 9 / 10 && on_new <= share, "the new member takes {on_new}, its share is {share}");
    for (item, members) in &desired {
        assert_eq!(members.len(), 3, "{item} keeps three replicas");
        assert!(zones_of(&desired, item).len() >= 2, "{item} spans two zones or more: {members:?}");
    }
}
