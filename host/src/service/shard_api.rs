//! Gazette's consumer `Shard` service (`proto/consumer.proto`) on a shard host.
//!
//! Gazette's `consumer/shard_api.go`: `List` gives every shard's spec, revisions,
//! route and replica statuses (a label selector filters them); `Apply` changes specs
//! all or nothing under expected revisions; `Unassign` removes assignments so the
//! allocator places the shards afresh; `Stat` answers for a shard whose primary runs
//! here, once it has read through the offsets asked for; `GetHints` gives the hints a
//! recovering primary would start from. Specs, routes and statuses come from a
//! [`ShardDirectory`] (fixed in the embedded host, etcd's in a cluster), `Stat` from
//! this process's running shards.
//!
//! Where this differs: `Stat` reports `read_through` but no `publish_at` (a shard
//! does not track the offsets its publishes committed at), and hints name the
//! recovery log only — this host's playback needs no file segments, as it starts at
//! the newest snapshot in the log (`store/playback.rs`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tonic::{Request, Response, Status};

use super::convert::{duration_in, duration_out, label_set_in, label_set_out, process_id_out, route_out, selector_in};
use super::proto::consumer as pc;
use super::proto::recoverylog;
use crate::consumer::directory::{DirectoryError, ListedShard, ShardDirectory};
use crate::consumer::shardspace::{DeclaredShard, ShardChange, Source};
use crate::consumer::ShardList;
use crate::journal::{ProcessId, Route};

pub use pc::shard_client::ShardClient;
pub use pc::shard_server::ShardServer;

/// Longest a `Stat` waits for a shard to read through the requested offsets.
pub const STAT_WAIT: Duration = Duration::from_secs(30);

/// The `consumer.Shard` service of one shard host.
pub struct ShardApi {
    directory: Arc<dyn ShardDirectory>,
    running: ShardList,
    me: ProcessId,
}

impl ShardApi {
    /// The service over `directory`, answering `Stat` from the shards in `running`;
    /// `me` is this process, named in response headers.
    pub fn new(directory: Arc<dyn ShardDirectory>, running: ShardList, me: ProcessId) -> Self {
        ShardApi { directory, running, me }
    }

    /// The tonic service.
    pub fn into_server(self) -> ShardServer<ShardApi> {
        ShardServer::new(self)
    }

    fn header(&self, route: Option<&Route>, revision: i64) -> super::proto::Header {
        super::proto::Header {
            process_id: Some(process_id_out(&self.me)),
            route: route.map(route_out),
            etcd: Some(super::proto::header::Etcd { cluster_id: 1, member_id: 1, revision: revision.max(1), raft_term: 1 }),
        }
    }

    async fn find(&self, id: &str) -> Result<(i64, Option<ListedShard>), Status> {
        let (revision, shards) = self.directory.list().await.map_err(to_status)?;
        Ok((revision, shards.into_iter().find(|s| s.spec.id == id)))
    }
}

/// A directory error as the gRPC status a Gazette client expects.
fn to_status(e: DirectoryError) -> Status {
    match e {
        DirectoryError::Invalid(m) => Status::invalid_argument(m),
        DirectoryError::Unsupported(m) => Status::failed_precondition(m),
        DirectoryError::Unavailable(m) => Status::unavailable(m),
        DirectoryError::NotFound(_) | DirectoryError::RevisionMismatch(_) => Status::internal(e.to_string()),
    }
}

/// A declared shard as Gazette's `ShardSpec`.
pub fn shard_spec_out(spec: &DeclaredShard) -> pc::ShardSpec {
    pc::ShardSpec {
        id: spec.id.clone(),
        sources: spec.sources.iter().map(|s| pc::shard_spec::Source { journal: s.journal.clone(), min_offset: s.min_offset }).collect(),
        recovery_log_prefix: spec.recovery_log_prefix.clone(),
        hint_prefix: spec.hint_prefix.clone(),
        hint_backups: spec.hint_backups,
        max_txn_duration: Some(duration_out(spec.max_txn_duration)),
        min_txn_duration: Some(duration_out(spec.min_txn_duration)),
        disable: spec.disable,
        hot_standbys: spec.hot_standbys,
        labels: Some(label_set_out(&spec.labels)),
        disable_wait_for_ack: spec.disable_wait_for_ack,
        ring_buffer_size: spec.ring_buffer_size,
        read_channel_size: spec.read_channel_size,
    }
}

