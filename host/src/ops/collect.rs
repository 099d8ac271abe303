//! What the status page and a scrape show: the shards' status and the journals' write
//! heads, gathered at request time.
//!
//! Gazette's operators read `consumer.Shard/List` and `protocol.Journal/List` (through
//! gazctl) for this; the page and `/metrics` read the same facts in process. A request
//! while shards are still recovering, failing, or before they are attached answers
//! with what is known: shard rows as they are, and the journal listing's error in
//! `errors` instead of failing the whole answer.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::history::{History, Sample, Totals};
use crate::metrics::{REGISTRY, TXN_SECONDS};
use crate::metrics::registry::{format_labels, format_value};
use crate::consumer::{ShardList, StatusSnapshot};
use crate::journal::{JournalClient, JournalInfo, LabelSelector};

/// How long a request waits for the journal listing before answering without it.
pub const LIST_TIMEOUT: Duration = Duration::from_secs(2);

/// Where a request finds the shards and journals; filled in once the service runs.
#[derive(Default)]
pub struct StatusSource {
    /// The shards' live status, kept current by the shard host (empty until attached).
    shards: Mutex<ShardList>,
    /// The journal client (none until attached).
    client: Mutex<Option<Arc<dyn JournalClient>>>,
    /// The charts' samples.
    pub history: History,
}

/// One shard's row.
#[derive(Debug, Serialize)]
pub struct ShardRow {
    /// Shard id.
    pub id: String,
    /// RECOVERING, PRIMARY, STANDBY, IDLE, FAILED or STOPPED.
    pub state: &'static str,
    /// Why the shard is in its state when that is not a failure (e.g. why it is IDLE:
    /// which processes hold every standby slot).
    pub note: Option<String>,
    /// Plugin version (SHA-256, empty before the first start).
    pub plugin: String,
    /// Its source journal's name, if known.
    pub source: Option<String>,
    /// Transactions committed since start.
    pub transactions: u64,
    /// Messages consumed in committed transactions.
    pub messages: u64,
    /// Read-through offset of the source at the last commit.
    pub read_through: i64,
    /// Bytes between the read-through offset and the source's write head (if known).
    pub lag: Option<i64>,
    /// Last commit, milliseconds since the Unix epoch.
    pub last_commit_ms: Option<u64>,
    /// The last failure.
    pub last_error: Option<String>,
    /// Plugin versions it swapped to at a transaction boundary.
    pub swaps: u64,
    /// Swaps it rolled back.
    pub rollbacks: u64,
}

/// One journal's row.
#[derive(Debug, Serialize)]
pub struct JournalRow {
    /// Journal name.
    pub name: String,
    /// `name=value` labels.
    pub labels: Vec<String>,
    /// Committed write head.
    pub write_head: i64,
}

/// The whole answer of `/api/status`.
#[derive(Debug, Serialize)]
pub struct Status {
    /// Milliseconds since the Unix epoch when gathered.
    pub time_ms: u64,
    /// Shards, in shard order.
    pub shards: Vec<ShardRow>,
    /// Journals, by name (empty if they could not be listed).
    pub journals: Vec<JournalRow>,
    /// Messages consumed in committed transactions, all shards.
    pub messages_total: u64,
    /// Transactions committed, all shards.
    pub transactions_total: u64,
    /// Sum of committed transactions' durations (seconds) and their count.
    pub txn_seconds_sum: f64,
    /// Count of timed transactions.
    pub txn_seconds_count: u64,
    /// What could not be gathered.
    pub errors: Vec<String>,
    /// The charts' samples, oldest first (one per second, the last two minutes).
    pub history: Vec<Sample>,
}

impl StatusSource {
    /// A source with nothing attached yet.
    pub fn new() -> Arc<StatusSource> {
        Arc::new(StatusSource::default())
    }

    /// Attaches the running service's shards and journal client.
    pub fn attach(&self, shards: ShardList, client: Arc<dyn JournalClient>) {
        *self.shards.lock().unwrap_or_else(|p| p.into_inner()) = shards;
        *self.client.lock().unwrap_or_else(|p| p.into_inner()) = Some(client);
    }

    /// The attached shards' status now.
    fn snapshots(&self) -> Vec<StatusSnapshot> {
        let list = self.shards.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let shards = list.read().unwrap_or_else(|p| p.into_inner());
        shards.iter().map(|s| s.snapshot()).collect()
    }

    /// Cumulative totals for the charts (no journal listing: cheap, once a second).
    pub fn totals(&self) -> Totals {
        let messages = self.snapshots().iter().map(|s| s.messages).sum();
        let (txn_seconds, txns) = REGISTRY.sum_count(TXN_SECONDS, &[]).unwrap_or((0.0, 0));
        Totals { messages, txn_seconds, txns }
    }

