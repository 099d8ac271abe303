//! The allocator's data: members, items, assignments, the desired placement and the
//! operations that converge towards it.
//!
//! Gazette's `allocator/allocator_key_space.go` (`Member`, `Item`, `Assignment` and
//! their natural order). Gazette decodes these from etcd keys and lets the application
//! attach a value to each (`MemberValue.ItemLimit`, `ItemValue.DesiredReplication`,
//! an opaque `AssignmentValue` judged by `IsConsistentFn`). Here they are plain
//! structs holding just what the allocator reads; the etcd layer builds them from
//! `<root>/members/<zone>#<suffix>`, `<root>/items/<id>` and
//! `<root>/assign/<item>#<zone>#<suffix>#<slot>` (see [`super::keys`]) and the
//! decoded values.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A member's identity: the zone it runs in and its suffix within that zone.
///
/// Orders as Gazette's member keys do (zone, then suffix), which is also the order
/// in which an item's new assignments are given slots.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MemberId {
    /// Failure zone (e.g. an availability zone): items are spread across zones.
    pub zone: String,
    /// Unique name of the process within its zone.
    pub suffix: String,
}

impl MemberId {
    /// A member id from its zone and suffix.
    pub fn new(zone: impl Into<String>, suffix: impl Into<String>) -> Self {
        MemberId { zone: zone.into(), suffix: suffix.into() }
    }
}

impl fmt::Display for MemberId {
    /// `zone#suffix`, the tail of the member's key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.zone, self.suffix)
    }
}

/// A running process that can hold items (a broker or a consumer shard host).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Zone of the member's key.
    pub zone: String,
    /// Suffix of the member's key.
    pub suffix: String,
    /// Most items the member may hold (Gazette's `ItemLimit`). Zero drains it: its
    /// zone no longer counts for spreading and its assignments move elsewhere.
    pub item_limit: u32,
}

impl Member {
    /// A member of `zone` named `suffix` that holds at most `item_limit` items.
    pub fn new(zone: impl Into<String>, suffix: impl Into<String>, item_limit: u32) -> Self {
        Member { zone: zone.into(), suffix: suffix.into(), item_limit }
    }

    /// The member's identity.
    pub fn id(&self) -> MemberId {
        MemberId::new(&self.zone, &self.suffix)
    }
}

/// Something to place on members: a journal or a shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// The item's name (journal name or shard id; may contain `/`).
    pub id: String,
    /// How many members should hold it: a journal's replication, or 1 + hot standbys
    /// for a shard. Zero disables the item: all its assignments are removed.
    pub desired_replication: u32,
}

impl Item {
    /// An item named `id` wanting `desired_replication` assignments.
    pub fn new(id: impl Into<String>, desired_replication: u32) -> Self {
        Item { id: id.into(), desired_replication }
    }
}

/// One member holding one item, as stored under
/// `<root>/assign/<item>#<zone>#<suffix>#<slot>`.
///
/// The derived order is the key order (item, zone, suffix, slot), except that slots
/// compare as numbers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Assignment {
    /// The assigned item.
    pub item_id: String,
    /// Zone of the holding member.
    pub member_zone: String,
    /// Suffix of the holding member.
    pub member_suffix: String,
    /// Position in the item's route: 0 is the primary, others are replicas or hot
    /// standbys. An item's slots are renumbered 0, 1, 2… as it converges.
    pub slot: u32,
    /// The holder reports it is ready to take over or to be dropped (Gazette's
    /// `IsConsistentFn` over the `AssignmentValue`: a journal replica whose route
    /// matches, a shard in STANDBY or PRIMARY). Not part of the key: the etcd layer
    /// decodes it from the value.
    pub consistent: bool,
}

impl Assignment {
    /// An assignment of `item_id` to `member` in `slot`.
    pub fn new(item_id: impl Into<String>, member: &MemberId, slot: u32, consistent: bool) -> Self {
        Assignment {
            item_id: item_id.into(),
            member_zone: member.zone.clone(),
            member_suffix: member.suffix.clone(),
            slot,
            consistent,
        }
    }

    /// The holding member's identity.
    pub fn member(&self) -> MemberId {
        MemberId::new(&self.member_zone, &self.member_suffix)
    }

    /// Whether this is the item's primary (slot 0).
    pub fn is_primary(&self) -> bool {
        self.slot == 0
    }
}

/// What [`super::solve`] wants: for every item, the set of members that should hold
/// it (slots are converge's business). Every input item has an entry, possibly empty.
pub type Desired = BTreeMap<String, BTreeSet<MemberId>>;

/// One change to the assignments, for the etcd layer to apply.
///
/// A `Delete` followed by a `Put` of the same item and member is a *move* (a
/// promotion to slot 0 or a renumbering): the etcd layer copies the old key's value
/// and lease to the new key in the same transaction, as Gazette's `buildMoveOps`.
/// A `Put` of a member not holding the item yet is an *add*: an empty value under
/// that member's lease, guarded by the member key's revision. Every `Delete` is
/// guarded by the assignment's revision, and an item's removals by the item's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Create (or move to) this assignment key.
    Put(Assignment),
    /// Delete this assignment key.
    Delete(Assignment),
}

impl Op {
    /// The assignment the operation writes or deletes.
    pub fn assignment(&self) -> &Assignment {
        match self {
            Op::Put(a) | Op::Delete(a) => a,
        }
    }
}
