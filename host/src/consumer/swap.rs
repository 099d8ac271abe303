//! A shard's side of a hot swap: switching plugin versions at transaction boundaries.
//!
//! DESIGN §9, issue 7. The [`Reloader`] publishes a new version; each shard, between
//! two transactions (`shard.rs::serve`), instantiates it and hands the new instance
//! to its [`Txn`]: the transaction in flight finished on the old version, the next one
//! begins on the new. The store and the checkpoint are untouched, so the new version
//! continues every stream where the old one left off. The new version is on trial
//! until its first transaction on this shard commits: if that transaction fails (trap,
//! deadline, error) or the version cannot even be instantiated, the version is rolled
//! back on all shards ([`Reloader::roll_back`]) and the shard's life ends as after any
//! failure: the transaction is aborted and the shard restarts from its checkpoint on
//! the version now current. No Gazette counterpart.

use std::sync::Arc;

use anyhow::anyhow;
use tokio::sync::watch;

use super::spec::{ShardEnv, ShardSpec};
use super::status::ShardStatus;
use super::txn::Txn;
use crate::runtime::{PluginVersion, Reloader, ShardContext, SummerInstance, SummerPlugin};

/// Follows the reloader's current version for one life of one shard.
pub struct ShardSwap {
    /// Where versions come from and where rollbacks go.
    reloader: Arc<Reloader>,
    /// Sees each newly published version.
    rx: watch::Receiver<SummerPlugin>,
    /// `(new, old)` while the new version's first transaction on this shard runs.
    trial: Option<(PluginVersion, PluginVersion)>,
}

impl ShardSwap {
    /// Follows `reloader` from its current version on.
    pub fn new(reloader: Arc<Reloader>) -> Self {
        let rx = reloader.subscribe();
        ShardSwap { reloader, rx, trial: None }
    }

    /// The version to start this life with (marking it seen).
    pub fn current(&mut self) -> SummerPlugin {
        self.rx.borrow_and_update().clone()
    }

    /// A receiver that the transaction loop uses to end an idle transaction (one that
    /// has consumed nothing) when a new version is published.
    pub fn wake(&self) -> watch::Receiver<SummerPlugin> {
        let mut rx = self.reloader.subscribe();
        rx.mark_unchanged();
        rx
    }

    /// At a transaction boundary: if another version is current, instantiates it and
    /// swaps it into `txn`.
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
        if !self.rx.has_changed().unwrap_or(false) {
            return Ok(());
        }
        let plugin = self.rx.borrow_and_update().clone();
        let Some(old) = txn.plugin_version() else { return Ok(()) };
        let new = plugin.version().clone();
        if new == old || self.reloader.failed_reason(&new).is_some() {
            return Ok(());
        }
        let limits = env.limits.clone();
        let started = std::time::Instant::now();
        let instance = tokio::task::spawn_blocking(move || SummerInstance::instantiate(&plugin, ctx, limits)).await?;
        let instance = match instance {
            Ok(instance) => instance,
            Err(e) => {
                self.trial = Some((new, old));
                let e = anyhow!(e).context("instantiating the new plugin version");
                self.failed(spec, status, &e);
                return Err(e);
            }
        };
        txn.replace_instance(Box::new(instance));
        status.swapped(new.as_str());
        tracing::info!(shard = %spec.id, old = %old, new = %new, instantiated_in = ?started.elapsed(), "plugin swapped at a transaction boundary");
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
