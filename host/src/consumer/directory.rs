//! Which shards exist, where they run and how they are doing: what the `Shard` gRPC
//! service (`consumer.proto`: List, Apply, Unassign) reads and changes.
//!
//! Gazette answers these from its etcd keyspace (`consumer/shard_api.go`): specs are
//! items, routes and replica statuses are assignments. [`ShardDirectory`] is that view
//! as a trait; the embedded host's [`FixedDirectory`] is its one-process case — the
//! shards declared at start, all routed to this process, their status read in process.
//! The cluster's directory is etcd's.

use futures::future::BoxFuture;

use super::shardspace::{DeclaredShard, ShardChange};
use super::status::{ShardList, ShardState, StatusSnapshot};
use crate::journal::{ProcessId, Route};

/// A replica's status code (Gazette's `ReplicaStatus.Code`, in its order: a higher
/// code wins when statuses are reduced).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReplicaCode {
    /// Assigned, not yet recovering or serving.
    Idle,
    /// Recovering its store (a primary catching up on its log).
    Backfill,
    /// Tailing the log, ready to take over.
    Standby,
    /// Running transactions.
    Primary,
    /// Its last life failed.
    Failed,
}

impl ReplicaCode {
    /// Gazette's enum number.
    pub fn number(self) -> i32 {
        match self {
            ReplicaCode::Idle => 0,
            ReplicaCode::Backfill => 100,
            ReplicaCode::Standby => 200,
            ReplicaCode::Primary => 300,
            ReplicaCode::Failed => 400,
        }
    }

    /// From Gazette's enum number (unknown numbers are IDLE, as proto3 enums open).
    pub fn from_number(n: i32) -> Self {
        match n {
            100 => ReplicaCode::Backfill,
            200 => ReplicaCode::Standby,
            300 => ReplicaCode::Primary,
            400 => ReplicaCode::Failed,
            _ => ReplicaCode::Idle,
        }
    }

    /// Upper-case name, as Gazette prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            ReplicaCode::Idle => "IDLE",
            ReplicaCode::Backfill => "BACKFILL",
            ReplicaCode::Standby => "STANDBY",
            ReplicaCode::Primary => "PRIMARY",
            ReplicaCode::Failed => "FAILED",
        }
    }
}

/// One replica's status: its code and, when FAILED, why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaReport {
    /// The code.
    pub code: ReplicaCode,
    /// Errors, newest last (FAILED replicas).
    pub errors: Vec<String>,
}

impl ReplicaReport {
    /// The report of a shard running here, from its live status.
    pub fn of(status: &StatusSnapshot) -> Self {
        let code = match status.state {
            ShardState::Recovering => ReplicaCode::Backfill,
            ShardState::Primary => ReplicaCode::Primary,
            ShardState::Standby => ReplicaCode::Standby,
            ShardState::Idle | ShardState::Stopped => ReplicaCode::Idle,
            ShardState::Failed => ReplicaCode::Failed,
        };
        let errors = match (code, &status.last_error) {
            (ReplicaCode::Failed, Some(e)) => vec![e.clone()],
            _ => Vec::new(),
        };
        ReplicaReport { code, errors }
    }
}

/// A shard as `Shard/List` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedShard {
    /// Its declaration.
    pub spec: DeclaredShard,
    /// Revision of the declaration's last change.
    pub mod_revision: i64,
    /// Revision of its creation.
    pub create_revision: i64,
    /// The processes holding it, primary first where there is one.
    pub route: Route,
    /// One status per route member, in route order.
    pub status: Vec<ReplicaReport>,
}

/// Why a directory request failed; the `Shard` service maps each to Gazette's status.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// No shard has this id (`SHARD_NOT_FOUND`).
    #[error("shard {0:?} not found")]
    NotFound(String),
    /// An expected revision did not match (`ETCD_TRANSACTION_FAILED`).
    #[error("{0}")]
    RevisionMismatch(String),
    /// The change is not valid (gRPC INVALID_ARGUMENT).
    #[error("{0}")]
    Invalid(String),
    /// This directory cannot make the change (gRPC FAILED_PRECONDITION).
    #[error("{0}")]
    Unsupported(String),
    /// The store behind the directory is unreachable (gRPC UNAVAILABLE).
    #[error("{0}")]
    Unavailable(String),
}

