//! One shard's summer instance, kept across transactions.
//!
//! Plays the part of Gazette's `Application` for one shard (`consumer/interfaces.go`:
//! `ConsumeMessage`, `FinalizeTxn`), with the transaction's side effects collected by the
//! host instead of applied by the application: [`SummerInstance::finalize_txn`] returns
//! the store writes and the published messages, which the consumer commits (writes with
//! the checkpoint) and hands to the message layer (framing, UUIDs, ACKs).
//!
//! Every guest call runs under the epoch deadline of `Limits::call_timeout`. Any failure
//! (trap, deadline, limit, error result) poisons the instance: wasm state after a trap is
//! not trustworthy, so the caller aborts the transaction and discards the instance; the
//! next one starts from the committed store (STYLE rule 4: durable state lives in the
//! host).
//!
//! The methods are synchronous and may block for up to the call timeout (plus RocksDB
//! point reads): run them on a blocking thread (`spawn_blocking`), moving the instance.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime::Store;

use super::batch::MessageBatch;
use super::bindings::Summer;
use super::cache::PluginVersion;
use super::engine::PluginEngine;
use super::error::CallError;
use super::limits::{GuestLimiter, Limits};
use super::log_host::GuestLog;
use super::plugin::SummerPlugin;
use super::publisher_host::{Published, Publishes};
use super::state::HostState;
use super::wasi::sandboxed_ctx;
use crate::store::{ShardDb, TxnOverlay, WriteSet};

/// What an instance needs to know about the shard it serves.
#[derive(Debug, Clone)]
pub struct ShardContext {
    /// The shard's name, tagged on the guest's log lines.
    pub shard: String,
    /// The shard's database.
    pub db: ShardDb,
    /// Journals the guest may publish to.
    pub journals: Arc<BTreeSet<String>>,
}

/// The side effects of one finished transaction, for the consumer to commit.
#[derive(Debug, Default)]
pub struct TxnOutput {
    /// Store writes, to commit with the checkpoint.
    pub writes: WriteSet,
    /// Messages published, in order, to frame and append (uncommitted) before the commit.
    pub published: Vec<Published>,
}

/// A summer instance serving one shard.
pub struct SummerInstance {
    /// The wasmtime store: the instance's memory and the host state of its transaction.
    store: Store<HostState>,
    /// The instance's exports.
    summer: Summer,
    /// The plugin version it runs.
    version: PluginVersion,
    /// Why the instance is unusable, once a call failed.
    failed: Option<String>,
    /// The engine, held so that its epoch ticker (which enforces the call deadlines)
    /// runs as long as the instance exists.
    _engine: PluginEngine,
}

impl SummerInstance {
    /// Instantiates `plugin` for `shard` under `limits`, running the guest's start code
    /// under the call deadline.
    ///
    /// # Errors
    /// The guest's initialisation trapped, hit a limit or ran past the deadline.
    pub fn instantiate(plugin: &SummerPlugin, shard: ShardContext, limits: Limits) -> Result<Self, CallError> {
        let engine = plugin.pre.engine();
        let log = GuestLog::new(&shard.shard, plugin.version().short(), &limits);
        let state = HostState {
            wasi: sandboxed_ctx(&log),
            table: ResourceTable::new(),
            limiter: GuestLimiter::new(&limits),
            limits: Arc::new(limits),
            log,
            db: shard.db,
            journals: shard.journals,
            overlay: TxnOverlay::new(),
            publishes: Publishes::default(),
        };
        let mut store = Store::new(engine, state);
        store.limiter(|s| &mut s.limiter);
        store.epoch_deadline_trap();
        let timeout = store.data().limits.call_timeout;
        store.set_epoch_deadline(PluginEngine::deadline_ticks(timeout));
        let summer = plugin
            .pre
            .instantiate(&mut store)
            .map_err(|e| CallError::from_wasmtime("instantiate", e, timeout))?;
        Ok(Self {
            store,
            summer,
            version: plugin.version().clone(),
            failed: None,
            _engine: plugin.engine.clone(),
        })
    }

    /// The plugin version this instance runs.
    pub fn version(&self) -> &PluginVersion {
        &self.version
    }

    /// Whether a call failed, making the instance unusable.
    pub fn is_failed(&self) -> bool {
        self.failed.is_some()
    }

    /// Hands `batch` to the guest's `consume` within the current transaction.
    ///
    /// # Errors
    /// Any [`CallError`]; the instance is then unusable.
    pub fn consume(&mut self, batch: &MessageBatch) -> Result<(), CallError> {
        let wit = &batch.wit;
        self.call("consume", |summer, store| {
            summer.streamsum_plugin_consumer().call_consume(store, wit)
        })
    }

    /// Calls the guest's `finalize-txn`, then ends the transaction: returns its store
    /// writes and publishes and starts the next transaction empty.
    ///
    /// # Errors
    /// Any [`CallError`]; the transaction's effects are discarded and the instance is
    /// unusable.
    pub fn finalize_txn(&mut self) -> Result<TxnOutput, CallError> {
        let result = self.call("finalize-txn", |summer, store| {
            summer.streamsum_plugin_consumer().call_finalize_txn(store)
        });
        let output = self.take_txn();
        result.map(|()| output)
    }

    /// Discards the current transaction's writes and publishes (the consumer aborts it).
    pub fn abort_txn(&mut self) {
        self.take_txn();
    }

    /// Runs one guest call under the deadline, classifying failures and poisoning the
    /// instance on any of them.
    fn call(
        &mut self,
        name: &'static str,
        f: impl FnOnce(&Summer, &mut Store<HostState>) -> wasmtime::Result<Result<(), String>>,
    ) -> Result<(), CallError> {
        if let Some(reason) = &self.failed {
            return Err(CallError::Unusable(reason.clone()));
        }
        let timeout = self.timeout();
        self.store.set_epoch_deadline(PluginEngine::deadline_ticks(timeout));
        let err = match f(&self.summer, &mut self.store) {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(text)) => CallError::Guest { call: name, text },
            Err(e) => CallError::from_wasmtime(name, e, timeout),
        };
        self.failed = Some(err.to_string());
        self.take_txn();
        Err(err)
    }

    fn timeout(&self) -> Duration {
        self.store.data().limits.call_timeout
    }

    /// Takes the transaction's effects, leaving an empty transaction, and resets the
    /// guest's log budget.
    fn take_txn(&mut self) -> TxnOutput {
        let state = self.store.data_mut();
        state.log.reset_budget();
        TxnOutput {
            writes: std::mem::take(&mut state.overlay).into_writes(),
            published: std::mem::take(&mut state.publishes).messages,
        }
    }
}
