//! Property tests: for random members, items and current assignments, `solve`'s
//! answer is valid, maximal and a fixed point, and `converge` reaches it safely.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::flow::FlowNetwork;
use super::network::fair_share;
use super::test_support::*;
use super::{changes, solve, Assignment, Desired, Item, Member, MemberId};

/// Up to 7 members in up to 3 zones with limits 0..=5, up to 10 items of R 0..=4,
/// and current assignments of random items to random members (some unknown).
fn cluster() -> impl Strategy<Value = (Vec<Member>, Vec<Item>, Vec<Assignment>)> {
    let members = prop::collection::vec((0usize..3, 0u32..6), 1..8)
        .prop_map(|ms| ms.into_iter().enumerate().map(|(i, (z, limit))| member(&format!("z{z}"), &format!("m{i}"), limit)).collect::<Vec<_>>());
    let items = prop::collection::vec(0u32..5, 0..11).prop_map(|rs| rs.into_iter().enumerate().map(|(i, r)| item(&format!("i{i}"), r)).collect::<Vec<_>>());
    (members, items).prop_flat_map(|(members, items)| {
        let current = prop::collection::vec((0usize..12, 0usize..9, 0u32..4, any::<bool>()), 0..25).prop_map({
            let members = members.clone();
            move |picks| {
                let (mut seen, mut slots) = (BTreeSet::new(), BTreeSet::new());
                picks
                    .into_iter()
                    .map(|(i, m, slot, ok)| {
                        let id = members.get(m).map(|m| m.id()).unwrap_or_else(|| MemberId::new("z9", "gone"));
                        Assignment::new(format!("i{i}"), &id, slot, ok)
                    })
                    // One key per item and member, one holder per item and slot.
                    .filter(|a| seen.insert((a.item_id.clone(), a.member())) && slots.insert((a.item_id.clone(), a.slot)))
                    .collect::<Vec<_>>()
            }
        });
        (Just(members), Just(items), current)
    })
}

/// 3 to 8 members in up to 3 zones with limits 4..=10, and up to 10 items of R
/// 0..=3: usually room for every replica.
fn roomy_cluster() -> impl Strategy<Value = (Vec<Member>, Vec<Item>)> {
    let members = prop::collection::vec((0usize..3, 4u32..11), 3..9)
        .prop_map(|ms| ms.into_iter().enumerate().map(|(i, (z, limit))| member(&format!("z{z}"), &format!("m{i}"), limit)).collect::<Vec<_>>());
    let items = prop::collection::vec(0u32..4, 0..11).prop_map(|rs| rs.into_iter().enumerate().map(|(i, r)| item(&format!("i{i}"), r)).collect::<Vec<_>>());
    (members, items)
}

/// The most assignments any valid answer can have: a plain flow with no zones.
fn max_assignments(members: &[Member], items: &[Item]) -> u32 {
    let mut net = FlowNetwork::new(2 + items.len() + members.len());
    for (i, item) in items.iter().enumerate() {
        net.add_arc(0, 2 + i, item.desired_replication, 0);
        for m in 0..members.len() {
            net.add_arc(2 + i, 2 + items.len() + m, 1, 0);
        }
    }
    for (m, member) in members.iter().enumerate() {
        net.add_arc(2 + items.len() + m, 1, member.item_limit, 0);
    }
    net.solve(0, 1).flow as u32
}

/// Assignments held beyond the members' fair shares.
fn overload(c: &Cluster) -> usize {
    let item_slots: u64 = c.items.iter().map(|i| u64::from(i.desired_replication)).sum();
    let member_slots: u64 = c.members.iter().map(|m| u64::from(m.item_limit)).sum();
    let held = c.counts();
    let over = |m: &Member| held.get(&m.id()).copied().unwrap_or(0).saturating_sub(fair_share(m.item_limit, item_slots, member_slots));
    c.members.iter().map(over).sum::<u32>() as usize
}