/// Gazette's `ShardSpec` as a declared shard, validated.
///
/// # Errors
/// A message naming the shard and field at fault.
pub fn shard_spec_in(spec: pc::ShardSpec) -> Result<DeclaredShard, String> {
    let id = spec.id.clone();
    let duration = |d, field| duration_in(d, field).map_err(|e| format!("shard {id:?}: {e}"));
    let declared = DeclaredShard {
        id: spec.id.clone(),
        sources: spec.sources.into_iter().map(|s| Source { journal: s.journal, min_offset: s.min_offset }).collect(),
        recovery_log_prefix: spec.recovery_log_prefix,
        hint_prefix: spec.hint_prefix,
        hint_backups: spec.hint_backups,
        max_txn_duration: duration(spec.max_txn_duration, "max_txn_duration")?,
        min_txn_duration: duration(spec.min_txn_duration, "min_txn_duration")?,
        disable: spec.disable,
        hot_standbys: spec.hot_standbys,
        labels: label_set_in(spec.labels, false).map_err(|e| format!("shard {id:?}: labels: {e}"))?,
        disable_wait_for_ack: spec.disable_wait_for_ack,
        ring_buffer_size: spec.ring_buffer_size,
        read_channel_size: spec.read_channel_size,
    };
    declared.validate()?;
    Ok(declared)
}

fn listed_out(s: &ListedShard) -> pc::list_response::Shard {
    pc::list_response::Shard {
        spec: Some(shard_spec_out(&s.spec)),
        mod_revision: s.mod_revision,
        route: Some(route_out(&s.route)),
        status: s.status.iter().map(|r| pc::ReplicaStatus { code: r.code.number(), errors: r.errors.clone() }).collect(),
        create_revision: s.create_revision,
    }
}

#[tonic::async_trait]
impl pc::shard_server::Shard for ShardApi {
    async fn list(&self, request: Request<pc::ListRequest>) -> Result<Response<pc::ListResponse>, Status> {
        let selector = selector_in(request.into_inner().selector).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let (revision, shards) = self.directory.list().await.map_err(to_status)?;
        let shards = shards
            .iter()
            .filter(|s| {
                // Gazette matches shard selectors against the labels plus `id`.
                let mut labels = s.spec.labels.clone();
                labels = labels.union(&crate::journal::LabelSet::from_pairs([("id", s.spec.id.as_str())]));
                selector.matches(&labels)
            })
            .map(listed_out)
            .collect();
        Ok(Response::new(pc::ListResponse {
            status: pc::Status::Ok as i32,
            header: Some(self.header(None, revision)),
            shards,
            extension: Default::default(),
        }))
    }

    async fn apply(&self, request: Request<pc::ApplyRequest>) -> Result<Response<pc::ApplyResponse>, Status> {
        let mut changes = Vec::new();
        for (i, change) in request.into_inner().changes.into_iter().enumerate() {
            let c = match (change.upsert, change.delete.is_empty()) {
                (Some(spec), true) => ShardChange::Upsert(shard_spec_in(spec).map_err(|e| Status::invalid_argument(format!("changes[{i}]: {e}")))?),
                (None, false) => ShardChange::Delete(change.delete),
                _ => return Err(Status::invalid_argument(format!("changes[{i}]: expected exactly one of upsert and delete"))),
            };
            changes.push((change.expect_mod_revision, c));
        }
        if changes.is_empty() {
            return Err(Status::invalid_argument("no changes"));
        }
        let (status, revision) = match self.directory.apply(changes).await {
            Ok(revision) => (pc::Status::Ok, revision),
            Err(DirectoryError::RevisionMismatch(m)) => {
                tracing::info!(reason = %m, "shard apply: revision mismatch");
                (pc::Status::EtcdTransactionFailed, 0)
            }
            Err(DirectoryError::NotFound(id)) => {
                tracing::info!(shard = %id, "shard apply: not found");
                (pc::Status::ShardNotFound, 0)
            }
            Err(e) => return Err(to_status(e)),
        };
        Ok(Response::new(pc::ApplyResponse {
            status: status as i32,
            header: Some(self.header(None, revision)),
            extension: Default::default(),
        }))
    }

