//! What the chunker's logic needs from its surroundings, as a trait.
//!
//! In the component, [`WitEnv`] forwards to the host's `journals` and `log` imports
//! and reads the WASI monotonic clock. Unit tests substitute an environment with a
//! simulated clock and summer, so the SLA and warning logic is tested without
//! waiting on real time.

use std::time::{Duration, Instant};

use streamsum_model::StreamId;

use crate::streamsum::plugin::{journals, log};

/// The chunker's view of the host.
pub trait Env {
    /// Publishes one chunk of stream `id`, committed (see `journals.publish-chunk`).
    fn publish_chunk(&mut self, id: &StreamId, chunk: &[u8]) -> Result<(), String>;
    /// The next Sum message from the sums journal, waiting at most `timeout`.
    fn next_sum(&mut self, timeout: Duration) -> Result<Option<Vec<u8>>, String>;
    /// Up to `max_len` bytes of input file `file` at `offset`; empty at its end.
    fn read_file(&mut self, file: u32, offset: u64, max_len: u32) -> Result<Vec<u8>, String>;
    /// Time elapsed on a monotonic clock since an arbitrary fixed origin.
    fn now(&self) -> Duration;
    /// Logs a warning.
    fn warn(&mut self, message: &str);
    /// A fresh random stream id.
    fn new_stream_id(&mut self) -> Result<StreamId, String>;
}

/// The real environment: the host's imports and the WASI monotonic clock.
pub struct WitEnv {
    /// Origin of [`Env::now`].
    origin: Instant,
}

impl WitEnv {
    /// An environment whose clock starts now.
    pub fn new() -> Self {
        WitEnv { origin: Instant::now() }
    }
}

impl Env for WitEnv {
    fn publish_chunk(&mut self, id: &StreamId, chunk: &[u8]) -> Result<(), String> {
        journals::publish_chunk(id.as_bytes(), chunk)
    }

    fn next_sum(&mut self, timeout: Duration) -> Result<Option<Vec<u8>>, String> {
        let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        journals::next_sum(ms)
    }

    fn read_file(&mut self, file: u32, offset: u64, max_len: u32) -> Result<Vec<u8>, String> {
        journals::read_file(file, offset, max_len)
    }

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn warn(&mut self, message: &str) {
        log::log(log::Level::Warn, message);
    }

    fn new_stream_id(&mut self) -> Result<StreamId, String> {
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).map_err(|e| format!("reading wasi random for a stream id: {e}"))?;
        Ok(StreamId(id))
    }
}
