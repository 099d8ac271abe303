//! Gazette's `item_state_test.go` fixtures, re-played.

use super::*;
use crate::allocator::test_support::{asns, member, short_key};
use crate::allocator::model::Member;

/// The split and the ops of one item's step.
struct Outcome {
    add: Vec<String>,
    remove: Vec<String>,
    keep: Vec<String>,
    ops: Vec<String>,
}

fn keys<'x>(v: impl IntoIterator<Item = &'x Assignment>) -> Vec<String> {
    v.into_iter().map(short_key).collect()
}

/// Runs constrain and build for `item` against `desired` suffixes in zone `z`.
/// `others` are assignments of other items (they only add load).
fn run(r: u32, members: &[Member], current: &[Assignment], others: &[Assignment], desired: &[&str]) -> Outcome {
    let item = Item::new("item", r);
    let mut all = current.to_vec();
    all.extend_from_slice(others);
    let items = [item.clone(), Item::new("zzzz", 1)];
    let mut load = MemberLoad::new(members, &items, &all);
    let desired: BTreeSet<MemberId> = desired.iter().map(|s| MemberId::new("z", *s)).collect();
    let mut state = ItemState::new(&item, current, &desired);
    state.constrain_removals(&load);
    state.choose_primary(&load);
    state.add.retain(|a| load.has_room(&a.member()));
    let (add, remove, keep) = (keys(&state.add), keys(state.remove.iter().copied()), keys(state.keep.iter().copied()));
    let mut ops = Vec::new();
    ItemState::new(&item, current, &desired).step(&mut load, false, &mut ops);
    let ops = ops.iter().map(|op| match op {
        Op::Put(a) => format!("put {}", short_key(a)),
        Op::Delete(a) => format!("del {}", short_key(a)),
    });
    Outcome { add, remove, keep, ops: ops.collect() }
}

fn current(entries: &[(&str, bool)]) -> Vec<Assignment> {
    let mut v: Vec<Assignment> = entries.iter().flat_map(|(k, c)| asns(&[k], *c)).collect();
    v.sort();
    v
}

#[test]
fn removals_go_by_decreasing_load_while_r_consistent_remain() {
    // Limits make the load ratio rise with the member number; R = 1, two consistent.
    let members: Vec<Member> = (1..=5).map(|i| member("z", &format!("m{i}"), 6 - i)).collect();
    let cur = current(&[("item#z#m1#0", false), ("item#z#m2#1", true), ("item#z#m3#2", false), ("item#z#m4#3", true), ("item#z#m5#4", false)]);
    let out = run(1, &members, &cur, &[], &[]);
    // m5 (inconsistent), m4 (consistent, one still left), m3 (inconsistent) go; m2
    // would break R = 1 and stops the walk, so m1 stays too.
    assert_eq!(out.remove, ["item#z#m5#4", "item#z#m4#3", "item#z#m3#2"]);
    assert_eq!(out.keep, ["item#z#m1#0", "item#z#m2#1"]);
}

#[test]
fn an_item_sheds_down_to_its_desired_members_but_not_its_last_consistent_one() {
    let members = [member("z", "a", 1), member("z", "b", 1), member("z", "c", 1)];
    let cur = current(&[("item#z#a#0", true), ("item#z#b#1", true), ("item#z#c#2", true)]);
    // R = 3 but the solver gives it one member: Gazette would keep all three.
    assert_eq!(run(3, &members, &cur, &[], &["a"]).ops, ["del item#z#b#1", "del item#z#c#2"]);
    // Desired nowhere (no room anywhere): it keeps one consistent holder.
    assert_eq!(run(3, &members, &cur, &[], &[]).remove, ["item#z#a#0", "item#z#b#1"]);
    assert_eq!(keep_target(&Item::new("item", 3), 0), 1);
    assert_eq!(keep_target(&Item::new("item", 0), 0), 0, "a disabled item keeps nothing");
    assert_eq!(keep_target(&Item::new("item", 2), 5), 2);
}

#[test]
fn a_disabled_item_loses_every_assignment() {
    let members = [member("z", "m1", 1), member("z", "m2", 2)];
    let cur = current(&[("item#z#m1#0", false), ("item#z#m2#1", true)]);
    let out = run(0, &members, &cur, &[], &[]);
    assert_eq!(out.remove.len(), 2);
    assert_eq!(out.ops, ["del item#z#m1#0", "del item#z#m2#1"]);
}

#[test]
fn nothing_is_removed_when_the_most_loaded_holder_is_the_last_consistent_one() {
    let members = [member("z", "m1", 2), member("z", "m2", 1)];
    let cur = current(&[("item#z#m1#0", false), ("item#z#m2#1", true)]);
    let out = run(1, &members, &cur, &[], &[]);
    assert!(out.remove.is_empty());
    assert!(out.ops.is_empty(), "{:?}", out.ops);
}