    async fn stat(&self, request: Request<pc::StatRequest>) -> Result<Response<pc::StatResponse>, Status> {
        let req = request.into_inner();
        let (revision, found) = self.find(&req.shard).await?;
        let respond = |status: pc::Status, route: Option<&Route>, read_through: HashMap<String, i64>| {
            Response::new(pc::StatResponse {
                status: status as i32,
                header: Some(self.header(route, revision)),
                read_through,
                publish_at: HashMap::new(),
                extension: Default::default(),
            })
        };
        let Some(shard) = found else { return Ok(respond(pc::Status::ShardNotFound, None, HashMap::new())) };
        let route = &shard.route;
        match route.primary_member() {
            None => return Ok(respond(pc::Status::NoShardPrimary, Some(route), HashMap::new())),
            Some(p) if *p != self.me => return Ok(respond(pc::Status::NotShardPrimary, Some(route), HashMap::new())),
            Some(_) => {}
        }
        let status = self.running.read().unwrap_or_else(|p| p.into_inner()).iter().find(|s| s.snapshot().id == req.shard).cloned();
        let Some(status) = status else { return Ok(respond(pc::Status::ShardStopped, Some(route), HashMap::new())) };
        let source = shard.spec.sources.first().map(|s| s.journal.clone()).unwrap_or_default();
        if let Some(journal) = req.read_through.keys().find(|j| **j != source) {
            return Err(Status::invalid_argument(format!("shard {:?} does not read journal {journal:?} (it reads {source:?})", req.shard)));
        }
        let want = req.read_through.get(&source).copied().unwrap_or(0);
        let mut changes = status.subscribe();
        let reached = tokio::time::timeout(STAT_WAIT, async {
            loop {
                let snap = status.snapshot();
                if snap.read_through >= want {
                    return Ok(snap.read_through);
                }
                if snap.state == crate::consumer::ShardState::Stopped {
                    return Err(());
                }
                if changes.changed().await.is_err() {
                    return Err(());
                }
            }
        })
        .await;
        match reached {
            Ok(Ok(read_through)) => Ok(respond(pc::Status::Ok, Some(route), HashMap::from([(source, read_through)]))),
            Ok(Err(())) => Ok(respond(pc::Status::ShardStopped, Some(route), HashMap::new())),
            Err(_) => Err(Status::deadline_exceeded(format!(
                "shard {:?} has not read {source:?} through offset {want} within {STAT_WAIT:?}",
                req.shard
            ))),
        }
    }

    async fn get_hints(&self, request: Request<pc::GetHintsRequest>) -> Result<Response<pc::GetHintsResponse>, Status> {
        let req = request.into_inner();
        let (revision, found) = self.find(&req.shard).await?;
        let (status, primary_hints) = match found {
            None => (pc::Status::ShardNotFound, None),
            Some(shard) => {
                let hints = recoverylog::FsmHints { log: shard.spec.recovery_log(), live_nodes: Vec::new(), properties: Vec::new() };
                (pc::Status::Ok, Some(pc::get_hints_response::ResponseHints { hints: Some(hints) }))
            }
        };
        Ok(Response::new(pc::GetHintsResponse {
            status: status as i32,
            header: Some(self.header(None, revision)),
            primary_hints,
            backup_hints: Vec::new(),
            extension: Default::default(),
        }))
    }

    async fn unassign(&self, request: Request<pc::UnassignRequest>) -> Result<Response<pc::UnassignResponse>, Status> {
        let req = request.into_inner();
        match self.directory.unassign(req.shards, req.only_failed, req.dry_run).await {
            Ok(shards) => Ok(Response::new(pc::UnassignResponse { status: pc::Status::Ok as i32, shards })),
            Err(DirectoryError::NotFound(id)) => {
                tracing::info!(shard = %id, "unassign: not found");
                Ok(Response::new(pc::UnassignResponse { status: pc::Status::ShardNotFound as i32, shards: Vec::new() }))
            }
            Err(e) => Err(to_status(e)),
        }
    }
}

#[cfg(test)]
#[path = "shard_api_tests.rs"]
mod tests;
