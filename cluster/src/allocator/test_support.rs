//! Fixtures and a simulated leader loop for the allocator's tests.
//!
//! Gazette's `allocator/scenarios_test.go` helpers (`insert`, `update`,
//! `markAllConsistent`, `serveUntilIdle`) without etcd: a [`Cluster`] holds members,
//! items and assignments as vectors, solves when members or items change (as the
//! leader caches its solution), applies each [`converge`] step, and checks after
//! every step that the step was safe.

use std::collections::BTreeMap;

use super::item_state::keep_target;
use super::model::{Assignment, Desired, Item, Member, MemberId, Op};
use super::{converge, solve, stalled, unstall};

/// Steps after which a scenario is taken to be stuck.
const MAX_STEPS: usize = 200;

pub(crate) fn member(zone: &str, suffix: &str, item_limit: u32) -> Member {
    Member::new(zone, suffix, item_limit)
}

pub(crate) fn item(id: &str, r: u32) -> Item {
    Item::new(id, r)
}

/// Assignments from short keys `item#zone#suffix#slot`.
pub(crate) fn asns(keys: &[&str], consistent: bool) -> Vec<Assignment> {
    keys.iter()
        .map(|k| {
            let p: Vec<&str> = k.split('#').collect();
            Assignment::new(p[0], &MemberId::new(p[1], p[2]), p[3].parse().unwrap(), consistent)
        })
        .collect()
}

/// Owned copies of `keys`, to compare with [`Cluster::keys`].
pub(crate) fn strings(keys: &[&str]) -> Vec<String> {
    keys.iter().map(|s| s.to_string()).collect()
}

/// The short key `item#zone#suffix#slot` of an assignment.
pub(crate) fn short_key(a: &Assignment) -> String {
    format!("{}#{}#{}#{}", a.item_id, a.member_zone, a.member_suffix, a.slot)
}

/// `desired` as consistent current assignments, slots 0, 1, … in member order.
pub(crate) fn as_current(desired: &Desired) -> Vec<Assignment> {
    desired
        .iter()
        .flat_map(|(item, members)| members.iter().enumerate().map(move |(slot, m)| Assignment::new(item, m, slot as u32, true)))
        .collect()
}

/// Applies `ops` as etcd would: a delete needs the key, a put must not clobber one.
pub(crate) fn apply(current: &mut Vec<Assignment>, ops: &[Op]) {
    for op in ops {
        let key = short_key(op.assignment());
        let at = current.iter().position(|a| short_key(a) == key);
        match (op, at) {
            (Op::Delete(_), Some(i)) => drop(current.remove(i)),
            (Op::Put(a), None) => current.push(a.clone()),
            (op, at) => panic!("{op:?} does not apply (existing: {at:?})"),
        }
    }
    current.sort();
}

/// Whether the simulated members report their assignments consistent when idle.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mark {
    /// Every assignment becomes consistent (Gazette's `markAllConsistent`).
    All,
    /// Nothing becomes consistent (Gazette's `"no match"`).
    Nothing,
}

/// A simulated cluster driven by the allocator.
pub(crate) struct Cluster {
    pub members: Vec<Member>,
    pub items: Vec<Item>,
    pub current: Vec<Assignment>,
    /// Members and items the cached `desired` was solved for.
    solved_for: Option<(Vec<Member>, Vec<Item>)>,
    desired: Desired,
    /// Steps that broke a stall ([`unstall`]).
    pub stalls: usize,
}

impl Cluster {
    pub(crate) fn new(members: Vec<Member>, items: Vec<Item>, current: Vec<Assignment>) -> Self {
        let mut current = current;
        current.sort();
        Cluster { members, items, current, solved_for: None, desired: Desired::new(), stalls: 0 }
    }

    /// The leader's desired assignments, re-solved only when members or items changed.
    pub(crate) fn desired(&mut self) -> &Desired {
        let inputs = (self.members.clone(), self.items.clone());
        if self.solved_for.as_ref() != Some(&inputs) {
            self.desired = solve(&self.members, &self.items, &self.current);
            self.solved_for = Some(inputs);
        }
        &self.desired
    }

