//! The allocation problem as a flow network, and its solution read back as placements.
//!
//! Gazette's `allocator/sparse_flow_network.go`, with the same four layers:
//!
//! ```text
//! source ──▶ item ──▶ item-in-zone ──▶ member ──▶ sink
//!        R         per-zone caps     1 each    item limit
//! ```
//!
//! One unit of flow through `item → (item, zone) → member` places the item on the
//! member. Capacities make every flow valid: an item gets at most R units, a member
//! at most its item limit, and an item reaches a member through exactly one arc of
//! capacity 1 (members belong to one zone), so never twice. The solver maximises the
//! flow first, so every item gets its replication where members allow it. Gazette's
//! preferences become costs on the arcs, and the solver picks the cheapest maximum
//! flow:
//!
//! | preference (Gazette's mechanism)                                        | here |
//! |---|---|
//! | spread an item over ≥ 2 zones: at most max(R−1, 1) per zone, relaxed only when the item would otherwise lose replicas (`itemOverflowThreshold`) | units beyond that cap cost [`ONE_ZONE_COST`] |
//! | keep current placements (current arcs presented first, `PushFront`)   | a placement not held now costs [`NEW_ASSIGNMENT_COST`] |
//! | balance members: capacity scaled to the fair share `limit × item slots / member slots`, rounded up, relaxed under pressure (`memberOverflowThreshold`) | units beyond the fair share cost [`OVER_FAIR_SHARE_COST`] |
//! | balance an item across zones: ⌈R / zones⌉ per zone (`pageItemArcsUniform`) | units beyond it cost [`UNEVEN_ZONE_COST`] |
//!
//! Where members cannot hold every replica, Gazette caps the source arcs in item
//! order by the remaining member slots, so later items get nothing. Here every
//! further replica of an item costs [`EXTRA_REPLICA_COST`] more than the previous
//! one, so scarce slots go first to each item's primary, then to second replicas,
//! and so on: no item is left unserved while another has a replica.
//!
//! Gazette also splits large problems into networks of 10,000 items with member
//! limits scaled to each; this solves one network for all items.

use std::collections::BTreeSet;
use std::ops::Range;

use super::flow::{ArcId, FlowNetwork, NodeId};
use super::model::{Item, Member};

/// Cost of placing an item on a member that does not hold it now (a move or an add).
pub(crate) const NEW_ASSIGNMENT_COST: u32 = 4;
/// Cost of a zone holding more of an item than its even share ⌈R / zones⌉. Below
/// [`NEW_ASSIGNMENT_COST`]: new placements spread evenly, current ones stay.
pub(crate) const UNEVEN_ZONE_COST: u32 = 1;
/// Cost of a member holding one item beyond its fair share. Above
/// [`NEW_ASSIGNMENT_COST`], so one move to relieve an overloaded member pays, and
/// below twice it, so a chain of two moves for the same relief does not.
pub(crate) const OVER_FAIR_SHARE_COST: u32 = 6;
/// Cost of a zone holding more than max(R−1, 1) of an item: putting all of an item's
/// replicas in one zone. Worth many moves to avoid; taken only when it is that or
/// fewer replicas.
pub(crate) const ONE_ZONE_COST: u32 = 64;
/// Extra cost of each further replica of an item over the previous one: when slots
/// are scarce, every item gets a primary before any gets a second replica.
pub(crate) const EXTRA_REPLICA_COST: u32 = 1024;

// The costs rank Gazette's goals; the compiler checks the ranking holds.
const _: () = {
    assert!(UNEVEN_ZONE_COST < NEW_ASSIGNMENT_COST, "current zone layouts stay");
    assert!(NEW_ASSIGNMENT_COST < OVER_FAIR_SHARE_COST, "one move to relieve a member pays");
    assert!(OVER_FAIR_SHARE_COST < 2 * NEW_ASSIGNMENT_COST, "two moves for one relief do not");
    assert!(ONE_ZONE_COST > 4 * (NEW_ASSIGNMENT_COST + OVER_FAIR_SHARE_COST), "zone spread is worth many moves");
    assert!(EXTRA_REPLICA_COST > 8 * ONE_ZONE_COST, "coverage comes before everything else");
};

const SOURCE: NodeId = 0;
const SINK: NodeId = 1;

/// The network of one allocation problem, built and ready to solve.
pub(crate) struct AllocationNetwork {
    flow: FlowNetwork,
    /// Every `(item, zone) → member` arc: (item index, member index, arc).
    candidates: Vec<(usize, usize, ArcId)>,
}

/// Node numbering: source, sink, items, items-in-zones, members.
struct Layout {
    items: usize,
    zones: usize,
}

impl Layout {
    fn item(&self, i: usize) -> NodeId {
        2 + i
    }
    fn zone_item(&self, i: usize, z: usize) -> NodeId {
        2 + self.items + i * self.zones + z
    }
    fn member(&self, m: usize) -> NodeId {
        2 + self.items * (1 + self.zones) + m
    }
}

