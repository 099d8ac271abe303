//! What the cluster keeps at each key, and the allocator's reading of it.
//!
//! Gazette's decoders (`consumer/key_space.go`, `broker/protocol`'s
//! `NewKeySpace`): every value is a protobuf message of Gazette's own protos, chosen
//! by the key's place under the root — a member (`ConsumerSpec` / `BrokerSpec`), an
//! item (`ShardSpec` / `JournalSpec`) or an assignment (`ReplicaStatus` for shards, a
//! `Route` for journals; empty until its holder first writes it). A value that does
//! not decode is refused with the key and the reason (the keyspace logs it and leaves
//! the key out), never guessed at.

use prost::Message;
use streamsum_cluster::allocator::keys::{ASSIGNMENTS_PREFIX, ITEMS_PREFIX, MEMBERS_PREFIX};
use streamsum_cluster::allocator::Assignment;
use streamsum_cluster::etcd::{check_key, AllocatorValues};

use crate::consumer::directory::{ReplicaCode, ReplicaReport};
use crate::consumer::DeclaredShard;
use crate::journal::{JournalSpec, ProcessId};
use crate::service::proto::{self, consumer as pc};
use crate::service::shard_api::{shard_spec_in, shard_spec_out};

/// Where under a root a key is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Member,
    Item,
    Assignment,
    Other,
}

fn place(root: &str, key: &str) -> Place {
    let under = |prefix: &str| key.strip_prefix(root).is_some_and(|rest| rest.starts_with(prefix));
    if under(MEMBERS_PREFIX) {
        Place::Member
    } else if under(ITEMS_PREFIX) {
        Place::Item
    } else if under(ASSIGNMENTS_PREFIX) {
        Place::Assignment
    } else {
        Place::Other
    }
}

/// A value under a consumer application's root.
#[derive(Clone, Debug, PartialEq)]
pub enum ConsumerValue {
    /// A shard host: its id, endpoint and shard limit.
    Member(pc::ConsumerSpec),
    /// A shard, as declared.
    Shard(Box<DeclaredShard>),
    /// A replica's status as its holder last wrote it (IDLE until then).
    Replica(ReplicaReport),
    /// A key the allocator does not read.
    Other,
}

impl ConsumerValue {
    /// Decodes the value at `key` under `root`.
    ///
    /// # Errors
    /// A malformed allocator key, or a value that is not the message its place holds.
    pub fn decode(root: &str, key: &str, value: &[u8]) -> Result<Self, String> {
        check_key(root, key).map_err(|e| e.to_string())?;
        let bad = |what: &str, e: &dyn std::fmt::Display| format!("{key}: not a {what}: {e}");
        Ok(match place(root, key) {
            Place::Member => ConsumerValue::Member(pc::ConsumerSpec::decode(value).map_err(|e| bad("ConsumerSpec", &e))?),
            Place::Item => {
                let spec = pc::ShardSpec::decode(value).map_err(|e| bad("ShardSpec", &e))?;
                ConsumerValue::Shard(Box::new(shard_spec_in(spec).map_err(|e| bad("valid ShardSpec", &e))?))
            }
            Place::Assignment if value.is_empty() => ConsumerValue::Replica(idle()),
            Place::Assignment => ConsumerValue::Replica(replica_in(pc::ReplicaStatus::decode(value).map_err(|e| bad("ReplicaStatus", &e))?)),
            Place::Other => ConsumerValue::Other,
        })
    }

    /// The shard, if this is one.
    pub fn shard(&self) -> Option<&DeclaredShard> {
        match self {
            ConsumerValue::Shard(s) => Some(s),
            _ => None,
        }
    }

    /// The replica status, if this is an assignment.
    pub fn replica(&self) -> Option<&ReplicaReport> {
        match self {
            ConsumerValue::Replica(r) => Some(r),
            _ => None,
        }
    }

    /// The member's spec, if this is a member.
    pub fn member(&self) -> Option<&pc::ConsumerSpec> {
        match self {
            ConsumerValue::Member(m) => Some(m),
            _ => None,
        }
    }
}

fn idle() -> ReplicaReport {
    ReplicaReport { code: ReplicaCode::Idle, errors: Vec::new() }
}

/// A `ReplicaStatus` as a report.
pub fn replica_in(status: pc::ReplicaStatus) -> ReplicaReport {
    ReplicaReport { code: ReplicaCode::from_number(status.code), errors: status.errors }
}

/// A report as Gazette's `ReplicaStatus`, encoded.
pub fn replica_out(report: &ReplicaReport) -> Vec<u8> {
    pc::ReplicaStatus { code: report.code.number(), errors: report.errors.clone() }.encode_to_vec()
}

/// A shard's item value.
pub fn shard_out(spec: &DeclaredShard) -> Vec<u8> {
    shard_spec_out(spec).encode_to_vec()
}

/// A shard host's member value.
pub fn consumer_member_out(id: &ProcessId, endpoint: &str, shard_limit: u32) -> Vec<u8> {
    pc::ConsumerSpec { process_spec: Some(process_spec(id, endpoint)), shard_limit, exiting: false }.encode_to_vec()
}

fn process_spec(id: &ProcessId, endpoint: &str) -> proto::ProcessSpec {
    proto::ProcessSpec {
        id: Some(proto::process_spec::Id { zone: id.zone.clone(), suffix: id.suffix.clone() }),
        endpoint: endpoint.to_string(),
    }
}

