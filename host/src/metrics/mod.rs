//! The host's metrics: names, help texts, and one recording function per event.
//!
//! Mirrors Gazette's `consumer/metrics.go` and `broker/metrics.go` (transactions and
//! their phases, bytes and messages consumed, appends), plus the plugin host's own
//! (guest calls and failures by kind, plugin swaps and rollbacks). Names follow the
//! Prometheus conventions: `streamsum_` prefix, `_total` counters, `_seconds`
//! histograms, labels `shard`, `journal`, `phase`, `call`, `kind`.
//!
//! Events are recorded into one process-wide [`Registry`]; what a shard *is* (state,
//! read-through offset, lag, plugin swaps and rollbacks) is read from its status at
//! scrape time (see `ops/collect.rs`).
//! The recording functions are one-line calls in the transaction loop; the phase
//! [`Laps`] keep that loop free of timing code.
//!
//! This module sits below the consumer (which records) and above the runtime (whose
//! [`CallError`] kinds it counts); `ops/` serves what it holds.

use std::sync::LazyLock;
use std::time::Instant;

pub mod registry;

use registry::Registry;
use crate::runtime::CallError;

/// The process-wide registry.
pub static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::new);

/// Transactions committed (histogram of their duration, first message to commit).
pub const TXN_SECONDS: &str = "streamsum_transaction_seconds";
/// Duration of each transaction phase (consume, finalize, commit_wait, ack).
pub const PHASE_SECONDS: &str = "streamsum_transaction_phase_seconds";
/// Transactions committed per shard.
pub const TXN_TOTAL: &str = "streamsum_transactions_committed_total";
/// Bytes handed to the guest per shard and source journal.
pub const BYTES_CONSUMED: &str = "streamsum_bytes_consumed_total";
/// Bytes appended per journal.
pub const APPEND_BYTES: &str = "streamsum_append_bytes_total";
/// Append latency per journal.
pub const APPEND_SECONDS: &str = "streamsum_append_seconds";
/// Failed appends per journal.
pub const APPEND_FAILURES: &str = "streamsum_append_failures_total";
/// Guest call duration per shard and call.
pub const GUEST_SECONDS: &str = "streamsum_guest_call_seconds";
/// Guest calls per shard and call.
pub const GUEST_CALLS: &str = "streamsum_guest_calls_total";
/// Guest failures per shard and kind.
pub const GUEST_FAILURES: &str = "streamsum_guest_failures_total";
/// Shard failures (each restarts the shard from its checkpoint).
pub const SHARD_FAILURES: &str = "streamsum_shard_failures_total";
/// Recovery-log bytes replayed while recovering a shard.
pub const RECOVERY_REPLAYED: &str = "streamsum_recovery_log_replayed_bytes_total";

fn shard(id: &str) -> (&'static str, String) {
    ("shard", id.to_owned())
}

/// A transaction of `shard` committed; `began` is when its first message arrived.
pub fn txn_committed(shard_id: &str, began: Option<Instant>) {
    REGISTRY.add(TXN_TOTAL, "Transactions committed.", vec![shard(shard_id)], 1.0);
    if let Some(b) = began {
        let secs = b.elapsed().as_secs_f64();
        REGISTRY.observe(TXN_SECONDS, "Transaction duration, first message to commit.", vec![shard(shard_id)], secs);
    }
}

/// Records the time since `since` (if any) as `phase` of a transaction of `shard`.
pub fn phase(shard_id: &str, phase: &'static str, since: Option<Instant>) {
    if let Some(s) = since {
        let labels = vec![shard(shard_id), ("phase", phase.to_owned())];
        REGISTRY.observe(PHASE_SECONDS, "Transaction phase duration.", labels, s.elapsed().as_secs_f64());
    }
}

/// Successive phases of one transaction: each [`Laps::mark`] records the time since
/// the previous one.
pub struct Laps {
    /// The shard.
    shard: String,
    /// When the current phase began.
    last: Instant,
}

impl Laps {
    /// Starts timing the first phase now.
    pub fn start(shard_id: &str) -> Laps {
        Laps { shard: shard_id.to_owned(), last: Instant::now() }
    }

    /// Ends `phase` now and starts the next.
    pub fn mark(&mut self, name: &'static str) {
        phase(&self.shard, name, Some(self.last));
        self.last = Instant::now();
    }
}

