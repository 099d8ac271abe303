//! One file per step of the suite (the names `--only` takes), each measuring its
//! subject against a baseline in the same repetition.
//!
//! - [`summer`]: runs `bench_summer`: one shard, wasm summer against the native one and
//!   the in-process floor.
//! - [`e2e`]: the chunker job through the host, wasm against native summer, full and
//!   half load.
//! - [`journal`]: broker appends against raw `fdatasync` on the same disk.
//! - [`swap`]: runs the host's `swap` bench: a hot swap's pause against the median
//!   transaction.
//! - [`recovery`]: playback of a recovery log with and without a snapshot.
//! - [`takeover`]: a hot standby taking over after the primary is killed, against a
//!   take-over without one.
//! - [`replication`]: appends to a replication-3 journal against a replication-1 one
//!   on the same cluster, and kill -9 of a replicated primary to the next ack.
//! - [`curves`]: end-to-end throughput against partitions and against chunk size.

pub mod curves;
pub mod e2e;
pub mod journal;
pub mod recovery;
pub mod replication;
pub mod summer;
pub mod swap;
pub mod takeover;
