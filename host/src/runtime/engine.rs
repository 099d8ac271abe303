//! The one wasmtime `Engine` of the host, and the ticker that drives its epochs.
//!
//! DESIGN §9: components are compiled once per engine and instantiated per shard; every
//! guest call runs under an epoch deadline. Epoch interruption is cheap (a counter check
//! at loop back-edges and function entries, ~8% in the probe of DESIGN §8); the ticker
//! thread below advances the epoch every [`EPOCH_TICK`], so a call's deadline is its
//! timeout rounded up to ticks. No Gazette counterpart (Go applications run natively).

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::{Config, Engine, OptLevel, ProfilingStrategy, Strategy};

/// How often the ticker advances the engine's epoch: the granularity of call deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The host's wasmtime engine: Cranelift, the component model, epoch interruption on,
/// with its epoch ticker. Cheap to clone; the ticker stops when the last clone drops.
#[derive(Clone)]
pub struct PluginEngine {
    /// The wasmtime engine shared by every plugin and shard.
    engine: Engine,
    /// Keeps the ticker thread alive while any clone of this engine exists.
    _ticker: Arc<Ticker>,
}

impl PluginEngine {
    /// Creates the engine and starts its epoch ticker thread.
    ///
    /// # Errors
    /// Wasmtime rejects the configuration (e.g. an unsupported host CPU).
    pub fn new() -> wasmtime::Result<Self> {
        Self::with_fuel(false)
    }

    /// As [`PluginEngine::new`], with fuel metering on if `fuel` (issue 8: deterministic
    /// limits in tests, `--guest-fuel`). Metering is an engine setting and part of the
    /// engine's compatibility hash, so cached artifacts of one never load in the other.
    /// On such an engine every store must be given fuel before a call.
    ///
    /// # Errors
    /// Wasmtime rejects the configuration (e.g. an unsupported host CPU).
    pub fn with_fuel(fuel: bool) -> wasmtime::Result<Self> {
        Self::with_options(true, fuel)
    }

    /// An engine with epoch interruption and fuel metering each on or off. Without
    /// epochs a runaway guest is NOT stopped by `Limits::call_timeout`: only the
    /// sandbox benchmark uses that, as the baseline that measures what epochs cost.
    ///
    /// # Errors
    /// Wasmtime rejects the configuration (e.g. an unsupported host CPU).
    pub fn with_options(epoch: bool, fuel: bool) -> wasmtime::Result<Self> {
        let mut config = Config::new();
        config.strategy(Strategy::Cranelift);
        config.cranelift_opt_level(OptLevel::Speed);
        config.wasm_component_model(true);
        config.epoch_interruption(epoch);
        config.consume_fuel(fuel);
        // Profiling (issue 9): with STREAMSUM_WASM_PERFMAP set, compiled guest code is
        // listed in /tmp/perf-<pid>.map so that `perf report` names guest functions.
        if std::env::var_os("STREAMSUM_WASM_PERFMAP").is_some() {
            config.profiler(ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&config)?;
        let ticker = Ticker::start(&engine)?;
        Ok(Self {
            engine,
            _ticker: Arc::new(ticker),
        })
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The epoch deadline, in ticks from now, for a call that may take `timeout`.
    /// Never less than one full tick, so a deadline cannot fire before the call starts.
    pub fn deadline_ticks(timeout: Duration) -> u64 {
        let tick = EPOCH_TICK.as_nanos();
        let ticks = timeout.as_nanos().div_ceil(tick);
        u64::try_from(ticks).unwrap_or(u64::MAX).saturating_add(1)
    }
}

/// The thread that increments the engine's epoch every [`EPOCH_TICK`].
struct Ticker {
    /// Set to `true` (and notified) to stop the thread.
    stop: Arc<(Mutex<bool>, Condvar)>,
    /// The thread, joined on drop.
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    fn start(engine: &Engine) -> wasmtime::Result<Self> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let weak = engine.weak();
        let thread_stop = stop.clone();
        let thread = std::thread::Builder::new()
            .name("wasm-epoch-ticker".into())
            .spawn(move || {
                let (lock, cvar) = &*thread_stop;
                let mut stopped = lock.lock().unwrap_or_else(|e| e.into_inner());
                while !*stopped {
                    stopped = cvar
                        .wait_timeout(stopped, EPOCH_TICK)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        let (lock, cvar) = &*self.stop;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cvar.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_round_up_to_whole_ticks_plus_one() {
        assert_eq!(PluginEngine::deadline_ticks(Duration::ZERO), 1);
        assert_eq!(PluginEngine::deadline_ticks(EPOCH_TICK), 2);
        assert_eq!(PluginEngine::deadline_ticks(EPOCH_TICK + Duration::from_nanos(1)), 3);
        assert_eq!(PluginEngine::deadline_ticks(Duration::from_secs(5)), 501);
    }

    #[test]
    fn the_engine_builds_and_its_ticker_stops_on_drop() {
        let engine = PluginEngine::new().unwrap();
        let clone = engine.clone();
        drop(engine);
        drop(clone); // joins the ticker thread; a hang here fails the test by timeout
    }
}