/// `messages` messages (`bytes` frame bytes) of `journal` went to the guest.
pub fn consumed(shard_id: &str, journal: &str, bytes: usize) {
    let labels = vec![shard(shard_id), ("journal", journal.to_owned())];
    REGISTRY.add(BYTES_CONSUMED, "Message bytes handed to the guest.", labels, bytes as f64);
}

/// A guest call of `shard` (`consume`, `finalize-txn`) started at `started` ended with
/// `result`.
pub fn guest_call<T>(shard_id: &str, call: &'static str, started: Instant, result: &Result<T, CallError>) {
    let labels = vec![shard(shard_id), ("call", call.to_owned())];
    REGISTRY.add(GUEST_CALLS, "Guest calls.", labels.clone(), 1.0);
    REGISTRY.observe(GUEST_SECONDS, "Guest call duration.", labels, started.elapsed().as_secs_f64());
    if let Err(e) = result {
        let labels = vec![shard(shard_id), ("kind", failure_kind(e).to_owned())];
        REGISTRY.add(GUEST_FAILURES, "Guest failures by kind (trap, deadline, limit, error, store).", labels, 1.0);
    }
}

/// The `kind` label of a guest failure.
pub fn failure_kind(e: &CallError) -> &'static str {
    match e {
        CallError::Trap { .. } => "trap",
        CallError::Deadline { .. } => "deadline",
        CallError::Limit { .. } | CallError::OutOfFuel { .. } => "limit",
        CallError::Guest { .. } => "error",
        CallError::Store { .. } => "store",
        CallError::Unusable(_) => "unusable",
    }
}

/// An append of `bytes` to `journal` took from `started` until now.
pub fn appended(journal: &str, bytes: usize, started: Instant, ok: bool) {
    let labels = vec![("journal", journal.to_owned())];
    if ok {
        REGISTRY.add(APPEND_BYTES, "Bytes appended.", labels.clone(), bytes as f64);
        REGISTRY.observe(
            APPEND_SECONDS,
            "Append latency, request to durable.",
            labels,
            started.elapsed().as_secs_f64(),
        );
    } else {
        REGISTRY.add(APPEND_FAILURES, "Failed appends.", labels, 1.0);
    }
}

/// A shard failed and will restart from its checkpoint.
pub fn shard_failed(shard_id: &str) {
    REGISTRY.add(SHARD_FAILURES, "Shard failures (restarts from the last checkpoint).", vec![shard(shard_id)], 1.0);
}

/// A shard replayed `bytes` of its recovery log.
pub fn recovery_replayed(shard_id: &str, bytes: u64) {
    REGISTRY.add(RECOVERY_REPLAYED, "Recovery-log bytes replayed.", vec![shard(shard_id)], bytes as f64);
}

/// Creates every shard-labelled counter at 0 for `shard`, so that a scrape shows the
/// series (and rates work) before the first event.
pub fn register_shard(shard_id: &str) {
    for (name, help) in [
        (TXN_TOTAL, "Transactions committed."),
        (SHARD_FAILURES, "Shard failures (restarts from the last checkpoint)."),
        (RECOVERY_REPLAYED, "Recovery-log bytes replayed."),
    ] {
        REGISTRY.add(name, help, vec![shard(shard_id)], 0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn guest_failures_are_counted_by_kind() {
        let err: Result<(), CallError> = Err(CallError::Deadline { call: "consume", timeout: Duration::from_secs(1) });
        guest_call("unit-kinds", "consume", Instant::now(), &err);
        guest_call("unit-kinds", "consume", Instant::now(), &Ok::<(), CallError>(()));
        assert_eq!(REGISTRY.get(GUEST_CALLS, &[("shard", "unit-kinds")]), Some(2.0));
        assert_eq!(REGISTRY.get(GUEST_FAILURES, &[("shard", "unit-kinds"), ("kind", "deadline")]), Some(1.0));
        assert_eq!(REGISTRY.sum_count(GUEST_SECONDS, &[("shard", "unit-kinds")]).map(|(_, n)| n), Some(2));
    }

    #[test]
    fn laps_record_each_phase_once() {
        let mut laps = Laps::start("unit-laps");
        laps.mark("finalize");
        laps.mark("commit_wait");
        for p in ["finalize", "commit_wait"] {
            let got = REGISTRY.sum_count(PHASE_SECONDS, &[("shard", "unit-laps"), ("phase", p)]);
            assert_eq!(got.map(|(_, n)| n), Some(1), "{p}");
        }
    }
}
