//! The embedded broker: storage in a data directory, served over gRPC, with shutdown.
//!
//! This is what `streamsum-host broker` runs and what the main `--app` mode starts
//! before its shards: it opens the [`Storage`], creates the stream-sum journals if
//! they are missing, and serves `protocol.Journal` on a listener until shut down. The
//! process's own shards use [`EmbeddedBroker::client`] (no gRPC hop).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;

use crate::journal::{defaults, JournalCatalog, JournalRoutes, LocalClient, Storage};

use super::proto::journal_server::JournalServer;
use super::server::{Broker, BrokerSettings};

/// Default largest append accepted over gRPC.
pub const DEFAULT_MAX_APPEND_BYTES: usize = 256 << 20;
pub use super::limits::MAX_FRAME_BYTES;
/// Default of how long shutdown waits for in-flight RPCs (a stalled appender, say)
/// before cancelling them; a cancelled append was never acknowledged, so nothing is lost.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Options of [`EmbeddedBroker::start`].
#[derive(Clone, Debug)]
pub struct EmbeddedOptions {
    /// Chunk partitions of the stream-sum journals to create (0: create none).
    pub partitions: usize,
    /// Largest single append accepted.
    pub max_append_bytes: usize,
    /// How long shutdown waits for in-flight RPCs before cancelling them.
    pub shutdown_grace: std::time::Duration,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        EmbeddedOptions {
            partitions: defaults::DEFAULT_PARTITIONS,
            max_append_bytes: DEFAULT_MAX_APPEND_BYTES,
            shutdown_grace: SHUTDOWN_GRACE,
        }
    }
}

/// A running broker.
pub struct EmbeddedBroker {
    /// The journals it serves.
    storage: Arc<Storage>,
    /// The address it listens on.
    local_addr: SocketAddr,
    /// Set to true to stop serving.
    shutdown: watch::Sender<bool>,
    /// The server task.
    server: JoinHandle<Result<(), tonic::transport::Error>>,
    /// Grace period of shutdown.
    grace: std::time::Duration,
    /// Whether this broker is a journal's primary (it persists the journal's fragments).
    is_primary: crate::journal::IsPrimary,
}

/// How a cluster broker routes and lists journals (see [`Broker::with_routes`] and
/// [`Broker::with_catalog`]).
pub struct Routing {
    /// Which brokers serve each journal.
    pub routes: Arc<dyn JournalRoutes>,
    /// Which journals exist.
    pub catalog: Arc<dyn JournalCatalog>,
    /// The pipelines of replicated journals, shared with the membership that pulses them.
    pub replicator: Option<Arc<super::Replicator>>,
}

/// The gRPC services of a shard host, served next to the broker's.
pub struct HostServices {
    /// `streamsum.Control`: plugin reloads and shard progress (issue 7).
    pub control: super::control::ControlServer<super::control::Control>,
    /// Gazette's `consumer.Shard`: shard specs, routes and status.
    pub shards: super::shard_api::ShardServer<super::shard_api::ShardApi>,
}

impl EmbeddedBroker {
    /// Opens the storage in `data_dir`, creates the stream-sum journals if missing,
    /// and serves gRPC on `listener`.
    ///
    /// # Errors
    /// Storage that cannot be opened or journals that cannot be created.
    pub async fn start(data_dir: &Path, listener: TcpListener, opts: EmbeddedOptions) -> anyhow::Result<Self> {
        Self::start_with_host(data_dir, listener, opts, None).await
    }

    /// As [`EmbeddedBroker::start`], also serving the shard host's services on the
    /// same address.
    ///
    /// # Errors
    /// See [`EmbeddedBroker::start`].
    pub async fn start_with_host(
        data_dir: &Path,
        listener: TcpListener,
        opts: EmbeddedOptions,
        host: Option<HostServices>,
    ) -> anyhow::Result<Self> {
        let storage = Self::open_storage(data_dir).await?;
        let specs = defaults::stream_sum_specs(opts.partitions);
        let s = storage.clone();
        let created = tokio::task::spawn_blocking(move || s.create_missing(specs))
            .await?
            .context("creating the stream-sum journals")?;
        tracing::info!(data_dir = %data_dir.display(), created, "journals ready");
        // A journal whose fragment stores hold more than this data directory (it was
        // lost) goes on from their end; its older bytes are read from the stores.
        for journal in storage.all() {
            crate::journal::catch_up(&storage, &journal)
                .await
                .with_context(|| format!("listing the fragment stores of journal {:?}", journal.name()))?;
        }
        Self::serve(storage, listener, opts, host, None)
    }

