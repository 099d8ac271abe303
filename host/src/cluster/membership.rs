//! What every cluster member does, broker or shard host: connect, load and watch its
//! root, announce itself under a lease, run the allocator, and leave.
//!
//! Gazette's `mainboilerplate` and `allocator.Announce`/`allocator.Allocate` as every
//! member runs them; [`super::brokers`] and [`super::shards`] add what follows their
//! assignments.

use std::sync::{Arc, Mutex};

use anyhow::Context;
use streamsum_cluster::allocator::MemberId;
use streamsum_cluster::etcd::etcd_client::Client;
use streamsum_cluster::etcd::{connect, Allocator, AllocatorValues, Announcement, Exit, KeySpace};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::ClusterArgs;
use crate::journal::ProcessId;

/// A member's announcement, keyspace and allocator.
pub struct Membership<V> {
    /// The client every write goes through.
    pub client: Client,
    /// The watched copy of the root.
    pub keyspace: KeySpace<V>,
    /// The root, e.g. `/streamsum/brokers`.
    pub root: String,
    /// This member.
    pub me: MemberId,
    /// The lease; taken by [`Membership::leave`].
    announcement: tokio::sync::Mutex<Option<Announcement>>,
    /// True once the lease is lost.
    lost: watch::Receiver<bool>,
    /// Stops the watch, the allocator and the caller's tasks.
    shutdown: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl<V: Send + Sync + 'static> Membership<V> {
    /// Connects to `--etcd`, loads the root (`--etcd-prefix`, else `default_root`),
    /// announces this process as a `what` with the member value `value(id)` and starts
    /// the keyspace watch and the allocator over `values`.
    ///
    /// # Errors
    /// etcd unreachable, a bad `--etcd-prefix`, `--zone` or `--id`, or another live
    /// process announced with the same zone and id.
    pub async fn join(
        args: &ClusterArgs,
        default_root: &str,
        what: &str,
        value: Vec<u8>,
        decode: fn(&str, &str, &[u8]) -> Result<V, String>,
        values: Arc<dyn AllocatorValues<V>>,
    ) -> anyhow::Result<Self> {
        args.check()?;
        let url = args.etcd.as_deref().context("no --etcd to join")?;
        let me = args.member()?;
        let root = args.root(default_root).to_string();
        let client = connect(&[url]).await.with_context(|| format!("connecting to --etcd {url}"))?;
        let decode_root = root.clone();
        let keyspace = KeySpace::load(client.clone(), &root, move |k, v| decode(&decode_root, k, v))
            .await
            .with_context(|| format!("loading {root} from --etcd {url}"))?;
        let announcement = Announcement::announce_member(client.clone(), &root, &me, value, args.etcd_lease)
            .await
            .with_context(|| format!("announcing {what} {}#{} under {root}", me.zone, me.suffix))?;
        tracing::info!(member = %format!("{}#{}", me.zone, me.suffix), %root, lease = ?announcement.ttl(), "{what} joined the cluster");
        let (shutdown, shutdown_rx) = watch::channel(false);
        let watch = tokio::spawn(keyspace.clone().watch(shutdown_rx.clone()));
        let allocator = Allocator::new(client.clone(), keyspace.clone(), me.clone(), values);
        let alloc = tokio::spawn(run_allocator(allocator, announcement.revision(), shutdown_rx));
        Ok(Membership {
            client,
            keyspace,
            root,
            me,
            lost: announcement.lease_lost(),
            announcement: tokio::sync::Mutex::new(Some(announcement)),
            shutdown,
            tasks: Mutex::new(vec![watch, alloc]),
        })
    }

    /// This member as a process id.
    pub fn process_id(&self) -> ProcessId {
        ProcessId::new(self.me.zone.clone(), self.me.suffix.clone())
    }

    /// Turns true once the lease is lost: this member's items are being moved to
    /// others and it must stop serving them.
    pub fn lost(&self) -> watch::Receiver<bool> {
        self.lost.clone()
    }

    /// Runs `task` until [`Membership::leave`], which waits for it; it is given the
    /// stop signal.
    pub fn spawn<F>(&self, task: impl FnOnce(watch::Receiver<bool>) -> F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let handle = tokio::spawn(task(self.shutdown.subscribe()));
        self.tasks.lock().unwrap_or_else(|p| p.into_inner()).push(handle);
    }

    /// Stops the tasks and revokes the lease: this member's assignments vanish at once
    /// and its items move to other members.
    pub async fn leave(&self) {
        let _ = self.shutdown.send(true);
        let tasks: Vec<JoinHandle<()>> = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for task in tasks {
            let _ = task.await;
        }
        if let Some(announcement) = self.announcement.lock().await.take() {
            match announcement.revoke().await {
                Ok(revision) => tracing::info!(revision, "left the cluster (lease revoked)"),
                Err(e) => tracing::warn!(error = %e, "could not revoke the lease; it expires by itself"),
            }
        }
    }
}

/// Runs the allocator loop until shutdown, logging why it ended otherwise.
async fn run_allocator<V: Send + Sync + 'static>(allocator: Allocator<V>, announced: i64, shutdown: watch::Receiver<bool>) {
    match allocator.run(announced, shutdown).await {
        Ok(Exit::Shutdown) => {}
        Ok(Exit::Drained) => tracing::info!("drained: this member holds no assignments"),
        Err(e) => tracing::error!(error = %e, "the allocator stopped"),
    }
}
