//! `solve`: from the members, items and current assignments to the desired
//! assignments, and a count of what changes between the two.
//!
//! Gazette's `allocator/allocator.go` (`SolveDesiredAssignments`, `ChangeSummary`)
//! and the parts of `alloc_state.go` that prepare its inputs: members with no item
//! limit do not count (nor do their zones), and assignments of unknown items or
//! members are not "current" for the solver (converge removes them). Inputs are
//! sorted and de-duplicated first, so their order never changes the answer.
//!
//! Gazette's leader re-solves only when members or items change (its `NetworkHash`)
//! and otherwise keeps converging to the answer it has: re-solving mid-way, while an
//! item briefly has both its old and its new holder, could pick either. The loop
//! calling [`solve`] should do likewise, comparing the `members` and `items` it
//! solved for.

use std::collections::{BTreeMap, BTreeSet};

use super::model::{Assignment, Desired, Item, Member, MemberId};
use super::network::AllocationNetwork;

/// The desired assignments: for every item, the members that should hold it.
///
/// Each item gets `desired_replication` members where members allow it (never more,
/// and never one member twice); no member is given more than its `item_limit`;
/// an item with two or more replicas spans two or more zones unless that would cost
/// it a replica; members are loaded in proportion to their limits; and, within all
/// that, current assignments are kept wherever possible (see [`super::network`] for
/// the costs that order these goals). Members and items are identified by id; where
/// an id is given twice the first one counts.
pub fn solve(members: &[Member], items: &[Item], current: &[Assignment]) -> Desired {
    let members = unique_by(members, |m| m.id());
    let members: Vec<Member> = members.into_iter().filter(|m| m.item_limit > 0).collect();
    let items = unique_by(items, |i| i.id.clone());

    let member_index: BTreeMap<MemberId, usize> = members.iter().enumerate().map(|(m, member)| (member.id(), m)).collect();
    let item_index: BTreeMap<&str, usize> = items.iter().enumerate().map(|(i, item)| (item.id.as_str(), i)).collect();
    let held: BTreeSet<(usize, usize)> = current
        .iter()
        .filter_map(|a| Some((*item_index.get(a.item_id.as_str())?, *member_index.get(&a.member())?)))
        .collect();

    let mut desired: Desired = items.iter().map(|item| (item.id.clone(), BTreeSet::new())).collect();
    for (i, m) in AllocationNetwork::build(&members, &items, &held).solve() {
        desired.get_mut(&items[i].id).expect("every item has an entry").insert(members[m].id());
    }
    desired
}

/// How far the current assignments are from the desired ones, counting each (item,
/// member) pair once whatever its slot (Gazette's `ChangeSummary`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Changes {
    /// Desired pairs not held now.
    pub added: usize,
    /// Held pairs not desired.
    pub removed: usize,
    /// Pairs both held and desired.
    pub unchanged: usize,
}

/// Compares `current` with `desired`.
pub fn changes(current: &[Assignment], desired: &Desired) -> Changes {
    let held: BTreeSet<(&str, MemberId)> = current.iter().map(|a| (a.item_id.as_str(), a.member())).collect();
    let wanted: BTreeSet<(&str, MemberId)> =
        desired.iter().flat_map(|(item, members)| members.iter().map(move |m| (item.as_str(), m.clone()))).collect();
    let unchanged = held.intersection(&wanted).count();
    Changes { added: wanted.len() - unchanged, removed: held.len() - unchanged, unchanged }
}

/// `values` sorted by `key`, keeping the first of each key.
fn unique_by<T: Clone, K: Ord>(values: &[T], key: impl Fn(&T) -> K) -> Vec<T> {
    let mut sorted: Vec<T> = values.to_vec();
    sorted.sort_by_key(|v| key(v)); // Stable: the first of equal keys stays first.
    sorted.dedup_by(|later, earlier| key(later) == key(earlier));
    sorted
}
