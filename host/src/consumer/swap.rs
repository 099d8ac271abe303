//! A shard's side of a hot swap: switching plugin versions at transaction boundaries.
//!
//! DESIGN §9, issue 7. The [`Reloader`] publishes a new version; each shard
//! instantiates it at once, in the background on a blocking thread, while its
//! transactions go on with the old version; at the first transaction boundary
//! (`shard.rs::serve`) after the instance is ready, the shard hands it to its [`Txn`]:
//! the transaction in flight finished on the old version, the next one begins on the
//! new. The pause a swap costs a shard is therefore one boundary, not an
//! instantiation (issue 9: it was about 5 ms of instantiation per shard at the
//! boundary, more on a busy machine). An idle shard is woken when the instance is
//! ready, not when the version is published. The store and the checkpoint are untouched, so the new version
//! continues every stream where the old one left off. The new version is on trial
//! until its first transaction on this shard commits: if that transaction fails (trap,
//! deadline, error) or the version cannot even be instantiated, the version is rolled
//! back on all shards ([`Reloader::roll_back`]) and the shard's life ends as after any
//! failure: the transaction is aborted and the shard restarts from its checkpoint on
//! the version now current. No Gazette counterpart.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::anyhow;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::shard::{ShardEnv, ShardSpec};
use super::status::ShardStatus;
use super::txn::Txn;
use crate::runtime::{Limits, PluginVersion, Reloader, ShardContext, SummerInstance, SummerPlugin};

/// An instance of a newly published version, made off the transaction path.
struct Prepared {
    /// The version instantiated.
    version: PluginVersion,
    /// The instance, or why instantiating it failed (a trial failure of the version).
    instance: anyhow::Result<SummerInstance>,
    /// How long instantiating took.
    took: Duration,
}

/// The latest prepared instance, shared between the preparer task and the shard.
type Slot = Arc<Mutex<Option<Prepared>>>;

/// Follows the reloader's current version for one life of one shard.
pub struct ShardSwap {
    /// Where versions come from and where rollbacks go.
    reloader: Arc<Reloader>,
    /// Sees each newly published version; handed (cloned) to the preparer task.
    rx: watch::Receiver<SummerPlugin>,
    /// Announces each prepared instance: ends an idle transaction so the shard swaps
    /// without waiting for input.
    ready: watch::Sender<SummerPlugin>,
    /// The latest prepared instance, taken at a boundary.
    slot: Slot,
    /// Instantiates each new version as it is published; started at the first
    /// boundary (which has the shard's context) and aborted with this life.
    preparer: Option<JoinHandle<()>>,
    /// `(new, old)` while the new version's first transaction on this shard runs.
    trial: Option<(PluginVersion, PluginVersion)>,
}

impl ShardSwap {
    /// Follows `reloader` from its current version on.
    pub fn new(reloader: Arc<Reloader>) -> Self {
        let rx = reloader.subscribe();
        let ready = watch::channel(reloader.current()).0;
        ShardSwap { reloader, rx, ready, slot: Slot::default(), preparer: None, trial: None }
    }

    /// The version to start this life with (marking it seen).
    pub fn current(&mut self) -> SummerPlugin {
        self.rx.borrow_and_update().clone()
    }

    /// A receiver that the transaction loop uses to end an idle transaction (one that
    /// has consumed nothing) when an instance of a new version is ready.
    pub fn wake(&self) -> watch::Receiver<SummerPlugin> {
        let mut rx = self.ready.subscribe();
        rx.mark_unchanged();
        rx
    }