    /// Gathers the status now.
    pub async fn gather(&self) -> Status {
        let snapshots = self.snapshots();
        let client = self.client.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut errors = Vec::new();
        let journals = match client {
            None => {
                errors.push("the service is starting: journals are not listed yet".to_string());
                Vec::new()
            }
            Some(c) => match tokio::time::timeout(LIST_TIMEOUT, c.list(LabelSelector::default())).await {
                Ok(Ok(list)) => list,
                Ok(Err(e)) => {
                    errors.push(format!("listing journals: {e}"));
                    Vec::new()
                }
                Err(_) => {
                    errors.push(format!("listing journals: no answer within {LIST_TIMEOUT:?}"));
                    Vec::new()
                }
            },
        };
        let (txn_seconds_sum, txn_seconds_count) = REGISTRY.sum_count(TXN_SECONDS, &[]).unwrap_or((0.0, 0));
        Status {
            time_ms: millis(SystemTime::now()),
            messages_total: snapshots.iter().map(|s| s.messages).sum(),
            transactions_total: snapshots.iter().map(|s| s.transactions).sum(),
            shards: snapshots.into_iter().map(|s| shard_row(s, &journals)).collect(),
            journals: journals.iter().map(journal_row).collect(),
            txn_seconds_sum,
            txn_seconds_count,
            errors,
            history: self.history.samples(),
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// A shard consumes the journal it is named after (`chunks-part-003` ←
/// `…/chunks/part-003`; see `consumer::shard_id_for`).
fn shard_row(s: StatusSnapshot, journals: &[JournalInfo]) -> ShardRow {
    let source = journals.iter().find(|j| crate::consumer::shard_id_for(&j.spec.name) == s.id);
    ShardRow {
        lag: source.map(|j| (j.write_head - s.read_through).max(0)),
        source: source.map(|j| j.spec.name.clone()),
        id: s.id,
        state: s.state.as_str(),
        note: s.note,
        plugin: s.plugin,
        transactions: s.transactions,
        messages: s.messages,
        read_through: s.read_through,
        last_commit_ms: s.last_commit.map(millis),
        last_error: s.last_error,
        swaps: s.swaps,
        rollbacks: s.rollbacks,
    }
}

fn journal_row(j: &JournalInfo) -> JournalRow {
    JournalRow {
        name: j.spec.name.clone(),
        labels: j.spec.labels.0.iter().map(|l| format!("{}={}", l.name, l.value)).collect(),
        write_head: j.write_head,
    }
}

/// The scrape-time families (shard state, progress, lag, write heads), in the text
/// exposition format.
pub fn render_status(status: &Status, out: &mut String) {
    let mut family = |name: &str, kind: &str, help: &str, rows: Vec<(Vec<(&'static str, String)>, f64)>| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for (labels, v) in rows {
            out.push_str(&format!("{name}{} {}\n", format_labels(&labels, None), format_value(v)));
        }
    };
    let by_shard = |f: &dyn Fn(&ShardRow) -> f64| -> Vec<_> {
        status.shards.iter().map(|s| (vec![("shard", s.id.clone())], f(s))).collect()
    };
    let with_source = |f: &dyn Fn(&ShardRow) -> Option<f64>| -> Vec<_> {
        let rows = status.shards.iter().filter_map(|s| Some((s, f(s)?)));
        rows.map(|(s, v)| (vec![("shard", s.id.clone()), ("journal", s.source.clone().unwrap_or_default())], v))
            .collect()
    };
    let states = status
        .shards
        .iter()
        .map(|s| (vec![("shard", s.id.clone()), ("state", s.state.to_string()), ("plugin", s.plugin.clone())], 1.0));
    family("streamsum_shard_info", "gauge", "A shard's state and plugin version (value 1).", states.collect());
    family(
        "streamsum_plugin_swaps_total",
        "counter",
        "Plugin swaps at a transaction boundary.",
        by_shard(&|s| s.swaps as f64),
    );
    family(
        "streamsum_plugin_rollbacks_total",
        "counter",
        "Plugin swaps rolled back.",
        by_shard(&|s| s.rollbacks as f64),
    );
    family(
        "streamsum_messages_consumed_total",
        "counter",
        "Messages consumed in committed transactions.",
        by_shard(&|s| s.messages as f64),
    );
    family(
        "streamsum_read_through_offset",
        "gauge",
        "Source offset read through as of the last commit.",
        with_source(&|s| Some(s.read_through as f64)),
    );
    family(
        "streamsum_consumer_lag_bytes",
        "gauge",
        "Bytes between the read-through offset and the source's write head.",
        with_source(&|s| s.lag.map(|l| l as f64)),
    );
    let heads = status.journals.iter().map(|j| (vec![("journal", j.name.clone())], j.write_head as f64)).collect();
    family("streamsum_journal_write_head", "gauge", "A journal's committed write head.", heads);
    family(
        "streamsum_status_errors",
        "gauge",
        "Facts this scrape could not gather (see /api/status).",
        vec![(vec![], status.errors.len() as f64)],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_row_says_why_the_shard_is_idle() {
        let status = crate::consumer::ShardStatus::new("chunks-part-002");
        status.set_idle("idle: all 1 standby slot(s) are held by live processes (77)");
        let row = shard_row(status.snapshot(), &[]);
        let json = serde_json::to_value(&row).unwrap();
        assert_eq!(json["state"], "IDLE");
        assert_eq!(json["note"], "idle: all 1 standby slot(s) are held by live processes (77)");
        // A primary has nothing to explain.
        status.set_primary("sha", 0);
        assert!(serde_json::to_value(shard_row(status.snapshot(), &[])).unwrap()["note"].is_null());
    }
}