#[test]
fn nothing_is_removed_while_the_item_has_fewer_than_r_consistent() {
    let members = [member("z", "m1", 1), member("z", "m2", 2), member("z", "m3", 3)];
    let cur = current(&[("item#z#m1#0", false), ("item#z#m2#1", true), ("item#z#m3#2", false)]);
    // Two desired newcomers (unknown here, so not added) keep the target at R = 2.
    let out = run(2, &members, &cur, &[], &["n1", "n2"]);
    assert!(out.remove.is_empty());
    assert_eq!(out.keep.len(), 3);
}

#[test]
fn a_removed_primary_is_replaced_by_the_consistent_replica_with_fewest_primaries() {
    let members = [member("z", "m0", 1), member("z", "m1", 5), member("z", "m2", 2), member("z", "m3", 3)];
    let cur = current(&[("item#z#m0#0", false), ("item#z#m1#1", false), ("item#z#m2#2", true), ("item#z#m3#3", true)]);
    let others = asns(&["zzzz#z#m2#0", "zzzz#z#m3#0"], false);
    let out = run(1, &members, &cur, &others, &["m1", "m2", "m3"]);
    // m1 has no primary but is not consistent; m3 (1/3) beats m2 (1/2).
    assert_eq!(out.keep, ["item#z#m3#3", "item#z#m1#1", "item#z#m2#2"]);
    assert_eq!(out.ops, ["del item#z#m0#0", "del item#z#m3#3", "put item#z#m3#0"]);
}

#[test]
fn without_a_primary_the_only_consistent_replica_is_promoted() {
    let members = [member("z", "m0", 3), member("z", "m1", 1), member("z", "m2", 1)];
    let cur = current(&[("item#z#m0#1", false), ("item#z#m1#2", true), ("item#z#m2#3", false)]);
    let out = run(1, &members, &cur, &[], &["m0", "m1", "m2"]);
    assert_eq!(out.keep, ["item#z#m1#2", "item#z#m0#1", "item#z#m2#3"]);
    // The promotion, then one renumbering (no adds or removals in this step).
    assert_eq!(out.ops, ["del item#z#m1#2", "put item#z#m1#0", "del item#z#m2#3", "put item#z#m2#2"]);
}

#[test]
fn an_existing_primary_stays_even_when_inconsistent() {
    let members = [member("z", "m0", 2), member("z", "m1", 1)];
    let cur = current(&[("item#z#m0#0", false), ("item#z#m1#1", true)]);
    let out = run(1, &members, &cur, &[], &["m0", "m1"]);
    assert_eq!(out.keep, ["item#z#m0#0", "item#z#m1#1"]);
    assert!(out.ops.is_empty());
}

#[test]
fn adds_wait_for_room_and_take_slots_after_the_highest_in_use() {
    let members = [member("z", "m0", 1), member("z", "m1", 1), member("z", "m2", 2), member("z", "m3", 2)];
    let cur = current(&[("item#z#m3#7", false)]);
    let others = asns(&["zzzz#z#m1#1", "zzzz#z#m2#2"], false);
    let out = run(1, &members, &cur, &others, &["m0", "m1", "m2"]);
    // m1 is full; slots were given before that check, so m2 gets 10, not 9.
    assert_eq!(out.add, ["item#z#m0#8", "item#z#m2#10"]);
    // m3 is not desired, but R = 1 consistent is not met so it stays, and as the only
    // kept assignment it is promoted to the empty slot 0.
    assert_eq!(out.ops, ["put item#z#m0#8", "put item#z#m2#10", "del item#z#m3#7", "put item#z#m3#0"]);
}

#[test]
fn a_member_holding_the_item_twice_keeps_its_lowest_slot() {
    let members = [member("z", "m0", 3)];
    let cur = current(&[("item#z#m0#0", true), ("item#z#m0#4", true)]);
    let out = run(1, &members, &cur, &[], &["m0"]);
    assert_eq!(out.keep, ["item#z#m0#0"]);
    assert_eq!(out.ops, ["del item#z#m0#4"]);
}

#[test]
fn renumbering_closes_one_gap_per_step() {
    let members = [member("z", "a", 3), member("z", "b", 3), member("z", "c", 3)];
    let cur = current(&[("item#z#a#0", true), ("item#z#b#3", true), ("item#z#c#5", true)]);
    let out = run(3, &members, &cur, &[], &["a", "b", "c"]);
    assert_eq!(out.ops, ["del item#z#b#3", "put item#z#b#1"]);
}
