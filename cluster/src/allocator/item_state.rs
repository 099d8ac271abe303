//! One item's step towards its desired assignments: which adds, removals, promotion
//! and renumbering are safe now.
//!
//! Gazette's `allocator/item_state.go`. The item's current assignments are split
//! against the desired members into *add* (desired, not held), *remove* (held, not
//! desired) and *keep*; then constraints hold some changes back until a later step:
//!
//! - **Removals** go in decreasing order of the holder's load (assignments / limit)
//!   and only while the item keeps at least T consistent assignments: an
//!   inconsistent assignment may go only if T consistent ones exist; a consistent one
//!   only if more than T do. So the primary of an R = 1 item stays until its
//!   replacement reports consistent, and an item that is not yet consistent loses
//!   nothing. Held-back removals are kept.
//!
//!   T is min(R, max(desired members, 1)). Gazette uses R itself, which never lets
//!   an item short of R replicas give one up: when members cannot hold every replica
//!   and the solver moves a replica from such an item to an item with none, the move
//!   never happens and the second item is never served (the property tests found
//!   this). With T, an item sheds down to what the solver gives it, still keeping
//!   that many consistent — but never its last one while R > 0, so an item on a
//!   drained member with nowhere to go stays served there, as in Gazette. The other
//!   side of this: when a member's limit is lowered below its load and no one else
//!   has room, Gazette keeps every over-limit replica; this drops those the solver
//!   no longer wants (down to T, consistently) to honour the limit.
//! - **Promotion**: if no kept assignment is in slot 0, one is moved there,
//!   preferring a consistent one, then the member with fewest primaries for its
//!   limit; ties go to the lowest slot.
//! - **Adds** that would take a member past its item limit wait for it to shed load
//!   (except in a step breaking a stall: see `converge`'s module doc).
//!   New assignments get slots after the highest one in use.
//! - **Renumbering** (Gazette's "pack"): only in a step with no adds or removals, one
//!   kept assignment moves down to close a gap, so slots become 0, 1, 2, … .

use std::collections::BTreeSet;

use super::load::MemberLoad;
use super::model::{Assignment, Item, MemberId, Op};

/// An item's current assignments, split into what to add, remove and keep.
pub(crate) struct ItemState<'a> {
    /// Consistent assignments the item must keep (see the module doc).
    target: usize,
    /// Its current assignments, sorted (by member, then slot).
    current: &'a [Assignment],
    /// Assignments to create, with their slots.
    add: Vec<Assignment>,
    /// Current assignments to delete.
    remove: Vec<&'a Assignment>,
    /// Current assignments that stay; after [`ItemState::choose_primary`], the first
    /// is (or becomes) the primary.
    keep: Vec<&'a Assignment>,
}

impl<'a> ItemState<'a> {
    /// Splits `current` (this item's, sorted) against the `desired` members. A member
    /// holding the item twice keeps its lowest slot; the other is removed.
    pub(crate) fn new(item: &'a Item, current: &'a [Assignment], desired: &BTreeSet<MemberId>) -> Self {
        let target = keep_target(item, desired.len());
        let mut state = ItemState { target, current, add: Vec::new(), remove: Vec::new(), keep: Vec::new() };
        let mut held = BTreeSet::new();
        for a in current {
            let member = a.member();
            if desired.contains(&member) && held.insert(member) {
                state.keep.push(a);
            } else {
                state.remove.push(a);
            }
        }
        let mut next_slot = current.iter().map(|a| a.slot.saturating_add(1)).max().unwrap_or(0);
        for member in desired.iter().filter(|m| !held.contains(*m)) {
            state.add.push(Assignment::new(&item.id, member, next_slot, false));
            next_slot = next_slot.saturating_add(1);
        }
        state
    }

    /// Applies the constraints and appends the resulting operations to `ops`,
    /// updating `load` as Gazette's `constrainAndBuildOps` does.
    /// With `past_limits` (a stalled leader's step), adds ignore item limits.
    pub(crate) fn step(mut self, load: &mut MemberLoad, past_limits: bool, ops: &mut Vec<Op>) {
        self.constrain_removals(load);
        self.choose_primary(load);
        if !past_limits {
            self.add.retain(|a| load.has_room(&a.member()));
        }

        for a in &self.add {
            ops.push(Op::Put(a.clone()));
            load.added(a);
        }
        for a in &self.remove {
            ops.push(Op::Delete((*a).clone()));
            load.removed(a);
        }
        if let Some(first) = self.keep.first().filter(|a| !a.is_primary()) {
            move_to(first, 0, ops);
            load.promoted(first);
        }
        if self.add.is_empty() && self.remove.is_empty() {
            if let Some((slot, a)) = self.keep.iter().enumerate().skip(1).find(|(slot, a)| a.slot as usize != *slot) {
                move_to(a, u32::try_from(slot).unwrap_or(u32::MAX), ops);
            }
        }
    }

    /// Holds back removals that would leave fewer than the target of consistent
    /// assignments.
    fn constrain_removals(&mut self, load: &MemberLoad) {
        // Stable: equal loads keep member order (Go's sort.Slice leaves it unspecified).
        self.remove.sort_by_key(|a| std::cmp::Reverse(load.total_ratio(&a.member())));
        let r = self.target;
        let mut consistent = self.current.iter().filter(|a| a.consistent).count();
        let mut allowed = 0;
        while consistent >= r && allowed < self.remove.len() {
            if self.remove[allowed].consistent {
                if consistent == r {
                    break;
                }
                consistent -= 1;
            }
            allowed += 1;
        }
        self.keep.extend(self.remove.drain(allowed..));
    }

    /// Orders `keep` by slot and, if none is the primary, moves the best candidate
    /// to the front.
    fn choose_primary(&mut self, load: &MemberLoad) {
        self.keep.sort_by_key(|a| a.slot);
        if self.keep.first().is_none_or(|a| a.is_primary()) {
            return;
        }
        let mut best = 0;
        for (i, a) in self.keep.iter().enumerate().skip(1) {
            let chosen = self.keep[best];
            let better_ratio = load.primary_ratio(&a.member()) < load.primary_ratio(&chosen.member());
            if (a.consistent && !chosen.consistent) || (a.consistent == chosen.consistent && better_ratio) {
                best = i;
            }
        }
        let primary = self.keep.remove(best);
        self.keep.insert(0, primary);
    }
}

/// How many consistent assignments an item with `desired` members must keep while
/// shedding: min(R, max(desired, 1)).
pub(crate) fn keep_target(item: &Item, desired: usize) -> usize {
    (item.desired_replication as usize).min(desired.max(1))
}

/// Appends a move of `a` to `slot`: delete its key, put the same assignment (and, in
/// etcd, the same value and lease) under the new slot.
fn move_to(a: &Assignment, slot: u32, ops: &mut Vec<Op>) {
    ops.push(Op::Delete(a.clone()));
    ops.push(Op::Put(Assignment { slot, ..a.clone() }));
}

#[cfg(test)]
#[path = "item_state_tests.rs"]
mod tests;
