//! The allocator's view of a keyspace snapshot: members, items and assignments with
//! the etcd metadata its transactions are guarded by.
//!
//! Gazette's `allocator/alloc_state.go` (`State`, `observe`) and the decoding half of
//! `allocator_key_space.go`. Keys are parsed with [`crate::allocator::keys`]; what
//! the allocator needs from values (a member's item limit, an item's replication, an
//! assignment's consistency) comes from the application's [`AllocatorValues`], over
//! the values its keyspace decoder produced. A key that does not parse is left out
//! (logged at debug level on every revision; a decoder that calls [`check_key`]
//! rejects it once, at the keyspace, with an error in the log).

use std::sync::Arc;

use super::snapshot::{KeyValue, Snapshot};
use crate::allocator::keys::{self, ASSIGNMENTS_PREFIX, ITEMS_PREFIX, MEMBERS_PREFIX};
use crate::allocator::{leader, Assignment, Item, KeyError, Member, MemberId};

/// What the allocator reads from the application's decoded values (`V`, the type
/// the keyspace's decoder produces for every key under the root).
pub trait AllocatorValues<V>: Send + Sync {
    /// A member's item limit (Gazette's `MemberValue.ItemLimit`); 0 drains it.
    fn item_limit(&self, member: &V) -> u32;
    /// An item's desired replication (`ItemValue.DesiredReplication`): journal
    /// replication, or 1 + hot standbys of a shard; 0 disables it.
    fn desired_replication(&self, item: &V) -> u32;
    /// Whether `assignment` (holding `value`) is consistent, given all assignments of
    /// its item in key order, itself included (Gazette's `IsConsistentFn`). A shard's
    /// is when its status is STANDBY or PRIMARY; a journal replica's when its route
    /// matches the item's current assignments.
    fn is_consistent(&self, assignment: &Assignment, value: &V, item_assignments: &[(&Assignment, &V)]) -> bool;
}

/// A member key and its decoded member.
#[derive(Debug)]
pub struct MemberEntry<V> {
    /// The member, with its item limit.
    pub member: Member,
    /// `<root>/members/<zone>#<suffix>`.
    pub key: String,
    /// The key's value and metadata (lease, revisions).
    pub kv: Arc<KeyValue<V>>,
}

/// An item key and its decoded item.
#[derive(Debug)]
pub struct ItemEntry<V> {
    /// The item, with its desired replication.
    pub item: Item,
    /// `<root>/items/<id>`.
    pub key: String,
    /// The key's value and metadata.
    pub kv: Arc<KeyValue<V>>,
}

/// An assignment key and its decoded assignment.
#[derive(Debug)]
pub struct AssignmentEntry<V> {
    /// The assignment, `consistent` as [`AllocatorValues::is_consistent`] says.
    pub assignment: Assignment,
    /// `<root>/assign/<item>#<zone>#<suffix>#<slot>`.
    pub key: String,
    /// The key's value and metadata (its lease is the holder's).
    pub kv: Arc<KeyValue<V>>,
}

/// Members, items and assignments of one snapshot, each sorted in Gazette's natural
/// order (members by id, items by id, assignments by item, member, slot).
#[derive(Debug)]
pub struct AllocState<V> {
    /// The snapshot's revision.
    pub revision: i64,
    /// Every member key that parsed.
    pub members: Vec<MemberEntry<V>>,
    /// Every item key that parsed.
    pub items: Vec<ItemEntry<V>>,
    /// Every assignment key that parsed, of known items or not.
    pub assignments: Vec<AssignmentEntry<V>>,
}

impl<V> AllocState<V> {
    /// Extracts the allocator's state under `root` from `snapshot`.
    pub fn new(root: &str, snapshot: &Snapshot<V>, values: &dyn AllocatorValues<V>) -> Self {
        let members_prefix = format!("{root}{MEMBERS_PREFIX}");
        let mut members: Vec<MemberEntry<V>> = parsed(snapshot, &members_prefix, |key| keys::parse_member_key(root, key))
            .map(|(id, key, kv)| MemberEntry { member: Member::new(id.zone, id.suffix, values.item_limit(&kv.decoded)), key, kv })
            .collect();
        members.sort_by_key(|m| m.member.id());

        let items_prefix = format!("{root}{ITEMS_PREFIX}");
        let items: Vec<ItemEntry<V>> = parsed(snapshot, &items_prefix, |key| keys::parse_item_key(root, key))
            .map(|(id, key, kv)| ItemEntry { item: Item::new(id, values.desired_replication(&kv.decoded)), key, kv })
            .collect();

        let assignments_prefix = format!("{root}{ASSIGNMENTS_PREFIX}");
        let mut assignments: Vec<AssignmentEntry<V>> = parsed(snapshot, &assignments_prefix, |key| keys::parse_assignment_key(root, key))
            .map(|(assignment, key, kv)| AssignmentEntry { assignment, key, kv })
            .collect();
        assignments.sort_by(|a, b| a.assignment.cmp(&b.assignment));
        mark_consistency(&mut assignments, values);

        AllocState { revision: snapshot.revision(), members, items, assignments }
    }

