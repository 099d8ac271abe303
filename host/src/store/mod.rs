//! A shard's durable key/value store: one RocksDB database per shard, replicated
//! through its recovery log.
//!
//! Mirrors Gazette's `consumer/store-rocksdb/store_rocksdb.go`: the application's writes
//! for one transaction are staged in memory ([`TxnOverlay`]) and reach RocksDB only at
//! commit, in ONE write batch together with the transaction's checkpoint. So the
//! database always holds the state of some whole number of transactions, and the
//! checkpoint stored with it says exactly which input those transactions consumed.
//!
//! Keys are split into two namespaces (see [`keys`]): guest keys under their own prefix,
//! and host keys (the checkpoint, the applied log position) under a reserved prefix
//! that no guest key can reach.
//!
//! The recovery log (DESIGN §7, Gazette's `consumer/recoverylog`): each committed write
//! batch is a [`LogRecord`] ([`recoverylog`]) appended to the shard's log journal
//! before it is applied here; [`playback`] re-applies a log's records to a store, and
//! [`snapshot`] writes the whole state as one record so playback need not start at 0.
//! [`crash`] holds the named crash points of test builds.
//!
//! Blocking RocksDB work (open, commit, checkpoint load) goes through
//! `tokio::task::spawn_blocking` inside this module; point reads are synchronous because
//! they are made from within a guest call, which itself runs on a blocking thread.

pub mod crash;
pub mod keys;
mod overlay;
pub mod playback;
pub mod recoverylog;
mod rocks;
pub mod snapshot;
mod write_set;

pub use crash::crash_point;
pub use overlay::TxnOverlay;
pub use write_set::WriteSet;
pub use playback::{AppliedState, PlaybackError, Player, Start};
pub use recoverylog::{LogOp, LogRecord};
pub use rocks::{ShardDb, StoreError};
