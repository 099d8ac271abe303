//! The allocator and keyspace over a real etcd: loading and watching, announcing
//! members under leases, and the leader's loop that writes assignments.
//!
//! Gazette's `keyspace/` package and the etcd half of `allocator/`. The data path:
//!
//! 1. [`connect`] gives an etcd client;
//! 2. [`KeySpace::load`] reads everything under a root and [`KeySpace::watch`] keeps
//!    it current: every process decides from such a [`Snapshot`] at a known revision;
//! 3. [`Announcement::announce_member`] registers this process under its lease and
//!    keeps the lease alive, signalling [`Announcement::lease_lost`];
//! 4. [`Allocator::run`] is Gazette's `Allocate`: over the snapshot's
//!    [`AllocState`], the leader solves, converges and applies guarded transactions
//!    built by `txn_plan`;
//! 5. members report their assignments' status with [`update_assignment`].
//!
//! Values are opaque bytes here: the caller's decoder turns them into a `V`, and its
//! [`AllocatorValues`] reads item limits, replication and consistency from those.

mod alloc_state;
mod allocate;
mod announce;
mod backoff;
mod connect;
mod error;
mod guarded;
mod keyspace;
mod lease;
mod snapshot;
mod txn_plan;

#[cfg(test)]
mod test_support;

pub use alloc_state::{check_key, AllocState, AllocatorValues, AssignmentEntry, ItemEntry, MemberEntry};
pub use allocate::{Allocator, AllocatorStatus, Exit};
pub use announce::Announcement;
pub use connect::{connect, CONNECT_TIMEOUT, PING_INTERVAL, PING_TIMEOUT};
pub use error::Error;
pub use guarded::{put_if_unchanged, update_all_assignments, update_assignment};
pub use keyspace::{Health, KeySpace};
pub use lease::DEFAULT_LEASE_TTL;
pub use snapshot::{KeyValue, Snapshot};

/// The etcd client crate, re-exported so callers name the same `Client`.
pub use etcd_client;
