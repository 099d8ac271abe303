//! Gazette's `allocator/scenarios_test.go`, re-played on a simulated cluster
//! ([`Cluster`]): each scenario starts from a fixture, lets the allocator converge
//! (members reporting consistent when idle, or not), changes members or items, and
//! checks where assignments end up. Every step is checked for safety as it runs.
//! Part one: replacing members, limits, replication and clean-up (zones are in
//! `zone_scenarios_tests.rs`).

use super::test_support::*;



#[test]
fn a_drained_member_keeps_its_items_until_their_new_holders_are_consistent() {
    let mut c = Cluster::new(
        vec![member("zone-a", "member-A", 2), member("zone-b", "member-B", 4), member("zone-a", "member-old", 0), member("zone-a", "member-new", 3)],
        vec![item("item-1", 1), item("item-2", 2), item("item-3", 3)],
        asns(&["item-1#zone-a#member-A#0", "item-2#zone-a#member-old#0", "item-2#zone-b#member-B#1", "item-3#zone-a#member-A#0", "item-3#zone-a#member-old#1", "item-3#zone-b#member-B#2"], false),
    );
    c.serve_until_idle(Mark::Nothing);
    assert_eq!(c.keys(), strings(&[
        "item-1#zone-a#member-A#0",
        "item-2#zone-a#member-new#2",
        "item-2#zone-a#member-old#0",
        "item-2#zone-b#member-B#1",
        "item-3#zone-a#member-A#0",
        "item-3#zone-a#member-new#3",
        "item-3#zone-a#member-old#1",
        "item-3#zone-b#member-B#2",
    ]));
    c.serve_until_idle(Mark::All);
    assert_eq!(c.keys(), strings(&[
        "item-1#zone-a#member-A#0",
        "item-2#zone-a#member-new#1",
        "item-2#zone-b#member-B#0",
        "item-3#zone-a#member-A#0",
        "item-3#zone-a#member-new#2",
        "item-3#zone-b#member-B#1",
    ]));
}

#[test]
fn a_drained_primary_hands_over_to_a_consistent_replica() {
    let mut c = Cluster::new(
        vec![member("zone-a", "member-A", 2), member("zone-b", "member-B", 4), member("zone-a", "member-old", 0), member("zone-a", "member-new", 3)],
        vec![item("item-1", 1), item("item-2", 2), item("item-3", 3)],
        asns(&["item-1#zone-a#member-A#0", "item-2#zone-a#member-old#0", "item-2#zone-b#member-B#1", "item-3#zone-a#member-old#0", "item-3#zone-a#member-A#1", "item-3#zone-b#member-B#2"], true),
    );
    c.serve_until_idle(Mark::Nothing);
    assert_eq!(c.keys(), strings(&[
        "item-1#zone-a#member-A#0",
        "item-2#zone-a#member-new#2",
        "item-2#zone-a#member-old#0",
        "item-2#zone-b#member-B#1",
        "item-3#zone-a#member-A#1",
        "item-3#zone-a#member-new#3",
        "item-3#zone-a#member-old#0",
        "item-3#zone-b#member-B#2",
    ]));
    c.serve_until_idle(Mark::All);
    assert_eq!(c.keys(), strings(&[
        "item-1#zone-a#member-A#0",
        "item-2#zone-a#member-new#1",
        "item-2#zone-b#member-B#0",
        "item-3#zone-a#member-A#1",
        "item-3#zone-a#member-new#0",
        "item-3#zone-b#member-B#2",
    ]));
}

#[test]
fn raising_and_lowering_a_members_limit_moves_load_to_and_from_it() {
    let mut c = Cluster::new(
        vec![member("zone-a", "member-A", 2), member("zone-a", "member-limit", 2), member("zone-b", "member-B", 4)],
        vec![item("item-1", 1), item("item-2", 2), item("item-3", 3)],
        asns(&["item-1#zone-b#member-B#0", "item-2#zone-a#member-A#0", "item-2#zone-b#member-B#1", "item-3#zone-a#member-A#0", "item-3#zone-a#member-limit#1", "item-3#zone-b#member-B#2"], true),
    );
    assert_eq!(c.serve_until_idle(Mark::All), 0, "the fixture is stable");

    c.members[1].item_limit = 10;
    c.serve_until_idle(Mark::All);
    // As Gazette: member-limit holds three, the others two and one, one primary each.
    assert_eq!(c.keys(), strings(&[
        "item-1#zone-a#member-limit#0",
        "item-2#zone-a#member-limit#1",
        "item-2#zone-b#member-B#0",
        "item-3#zone-a#member-A#0",
        "item-3#zone-a#member-limit#1",
        "item-3#zone-b#member-B#2",
    ]));

    c.members[1].item_limit = 2;
    c.serve_until_idle(Mark::All);
    // Gazette moves item-2's replica to A instead of item-1; two each either way.
    assert_eq!(c.keys(), strings(&[
        "item-1#zone-a#member-A#0",
        "item-2#zone-a#member-limit#1",
        "item-2#zone-b#member-B#0",
        "item-3#zone-a#member-A#0",
        "item-3#zone-a#member-limit#1",
        "item-3#zone-b#member-B#2",
    ]));

    c.members[1].item_limit = 1;
    c.serve_until_idle(Mark::All);
    // As Gazette.
    assert_eq!(c.keys(), strings(&[
        "item-1#zone-b#member-B#0",
        "item-2#zone-a#member-A#1",
        "item-2#zone-b#member-B#0",
        "item-3#zone-a#member-A#0",
        "item-3#zone-a#member-limit#1",
        "item-3#zone-b#member-B#2",
    ]));
    assert_eq!(c.serve_until_idle(Mark::All), 0, "nothing left to do");
}

