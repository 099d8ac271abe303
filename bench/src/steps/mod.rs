//! One file per step of the suite, each measuring its subject against a baseline in
//! the same repetition.
//!
//! - [`e2e`]: the chunker job through the host, wasm and native summer, full and half load.
//! - [`external`]: figures of other binaries — `bench_summer` (one shard: wasm, native,
//!   floor) and the `swap` bench (a hot swap's pause against a median transaction).
//! - [`journal`]: broker appends against raw `fdatasync` on the same disk.
//! - [`recovery`]: playback of a recovery log with and without a snapshot.
//! - [`takeover`]: a hot standby taking over after the primary is killed.

pub mod e2e;
pub mod external;
pub mod journal;
pub mod recovery;
pub mod takeover;
