//! The chunker job: `streamsum-host chunker --app guest_chunker.wasm …`.
//!
//! Gazette's `examples/stream-sum/chunker` (reference §6.3) with its logic in a wasm
//! guest (world `chunker`) and its plumbing here. Data path:
//!
//! 1. [`job`] lists the chunk partitions, writes a barrier on the sums journal, and
//!    starts one guest instance per worker on a blocking thread;
//! 2. a guest's `publish-chunk` goes through its [`worker::WorkerHost`] to the shared
//!    [`publish::ChunkSink`] (one committed publisher, one appender per partition);
//! 3. the summer consumes the chunks and publishes Sums;
//! 4. each worker's [`sums`] reader reads the sums journal read-committed from the
//!    barrier and feeds the guest's `next-sum`, where the guest verifies them;
//!    with `--rate`, one [`pace::Pacer`] spreads all workers' publishes evenly;
//! 5. [`report`] merges the workers' reports; in files mode ([`files`]) it prints
//!    `sha1sum`-style lines. A [`progress`] bar shows on a terminal.

pub mod args;
pub mod files;
pub mod job;
pub mod pace;
pub mod progress;
pub mod publish;
pub mod report;
pub mod sums;
pub mod worker;

pub use args::ChunkerArgs;
pub use job::run;
