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

//!
//! # Modules
//!
//! - [`allocator`]: the pure allocator — key shapes, leader rule, `solve`, `converge`.
//! - [`etcd`]: the same over a real etcd — the watched [`etcd::KeySpace`], member
//!   [`etcd::Announcement`]s under leases, and the leader's [`etcd::Allocator`] loop.
//! - `testing` (feature `testing`): a real etcd on free ports for tests, and a TCP
//!   link a test can cut.
//!
//! # The etcd client: `etcd-client` 0.21
//!
//! [`etcd-client`](https://crates.io/crates/etcd-client) is the maintained async etcd
//! v3 client on tokio and tonic. Releases 0.17 through 0.21 all build on tonic 0.14
//! and prost 0.14, the gRPC stack the host already uses, so the workspace keeps one
//! copy of it (`cargo tree -d` lists no second tonic or prost); 0.21.1 is the newest
//! of them. Its bundled protobufs are etcd 3.7's, which is wire-compatible with the
//! v3 API of Debian's etcd-server 3.4 that the tests run against: this crate uses only
//! KV range/put/delete/txn, Watch (with progress notifications), Lease
//! grant/keep-alive/revoke and the `ignore_lease` put option, all in 3.4. The newer
//! calls (streaming range reads, downgrade) are not used. Every test in `tests/`
//! exercises it against a real 3.4 server.

pub mod allocator;
pub mod etcd;

#[cfg(feature = "testing")]
pub mod testing;