impl AllocationNetwork {
    /// The network placing `items` on `members`, where `current` holds the (item
    /// index, member index) pairs placed now. `members` must be sorted by zone (so
    /// each zone is a run) and have non-zero limits.
    pub(crate) fn build(members: &[Member], items: &[Item], current: &BTreeSet<(usize, usize)>) -> Self {
        let zones = zone_runs(members);
        let layout = Layout { items: items.len(), zones: zones.len() };
        let mut flow = FlowNetwork::new(layout.member(members.len()));
        let item_slots: u64 = items.iter().map(|i| u64::from(i.desired_replication)).sum();
        let member_slots: u64 = members.iter().map(|m| u64::from(m.item_limit)).sum();
        let mut candidates = Vec::new();

        for (i, item) in items.iter().enumerate() {
            let r = item.desired_replication;
            for (capacity, cost) in replica_levels(r, members.len()) {
                flow.add_arc(SOURCE, layout.item(i), capacity, cost);
            }
            for (z, run) in zones.iter().enumerate() {
                for (capacity, cost) in zone_tiers(r, zones.len()) {
                    flow.add_arc(layout.item(i), layout.zone_item(i, z), capacity, cost);
                }
                for m in run.clone().filter(|_| r > 0) {
                    let cost = if current.contains(&(i, m)) { 0 } else { NEW_ASSIGNMENT_COST };
                    let arc = flow.add_arc(layout.zone_item(i, z), layout.member(m), 1, cost);
                    candidates.push((i, m, arc));
                }
            }
        }
        for (m, member) in members.iter().enumerate() {
            for (capacity, cost) in member_tiers(member.item_limit, item_slots, member_slots) {
                flow.add_arc(layout.member(m), SINK, capacity, cost);
            }
        }
        AllocationNetwork { flow, candidates }
    }

    /// Solves the network: the (item index, member index) placements of a maximum
    /// flow of least cost, in (item, member) order.
    pub(crate) fn solve(mut self) -> Vec<(usize, usize)> {
        self.flow.solve(SOURCE, SINK);
        self.candidates.iter().filter(|&&(_, _, arc)| self.flow.flow(arc) == 1).map(|&(i, m, _)| (i, m)).collect()
    }
}

/// The index ranges of `members` (sorted by zone) sharing a zone.
fn zone_runs(members: &[Member]) -> Vec<Range<usize>> {
    let mut runs: Vec<Range<usize>> = Vec::new();
    for (m, member) in members.iter().enumerate() {
        match runs.last_mut() {
            Some(run) if members[run.start].zone == member.zone => run.end = m + 1,
            _ => runs.push(m..m + 1),
        }
    }
    runs
}

/// `(capacity, cost)` arcs from the source to an item wanting `r` replicas among
/// `members` members: one unit per attainable replica, each dearer by
/// [`EXTRA_REPLICA_COST`].
pub(crate) fn replica_levels(r: u32, members: usize) -> Vec<(u32, u32)> {
    let attainable = r.min(u32::try_from(members).unwrap_or(u32::MAX));
    (0..attainable).map(|k| (1, k.saturating_mul(EXTRA_REPLICA_COST))).collect()
}

/// `(capacity, cost)` arcs from an item wanting `r` replicas to each of `zones`
/// zones: free up to the even share, [`UNEVEN_ZONE_COST`] up to max(r−1, 1), and
/// [`ONE_ZONE_COST`] for the rest. A single zone takes all `r` for free; an item
/// with `r = 0` has no arcs.
pub(crate) fn zone_tiers(r: u32, zones: usize) -> Vec<(u32, u32)> {
    if r == 0 {
        return Vec::new();
    } else if zones <= 1 {
        return vec![(r, 0)];
    }
    let even = r.div_ceil(u32::try_from(zones).unwrap_or(u32::MAX));
    let spread = r.saturating_sub(1).max(1);
    let tiers = [(even, 0), (spread - even, UNEVEN_ZONE_COST), (r - spread, ONE_ZONE_COST)];
    tiers.into_iter().filter(|&(capacity, _)| capacity > 0).collect()
}

/// `(capacity, cost)` arcs from a member with `limit` to the sink: free up to its
/// fair share, [`OVER_FAIR_SHARE_COST`] up to the limit.
pub(crate) fn member_tiers(limit: u32, item_slots: u64, member_slots: u64) -> Vec<(u32, u32)> {
    let fair = fair_share(limit, item_slots, member_slots);
    let tiers = [(fair, 0), (limit - fair, OVER_FAIR_SHARE_COST)];
    tiers.into_iter().filter(|&(capacity, _)| capacity > 0).collect()
}

/// `limit × min(item_slots / member_slots, 1)`, rounded up (Gazette's
/// `scaleAndRound`): a member's share when demand is below capacity, its whole limit
/// otherwise.
pub(crate) fn fair_share(limit: u32, item_slots: u64, member_slots: u64) -> u32 {
    if item_slots >= member_slots {
        return limit;
    }
    let scaled = (u128::from(limit) * u128::from(item_slots)).div_ceil(u128::from(member_slots));
    u32::try_from(scaled).expect("a share of a u32 limit fits a u32")
}

#[cfg(test)]
#[path = "network_tests.rs"]
mod tests;
