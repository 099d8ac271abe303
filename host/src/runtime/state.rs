//! The data of a guest's wasmtime `Store`, and the linker that exposes it to guests.
//!
//! One [`HostState`] per instance (so per shard): its sandbox (WASI context, resource
//! limiter, limits, log) and its current transaction (store overlay and publishes). Each
//! WIT import gets a small view borrowing only what it needs (`StoreView`,
//! `PublisherView`, `LogView`), as in wasmtime's own `crates/wasi`.

use std::collections::BTreeSet;
use std::sync::Arc;

use wasmtime::component::{HasData, HasSelf, Linker, ResourceTable};
use wasmtime::Engine;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::{self, log, publisher, store};
use super::limits::{GuestLimiter, Limits};
use super::log_host::{GuestLog, LogView};
use super::publisher_host::{PublisherView, Publishes};
use super::store_host::StoreView;
use super::wasi;
use crate::store::{ShardDb, TxnOverlay};

/// Everything the host keeps for one guest instance.
pub struct HostState {
    /// The guest's WASI context (no filesystem, network, environment or arguments).
    pub(crate) wasi: WasiCtx,
    /// WASI resources (streams, pollables) the guest holds.
    pub(crate) table: ResourceTable,
    /// Caps memories, tables and instances.
    pub(crate) limiter: GuestLimiter,
    /// The instance's limits.
    pub(crate) limits: Arc<Limits>,
    /// The guest's log (shared with its stdout/stderr streams).
    pub(crate) log: Arc<GuestLog>,
    /// The shard's database, for reads falling through the overlay.
    pub(crate) db: ShardDb,
    /// Journals the guest may publish to.
    pub(crate) journals: Arc<BTreeSet<String>>,
    /// The current transaction's store writes.
    pub(crate) overlay: TxnOverlay,
    /// The current transaction's publishes.
    pub(crate) publishes: Publishes,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl bindings::summer::streamsum::plugin::types::Host for HostState {}

/// Marks the `store` import's view.
struct HasStore;
impl HasData for HasStore {
    type Data<'a> = StoreView<'a>;
}

/// Marks the `publisher` import's view.
struct HasPublisher;
impl HasData for HasPublisher {
    type Data<'a> = PublisherView<'a>;
}

/// Marks the `log` import's view.
struct HasLog;
impl HasData for HasLog {
    type Data<'a> = LogView<'a>;
}

/// The linker of the `summer` world: the host's `log`, `store` and `publisher`, plus
/// the sandboxed WASI subset. Anything else a component imports is missing, and
/// `Linker::instantiate_pre` names it.
///
/// # Errors
/// Only on a duplicate definition (a bug).
pub fn summer_linker(engine: &Engine) -> wasmtime::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    wasi::add_to_linker(&mut linker)?;
    log::add_to_linker::<HostState, HasLog>(&mut linker, |s| LogView { log: &s.log })?;
    store::add_to_linker::<HostState, HasStore>(&mut linker, |s| StoreView {
        overlay: &mut s.overlay,
        db: &s.db,
        limits: &s.limits,
    })?;
    publisher::add_to_linker::<HostState, HasPublisher>(&mut linker, |s| PublisherView {
        txn: &mut s.publishes,
        journals: &s.journals,
        limits: &s.limits,
    })?;
    bindings::summer::streamsum::plugin::types::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)?;
    Ok(linker)
}