    /// Opens (or creates) the journal storage in `data_dir`.
    ///
    /// # Errors
    /// Storage that cannot be opened (locked by another process, unreadable).
    pub async fn open_storage(data_dir: &Path) -> anyhow::Result<Arc<Storage>> {
        let dir = data_dir.to_path_buf();
        tokio::task::spawn_blocking(move || Storage::open(&dir))
            .await?
            .with_context(|| format!("opening journals in {}", data_dir.display()))
    }

    /// Serves `storage` on `listener` (with the shard host's services, if any), its
    /// journals routed and listed by `routing` (default: all here, in the storage).
    ///
    /// # Errors
    /// The listener has no address.
    pub fn serve(
        storage: Arc<Storage>,
        listener: TcpListener,
        opts: EmbeddedOptions,
        host: Option<HostServices>,
        routing: Option<Routing>,
    ) -> anyhow::Result<Self> {
        let (control, shards) = match host {
            Some(h) => (Some(h.control), Some(h.shards)),
            None => (None, None),
        };
        let local_addr = listener.local_addr().context("listener address")?;
        tracing::info!(%local_addr, data_dir = %storage.dir().display(), "broker serving");

        let (shutdown, shutdown_rx) = watch::channel(false);
        let settings = BrokerSettings { endpoint: format!("http://{local_addr}"), max_append_bytes: opts.max_append_bytes };
        let mut broker = Broker::new(storage.clone(), settings, shutdown_rx.clone());
        if let Some(routing) = routing {
            broker = broker.with_routes(routing.routes).with_catalog(routing.catalog);
            if let Some(replicator) = routing.replicator {
                broker = broker.with_replicator(replicator);
            }
        }
        // Closed fragments go to the journals' fragment stores from their primary.
        let routes = broker.routes.clone();
        let is_primary: crate::journal::IsPrimary = Arc::new(move |j: &str| routes.route(j).primary_member() == Some(routes.local()));
        crate::journal::Persister::spawn(storage.clone(), is_primary.clone(), shutdown_rx.clone());
        let service = JournalServer::new(broker).max_decoding_message_size(MAX_FRAME_BYTES).max_encoding_message_size(MAX_FRAME_BYTES);
        let mut stop = shutdown_rx;
        let server = tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .add_service(super::admin::Admin::server(storage.clone()))
                .add_optional_service(control)
                .add_optional_service(shards)
                // TCP_NODELAY on every accepted connection: without it, Nagle's
                // algorithm holds a small response (an append's ack, a read's next
                // frame) until the peer's delayed ACK, about 40 ms on Linux, which
                // was most of the end-to-end latency (issue 9).
                .serve_with_incoming_shutdown(TcpIncoming::from(listener).with_nodelay(Some(true)), async move {
                    let _ = stop.wait_for(|s| *s).await;
                }),
        );
        Ok(EmbeddedBroker { storage, local_addr, shutdown, server, grace: opts.shutdown_grace, is_primary })
    }

    /// The address the broker listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Its URL for gRPC clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// The storage served.
    pub fn storage(&self) -> &Arc<Storage> {
        &self.storage
    }

    /// An in-process journal client on the same storage.
    pub fn client(&self) -> LocalClient {
        LocalClient::new(self.storage.clone())
    }

    /// Stops serving (ending open reads and watches), waits for in-flight RPCs,
    /// makes pending appends durable and closes the storage.
    ///
    /// # Errors
    /// A server that failed.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        let served = match tokio::time::timeout(self.grace, &mut self.server).await {
            Ok(joined) => joined.context("broker server task")?,
            Err(_) => {
                tracing::warn!("in-flight RPCs outlived the shutdown grace period; cancelling them");
                self.server.abort();
                Ok(())
            }
        };
        // As Gazette's broker does when it stops serving a journal: its last fragment is
        // closed and persisted, so the stores hold every byte appended here.
        crate::journal::persist_all(&self.storage, &self.is_primary).await;
        let storage = self.storage.clone();
        tokio::task::spawn_blocking(move || storage.shutdown()).await?;
        served.context("serving gRPC")
    }
}
