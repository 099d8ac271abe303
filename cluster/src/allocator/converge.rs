//! `converge`: the next safe step from the current assignments towards the desired
//! ones.
//!
//! Gazette's `allocator/allocator.go` (`converge`, `removeDeadAssignments`). The
//! leader calls it after every change it observes, applies the operations, waits to
//! read its own writes (and members' status updates) back from etcd, and calls it
//! again; each call returns only changes that are safe *now* (see
//! [`super::item_state`]), so the assignments walk towards the desired ones without
//! an item ever dropping below its consistent replicas. An empty result means there
//! is nothing to do until something changes — typically a new assignment reporting
//! consistent.
//!
//! Assignments of items that no longer exist are deleted outright (Gazette guards
//! that deletion with the item key's create revision being 0, so it cannot race the
//! item's re-creation).
//!
//! # Stalls
//!
//! Walking towards a cached answer can get stuck where no member report will help:
//! members are full and the answer swaps replicas between them. Item A must move
//! from member X to Y and item B from Y to X; A's removal waits for its add on Y
//! (it must keep its consistent replicas), which waits for room on Y, which B's
//! removal would make, which waits for B's add on X, which waits for A's removal.
//! (The property tests found one: the first step from a state where nothing was
//! consistent filled the free room in item order, and the rest of the answer was
//! then out of reach; re-solving does not help, since the solver asks for the same
//! zone spread again.) [`stalled`] recognises this, and the leader then takes one
//! [`unstall`] step: the blocked adds go ahead past their members' item limits; the
//! removals they make safe follow, and the members are back within their limits
//! when the swap is done.

use std::collections::{BTreeMap, BTreeSet};

use super::item_state::ItemState;
use super::load::MemberLoad;
use super::model::{Assignment, Desired, Item, Member, MemberId, Op};

/// The operations of one convergence step, in item order; an item's operations are
/// contiguous, so a caller splitting them over several etcd transactions (etcd
/// allows 128 operations in one by default) must cut only between items, as
/// Gazette's checkpoints do. Items missing from `desired` are desired nowhere.
pub fn converge(members: &[Member], items: &[Item], current: &[Assignment], desired: &Desired) -> Vec<Op> {
    steps(members, items, current, desired, false)
}

/// The step that breaks a stall (see [`stalled`] and the module doc): as
/// [`converge`], except that adds the answer wants go ahead even past their
/// member's item limit, which the member exceeds only until the removals those adds
/// make safe have run.
pub fn unstall(members: &[Member], items: &[Item], current: &[Assignment], desired: &Desired) -> Vec<Op> {
    steps(members, items, current, desired, true)
}

fn steps(members: &[Member], items: &[Item], current: &[Assignment], desired: &Desired, past_limits: bool) -> Vec<Op> {
    let mut current = current.to_vec();
    current.sort();
    let mut known: BTreeMap<&str, &Item> = BTreeMap::new();
    for item in items {
        known.entry(item.id.as_str()).or_insert(item);
    }
    let mut held: BTreeMap<&str, &[Assignment]> = BTreeMap::new();
    for run in current.chunk_by(|a, b| a.item_id == b.item_id) {
        held.insert(run[0].item_id.as_str(), run);
    }
    let ids: BTreeSet<&str> = known.keys().chain(held.keys()).copied().collect();

    let mut load = MemberLoad::new(members, items, &current);
    let nowhere = BTreeSet::new();
    let mut ops = Vec::new();
    for id in ids {
        let assignments = held.get(id).copied().unwrap_or(&[]);
        match known.get(id) {
            Some(item) => ItemState::new(item, assignments, desired.get(id).unwrap_or(&nowhere)).step(&mut load, past_limits, &mut ops),
            None => ops.extend(assignments.iter().cloned().map(Op::Delete)),
        }
    }
    ops
}

/// Whether convergence towards `desired` is stuck (see the module doc): `converge`
/// had no step to take (`ops` is empty), every current assignment is consistent, so
/// no member's report can unblock a step, and still some desired assignment is not
/// held. While anything is inconsistent the leader waits instead: that is the
/// ordinary way a step becomes safe.
pub fn stalled(current: &[Assignment], desired: &Desired, ops: &[Op]) -> bool {
    if !ops.is_empty() || current.iter().any(|a| !a.consistent) {
        return false;
    }
    let held: BTreeSet<(&str, MemberId)> = current.iter().map(|a| (a.item_id.as_str(), a.member())).collect();
    desired.iter().any(|(item, members)| members.iter().any(|m| !held.contains(&(item.as_str(), m.clone()))))
}
