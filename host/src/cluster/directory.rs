//! The etcd [`ShardDirectory`]: what `Shard/List`, `Apply` and `Unassign` read and
//! change on a cluster's shard host.
//!
//! Gazette's `consumer/shard_api.go` over its keyspace: a shard is the item
//! `<root>/items/<id>` (a `ShardSpec`); its route is its assignments in slot order
//! with each holder's endpoint from its member key; its statuses are the assignments'
//! `ReplicaStatus` values. Apply is one etcd transaction guarded by each change's
//! expected mod revision (0: the shard must not exist), all or nothing; Unassign
//! deletes assignments so the allocator places the shards afresh.

use std::sync::Arc;

use futures::future::BoxFuture;
use streamsum_cluster::allocator::keys::item_key;
use streamsum_cluster::etcd::etcd_client::{Compare, CompareOp, Txn, TxnOp};
use streamsum_cluster::etcd::{AllocState, KeySpace, Snapshot};

use super::shards::ShardMember;
use super::route_of;
use super::values::{endpoint_of, shard_out, ConsumerValue, ShardValues};
use crate::consumer::directory::{DirectoryError, ListedShard, ReplicaCode, ReplicaReport, ShardDirectory};
use crate::consumer::ShardChange;

/// How long a change waits for this host's copy of etcd to show it.
const CATCH_UP: std::time::Duration = std::time::Duration::from_secs(10);

/// Shards as the consumer application's keyspace holds them.
#[derive(Clone)]
pub struct EtcdDirectory {
    member: Arc<ShardMember>,
}

impl EtcdDirectory {
    /// The directory of `member`'s keyspace.
    pub fn new(member: Arc<ShardMember>) -> Self {
        EtcdDirectory { member }
    }

    fn keyspace(&self) -> &KeySpace<ConsumerValue> {
        self.member.keyspace()
    }

    /// Waits (a while) for this host's copy of etcd to reach `revision`, so a List
    /// right after a change sees it.
    async fn caught_up(&self, revision: i64) {
        if tokio::time::timeout(CATCH_UP, self.keyspace().wait_for_revision(revision)).await.is_err() {
            tracing::warn!(revision, "changed, but this host's copy of etcd has not caught up yet");
        }
    }
}

/// Every shard of `snapshot` under `root`, with routes and statuses.
pub fn listed(root: &str, snapshot: &Snapshot<ConsumerValue>) -> Vec<ListedShard> {
    let state = AllocState::new(root, snapshot, &ShardValues);
    let endpoint = |v: &ConsumerValue| v.member().map(|c| endpoint_of(c.process_spec.as_ref())).unwrap_or_default();
    state
        .items
        .iter()
        .filter_map(|item| {
            let spec = item.kv.decoded.shard()?.clone();
            let (route, held) = route_of(&state, &item.item.id, endpoint);
            let idle = || ReplicaReport { code: ReplicaCode::Idle, errors: Vec::new() };
            let status = held.iter().map(|a| a.kv.decoded.replica().cloned().unwrap_or_else(idle)).collect();
            Some(ListedShard { spec, mod_revision: item.kv.mod_revision, create_revision: item.kv.create_revision, route, status })
        })
        .collect()
}

impl ShardDirectory for EtcdDirectory {
    fn list(&self) -> BoxFuture<'static, Result<(i64, Vec<ListedShard>), DirectoryError>> {
        let snapshot = self.keyspace().snapshot();
        let root = self.member.root().to_string();
        Box::pin(async move { Ok((snapshot.revision(), listed(&root, &snapshot))) })
    }

    fn apply(&self, changes: Vec<(i64, ShardChange)>) -> BoxFuture<'static, Result<i64, DirectoryError>> {
        let this = self.clone();
        Box::pin(async move {
            let root = this.member.root();
            let mut compares = Vec::new();
            let mut ops = Vec::new();
            let mut seen = std::collections::BTreeSet::new();
            for (expect, change) in &changes {
                let id = change.id();
                if !seen.insert(id.to_string()) {
                    return Err(DirectoryError::Invalid(format!("shard {id:?} is changed twice in one apply")));
                }
                let key = item_key(root, id).map_err(|e| DirectoryError::Invalid(format!("shard {id:?}: {e}")))?;
                if matches!(change, ShardChange::Delete(_)) && *expect == 0 {
                    return Err(DirectoryError::Invalid(format!("delete of shard {id:?} needs its current mod revision")));
                }
                compares.push(Compare::mod_revision(key.as_str(), CompareOp::Equal, *expect));
                ops.push(match change {
                    ShardChange::Upsert(spec) => {
                        spec.validate().map_err(DirectoryError::Invalid)?;
                        TxnOp::put(key.as_str(), shard_out(spec), None)
                    }
                    ShardChange::Delete(_) => TxnOp::delete(key.as_str(), None),
                });
            }
            let txn = Txn::new().when(compares).and_then(ops);
            let response = this
                .member
                .client()
                .kv_client()
                .txn(txn)
                .await
                .map_err(|e| DirectoryError::Unavailable(format!("etcd: applying shard changes: {e}")))?;
            if !response.succeeded() {
                return Err(DirectoryError::RevisionMismatch(
                    "a shard changed since its revision was read (or a new one already exists): list and apply again".into(),
                ));
            }
            let revision = response.header().map_or(0, |h| h.revision());
            // Answer once this host's copy has the change: a List right after sees it.
            this.caught_up(revision).await;
            Ok(revision)
        })
    }

    fn unassign(&self, shards: Vec<String>, only_failed: bool, dry_run: bool) -> BoxFuture<'static, Result<Vec<String>, DirectoryError>> {
        let this = self.clone();
        Box::pin(async move {
            let snapshot = this.keyspace().snapshot();
            let state = AllocState::new(this.member.root(), &snapshot, &ShardValues);
            let mut keys = Vec::new();
            let mut removed = Vec::new();
            for id in &shards {
                if state.item(id).is_none() {
                    return Err(DirectoryError::NotFound(id.clone()));
                }
                let held = state.assignments_of_item(id);
                let failed = |a: &&streamsum_cluster::etcd::AssignmentEntry<ConsumerValue>| {
                    a.kv.decoded.replica().is_some_and(|r| r.code == ReplicaCode::Failed)
                };
                let chosen: Vec<_> = held.iter().filter(|a| !only_failed || failed(a)).collect();
                if !chosen.is_empty() {
                    removed.push(id.clone());
                }
                keys.extend(chosen.into_iter().map(|a| (a.key.clone(), a.kv.mod_revision)));
            }
            if dry_run || keys.is_empty() {
                return Ok(removed);
            }
            let compares: Vec<Compare> = keys.iter().map(|(k, rev)| Compare::mod_revision(k.as_str(), CompareOp::Equal, *rev)).collect();
            let ops: Vec<TxnOp> = keys.iter().map(|(k, _)| TxnOp::delete(k.as_str(), None)).collect();
            let response = this
                .member
                .client()
                .kv_client()
                .txn(Txn::new().when(compares).and_then(ops))
                .await
                .map_err(|e| DirectoryError::Unavailable(format!("etcd: removing assignments: {e}")))?;
            if !response.succeeded() {
                return Err(DirectoryError::RevisionMismatch("an assignment changed meanwhile: try again".into()));
            }
            this.caught_up(response.header().map_or(0, |h| h.revision())).await;
            Ok(removed)
        })
    }
}

#[cfg(test)]
#[path = "directory_tests.rs"]
mod tests;
