//! The `protocol.Journal` gRPC service over local [`Storage`].
//!
//! Mirrors Gazette's broker `Service` (`broker/service.go`): one struct holding the
//! storage and this process's identity, whose methods delegate to `list_api`,
//! `read_api` and `append_api`. A journal's route comes from the broker's
//! [`JournalRoutes`]: by default [`LocalRoutes`], which names this process as the only
//! member and primary of every route; Read and Append of a journal this broker does not
//! serve are proxied to the broker that does (`proxy.rs`), or, with `do_not_proxy`,
//! answered with Gazette's `NOT_JOURNAL_BROKER` / `NOT_JOURNAL_PRIMARY_BROKER` and the
//! route to go to. Headers carry constant Etcd ids and the storage's revision, which is what
//! Gazette's Go client validates.

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use tokio::sync::watch;
use tonic::{Request, Response, Status, Streaming};

use crate::journal::{ApplyChange, JournalCatalog, JournalError, JournalRoutes, LocalRoutes, ProcessId, Route, Storage};

use super::convert::{gazette_status, process_id_out, route_out, spec_in, to_status};
use super::proto;
use super::proto::journal_server::Journal as JournalService;

/// Settings of a broker service.
#[derive(Clone, Debug)]
pub struct BrokerSettings {
    /// URL advertised in routes (`http://host:port`).
    pub endpoint: String,
    /// Largest single append accepted, in bytes.
    pub max_append_bytes: usize,
}

/// The service state.
#[derive(Clone)]
pub struct Broker {
    /// Journals.
    pub(super) storage: Arc<Storage>,
    /// Identity and limits.
    pub(super) settings: Arc<BrokerSettings>,
    /// Flips to true when the server shuts down; long-lived streams end then.
    pub(super) shutdown: watch::Receiver<bool>,
    /// Which brokers serve which journal (default: this one, every journal).
    pub(super) routes: Arc<dyn JournalRoutes>,
    /// Channels to the brokers requests are proxied to.
    pub(super) proxy: Arc<super::proxy::ProxyPool>,
    /// Which journals exist (default: the local storage's; a cluster's: etcd's).
    pub(super) catalog: Arc<dyn JournalCatalog>,
    /// Replication pipelines of the replicated journals this broker is primary of.
    pub(super) replicator: Arc<super::pipeline::Replicator>,
}

pub(super) type RespStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// This process's ID in every route and header of a broker with [`LocalRoutes`].
pub fn local_process_id() -> ProcessId {
    ProcessId::new("local", "streamsum-broker")
}

impl Broker {
    /// A service over `storage`, stopping its streams when `shutdown` becomes true.
    pub fn new(storage: Arc<Storage>, settings: BrokerSettings, shutdown: watch::Receiver<bool>) -> Self {
        let routes = Arc::new(LocalRoutes::new(local_process_id(), settings.endpoint.clone()));
        let catalog: Arc<dyn JournalCatalog> = Arc::new(storage.clone());
        let replicator = super::pipeline::Replicator::new(storage.clone(), routes.clone());
        Broker { storage, settings: Arc::new(settings), shutdown, routes, proxy: Arc::default(), catalog, replicator }
    }

    /// The same service, listing and applying journal specs through `catalog` instead
    /// of the local storage (which then holds only the content of journals served here).
    pub fn with_catalog(mut self, catalog: Arc<dyn JournalCatalog>) -> Self {
        self.catalog = catalog;
        self
    }

    /// The same service, routing journals with `routes` instead of serving all of them.
    pub fn with_routes(mut self, routes: Arc<dyn JournalRoutes>) -> Self {
        self.replicator = super::pipeline::Replicator::new(self.storage.clone(), routes.clone());
        self.routes = routes;
        self
    }

    /// The same service, replicating journals through `replicator` (shared with the
    /// cluster membership that pulses them; its routes must be this broker's).
    pub fn with_replicator(mut self, replicator: Arc<super::pipeline::Replicator>) -> Self {
        self.replicator = replicator;
        self
    }

    /// The current route of `journal`.
    pub(super) fn route_of(&self, journal: &str) -> Route {
        self.routes.route(journal)
    }

    /// This broker process.
    pub(super) fn me(&self) -> &ProcessId {
        self.routes.local()
    }

    /// The header route of responses that concern no one journal: this process.
    fn local_route(&self) -> Route {
        Route::single(self.routes.local().clone(), self.settings.endpoint.clone())
    }

    /// A response header at `revision` with `route`.
    fn header_with(&self, route: &Route, revision: i64) -> proto::Header {
        proto::Header {
            process_id: Some(process_id_out(self.routes.local())),
            route: Some(route_out(route)),
            etcd: Some(proto::header::Etcd { cluster_id: 1, member_id: 1, revision: revision.max(1), raft_term: 1 }),
        }
    }

