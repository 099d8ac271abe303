//! A shard's durable key/value store: one RocksDB database per shard.
//!
//! Mirrors Gazette's `consumer/store-rocksdb/store_rocksdb.go`: the application's writes
//! for one transaction are staged in memory ([`TxnOverlay`]) and reach RocksDB only at
//! commit, in ONE write batch together with the transaction's checkpoint. So the
//! database always holds the state of some whole number of transactions, and the
//! checkpoint stored with it says exactly which input those transactions consumed.
//!
//! Keys are split into two namespaces (see [`keys`]): guest keys under their own prefix,
//! and host keys (the checkpoint) under a reserved prefix that no guest key can reach.
//!
//! Blocking RocksDB work (open, commit, checkpoint load) goes through
//! `tokio::task::spawn_blocking` inside this module; point reads are synchronous because
//! they are made from within a guest call, which itself runs on a blocking thread.
//!
//! What is not here yet: the recovery log (DESIGN §7) that makes a shard's store
//! rebuildable elsewhere; `ShardDb::commit` is the single point where it will hook in.

pub mod keys;
mod overlay;
mod rocks;

pub use overlay::{TxnOverlay, WriteSet};
pub use rocks::{ShardDb, StoreError};
