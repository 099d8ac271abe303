//! What a shard is ([`ShardSpec`]) and what it runs with ([`ShardEnv`]), and the
//! stream-sum naming of shards and their recovery logs.
//!
//! Gazette's `ShardSpec` (`consumer/protocol/protocol.proto`) holds the declared part;
//! the environment is what this process hands the shard: its journal client, plugin,
//! limits and store directory. Every file of the consumer that runs a shard (`shard.rs`,
//! `txn.rs`, `standby.rs`, `swap.rs`) takes both from here.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::journal::JournalClient;
use crate::runtime::{Limits, Reloader, SummerPlugin};

/// What a shard is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardSpec {
    /// The shard id, e.g. `chunks-part-003`.
    pub id: String,
    /// The journal it consumes.
    pub source: String,
    /// A transaction consumes at least this long once it has a message.
    pub min_txn_duration: Duration,
    /// A transaction stops consuming after this long.
    pub max_txn_duration: Duration,
    /// Sequencer ring size (0: Gazette's default 8192).
    pub ring_size: usize,
    /// Consecutive failed lives after which the shard stays FAILED and stops retrying
    /// (0: retry forever). A life that commits a transaction resets the count.
    pub max_failures: u32,
}

/// What a shard runs with.
#[derive(Clone)]
pub struct ShardEnv {
    /// Journals, local or remote.
    pub client: Arc<dyn JournalClient>,
    /// The summer plugin to instantiate.
    pub plugin: SummerPlugin,
    /// Limits on the guest.
    pub limits: Limits,
    /// Directory of the shard's RocksDB database.
    pub db_dir: PathBuf,
    /// Journals the guest may publish to.
    pub publishable: Arc<BTreeSet<String>>,
    /// The shard's recovery-log journal (e.g.
    /// `examples/stream-sum/recovery-logs/chunks-part-003`).
    pub recovery_log: String,
    /// Write a snapshot after this many recovery-log bytes (0: never).
    pub snapshot_every: u64,
    /// Hot standbys per shard (0: none). With N > 0, a shard whose log has a live
    /// primary elsewhere stands by in one of N slots, or idles if all are held (see
    /// `standby.rs`, `slots.rs`), and a primary renews its lease in the log.
    pub hot_standbys: usize,
    /// A primary silent this long is taken for dead by its standbys.
    pub lease: Duration,
    /// Benchmarks only (cargo feature `native-summer`): run the summer's logic compiled
    /// into the host instead of `plugin`.
    pub native_summer: bool,
    /// Hot reload: the shard runs the reloader's current version instead of `plugin`
    /// and swaps at transaction boundaries (`swap.rs`).
    pub reloader: Option<Arc<Reloader>>,
    /// The role an allocator assigned this replica (a cluster shard host, `--etcd`):
    /// primary (slot 0) or standby, changing as the assignment does. `None` in the
    /// embedded default, where the recovery log's registers decide (`hot_standbys`).
    pub role: Option<watch::Receiver<Role>>,
}

/// A replica's assigned role (Gazette: slot 0 of a shard's assignments is primary).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Run transactions (after recovering, fencing any previous primary).
    Primary,
    /// Tail the recovery log, ready to take over once promoted.
    Standby,
}

/// The recovery-log journal of shard `id` (Gazette's stream-sum layout).
pub fn recovery_log_for(id: &str) -> String {
    format!("{}recovery-logs/{id}", crate::journal::defaults::PREFIX)
}

/// The ids of the shards that consume `journals` (Gazette's stream-sum names a shard
/// after its partition: `.../chunks/part-003` → `chunks-part-003`).
pub fn shard_id_for(journal: &str) -> String {
    let mut parts = journal.rsplit('/');
    match (parts.next(), parts.next()) {
        (Some(last), Some(parent)) => format!("{parent}-{last}"),
        _ => journal.replace('/', "-"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_named_after_their_partition() {
        let cases = [
            ("examples/stream-sum/chunks/part-000", "chunks-part-000"),
            ("examples/stream-sum/chunks/part-017", "chunks-part-017"),
            ("solo", "solo"),
        ];
        for (journal, want) in cases {
            assert_eq!(shard_id_for(journal), want, "{journal}");
        }
    }
}