#[test]
fn swapping_replication_between_items_moves_only_the_difference() {
    let mut c = Cluster::new(
        vec![member("zone-a", "member-A1", 2), member("zone-a", "member-A2", 2), member("zone-b", "member-B", 4)],
        vec![item("item-1", 1), item("item-2", 2), item("item-3", 3)],
        asns(&["item-1#zone-b#member-B#0", "item-2#zone-a#member-A1#0", "item-2#zone-b#member-B#1", "item-3#zone-a#member-A1#0", "item-3#zone-a#member-A2#1", "item-3#zone-b#member-B#2"], true),
    );
    assert_eq!(c.serve_until_idle(Mark::All), 0);
    c.items[0].desired_replication = 3;
    c.items[2].desired_replication = 1;
    c.serve_until_idle(Mark::All);
    assert_eq!(c.keys(), strings(&[
        "item-1#zone-a#member-A1#2",
        "item-1#zone-a#member-A2#1",
        "item-1#zone-b#member-B#0",
        "item-2#zone-a#member-A1#0",
        "item-2#zone-b#member-B#1",
        "item-3#zone-a#member-A2#0",
    ]));
}

#[test]
fn growing_from_too_few_slots_serves_every_item_first_then_replicates() {
    let mut c = Cluster::new(vec![member("zone-a", "member-A1", 1)], vec![item("item-1", 1), item("item-2", 2), item("item-3", 3)], vec![]);
    c.serve_until_idle(Mark::All);
    assert_eq!(c.keys(), strings(&["item-1#zone-a#member-A1#0"]));

    // Gazette fills items in id order (item-1, then both of item-2's replicas) and
    // leaves item-3 unserved; here each item gets its primary first.
    c.members.push(member("zone-a", "member-A2", 2));
    c.serve_until_idle(Mark::All);
    assert_eq!(c.keys(), strings(&["item-1#zone-a#member-A1#0", "item-2#zone-a#member-A2#0", "item-3#zone-a#member-A2#0"]));

    // Fully provisioned: the same sets as Gazette's, slots aside.
    c.members.push(member("zone-a", "member-A3", 3));
    c.serve_until_idle(Mark::All);
    assert_eq!(c.keys(), strings(&[
        "item-1#zone-a#member-A3#0",
        "item-2#zone-a#member-A2#0",
        "item-2#zone-a#member-A3#1",
        "item-3#zone-a#member-A1#2",
        "item-3#zone-a#member-A2#0",
        "item-3#zone-a#member-A3#1",
    ]));
}

#[test]
fn lowering_a_limit_below_its_load_sheds_only_the_replica_the_cluster_cannot_hold() {
    let mut c = Cluster::new(
        vec![member("zone-a", "member-A1", 1), member("zone-a", "member-A2", 2), member("zone-a", "member-A3", 3)],
        vec![item("item-1", 1), item("item-2", 2), item("item-3", 3)],
        asns(&["item-1#zone-a#member-A3#0", "item-2#zone-a#member-A2#0", "item-2#zone-a#member-A3#1", "item-3#zone-a#member-A1#1", "item-3#zone-a#member-A2#2", "item-3#zone-a#member-A3#0"], true),
    );
    assert_eq!(c.serve_until_idle(Mark::All), 0, "the fixture is stable");
    c.members[2].item_limit = 2;
    c.serve_until_idle(Mark::Nothing);
    // Five slots for six replicas: item-3 gives up A3, its primary, and A1 (consistent,
    // no primaries) takes over in the same step. Gazette keeps all six, A3 over its
    // limit, because it never sheds below R (see `item_state`).
    assert_eq!(c.keys(), strings(&[
        "item-1#zone-a#member-A3#0",
        "item-2#zone-a#member-A2#0",
        "item-2#zone-a#member-A3#1",
        "item-3#zone-a#member-A1#0",
        "item-3#zone-a#member-A2#1",
    ]));
}

