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

use std::collections::{BTreeMap, BTreeSet};

use super::item_state::ItemState;
use super::load::MemberLoad;
use super::model::{Assignment, Desired, Item, Member, Op};

/// The operations of one convergence step, in item order; an item's operations are
/// contiguous, so a caller splitting them over several etcd transactions (etcd
/// allows 128 operations in one by default) must cut only between items, as
/// Gazette's checkpoints do. Items missing from `desired` are desired nowhere.
pub fn converge(members: &[Member], items: &[Item], current: &[Assignment], desired: &Desired) -> Vec<Op> {
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
            Some(item) => ItemState::new(item, assignments, desired.get(id).unwrap_or(&nowhere)).step(&mut load, &mut ops),
            None => ops.extend(assignments.iter().cloned().map(Op::Delete)),
        }
    }
    ops
}
