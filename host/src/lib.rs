//! `streamsum-host`: Gazette's stream-sum, hosted as WebAssembly plugins.
//!
//! Data flows one way through the modules, and dependencies follow it (lowest layer
//! first; `tests/module_graph.rs` checks it, and that no file imports from a file that
//! imports it — ARCHITECTURE.md draws the layers):
//!
//! 1. [`flags`] and [`shutdown`] — flag-value parsers; the stop signal tasks wait on.
//! 2. [`journal`] — named, append-only, durable byte logs on local disk (fragment files,
//!    group-committed fdatasync, registers for fencing), the [`journal::JournalClient`]
//!    interface through which everything else reads and appends, in-process or over
//!    gRPC, and the [`journal::JournalRoutes`] that say which broker serves a journal.
//! 3. [`message`] — Gazette's exactly-once machinery on top: v1 message UUIDs, JSON-lines
//!    framing, the publisher with ACK intents, and the read-committed sequencer;
//!    [`store`] — a shard's RocksDB database and its recovery log.
//! 4. [`runtime`] — the wasmtime engine that runs the plugins in a sandbox.
//! 5. [`metrics`] — the Prometheus series the layers above record.
//! 6. [`consumer`] — shards and their transactions: consume committed messages, let the
//!    plugin update its store, commit state and checkpoint atomically, then acknowledge;
//!    the [`consumer::ShardHost`] runs the shards a [`consumer::ShardAssignments`] names.
//! 7. [`service`] — the gRPC face: Gazette's `protocol.Journal` service and its client.
//! 8. [`chunker`] — the host side of the chunker job; [`ops`] — what an operator sees:
//!    the status page, `/metrics`, logs, configuration; [`cluster`] — a host as a
//!    member of an etcd-coordinated cluster (`--etcd`): its assignments, its shard
//!    directory, the routes of its journals.
//! 9. [`sandbox`] (guest-limit flags), [`app`] (the main service: broker + shards) and
//!    [`cli`] (the command line); `main.rs` only calls into it.
pub mod flags;
pub mod shutdown;
pub mod journal;
pub mod message;
pub mod store;
pub mod runtime;
pub mod metrics;
pub mod consumer;
pub mod service;
pub mod chunker;
pub mod ops;
pub mod cluster;
pub mod sandbox;
pub mod app;
pub mod cli;
