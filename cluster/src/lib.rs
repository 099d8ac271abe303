//! `streamsum-cluster`: how streamsum processes coordinate through etcd (DESIGN §11).
//!
//! Gazette's `allocator/` and `keyspace/` packages, re-built: members register under
//! a lease, items (journal and shard specs) and their assignments live in Gazette's
//! keyspace layout, every process keeps a watched in-memory copy of that keyspace, and
//! the leader (the member with the oldest lease) runs the allocator — a pure function
//! from (members, items, current assignments) to desired assignments — and writes its
//! result back with compare-and-swap transactions.
//!
//! This crate knows nothing of wasm, of journal storage or of shard stores: items are
//! opaque names with a desired replication, and the host decodes their specs.

pub mod allocator;