    /// At a transaction boundary: if an instance of the current version is ready and
    /// differs from the one running, swaps it into `txn` (the old one is dropped on a
    /// blocking thread). The first call starts the background preparer with `ctx`.
    ///
    /// # Errors
    /// The new version could not be instantiated; it was rolled back.
    pub async fn at_boundary(
        &mut self,
        spec: &ShardSpec,
        env: &ShardEnv,
        ctx: ShardContext,
        txn: &mut Txn,
        status: &ShardStatus,
    ) -> anyhow::Result<()> {
        if self.preparer.is_none() {
            let (rx, reloader, limits) = (self.rx.clone(), self.reloader.clone(), env.limits.clone());
            let (slot, ready) = (self.slot.clone(), self.ready.clone());
            self.preparer = Some(tokio::spawn(prepare(rx, reloader, ctx, limits, slot, ready)));
        }
        let Some(prepared) = self.slot.lock().unwrap_or_else(|p| p.into_inner()).take() else { return Ok(()) };
        let Some(old) = txn.plugin_version() else { return Ok(()) };
        let new = prepared.version;
        // A newer version is being prepared, or this one was rolled back meanwhile.
        let stale = new != *self.reloader.current().version() || self.reloader.failed_reason(&new).is_some();
        if stale || new == old {
            return Ok(());
        }
        let instance = match prepared.instance {
            Ok(instance) => instance,
            Err(e) => {
                self.trial = Some((new, old));
                let e = e.context("instantiating the new plugin version");
                self.failed(spec, status, &e);
                return Err(e);
            }
        };
        let swapped_at = Instant::now();
        if let Some(retired) = txn.replace_instance(Box::new(instance)) {
            // Freeing a store (its linear memory) is not the next transaction's business.
            tokio::task::spawn_blocking(move || drop(retired));
        }
        status.swapped(new.as_str());
        tracing::info!(shard = %spec.id, old = %old, new = %new, instantiated_in = ?prepared.took, swapped_in = ?swapped_at.elapsed(), "plugin swapped at a transaction boundary");
        self.trial = Some((new, old));
        Ok(())
    }

    /// A transaction committed: a version on trial has passed.
    pub fn committed(&mut self, spec: &ShardSpec) {
        if let Some((new, _)) = self.trial.take() {
            tracing::debug!(shard = %spec.id, version = %new, "first transaction on the new plugin version committed");
        }
    }

    /// The shard's life failed with `error`: a version on trial is rolled back on all
    /// shards.
    pub fn failed(&mut self, spec: &ShardSpec, status: &ShardStatus, error: &anyhow::Error) {
        let Some((new, old)) = self.trial.take() else { return };
        let reason = format!("its first transaction on shard {} failed: {error:#}", spec.id);
        let now = self.reloader.roll_back(&new, &reason);
        status.rolled_back();
        tracing::warn!(shard = %spec.id, old = %new, new = %now, was = %old, reason = %reason, "plugin rolled back; the shard restarts from its checkpoint");
    }
}

impl Drop for ShardSwap {
    fn drop(&mut self) {
        if let Some(preparer) = self.preparer.take() {
            preparer.abort();
        }
    }
}

/// Instantiates each version published on `rx` (unless it failed before) on a blocking
/// thread, leaves the instance in `slot` and announces it on `ready`.
async fn prepare(
    mut rx: watch::Receiver<SummerPlugin>,
    reloader: Arc<Reloader>,
    ctx: ShardContext,
    limits: Limits,
    slot: Slot,
    ready: watch::Sender<SummerPlugin>,
) {
    while rx.changed().await.is_ok() {
        let plugin = rx.borrow_and_update().clone();
        let version = plugin.version().clone();
        if reloader.failed_reason(&version).is_some() {
            continue;
        }
        let started = Instant::now();
        let (p, ctx, limits) = (plugin.clone(), ctx.clone(), limits.clone());
        let instance = match tokio::task::spawn_blocking(move || SummerInstance::instantiate(&p, ctx, limits)).await {
            Ok(result) => result.map_err(|e| anyhow!(e)),
            Err(e) => Err(anyhow!("the instantiating task failed: {e}")),
        };
        *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(Prepared { version, instance, took: started.elapsed() });
        ready.send_replace(plugin);
    }
}
