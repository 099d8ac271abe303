//! What a shard reports about itself: state, plugin version, progress, last error.
//!
//! Shared between the shard's task (writer) and the status listing (readers). Gazette
//! reports a shard's `ReplicaStatus` (PRIMARY, FAILED with errors, …) through etcd and
//! `consumer.Shard/List`; ours is read in process.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

/// The status of every shard a process runs, shared with whoever reports it (the
/// status page, `shards list`); the shard host (`host.rs`) keeps it current.
pub type ShardList = Arc<RwLock<Vec<Arc<ShardStatus>>>>;

/// A shard's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShardState {
    /// Restoring its checkpoint and starting its plugin.
    Recovering,
    /// Running transactions.
    Primary,
    /// A hot standby: tailing the recovery log of a live primary elsewhere.
    Standby,
    /// Neither primary nor standby: a live primary and live holders of all
    /// `--hot-standbys` slots exist elsewhere (`StatusSnapshot::note` says which).
    Idle,
    /// Its last life failed; it restarts after a backoff, or, after too many failures
    /// in a row (`StatusSnapshot::gave_up`), stays failed.
    Failed,
    /// Shut down.
    Stopped,
}

impl ShardState {
    /// Upper-case name, as Gazette prints replica status codes.
    pub fn as_str(self) -> &'static str {
        match self {
            ShardState::Recovering => "RECOVERING",
            ShardState::Primary => "PRIMARY",
            ShardState::Standby => "STANDBY",
            ShardState::Idle => "IDLE",
            ShardState::Failed => "FAILED",
            ShardState::Stopped => "STOPPED",
        }
    }
}

/// A point-in-time copy of a shard's status.
#[derive(Clone, Debug)]
pub struct StatusSnapshot {
    /// The shard id.
    pub id: String,
    /// Its state.
    pub state: ShardState,
    /// SHA-256 of the plugin version it runs (empty before the first start).
    pub plugin: String,
    /// Transactions committed since the process started.
    pub transactions: u64,
    /// Messages consumed in committed transactions.
    pub messages: u64,
    /// Read-through offset of the source as of the last commit.
    pub read_through: i64,
    /// When the last transaction committed.
    pub last_commit: Option<SystemTime>,
    /// The last failure, if any.
    pub last_error: Option<String>,
    /// Why the shard is in its state, when that is not a failure (e.g. why it is IDLE).
    pub note: Option<String>,
    /// Plugin versions this shard swapped to at a transaction boundary (issue 7).
    pub swaps: u64,
    /// Versions rolled back because their first transaction on this shard failed.
    pub rollbacks: u64,
    /// Consecutive failed lives (reset when a life commits a transaction).
    pub failures: u32,
    /// Whether the shard stopped retrying after too many consecutive failures: its
    /// FAILED state is final until the host restarts.
    pub gave_up: bool,
}

/// A shard's live status.
#[derive(Debug)]
pub struct ShardStatus {
    /// Everything but the counters.
    inner: Mutex<StatusSnapshot>,
    /// Transactions committed, readable without the lock (backoff resets on progress).
    transactions: AtomicU64,
    /// Bumped after every change, for whoever waits on one (`Shard/Stat` waiting for
    /// a read-through offset, the cluster reporting a replica's status to etcd).
    changes: tokio::sync::watch::Sender<u64>,
}

impl ShardStatus {
    /// A new shard's status.
    pub fn new(id: &str) -> Self {
        ShardStatus {
            inner: Mutex::new(StatusSnapshot {
                id: id.to_owned(),
                state: ShardState::Recovering,
                plugin: String::new(),
                transactions: 0,
                messages: 0,
                read_through: 0,
                last_commit: None,
                last_error: None,
                note: None,
                swaps: 0,
                rollbacks: 0,
                failures: 0,
                gave_up: false,
            }),
            transactions: AtomicU64::new(0),
            changes: tokio::sync::watch::Sender::new(0),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut StatusSnapshot) -> R) -> R {
        let r = {
            let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        };
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
        r
    }

    /// A receiver that sees every later change of the status.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Sets the state.
    pub fn set(&self, state: ShardState) {
        self.with(|s| {
            s.state = state;
            s.note = None;
        });
    }

    /// IDLE because of `why`.
    pub fn set_idle(&self, why: &str) {
        self.with(|s| {
            s.state = ShardState::Idle;
            s.note = Some(why.to_owned());
        });
    }

    /// Primary, running `plugin`, having read through `read_through` (its checkpoint).
    pub fn set_primary(&self, plugin: &str, read_through: i64) {
        self.with(|s| {
            s.state = ShardState::Primary;
            s.note = None;
            s.plugin = plugin.to_owned();
            s.read_through = read_through;
        });
    }

    /// Failed with `error`.
    pub fn fail(&self, error: &str) {
        self.with(|s| {
            s.state = ShardState::Failed;
            s.last_error = Some(error.to_owned());
        });
    }

    /// Swapped to plugin version `plugin` at a transaction boundary.
    pub fn swapped(&self, plugin: &str) {
        self.with(|s| {
            s.plugin = plugin.to_owned();
            s.swaps += 1;
        });
    }

    /// Rolled back the version it had swapped to.
    pub fn rolled_back(&self) {
        self.with(|s| s.rollbacks += 1);
    }

    /// Failed `failures` times in a row; it still retries.
    pub fn set_failures(&self, failures: u32) {
        self.with(|s| s.failures = failures);
    }

    /// FAILED for good with `error`, after `failures` consecutive failures: the shard
    /// no longer retries.
    pub fn give_up(&self, error: &str, failures: u32) {
        self.with(|s| {
            s.state = ShardState::Failed;
            s.last_error = Some(error.to_owned());
            s.failures = failures;
            s.gave_up = true;
        });
    }

    /// A transaction of `messages` messages committed, reading through `read_through`.
    pub fn committed(&self, messages: u64, read_through: i64) {
        self.transactions.fetch_add(1, Ordering::Relaxed);
        self.with(|s| {
            s.transactions += 1;
            s.messages += messages;
            s.read_through = read_through;
            s.last_commit = Some(SystemTime::now());
            s.failures = 0;
        });
    }

    /// Transactions committed so far.
    pub fn transactions(&self) -> u64 {
        self.transactions.load(Ordering::Relaxed)
    }

    /// A copy of the status.
    pub fn snapshot(&self) -> StatusSnapshot {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}
