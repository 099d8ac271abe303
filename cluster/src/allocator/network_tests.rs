use super::*;
use crate::allocator::test_support::{asns, item, member};
use crate::allocator::{changes, solve, Desired, MemberId};

fn holders(desired: &Desired, item: &str) -> Vec<String> {
    desired[item].iter().map(MemberId::to_string).collect()
}

#[test]
fn fair_shares_scale_limits_by_demand_over_capacity_rounding_up() {
    // (limit, item slots, member slots, share)
    let cases = [(10, 9, 30, 3), (10, 12, 40, 3), (4, 6, 8, 3), (2, 6, 8, 2), (5, 10, 5, 5), (5, 5, 5, 5), (0, 1, 1, 0), (7, 0, 10, 0)];
    for (limit, items, members, want) in cases {
        assert_eq!(fair_share(limit, items, members), want, "{limit} × {items}/{members}");
    }
    assert_eq!(fair_share(u32::MAX, u64::MAX - 1, u64::MAX), u32::MAX, "no overflow");
}

#[test]
fn member_arcs_are_free_to_the_fair_share_and_dear_beyond() {
    assert_eq!(member_tiers(4, 6, 8), [(3, 0), (1, OVER_FAIR_SHARE_COST)]);
    assert_eq!(member_tiers(2, 6, 8), [(2, 0)]);
    assert_eq!(member_tiers(5, 10, 5), [(5, 0)], "an overloaded cluster uses whole limits");
}

#[test]
fn zone_arcs_allow_even_shares_then_r_minus_one_then_the_rest_at_a_price() {
    let u = UNEVEN_ZONE_COST;
    let o = ONE_ZONE_COST;
    // (r, zones, arcs to each zone)
    let cases: [(u32, usize, Vec<(u32, u32)>); 8] = [
        (3, 1, vec![(3, 0)]),
        (0, 1, vec![]),
        (0, 2, vec![]),
        (1, 2, vec![(1, 0)]),
        (2, 2, vec![(1, 0), (1, o)]),
        (3, 2, vec![(2, 0), (1, o)]),
        (3, 3, vec![(1, 0), (1, u), (1, o)]),
        (4, 2, vec![(2, 0), (1, u), (1, o)]),
    ];
    for (r, zones, want) in cases {
        assert_eq!(zone_tiers(r, zones), want, "r = {r}, {zones} zones");
    }
}

#[test]
fn replica_levels_stop_at_the_number_of_members() {
    assert_eq!(replica_levels(3, 5), [(1, 0), (1, EXTRA_REPLICA_COST), (1, 2 * EXTRA_REPLICA_COST)]);
    assert_eq!(replica_levels(5, 2), [(1, 0), (1, EXTRA_REPLICA_COST)]);
    assert!(replica_levels(0, 3).is_empty() && replica_levels(3, 0).is_empty());
}

#[test]
fn a_placement_is_kept_rather_than_moved_to_an_equal_member() {
    let members = [member("z", "a", 5), member("z", "b", 5)];
    let desired = solve(&members, &[item("x", 1)], &asns(&["x#z#b#0"], true));
    assert_eq!(holders(&desired, "x"), ["z#b"]);
}

#[test]
fn new_replicas_spread_evenly_but_current_uneven_layouts_stay() {
    let members = [member("a", "1", 9), member("a", "2", 9), member("b", "1", 9), member("c", "1", 9)];
    let desired = solve(&members, &[item("x", 3)], &[]);
    assert_eq!(holders(&desired, "x"), ["a#1", "b#1", "c#1"], "one replica per zone");
    let current = asns(&["x#a#1#0", "x#a#2#1", "x#b#1#2"], true);
    let desired = solve(&members, &[item("x", 3)], &current);
    assert_eq!(holders(&desired, "x"), ["a#1", "a#2", "b#1"], "two in zone a is uneven, not worth a move");
}

#[test]
fn one_move_relieves_a_member_over_its_fair_share() {
    let members = [member("z", "a", 4), member("z", "b", 4)];
    let items: Vec<_> = ["p", "q", "r", "s"].iter().map(|i| item(i, 1)).collect();
    let current = asns(&["p#z#a#0", "q#z#a#0", "r#z#a#0", "s#z#a#0"], true);
    let desired = solve(&members, &items, &current);
    let change = changes(&current, &desired);
    assert_eq!((change.added, change.removed), (2, 2), "b takes its fair share of 2: {desired:?}");
}

#[test]
fn a_chain_of_two_moves_is_not_worth_one_members_relief() {
    // Fair shares: a 1, x 1, d 4. Both of a's items are on d already, so relieving a
    // takes two moves (x → d, then a → x); x's own relief takes one.
    let members = [member("z", "a", 2), member("z", "d", 8), member("z", "x", 2)];
    let items = [item("i1", 2), item("i2", 2), item("j", 1), item("k", 1)];
    let current = asns(&["i1#z#a#0", "i1#z#d#1", "i2#z#a#0", "i2#z#d#1", "j#z#x#0", "k#z#x#0"], true);
    let desired = solve(&members, &items, &current);
    let change = changes(&current, &desired);
    assert_eq!((change.added, change.removed), (1, 1), "{desired:?}");
    assert_eq!(holders(&desired, "i1"), ["z#a", "z#d"]);
}

#[test]
fn an_item_goes_to_one_zone_only_when_the_other_cannot_take_it() {
    let members = [member("a", "1", 5), member("a", "2", 5), member("b", "1", 1)];
    let desired = solve(&members, &[item("x", 2), item("y", 2)], &[]);
    let spans: Vec<usize> =
        ["x", "y"].iter().map(|i| desired[*i].iter().map(|m| &m.zone).collect::<std::collections::BTreeSet<_>>().len()).collect();
    assert_eq!(desired["x"].len() + desired["y"].len(), 4, "full replication first: {desired:?}");
    assert_eq!(spans.iter().filter(|&&s| s == 2).count(), 1, "one item spans both zones: {desired:?}");
}

#[test]
fn an_item_in_one_zone_moves_a_replica_out_when_another_zone_has_room() {
    let members = [member("a", "1", 5), member("a", "2", 5), member("b", "1", 5)];
    let desired = solve(&members, &[item("x", 2)], &asns(&["x#a#1#0", "x#a#2#1"], true));
    assert_eq!(holders(&desired, "x"), ["a#1", "b#1"]);
}

#[test]
fn scarce_slots_give_every_item_a_primary_before_any_a_replica() {
    let members = [member("z", "a", 1), member("z", "b", 1), member("z", "c", 1)];
    let items = [item("x", 3), item("y", 3), item("z", 3)];
    let current = asns(&["x#z#a#0", "x#z#b#1", "x#z#c#2"], true);
    let desired = solve(&members, &items, &current);
    for i in ["x", "y", "z"] {
        assert_eq!(desired[i].len(), 1, "{i}: {desired:?}");
    }
}