/// The shards of a consumer application and where they run.
pub trait ShardDirectory: Send + Sync + 'static {
    /// Every shard with its route and replica statuses, and the revision read.
    fn list(&self) -> BoxFuture<'static, Result<(i64, Vec<ListedShard>), DirectoryError>>;
    /// Applies `(expect_mod_revision, change)` pairs all or nothing (an expected
    /// revision of 0 means "does not exist yet"); returns the new revision.
    fn apply(&self, changes: Vec<(i64, ShardChange)>) -> BoxFuture<'static, Result<i64, DirectoryError>>;
    /// Removes the assignments of `shards` (only those FAILED, if `only_failed`), so
    /// they are assigned afresh; with `dry_run` changes nothing. Returns the shards
    /// whose assignments were (or would be) removed.
    fn unassign(&self, shards: Vec<String>, only_failed: bool, dry_run: bool) -> BoxFuture<'static, Result<Vec<String>, DirectoryError>>;
}

/// The embedded host's shards: declared at start, all run by this process.
pub struct FixedDirectory {
    /// Declared once the host has listed its chunk partitions (after its gRPC server
    /// started, since the shards may use it); empty until then.
    shards: std::sync::OnceLock<Vec<DeclaredShard>>,
    me: ProcessId,
    endpoint: String,
    running: ShardList,
}

impl FixedDirectory {
    /// The shards of process `me` at `endpoint`, whose live status is in `running`;
    /// none until [`declare`](Self::declare)d.
    pub fn new(me: ProcessId, endpoint: impl Into<String>, running: ShardList) -> Self {
        FixedDirectory { shards: std::sync::OnceLock::new(), me, endpoint: endpoint.into(), running }
    }

    /// Declares the shards, once; a second call is ignored.
    pub fn declare(&self, shards: Vec<DeclaredShard>) {
        let _ = self.shards.set(shards);
    }

    fn listed(&self) -> Vec<ListedShard> {
        let running: Vec<StatusSnapshot> =
            self.running.read().unwrap_or_else(|p| p.into_inner()).iter().map(|s| s.snapshot()).collect();
        self.shards
            .get()
            .into_iter()
            .flatten()
            .map(|spec| {
                let live = running.iter().find(|s| s.id == spec.id);
                let status = live.map_or(ReplicaReport { code: ReplicaCode::Idle, errors: Vec::new() }, ReplicaReport::of);
                ListedShard {
                    spec: spec.clone(),
                    mod_revision: 1,
                    create_revision: 1,
                    route: Route::single(self.me.clone(), self.endpoint.clone()),
                    status: vec![status],
                }
            })
            .collect()
    }
}

/// What a [`FixedDirectory`] answers to Apply and Unassign.
pub const FIXED_SHARDS: &str = "this host runs one shard per chunk partition, fixed when it starts; \
     to declare, delete or re-assign shards, run shard hosts in a cluster (--etcd)";

impl ShardDirectory for FixedDirectory {
    fn list(&self) -> BoxFuture<'static, Result<(i64, Vec<ListedShard>), DirectoryError>> {
        let listed = self.listed();
        Box::pin(async move { Ok((1, listed)) })
    }

    fn apply(&self, _: Vec<(i64, ShardChange)>) -> BoxFuture<'static, Result<i64, DirectoryError>> {
        Box::pin(async { Err(DirectoryError::Unsupported(FIXED_SHARDS.into())) })
    }

    fn unassign(&self, _: Vec<String>, _: bool, _: bool) -> BoxFuture<'static, Result<Vec<String>, DirectoryError>> {
        Box::pin(async { Err(DirectoryError::Unsupported(FIXED_SHARDS.into())) })
    }
}
