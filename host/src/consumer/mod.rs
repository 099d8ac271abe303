//! Shards and their exactly-once transactions (Gazette's `consumer/` package).
//!
//! A shard consumes one source journal with a summer plugin: [`source`] reads the
//! journal, the message layer's sequencer turns what it reads into committed messages,
//! [`txn`] runs the transactions that hand them to the plugin and commit its store
//! writes with the [`checkpoint`], and [`shard`] owns a shard's life: recovery from
//! the checkpoint and the [`recovery`] log, restarts with backoff, shutdown; [`standby`]
//! and [`slots`] are hot standbys and who holds which shard. [`status`] is what a shard reports.
//! [`spec`] says what a shard is and what it runs with; [`shardspace`] is how an
//! operator declares shards (Gazette's `ShardSpec` and gazctl's `shards apply` files).
//!
//! Which shards a process runs is not decided here: a [`ShardAssignments`] source says
//! ([`assignment`]; the embedded default is a fixed set), and the [`host`] starts and
//! stops shards as it changes — the seam where the cluster's assignments plug in.
pub mod app;
pub mod assignment;
pub mod baseline;
pub mod checkpoint;
pub mod directory;
pub mod host;
#[cfg(test)]
mod exactly_once_props;
#[cfg(feature = "native-summer")]
pub mod native;
pub mod recovery;
#[cfg(test)]
mod recovery_tests;
pub mod shard;
pub mod shardspace;
pub mod slots;
pub mod standby;
pub mod source;
pub mod spec;
pub mod status;
pub mod swap;
pub mod txn;

pub use shard::run_shard;
pub use spec::{recovery_log_for, shard_id_for, Role, ShardEnv, ShardSpec};
pub use assignment::{FixedAssignments, ShardAssignments};
pub use host::{RunShard, ShardHost, SHARD_STOP_GRACE};
pub use shardspace::{parse_shard_set, DeclaredShard, ShardChange};
pub use status::{ShardList, ShardState, ShardStatus, StatusSnapshot};
