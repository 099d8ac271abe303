//! The gRPC server of a shard host that runs no broker (`--broker URL`): the
//! `streamsum.Control` and Gazette `consumer.Shard` services alone.
//!
//! In the embedded default these are served next to the broker's `Journal` service
//! ([`super::EmbeddedBroker::start_with_host`]); a cluster's shard host (`--etcd`)
//! serves them on its own `--listen` address, which it announces as its endpoint.

use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;

use super::embedded::HostServices;

/// A running shard-host server.
pub struct HostServer {
    local_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl HostServer {
    /// Serves `services` on `listener`.
    ///
    /// # Errors
    /// The listener has no address.
    pub fn start(listener: TcpListener, services: HostServices) -> anyhow::Result<Self> {
        let local_addr = listener.local_addr().context("listener address")?;
        let (shutdown, mut stop) = watch::channel(false);
        let task = tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(services.control)
                .add_service(services.shards)
                .serve_with_incoming_shutdown(TcpIncoming::from(listener).with_nodelay(Some(true)), async move {
                    let _ = stop.wait_for(|s| *s).await;
                }),
        );
        Ok(HostServer { local_addr, shutdown, task })
    }

    /// Its URL for gRPC clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// Stops serving, giving in-flight calls `grace` to finish.
    pub async fn stop(mut self, grace: std::time::Duration) {
        let _ = self.shutdown.send(true);
        match tokio::time::timeout(grace, &mut self.task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "the shard host's gRPC server failed"),
            Ok(Err(e)) => tracing::warn!(error = %e, "the shard host's gRPC server task failed"),
            Err(_) => self.task.abort(),
        }
    }
}
