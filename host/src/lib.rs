//! `streamsum-host`: Gazette's stream-sum, hosted as WebAssembly plugins.
//!
//! Data flows one way through the modules, and dependencies follow it:
//!
//! 1. [`journal`] — named, append-only, durable byte logs on local disk (fragment files,
//!    group-committed fdatasync, registers for fencing) and the [`journal::client`]
//!    interface through which everything else reads and appends, in-process or over gRPC.
//! 2. [`message`] — Gazette's exactly-once machinery on top: v1 message UUIDs, JSON-lines
//!    framing, the publisher with ACK intents, and the read-committed sequencer.
//! 3. [`consumer`] — shards and their transactions: consume committed messages, let the
//!    plugin update its store, commit state and checkpoint atomically, then acknowledge.
//! 4. [`store`] — a shard's RocksDB database, committed one write batch per transaction.
//! 5. [`runtime`] — the wasmtime engine that runs the plugins in a sandbox.
//! 6. [`service`] — the gRPC face: Gazette's `protocol.Journal` service and its client.
//! 7. [`chunker`] — the host side of the chunker job: publishes chunks, reads sums.
//!
//! [`app`] is the main service (broker + shards); [`cli`] parses the command line;
//! `main.rs` only calls into it. [`ops`] is what an operator sees: metrics, logs,
//! configuration and the status page.
pub mod journal;
pub mod message;
pub mod consumer;
pub mod store;
pub mod runtime;
pub mod service;
pub mod app;
pub mod cli;
pub mod chunker;
pub mod metrics;
pub mod ops;
pub mod sandbox;
pub mod flags;
pub mod shutdown;