/// The endpoint a member announced (empty if none).
pub fn endpoint_of(spec: Option<&proto::ProcessSpec>) -> String {
    spec.map(|p| p.endpoint.clone()).unwrap_or_default()
}

/// The allocator's reading of a consumer application's values (Gazette's
/// `consumer/key_space.go`): a member's limit is its `shard_limit`, a shard wants
/// 1 + hot standbys replicas (0 when disabled), and a replica is consistent once it
/// is STANDBY or PRIMARY — so a moving shard's new standby has caught up on the
/// recovery log before the allocator lets the old replica go.
pub struct ShardValues;

impl AllocatorValues<ConsumerValue> for ShardValues {
    fn item_limit(&self, member: &ConsumerValue) -> u32 {
        member.member().map_or(0, |m| m.shard_limit)
    }

    fn desired_replication(&self, item: &ConsumerValue) -> u32 {
        item.shard().map_or(0, DeclaredShard::desired_replication)
    }

    fn is_consistent(&self, _: &Assignment, value: &ConsumerValue, _: &[(&Assignment, &ConsumerValue)]) -> bool {
        value.replica().is_some_and(|r| matches!(r.code, ReplicaCode::Standby | ReplicaCode::Primary))
    }
}

/// A value under the brokers' root.
#[derive(Clone, Debug, PartialEq)]
pub enum BrokerValue {
    /// A broker: its id, endpoint and journal limit.
    Member(proto::BrokerSpec),
    /// A journal's spec.
    Journal(Box<JournalSpec>),
    /// The route its holder last wrote into an assignment (none until it has).
    Route(Option<proto::Route>),
    /// A key the allocator does not read.
    Other,
}

impl BrokerValue {
    /// Decodes the value at `key` under `root`.
    ///
    /// # Errors
    /// A malformed allocator key, or a value that is not the message its place holds.
    pub fn decode(root: &str, key: &str, value: &[u8]) -> Result<Self, String> {
        check_key(root, key).map_err(|e| e.to_string())?;
        let bad = |what: &str, e: &dyn std::fmt::Display| format!("{key}: not a {what}: {e}");
        Ok(match place(root, key) {
            Place::Member => BrokerValue::Member(proto::BrokerSpec::decode(value).map_err(|e| bad("BrokerSpec", &e))?),
            Place::Item => {
                let spec = proto::JournalSpec::decode(value).map_err(|e| bad("JournalSpec", &e))?;
                BrokerValue::Journal(Box::new(crate::service::convert::spec_in(spec).map_err(|e| bad("valid JournalSpec", &e))?))
            }
            Place::Assignment if value.is_empty() => BrokerValue::Route(None),
            Place::Assignment => BrokerValue::Route(Some(proto::Route::decode(value).map_err(|e| bad("Route", &e))?)),
            Place::Other => BrokerValue::Other,
        })
    }

    /// The journal's spec, if this is one.
    pub fn journal(&self) -> Option<&JournalSpec> {
        match self {
            BrokerValue::Journal(j) => Some(j),
            _ => None,
        }
    }

    /// The member's spec, if this is a member.
    pub fn member(&self) -> Option<&proto::BrokerSpec> {
        match self {
            BrokerValue::Member(m) => Some(m),
            _ => None,
        }
    }
}

/// A journal's item value.
pub fn journal_out(spec: &JournalSpec) -> Vec<u8> {
    crate::service::convert::spec_out(spec).encode_to_vec()
}

/// A broker's member value.
pub fn broker_member_out(id: &ProcessId, endpoint: &str, journal_limit: u32) -> Vec<u8> {
    proto::BrokerSpec { process_spec: Some(process_spec(id, endpoint)), journal_limit, exiting: false }.encode_to_vec()
}

/// The allocator's reading of the brokers' values (Gazette's `broker/key_space.go`):
/// a member's limit is its `journal_limit`, a journal wants `replication` replicas,
/// and an assignment is consistent once the item's current route is written into it
/// — the primary writes it into every assignment of the journal once its replication
/// pipeline synced that route (`brokers.rs`), so a new replica counts only once it
/// holds the journal's bytes.
pub struct JournalValues;

impl AllocatorValues<BrokerValue> for JournalValues {
    fn item_limit(&self, member: &BrokerValue) -> u32 {
        member.member().map_or(0, |m| m.journal_limit)
    }

    fn desired_replication(&self, item: &BrokerValue) -> u32 {
        item.journal().map_or(0, |j| j.replication.max(0) as u32)
    }

    fn is_consistent(&self, _: &Assignment, value: &BrokerValue, all: &[(&Assignment, &BrokerValue)]) -> bool {
        let BrokerValue::Route(Some(written)) = value else { return false };
        let mut now: Vec<(&str, &str)> = all.iter().map(|(a, _)| (a.member_zone.as_str(), a.member_suffix.as_str())).collect();
        now.sort();
        let mut wrote: Vec<(&str, &str)> = written.members.iter().map(|m| (m.zone.as_str(), m.suffix.as_str())).collect();
        wrote.sort();
        wrote == now
    }
}

#[cfg(test)]
#[path = "values_tests.rs"]
mod tests;