    /// One converge step, applied and checked; returns its operations.
    pub(crate) fn step(&mut self) -> Vec<Op> {
        self.desired();
        let mut ops = converge(&self.members, &self.items, &self.current, &self.desired);
        let past_limits = stalled(&self.current, &self.desired, &ops);
        if past_limits {
            ops = unstall(&self.members, &self.items, &self.current, &self.desired);
            self.stalls += 1;
        }
        let before = self.current.clone();
        apply(&mut self.current, &ops);
        check_step(&self.members, &self.items, &self.desired, &before, &self.current, &ops, past_limits);
        ops
    }

    /// Steps until idle; then, with [`Mark::All`], marks everything consistent and
    /// goes on until idle with nothing left to mark. Returns the steps that changed
    /// something.
    pub(crate) fn serve_until_idle(&mut self, mark: Mark) -> usize {
        let mut steps = 0;
        loop {
            assert!(steps < MAX_STEPS, "no convergence after {MAX_STEPS} steps: {:?}", self.keys());
            if !self.step().is_empty() {
                steps += 1;
                continue;
            }
            let inconsistent = self.current.iter().any(|a| !a.consistent);
            if mark == Mark::Nothing || !inconsistent {
                return steps;
            }
            self.current.iter_mut().for_each(|a| a.consistent = true);
        }
    }

    /// Sorted short keys of the current assignments.
    pub(crate) fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.current.iter().map(short_key).collect();
        keys.sort();
        keys
    }

    /// How many assignments each member holds.
    pub(crate) fn counts(&self) -> BTreeMap<MemberId, u32> {
        counts(&self.current)
    }
}

pub(crate) fn counts(assignments: &[Assignment]) -> BTreeMap<MemberId, u32> {
    let mut counts = BTreeMap::new();
    for a in assignments {
        *counts.entry(a.member()).or_insert(0) += 1;
    }
    counts
}

/// Asserts a step was safe: adds respect limits (but for a step breaking a
/// stall), no item loses consistent assignments below min(before, its keep
/// target), and an item keeps a primary, which is consistent when it changed and
/// a consistent assignment remained.
fn check_step(members: &[Member], items: &[Item], desired: &Desired, before: &[Assignment], after: &[Assignment], ops: &[Op], past_limits: bool) {
    let limits: BTreeMap<MemberId, u32> = members.iter().map(|m| (m.id(), m.item_limit)).collect();
    let totals = counts(after);
    for a in ops.iter().filter_map(|op| if let Op::Put(a) = op { Some(a) } else { None }) {
        let moved = before.iter().any(|b| b.item_id == a.item_id && b.member() == a.member());
        let (total, limit) = (totals[&a.member()], limits.get(&a.member()).copied().unwrap_or(0));
        assert!(moved || past_limits || total <= limit, "add {a:?} takes its member to {total} > limit {limit}");
    }
    for item in items {
        let of = |set: &[Assignment]| set.iter().filter(|a| a.item_id == item.id).cloned().collect::<Vec<_>>();
        let (was, now) = (of(before), of(after));
        let consistent = |set: &[Assignment]| set.iter().filter(|a| a.consistent).count();
        let target = keep_target(item, desired.get(&item.id).map_or(0, |d| d.len()));
        let floor = consistent(&was).min(target);
        assert!(consistent(&now) >= floor, "{}: consistent fell below {floor}: {was:?} -> {now:?}", item.id);
        let primary = |set: &[Assignment]| set.iter().find(|a| a.is_primary()).map(|a| (a.member(), a.consistent));
        if primary(&was).is_some() && !now.is_empty() {
            let (p, ok) = primary(&now).unwrap_or_else(|| panic!("{}: lost its primary: {now:?}", item.id));
            let changed = primary(&was).map(|w| w.0) != Some(p);
            assert!(!changed || ok || consistent(&now) == 0, "{}: promoted an inconsistent replica: {now:?}", item.id);
        }
    }
}