fn assert_valid(members: &[Member], items: &[Item], desired: &Desired) {
    let limits: BTreeMap<MemberId, u32> = members.iter().map(|m| (m.id(), m.item_limit)).collect();
    for i in items {
        let held = &desired[&i.id];
        assert!(held.len() <= i.desired_replication as usize, "{}: {held:?}", i.id);
        assert!(held.iter().all(|m| limits.get(m).is_some_and(|&l| l > 0)), "{}: {held:?}", i.id);
    }
    for (m, n) in counts(&as_current(desired)) {
        assert!(n <= limits[&m], "{m} holds {n} > {}", limits[&m]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn every_answer_respects_limits_replication_and_is_a_fixed_point((members, items, current) in cluster()) {
        let desired = solve(&members, &items, &current);
        assert_valid(&members, &items, &desired);
        let placed: usize = desired.values().map(BTreeSet::len).sum();
        prop_assert_eq!(placed as u32, max_assignments(&members, &items), "replication is as high as limits allow");
        let again = solve(&members, &items, &as_current(&desired));
        prop_assert_eq!(changes(&as_current(&desired), &again).added, 0, "re-solving moves nothing");
    }

    #[test]
    fn with_room_to_spare_every_item_gets_min_r_members_over_two_zones(
        zones in prop::collection::vec(1usize..4, 1..4),
        rs in prop::collection::vec(0u32..5, 0..10),
    ) {
        let members: Vec<Member> = zones.iter().enumerate()
            .flat_map(|(z, &n)| (0..n).map(move |m| member(&format!("z{z}"), &format!("m{m}"), 10)))
            .collect();
        let items: Vec<Item> = rs.iter().enumerate().map(|(i, &r)| item(&format!("i{i}"), r)).collect();
        let desired = solve(&members, &items, &[]);
        for i in &items {
            let held = &desired[&i.id];
            prop_assert_eq!(held.len(), (i.desired_replication as usize).min(members.len()));
            let spanned: BTreeSet<&String> = held.iter().map(|m| &m.zone).collect();
            if held.len() >= 2 && zones.len() >= 2 {
                prop_assert!(spanned.len() >= 2, "{} spans {:?}", i.id, spanned);
            }
        }
    }

    #[test]
    fn converging_from_any_state_reaches_the_answer_safely((members, items, current) in cluster()) {
        let mut c = Cluster::new(members.clone(), items.clone(), current);
        c.serve_until_idle(Mark::All); // Every step is checked for safety.
        // The whole answer is reached (a stall is broken past item limits; see
        // `stalled`), and it is as large as any allocation can be.
        let desired = c.desired().clone();
        let held: BTreeSet<(String, MemberId)> = c.current.iter().map(|a| (a.item_id.clone(), a.member())).collect();
        let mut reached = 0u32;
        for (item, members) in &desired {
            for m in members {
                prop_assert!(held.contains(&(item.clone(), m.clone())), "{item} on {m} was never added: {:?}", c.keys());
                reached += 1;
            }
        }
        prop_assert_eq!(reached, max_assignments(&members, &items), "held {:?}", c.keys());
        // What is held beyond the answer is what the consistency rule holds back:
        // only items with no more than R (consistent) assignments keep extras.
        for i in &items {
            let run: Vec<&Assignment> = c.current.iter().filter(|a| a.item_id == i.id).collect();
            if run.iter().any(|a| !desired[&i.id].contains(&a.member())) {
                prop_assert!(run.len() <= i.desired_replication as usize, "{} keeps extras: {:?}", i.id, c.keys());
            }
            let slots: BTreeSet<u32> = run.iter().map(|a| a.slot).collect();
            prop_assert_eq!(slots.into_iter().collect::<Vec<_>>(), (0..run.len() as u32).collect::<Vec<_>>(), "slots are packed");
        }
        prop_assert!(c.current.iter().all(|a| desired.contains_key(&a.item_id)), "dead items are gone");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// In a cluster that met all demand, moves after a join only relieve the overload
    /// it creates (members whose fair share fell below what they hold) or spread
    /// single-zone items into a new zone. (Where demand was not met, the new capacity
    /// may also re-arrange items to add replicas.)
    /// In a balanced cluster the overload is the newcomer's share (see
    /// `movement_tests`); rounding each share up can make it a little more.
    #[test]
    fn a_member_joining_a_converged_cluster_moves_only_what_it_overloads(
        (members, items) in roomy_cluster(),
        zone in 0usize..4,
        limit in 1u32..9,
    ) {
        let mut c = Cluster::new(members, items, vec![]);
        c.serve_until_idle(Mark::All);
        let demand: usize = c.items.iter().map(|i| i.desired_replication as usize).sum();
        prop_assume!(c.current.len() == demand);
        let one_zone = c.desired().values().filter(|m| m.len() >= 2 && m.iter().map(|m| &m.zone).collect::<BTreeSet<_>>().len() == 1).count();
        c.members.push(member(&format!("z{zone}"), "new", limit));
        let overload = overload(&c);
        let moved = changes(&c.current, &solve(&c.members, &c.items, &c.current)).removed;
        prop_assert!(moved <= overload + one_zone, "moved {moved}, overload {overload}, one-zone items {one_zone}");
    }

    /// A member leaving (its lease taking its assignments) re-places its items. Other
    /// assignments move only to relieve members past their (new) fair share: where
    /// placing an orphan directly would overload a member (one move instead), or
    /// where the changed shares let an overload that had nowhere to go move. So at
    /// most one move per orphan plus the overload. With shares to spare nothing else
    /// moves (see `movement_tests`).
    #[test]
    fn a_member_leaving_a_converged_cluster_moves_little_besides_its_items((members, items) in roomy_cluster(), leaving in 0usize..8) {
        let mut c = Cluster::new(members, items, vec![]);
        c.serve_until_idle(Mark::All);
        let gone = c.members[leaving % c.members.len()].id();
        let orphans = c.current.iter().filter(|a| a.member() == gone).count();
        c.members.retain(|m| m.id() != gone);
        c.current.retain(|a| a.member() != gone);
        let overload = overload(&c);
        let moved = changes(&c.current, &solve(&c.members, &c.items, &c.current)).removed;
        prop_assert!(moved <= orphans + overload, "{moved} others moved for {orphans} orphans, overload {overload}");
    }
}