    /// The members, as the allocator's pure functions take them.
    pub fn member_models(&self) -> Vec<Member> {
        self.members.iter().map(|m| m.member.clone()).collect()
    }

    /// The items, as the allocator's pure functions take them.
    pub fn item_models(&self) -> Vec<Item> {
        self.items.iter().map(|i| i.item.clone()).collect()
    }

    /// The assignments, as the allocator's pure functions take them.
    pub fn assignment_models(&self) -> Vec<Assignment> {
        self.assignments.iter().map(|a| a.assignment.clone()).collect()
    }

    /// The member that runs the allocator: the oldest member key ([`leader`]).
    pub fn leader(&self) -> Option<MemberId> {
        let ages: Vec<(MemberId, i64)> = self.members.iter().map(|m| (m.member.id(), m.kv.create_revision)).collect();
        leader(&ages).cloned()
    }

    /// The member with this id.
    pub fn member(&self, id: &MemberId) -> Option<&MemberEntry<V>> {
        self.members.binary_search_by(|m| m.member.id().cmp(id)).ok().map(|i| &self.members[i])
    }

    /// The item with this id.
    pub fn item(&self, id: &str) -> Option<&ItemEntry<V>> {
        self.items.binary_search_by(|i| i.item.id.as_str().cmp(id)).ok().map(|i| &self.items[i])
    }

    /// The entry of the assignment with `a`'s item, member and slot.
    pub fn assignment(&self, a: &Assignment) -> Option<&AssignmentEntry<V>> {
        self.assignments.binary_search_by(|e| identity(&e.assignment).cmp(&identity(a))).ok().map(|i| &self.assignments[i])
    }

    /// The assignments `member` holds, in item order.
    pub fn assignments_of<'a>(&'a self, member: &'a MemberId) -> impl Iterator<Item = &'a AssignmentEntry<V>> + 'a {
        self.assignments.iter().filter(move |a| a.assignment.member_zone == member.zone && a.assignment.member_suffix == member.suffix)
    }

    /// The assignments of `item_id`, in member order.
    pub fn assignments_of_item(&self, item_id: &str) -> &[AssignmentEntry<V>] {
        let start = self.assignments.partition_point(|a| a.assignment.item_id.as_str() < item_id);
        let end = start + self.assignments[start..].partition_point(|a| a.assignment.item_id == item_id);
        &self.assignments[start..end]
    }
}

/// Checks that a key under `<root>/members/`, `/items/` or `/assign/` has its shape;
/// other keys pass. A keyspace decoder can call it to reject malformed allocator
/// keys once, when they are written, rather than have them skipped on every revision.
///
/// # Errors
/// The [`KeyError`] of the key's parser.
pub fn check_key(root: &str, key: &str) -> Result<(), KeyError> {
    let under = |prefix: &str| key.strip_prefix(root).is_some_and(|rest| rest.starts_with(prefix));
    if under(MEMBERS_PREFIX) {
        keys::parse_member_key(root, key).map(drop)
    } else if under(ITEMS_PREFIX) {
        keys::parse_item_key(root, key).map(drop)
    } else if under(ASSIGNMENTS_PREFIX) {
        keys::parse_assignment_key(root, key).map(drop)
    } else {
        Ok(())
    }
}

/// An assignment's key parts, in key order (slots as numbers), without `consistent`.
fn identity(a: &Assignment) -> (&str, &str, &str, u32) {
    (&a.item_id, &a.member_zone, &a.member_suffix, a.slot)
}

/// The keys under `prefix` that `parse` accepts, with their parse.
fn parsed<'a, V, T>(
    snapshot: &'a Snapshot<V>,
    prefix: &'a str,
    parse: impl Fn(&str) -> Result<T, KeyError> + 'a,
) -> impl Iterator<Item = (T, String, Arc<KeyValue<V>>)> + 'a {
    snapshot.prefixed(prefix).filter_map(move |(key, kv)| match parse(key) {
        Ok(parsed) => Some((parsed, key.to_string(), kv.clone())),
        Err(error) => {
            tracing::debug!(%key, %error, "allocator ignores a malformed key");
            None
        }
    })
}

/// Sets each assignment's `consistent` from the application, item by item.
fn mark_consistency<V>(assignments: &mut [AssignmentEntry<V>], values: &dyn AllocatorValues<V>) {
    for run in assignments.chunk_by_mut(|a, b| a.assignment.item_id == b.assignment.item_id) {
        let verdicts: Vec<bool> = {
            let all: Vec<(&Assignment, &V)> = run.iter().map(|a| (&a.assignment, &a.kv.decoded)).collect();
            all.iter().map(|(a, v)| values.is_consistent(a, v, &all)).collect()
        };
        for (entry, consistent) in run.iter_mut().zip(verdicts) {
            entry.assignment.consistent = consistent;
        }
    }
}

#[cfg(test)]
#[path = "alloc_state_tests.rs"]
mod tests;
