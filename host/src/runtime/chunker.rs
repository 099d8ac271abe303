//! The chunker world's host side: loading a chunker plugin and running one worker.
//!
//! A chunker worker is one instance of the `chunker` world whose `run` export is a
//! single guest call that lasts as long as the job (forever with `--streams -1`).
//! Mirrors one `GenerateAndVerifyStreams` worker of Gazette's
//! `examples/stream-sum/chunker.go`, run as a sandboxed component: its imports are
//! `log` (as for a summer), `journals` (see [`journals_host`](super::journals_host))
//! and the sandboxed WASI subset.
//!
//! The epoch deadline: a summer call gets `Limits::call_timeout` of wall time as a
//! whole. A chunker's `run` cannot (it waits for sums in host calls), so here the
//! deadline bounds the guest's *own* running time since it last resumed from a host
//! call: when the epoch deadline fires, the callback looks at how long ago the last
//! host call returned, and either extends the deadline by what is left or interrupts
//! the guest. Time blocked in `next-sum` is never held against the guest, while a
//! guest spinning without calling the host is still trapped after `call_timeout`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{HasData, Linker, ResourceTable};
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::chunker::streamsum::plugin::{chunker_types, journals};
use super::bindings::chunker::{Chunker, ChunkerPre};
use super::bindings::log;
use super::cache::{ComponentCache, PluginVersion};
use super::engine::PluginEngine;
use super::error::CallError;
use super::journals_host::{ChunkerHost, JournalsView};
use super::limits::{GuestLimiter, Limits};
use super::log_host::{GuestLog, LogView};
use super::plugin::LoadError;
use super::wasi::{self, sandboxed_ctx};

pub use super::bindings::chunker::streamsum::plugin::chunker_types::{ChunkerConfig, FileSum, InputFile, Report};

/// Why a chunker plugin could not be loaded. Each message names the plugin.
#[derive(Debug, thiserror::Error)]
pub enum ChunkerLoadError {
    /// Not wasm, a core module, or a compile error (as for any plugin).
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The component does not fit the `chunker` world: an import the host does not
    /// provide, or a missing or mistyped `run` export.
    #[error("plugin {plugin} does not implement the `chunker` world: {message}")]
    World {
        /// The plugin's path.
        plugin: String,
        /// Wasmtime's reason, naming the import or export.
        message: String,
    },
}

/// Everything the host keeps for one chunker instance.
pub struct ChunkerState {
    /// The guest's WASI context (no filesystem, network, environment or arguments).
    wasi: WasiCtx,
    /// WASI resources the guest holds.
    table: ResourceTable,
    /// Caps memories, tables and instances.
    limiter: GuestLimiter,
    /// The instance's limits.
    limits: Arc<Limits>,
    /// The guest's log.
    log: Arc<GuestLog>,
    /// The job's services for this worker.
    host: Box<dyn ChunkerHost>,
    /// When the guest last resumed running: the start of the call, or the return of
    /// its last host call. The epoch deadline is measured from here.
    resumed_at: Instant,
    /// When the guest's log budget was last renewed.
    budget_since: Instant,
}

impl WasiView for ChunkerState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl chunker_types::Host for ChunkerState {}

/// Marks the `journals` import's view.
struct HasJournals;
impl HasData for HasJournals {
    type Data<'a> = JournalsView<'a>;
}

/// Marks the `log` import's view.
struct HasLog;
impl HasData for HasLog {
    type Data<'a> = LogView<'a>;
}

/// The linker of the `chunker` world: `log`, `journals` and the sandboxed WASI subset.
fn chunker_linker(engine: &wasmtime::Engine) -> wasmtime::Result<Linker<ChunkerState>> {
    let mut linker = Linker::new(engine);
    wasi::add_to_linker(&mut linker)?;
    log::add_to_linker::<ChunkerState, HasLog>(&mut linker, |s| LogView { log: &s.log })?;
    journals::add_to_linker::<ChunkerState, HasJournals>(&mut linker, |s| JournalsView {
        host: &mut *s.host,
        limits: &s.limits,
        resumed_at: &mut s.resumed_at,
        log: &s.log,
        budget_since: &mut s.budget_since,
    })?;
    chunker_types::add_to_linker::<ChunkerState, wasmtime::component::HasSelf<ChunkerState>>(&mut linker, |s| s)?;
    Ok(linker)
}

/// A chunker plugin, compiled and linked, ready to instantiate once per worker.
#[derive(Clone)]
pub struct ChunkerPlugin {
    /// SHA-256 of the .wasm bytes.
    version: PluginVersion,
    /// The pre-linked component.
    pre: ChunkerPre<ChunkerState>,
    /// The engine, held so that its epoch ticker runs as long as the plugin is used:
    /// without ticks, no deadline would ever fire.
    _engine: PluginEngine,
}

