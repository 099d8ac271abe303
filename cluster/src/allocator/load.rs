//! How loaded each member is while converge builds its operations.
//!
//! Gazette's `allocator/alloc_state.go` (`MemberTotalCount`, `MemberPrimaryCount`,
//! `memberLoadRatio`, `memberEffectiveLimit`). Counts cover the assignments of known
//! items only (Gazette left-joins items with assignments) and change as converge
//! adds, removes and promotes, item by item, so a later item sees the room an
//! earlier one made or used. Gazette's exiting members (`ShedCapacity`) are not
//! modelled: a member drains by having its `item_limit` set to zero.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use super::model::{Assignment, Item, Member, MemberId};

/// `count / limit`, where a limit of zero — or a member that is not known — makes
/// the ratio infinite (Gazette uses `MaxFloat32` for unknown members; a zero limit
/// divides to infinity there too, or NaN for 0/0, which this avoids).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LoadRatio {
    count: u64,
    limit: u64,
}

impl LoadRatio {
    pub(crate) fn new(count: u32, limit: Option<u32>) -> Self {
        LoadRatio { count: u64::from(count), limit: u64::from(limit.unwrap_or(0)) }
    }
}

impl Ord for LoadRatio {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.limit, other.limit) {
            (0, 0) => Ordering::Equal,
            (0, _) => Ordering::Greater,
            (_, 0) => Ordering::Less,
            (a, b) => (self.count * b).cmp(&(other.count * a)),
        }
    }
}

impl PartialOrd for LoadRatio {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Item limits and assignment counts per member.
#[derive(Debug, Clone)]
pub(crate) struct MemberLoad {
    /// Item limit of each known member.
    limits: BTreeMap<MemberId, u32>,
    /// Assignments each member holds (of known items).
    total: BTreeMap<MemberId, u32>,
    /// Primary (slot 0) assignments each member holds.
    primary: BTreeMap<MemberId, u32>,
}

impl MemberLoad {
    /// The load `current` puts on `members` (the first of a repeated member id counts).
    pub(crate) fn new(members: &[Member], items: &[Item], current: &[Assignment]) -> Self {
        let mut limits = BTreeMap::new();
        for member in members {
            limits.entry(member.id()).or_insert(member.item_limit);
        }
        let live: BTreeSet<&str> = items.iter().map(|i| i.id.as_str()).collect();
        let mut load = MemberLoad { limits, total: BTreeMap::new(), primary: BTreeMap::new() };
        for a in current.iter().filter(|a| live.contains(a.item_id.as_str())) {
            load.added(a);
        }
        load
    }

    /// Whether `member` may take one more assignment without passing its limit.
    pub(crate) fn has_room(&self, member: &MemberId) -> bool {
        self.limits.get(member).is_some_and(|&limit| count(&self.total, member) < limit)
    }

    /// All assignments of `member` against its limit.
    pub(crate) fn total_ratio(&self, member: &MemberId) -> LoadRatio {
        LoadRatio::new(count(&self.total, member), self.limits.get(member).copied())
    }

    /// Primary assignments of `member` against its limit.
    pub(crate) fn primary_ratio(&self, member: &MemberId) -> LoadRatio {
        LoadRatio::new(count(&self.primary, member), self.limits.get(member).copied())
    }

    /// Counts a new assignment.
    pub(crate) fn added(&mut self, a: &Assignment) {
        let member = a.member();
        if a.is_primary() {
            *self.primary.entry(member.clone()).or_default() += 1;
        }
        *self.total.entry(member).or_default() += 1;
    }

    /// Uncounts a removed assignment.
    pub(crate) fn removed(&mut self, a: &Assignment) {
        let member = a.member();
        if a.is_primary() {
            decrement(&mut self.primary, &member);
        }
        decrement(&mut self.total, &member);
    }

    /// Counts `a` becoming its item's primary.
    pub(crate) fn promoted(&mut self, a: &Assignment) {
        *self.primary.entry(a.member()).or_default() += 1;
    }
}

fn count(counts: &BTreeMap<MemberId, u32>, member: &MemberId) -> u32 {
    counts.get(member).copied().unwrap_or(0)
}

fn decrement(counts: &mut BTreeMap<MemberId, u32>, member: &MemberId) {
    if let Some(n) = counts.get_mut(member) {
        *n = n.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ratio(count: u32, limit: Option<u32>) -> LoadRatio {
        LoadRatio::new(count, limit)
    }

    #[test]
    fn load_ratios_compare_as_fractions_with_zero_limits_infinite() {
        let cases = [
            ("1/2 equals 2/4", ratio(1, Some(2)), ratio(2, Some(4)), Ordering::Equal),
            ("1/3 is below 1/2", ratio(1, Some(3)), ratio(1, Some(2)), Ordering::Less),
            ("an overloaded member is above a full one", ratio(5, Some(4)), ratio(4, Some(4)), Ordering::Greater),
            ("a zero limit is above any finite ratio", ratio(0, Some(0)), ratio(100, Some(1)), Ordering::Greater),
            ("an unknown member is above any finite ratio", ratio(0, None), ratio(9, Some(1)), Ordering::Greater),
            ("two infinite ratios tie", ratio(3, None), ratio(0, Some(0)), Ordering::Equal),
        ];
        for (name, a, b, want) in cases {
            assert_eq!(a.cmp(&b), want, "{name}");
        }
    }

    #[test]
    fn counts_follow_adds_removes_and_promotions_of_known_items_only() {
        let m = MemberId::new("z", "m");
        let members = [Member::new("z", "m", 2)];
        let items = [Item::new("live", 1)];
        let current = [Assignment::new("live", &m, 1, true), Assignment::new("dead", &m, 0, true)];
        let mut load = MemberLoad::new(&members, &items, &current);
        assert!(load.has_room(&m), "the dead item's assignment does not count");
        assert_eq!(load.primary_ratio(&m), ratio(0, Some(2)));

        load.added(&Assignment::new("other", &m, 0, false));
        assert!(!load.has_room(&m));
        assert_eq!(load.primary_ratio(&m), ratio(1, Some(2)));
        load.promoted(&current[0]);
        assert_eq!(load.primary_ratio(&m), ratio(2, Some(2)));
        load.removed(&Assignment::new("other", &m, 0, false));
        assert_eq!(load.total_ratio(&m), ratio(1, Some(2)));
        assert!(!load.has_room(&MemberId::new("z", "gone")), "an unknown member has no room");
    }
}