#[test]
fn assignments_of_deleted_items_are_removed_and_nothing_else_changes() {
    let mut c = Cluster::new(
        vec![member("zone-a", "member-A", 1), member("zone-b", "member-B", 2), member("zone-c", "member-C", 3)],
        vec![item("item-2", 1), item("item-5", 2), item("item-6", 3)],
        asns(&["item-1#zone-a#member-C#0", "item-1#zone-b#member-B#1", "item-2#zone-c#member-C#0", "item-3#zone-a#member-C#0", "item-4#zone-b#member-B#0", "item-4#zone-c#member-C#1", "item-5#zone-b#member-B#1", "item-5#zone-c#member-C#0", "item-6#zone-a#member-A#0", "item-6#zone-b#member-B#1", "item-6#zone-c#member-C#2", "item-7#zone-a#member-A#0", "item-7#zone-c#member-C#0"], true),
    );
    assert_eq!(c.serve_until_idle(Mark::Nothing), 1);
    assert_eq!(c.keys(), strings(&[
        "item-2#zone-c#member-C#0",
        "item-5#zone-b#member-B#1",
        "item-5#zone-c#member-C#0",
        "item-6#zone-a#member-A#0",
        "item-6#zone-b#member-B#1",
        "item-6#zone-c#member-C#2",
    ]));
}

#[test]
fn assignments_of_a_vanished_member_go_once_replaced() {
    let mut c = Cluster::new(
        vec![member("zone-a", "member-A", 2)],
        vec![item("item-1", 1), item("item-2", 1)],
        asns(&["item-1#zone-f#member-dead#0", "item-2#zone-f#member-dead#0", "item-1#zone-a#member-A#1"], true),
    );
    c.serve_until_idle(Mark::Nothing);
    assert_eq!(c.keys(), strings(&["item-1#zone-a#member-A#0", "item-2#zone-a#member-A#1", "item-2#zone-f#member-dead#0"]));
    c.serve_until_idle(Mark::All);
    assert_eq!(c.keys(), strings(&["item-1#zone-a#member-A#0", "item-2#zone-a#member-A#0"]));
}

#[test]
fn a_new_member_takes_load_only_once_its_limit_gives_it_a_share() {
    let mut c = Cluster::new(
        vec![member("zone-a", "member-A1", 3), member("zone-a", "member-A2", 2), member("zone-a", "member-A3", 1)],
        vec![item("item-1", 1), item("item-2", 2), item("item-3", 3)],
        vec![],
    );
    c.serve_until_idle(Mark::All);
    let initial = strings(&[
        "item-1#zone-a#member-A1#0",
        "item-2#zone-a#member-A1#0",
        "item-2#zone-a#member-A2#1",
        "item-3#zone-a#member-A1#0",
        "item-3#zone-a#member-A2#1",
        "item-3#zone-a#member-A3#2",
    ]);
    assert_eq!(c.keys(), initial, "as Gazette");

    // With limit 1 the fair shares round up to what everyone holds: no change.
    c.members.push(member("zone-a", "member-A4", 1));
    assert_eq!(c.serve_until_idle(Mark::All), 0);
    assert_eq!(c.keys(), initial);

    // With limit 3 A1's share drops to 2: one item moves to A4 (as Gazette).
    c.members[3].item_limit = 3;
    c.serve_until_idle(Mark::All);
    assert_eq!(c.keys(), strings(&[
        "item-1#zone-a#member-A1#0",
        "item-2#zone-a#member-A1#0",
        "item-2#zone-a#member-A2#1",
        "item-3#zone-a#member-A2#0",
        "item-3#zone-a#member-A3#1",
        "item-3#zone-a#member-A4#2",
    ]));
}

/// Found by `converging_from_any_state_reaches_the_answer_safely`: from a state where
/// nothing is consistent, the first step gives m3's free slot to i2, and the first
/// answer then needs i3 and i4 to swap m1 and m3, both full. Each removal waits for
/// its item's add and each add for room, so the leader adds past the limits.
#[test]
fn a_swap_between_full_members_goes_past_limits_instead_of_stalling() {
    let mut c = Cluster::new(
        vec![member("z2", "m0", 2), member("z2", "m1", 4), member("z1", "m2", 0), member("z1", "m3", 2), member("z2", "m4", 3)],
        vec![item("i0", 3), item("i1", 3), item("i2", 2), item("i3", 2), item("i4", 4)],
        asns(&["i4#z1#m3#0", "i3#z2#m0#1", "i3#z2#m1#0"], false),
    );
    c.serve_until_idle(Mark::All);
    assert!(c.stalls >= 1, "convergence never stalled: {:?}", c.keys());
    let desired = c.desired().clone();
    for (item, members) in &desired {
        for m in members {
            assert!(c.current.iter().any(|a| a.item_id == *item && a.member() == *m), "{item} on {m} was never added: {:?}", c.keys());
        }
    }
    // 11 is all the room there is: m0 2 + m1 4 + m3 2 + m4 3.
    assert_eq!(desired.values().map(|m| m.len()).sum::<usize>(), 11, "{desired:?}");
    assert_eq!(c.current.len(), 11, "{:?}", c.keys());
    // Past the limits only for the swap: every member ends within its limit.
    for m in &c.members {
        let held = c.counts().get(&m.id()).copied().unwrap_or(0);
        assert!(held <= m.item_limit, "{} holds {held} > {}: {:?}", m.id(), m.item_limit, c.keys());
    }
}