impl ChunkerPlugin {
    /// Compiles (or loads from `cache`) the plugin `bytes`, called `name` in errors, and
    /// checks it against the `chunker` world. Blocking: compiling takes a second or two.
    ///
    /// # Errors
    /// A [`ChunkerLoadError`] naming `name`.
    pub fn load_blocking(cache: &ComponentCache, bytes: &[u8], name: &str) -> Result<Self, ChunkerLoadError> {
        let plugin = name.to_owned();
        match bytes.get(..8) {
            Some([0, b'a', b's', b'm', _, _, 1, 0]) => {}
            Some([0, b'a', b's', b'm', _, _, 0, 0]) => return Err(LoadError::CoreModule { plugin }.into()),
            _ => return Err(LoadError::NotWasm { plugin }.into()),
        }
        let compiled = cache.load_blocking(bytes).map_err(|e| LoadError::Compile {
            plugin: plugin.clone(),
            message: chain(&e),
        })?;
        let world = |e: wasmtime::Error| ChunkerLoadError::World {
            plugin: plugin.clone(),
            message: chain(&e),
        };
        let linker = chunker_linker(cache.engine().engine()).map_err(world)?;
        let pre = linker.instantiate_pre(&compiled.component).map_err(world)?;
        let pre = ChunkerPre::new(pre).map_err(world)?;
        Ok(Self {
            version: compiled.version,
            pre,
            _engine: cache.engine().clone(),
        })
    }

    /// The plugin's version.
    pub fn version(&self) -> &PluginVersion {
        &self.version
    }
}

/// One chunker worker's instance.
pub struct ChunkerInstance {
    /// The wasmtime store: the guest's memory and the host state.
    store: Store<ChunkerState>,
    /// The instance's exports.
    chunker: Chunker,
}

impl ChunkerInstance {
    /// Instantiates `plugin` for worker `owner` (tagged on its log lines) over `host`,
    /// under `limits`.
    ///
    /// # Errors
    /// The guest's initialisation trapped, hit a limit or ran past the deadline.
    pub fn instantiate(
        plugin: &ChunkerPlugin,
        owner: &str,
        limits: Limits,
        host: Box<dyn ChunkerHost>,
    ) -> Result<Self, CallError> {
        let log = GuestLog::new(owner, plugin.version.short(), &limits);
        let timeout = limits.call_timeout;
        let now = Instant::now();
        let state = ChunkerState {
            wasi: sandboxed_ctx(&log),
            table: ResourceTable::new(),
            limiter: GuestLimiter::new(&limits),
            limits: Arc::new(limits),
            log,
            host,
            resumed_at: now,
            budget_since: now,
        };
        let mut store = Store::new(plugin.pre.engine(), state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(PluginEngine::deadline_ticks(timeout));
        // The deadline counts the guest's running time since it last resumed: host
        // waits in between extend it (see the module docs).
        store.epoch_deadline_callback(move |ctx| Ok(on_deadline(ctx.data().resumed_at.elapsed(), timeout)));
        let chunker = plugin
            .pre
            .instantiate(&mut store)
            .map_err(|e| CallError::from_wasmtime("instantiate", e, timeout))?;
        Ok(Self { store, chunker })
    }

    /// Runs the worker to completion: the guest's `run(config)`.
    ///
    /// # Errors
    /// [`CallError::Guest`] with the guest's own reason (a mis-matched, late or
    /// duplicated sum, a host error it passed on), or a trap, limit or deadline.
    pub fn run(&mut self, config: &ChunkerConfig) -> Result<Report, CallError> {
        let timeout = self.store.data().limits.call_timeout;
        self.store.data_mut().resumed_at = Instant::now();
        self.store.set_epoch_deadline(PluginEngine::deadline_ticks(timeout));
        let result = self.chunker.call_run(&mut self.store, config);
        self.store.data().log.reset_budget();
        match result {
            Ok(Ok(report)) => Ok(report),
            Ok(Err(text)) => Err(CallError::Guest { call: "run", text }),
            Err(e) => Err(CallError::from_wasmtime("run", e, timeout)),
        }
    }
}

/// What to do when the epoch deadline fires after the guest has been running for
/// `running` since it last resumed: interrupt it once that reaches `timeout`, else
/// extend the deadline by what is left (host waits in between never count).
fn on_deadline(running: Duration, timeout: Duration) -> UpdateDeadline {
    match timeout.checked_sub(running) {
        Some(left) if !left.is_zero() => UpdateDeadline::Continue(PluginEngine::deadline_ticks(left)),
        _ => UpdateDeadline::Interrupt,
    }
}

/// An error and its causes on one line.
fn chain(err: &wasmtime::Error) -> String {
    err.chain().map(|c| c.to_string()).collect::<Vec<_>>().join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn continued_by(update: UpdateDeadline) -> Option<u64> {
        match update {
            UpdateDeadline::Continue(ticks) => Some(ticks),
            UpdateDeadline::Interrupt => None,
            _ => panic!("a synchronous store neither yields nor waits"),
        }
    }

    #[test]
    fn a_guest_is_interrupted_only_after_running_the_whole_timeout_since_it_resumed() {
        let timeout = Duration::from_millis(200);
        // Just resumed from a long host wait: the full timeout again (20 ticks + 1).
        assert_eq!(continued_by(on_deadline(Duration::ZERO, timeout)), Some(21));
        // Running for 150 ms: 50 ms left.
        assert_eq!(continued_by(on_deadline(Duration::from_millis(150), timeout)), Some(6));
        // Running for the whole timeout, or longer: interrupted.
        assert_eq!(continued_by(on_deadline(timeout, timeout)), None);
        assert_eq!(continued_by(on_deadline(Duration::from_secs(9), timeout)), None);
    }
}
