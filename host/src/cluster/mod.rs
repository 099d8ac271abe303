//! A host as a member of a cluster coordinated by etcd (`--etcd`, DESIGN §11).
//!
//! Gazette's `mainboilerplate` wiring of a broker or consumer process to its
//! allocator: announce this process as a member under a lease, keep a watched copy
//! of the keyspace, run the allocator (which acts only while this member leads), and
//! follow this member's assignments. The coordination itself — keys, leases, the
//! keyspace and the allocator — is `streamsum-cluster`; this module gives it the
//! host's values and plugs the result into the host's seams:
//!
//! - [`shards`]: a shard host's membership under the consumer root
//!   ([`DEFAULT_CONSUMER_ROOT`]): [`ShardMember`](shards::ShardMember) is the etcd
//!   [`ShardAssignments`](crate::consumer::ShardAssignments) and each replica's
//!   assigned [`Role`](crate::consumer::Role), and writes replica statuses back into
//!   assignment values; [`directory`] is the etcd
//!   [`ShardDirectory`](crate::consumer::directory::ShardDirectory) behind `Shard/List`,
//!   `Apply` and `Unassign`.
//! - [`brokers`]: a broker's membership under the brokers' root
//!   ([`DEFAULT_BROKER_ROOT`]): journal routes from the assignments, the journals
//!   assigned here created in the local storage, and the etcd journal catalog that
//!   `List` and `Apply` go through.
//! - [`values`]: what is stored at each key, in Gazette's encodings (protobuf
//!   `ConsumerSpec`/`BrokerSpec` members, `ShardSpec`/`JournalSpec` items,
//!   `ReplicaStatus`/`Route` assignments), and the allocator's reading of them.
//!
//! Without `--etcd` none of this runs: the embedded default is one process.

pub mod brokers;
pub mod directory;
pub mod membership;
pub mod shards;
pub mod values;

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use streamsum_cluster::allocator::MemberId;
use streamsum_cluster::etcd::{AllocState, AssignmentEntry};

use crate::journal::{ProcessId, Route};

/// Gazette's `/gazette/consumers/<application>`: the stream-sum summer's root.
pub const DEFAULT_CONSUMER_ROOT: &str = "/streamsum/consumers/stream-sum";
/// Gazette's `/gazette/cluster`: the brokers' root.
pub const DEFAULT_BROKER_ROOT: &str = "/streamsum/brokers";
/// Gazette's default member lease (`--etcd.lease`, 20s).
pub const DEFAULT_ETCD_LEASE: &str = "20s";

/// Flags of a cluster member (the main service's shard host, or a broker).
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// Join the cluster coordinated by this etcd (e.g. http://127.0.0.1:2379): announce
    /// this process as a member and serve what the allocator assigns it. Without it
    /// the process runs alone (the embedded default).
    #[arg(long, env = "STREAMSUM_ETCD")]
    pub etcd: Option<String>,
    /// Root of this process's keyspace in etcd (default: /streamsum/consumers/stream-sum
    /// for shard hosts, /streamsum/brokers for brokers).
    #[arg(long, env = "STREAMSUM_ETCD_PREFIX")]
    pub etcd_prefix: Option<String>,
    /// TTL of this member's etcd lease: once it expires (the process died) its
    /// assignments vanish and move to other members.
    #[arg(long, env = "STREAMSUM_ETCD_LEASE", default_value = DEFAULT_ETCD_LEASE, value_parser = crate::flags::parse_duration)]
    pub etcd_lease: Duration,
    /// This member's failure zone: replicas of an item are spread across zones.
    #[arg(long, env = "STREAMSUM_ZONE", default_value = "local")]
    pub zone: String,
    /// This member's id, unique within its zone (default: <hostname>-<pid>).
    #[arg(long, env = "STREAMSUM_ID")]
    pub id: Option<String>,
}

impl ClusterArgs {
    /// This member's id, checked against the allocator's key rules.
    ///
    /// # Errors
    /// A zone or id that cannot be part of an etcd key (empty, or holding a character
    /// at or below `#`).
    pub fn member(&self) -> anyhow::Result<MemberId> {
        let suffix = self.id.clone().unwrap_or_else(|| format!("{}-{}", hostname(), std::process::id()));
        let id = MemberId::new(self.zone.clone(), suffix);
        streamsum_cluster::allocator::keys::member_key("/", &id).context("--zone and --id name this member in etcd keys")?;
        Ok(id)
    }

    /// The root to use, `default` unless `--etcd-prefix` says otherwise.
    pub fn root<'a>(&'a self, default: &'a str) -> &'a str {
        self.etcd_prefix.as_deref().unwrap_or(default)
    }

    /// Checks the lease: etcd refuses TTLs under its election timeout, and a lease of
    /// minutes would leave a dead member's items unserved that long.
    ///
    /// # Errors
    /// A lease outside 1s..=10m.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.etcd_lease < Duration::from_secs(1) || self.etcd_lease > Duration::from_secs(600) {
            anyhow::bail!("--etcd-lease must be in 1s..=10m (got {:?})", self.etcd_lease);
        }
        Ok(())
    }
}

/// The route of item `item_id` in `state` — its assignments in slot order, slot 0 the
/// primary, each holder's endpoint as `endpoint` reads it from the member's value —
/// and those assignments in the same order. Brokers route journals and shard hosts
/// list shards by it.
pub fn route_of<'s, V>(
    state: &'s AllocState<V>,
    item_id: &str,
    endpoint: impl Fn(&V) -> String,
) -> (Route, Vec<&'s AssignmentEntry<V>>) {
    let mut held: Vec<&AssignmentEntry<V>> = state.assignments_of_item(item_id).iter().collect();
    held.sort_by_key(|a| a.assignment.slot);
    let mut route = Route::default();
    for a in &held {
        let id = a.assignment.member();
        if a.assignment.slot == 0 {
            route.primary = Some(route.members.len());
        }
        route.endpoints.push(state.member(&id).map(|m| endpoint(&m.kv.decoded)).unwrap_or_default());
        route.members.push(ProcessId::new(id.zone, id.suffix));
    }
    (route, held)
}

/// This machine's host name, or `host`.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty() && !h.contains(|c: char| c <= '#'))
        .unwrap_or_else(|| "host".to_string())
}