    /// A response header at `revision`.
    pub(super) fn header_at(&self, revision: i64) -> proto::Header {
        self.header_with(&self.local_route(), revision)
    }

    /// A response header for a request about `journal`, naming its `route`.
    pub(super) fn header_for(&self, route: &Route) -> proto::Header {
        self.header_with(route, self.catalog.revision())
    }

    /// A response header at the current revision.
    pub(super) fn header(&self) -> proto::Header {
        self.header_at(self.catalog.revision())
    }
}

/// Strips a `;suffix` (Gazette's `;meta` etc.) from a requested journal name.
pub(super) fn journal_base(name: &str) -> &str {
    name.split(';').next().unwrap_or(name)
}

#[tonic::async_trait]
impl JournalService for Broker {
    type ListStream = RespStream<proto::ListResponse>;
    type ReadStream = RespStream<proto::ReadResponse>;
    type ReplicateStream = RespStream<proto::ReplicateResponse>;

    async fn list(&self, request: Request<proto::ListRequest>) -> Result<Response<Self::ListStream>, Status> {
        self.serve_list(request.into_inner()).map(Response::new)
    }

    async fn apply(&self, request: Request<proto::ApplyRequest>) -> Result<Response<proto::ApplyResponse>, Status> {
        let changes = apply_changes_in(request.into_inner()).map_err(|e| to_status(&e))?;
        match self.catalog.apply_changes(changes).await {
            Ok(revision) => Ok(Response::new(proto::ApplyResponse { status: 0, header: Some(self.header_at(revision)) })),
            Err(e) => match gazette_status(&e) {
                Some(st) => {
                    tracing::info!(error = %e, "apply refused");
                    Ok(Response::new(proto::ApplyResponse { status: st as i32, header: Some(self.header()) }))
                }
                None => Err(to_status(&e)),
            },
        }
    }

    async fn read(&self, request: Request<proto::ReadRequest>) -> Result<Response<Self::ReadStream>, Status> {
        self.serve_read(request.into_inner()).await.map(Response::new)
    }

    async fn append(&self, request: Request<Streaming<proto::AppendRequest>>) -> Result<Response<proto::AppendResponse>, Status> {
        self.serve_append(request.into_inner()).await.map(Response::new)
    }

    async fn replicate(
        &self,
        request: Request<Streaming<proto::ReplicateRequest>>,
    ) -> Result<Response<Self::ReplicateStream>, Status> {
        self.serve_replicate(request.into_inner()).await.map(Response::new)
    }

    async fn list_fragments(&self, request: Request<proto::FragmentsRequest>) -> Result<Response<proto::FragmentsResponse>, Status> {
        self.serve_list_fragments(request.into_inner()).map(Response::new)
    }

    async fn fragment_store_health(
        &self,
        request: Request<proto::FragmentStoreHealthRequest>,
    ) -> Result<Response<proto::FragmentStoreHealthResponse>, Status> {
        // The named store must answer a listing; no store named: local fragments only.
        let url = request.into_inner().fragment_store;
        let checked = if url.is_empty() {
            Ok(())
        } else {
            match self.storage.stores().get(&url) {
                Ok(store) => store.check().await,
                Err(e) => Err(e),
            }
        };
        let (status, store_health_error) = match checked {
            Ok(()) => (proto::Status::Ok, String::new()),
            Err(e) => (proto::Status::FragmentStoreUnhealthy, e.to_string()),
        };
        Ok(Response::new(proto::FragmentStoreHealthResponse { status: status as i32, header: Some(self.header()), store_health_error }))
    }
}

/// Validates an ApplyRequest into changes.
fn apply_changes_in(req: proto::ApplyRequest) -> Result<Vec<ApplyChange>, JournalError> {
    if req.changes.is_empty() {
        return Err(JournalError::invalid("apply has no changes"));
    }
    req.changes
        .into_iter()
        .enumerate()
        .map(|(i, c)| match (c.upsert, c.delete.is_empty()) {
            (Some(spec), true) => Ok(ApplyChange::Upsert { spec: spec_in(spec)?, expect_mod_revision: c.expect_mod_revision }),
            (None, false) => Ok(ApplyChange::Delete { journal: c.delete, expect_mod_revision: c.expect_mod_revision }),
            _ => Err(JournalError::invalid(format!("change {i}: exactly one of upsert or delete must be set"))),
        })
        .collect()
}

#[cfg(test)]
#[path = "route_tests.rs"]
mod route_tests;
