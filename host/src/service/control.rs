//! The host's control service, `streamsum.Control` (`proto/control.proto`, issue 7).
//!
//! Served on the host's gRPC address next to `protocol.Journal`: `ReloadPlugin` asks
//! the [`Reloader`] to load a plugin file and swap it in at each shard's next
//! transaction boundary (a refusal is returned, and nothing changes); `ListShards`
//! reports each shard's status, plugin SHA-256, progress, last error and swap and
//! rollback counts. Gazette's consumers list shards with `consumer.Shard/List`; there is
//! no counterpart of a reload.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use tonic::{Request, Response, Status};

use crate::consumer::ShardStatus;
use crate::runtime::{Reloaded, Reloader};

/// Generated messages and stubs of the `streamsum` package.
#[allow(missing_docs, clippy::all)]
pub mod pb {
    tonic::include_proto!("streamsum");
}

pub use pb::control_client::ControlClient;
pub use pb::control_server::ControlServer;

/// The shards a host runs, filled in once they have started (they start after the
/// gRPC server, which they may use) and kept current by the shard host.
pub use crate::consumer::ShardList;

/// The `streamsum.Control` service of one host.
pub struct Control {
    /// Loads and publishes plugin versions.
    reloader: Arc<Reloader>,
    /// The `--app` file, reloaded when a request names no path.
    app: PathBuf,
    /// The host's shards.
    shards: ShardList,
}

impl Control {
    /// The control service over `reloader` (for the plugin at `app`) and `shards`.
    pub fn new(reloader: Arc<Reloader>, app: PathBuf, shards: ShardList) -> Self {
        Control { reloader, app, shards }
    }

    /// The tonic service.
    pub fn into_server(self) -> ControlServer<Control> {
        ControlServer::new(self)
    }
}

#[tonic::async_trait]
impl pb::control_server::Control for Control {
    async fn reload_plugin(
        &self,
        request: Request<pb::ReloadPluginRequest>,
    ) -> Result<Response<pb::ReloadPluginResponse>, Status> {
        let path = request.into_inner().path;
        let path = if path.is_empty() { self.app.clone() } else { PathBuf::from(path) };
        let response = match self.reloader.reload(&path).await {
            Ok(done) => pb::ReloadPluginResponse {
                version: done.version().to_string(),
                swapped: matches!(done, Reloaded::Swapped(_)),
                refusal: String::new(),
            },
            Err(refusal) => {
                tracing::warn!("{refusal}");
                pb::ReloadPluginResponse {
                    version: self.reloader.current().version().to_string(),
                    swapped: false,
                    refusal: refusal.to_string(),
                }
            }
        };
        Ok(Response::new(response))
    }

    async fn list_shards(&self, _: Request<pb::ListShardsRequest>) -> Result<Response<pb::ListShardsResponse>, Status> {
        let statuses: Vec<Arc<ShardStatus>> = self.shards.read().unwrap_or_else(|p| p.into_inner()).clone();
        let shards = statuses
            .iter()
            .map(|s| {
                let s = s.snapshot();
                pb::ShardInfo {
                    id: s.id,
                    status: s.state.as_str().to_owned(),
                    plugin: s.plugin,
                    read_through: s.read_through,
                    last_commit_unix_ms: s
                        .last_commit
                        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                        .map_or(0, |d| d.as_millis() as i64),
                    last_error: s.last_error.unwrap_or_default(),
                    transactions: s.transactions,
                    messages: s.messages,
                    swaps: s.swaps,
                    rollbacks: s.rollbacks,
                    note: s.note.unwrap_or_default(),
                }
            })
            .collect();
        Ok(Response::new(pb::ListShardsResponse {
            shards,
            plugin: self.reloader.current().version().to_string(),
            swaps: self.reloader.swaps(),
            rollbacks: self.reloader.rollbacks(),
        }))
    }
}
