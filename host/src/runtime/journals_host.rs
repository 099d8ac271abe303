//! The `journals` interface: what a chunker guest asks of the host.
//!
//! The guest hands over chunks (committed publishes, routed by stream id), waits for
//! sums and reads its input files; the real work (the shared publisher, the
//! read-committed reader of the sums journal, the open files) lives in the chunker job
//! (`crate::chunker`), behind the [`ChunkerHost`] trait, so that this module only
//! translates between WIT and that trait and enforces the sandbox's limits. Mirrors the
//! host half of Gazette's `examples/stream-sum/chunker.go` (its `PublishCommitted` and
//! `ReadCommittedIter` calls).
//!
//! Every call also marks the moment the guest resumes: the instance's epoch deadline
//! bounds the guest's own running time between host calls, not the time the host
//! spends waiting for a sum (see `runtime::chunker`).

use std::time::{Duration, Instant};

use super::bindings::chunker::streamsum::plugin::journals::Host;
use super::limits::{LimitExceeded, Limits};
use super::log_host::GuestLog;

/// How often the guest's log budget is renewed: a chunker has no transactions, so its
/// log lines are budgeted per interval instead (`Limits::txn_log_bytes` per interval).
pub const LOG_BUDGET_INTERVAL: Duration = Duration::from_secs(1);

/// The host services behind a chunker guest's `journals` import.
///
/// Methods are synchronous and may block (a sum, durability of the publishes, a file
/// read): the instance runs on a blocking thread. Errors are texts for the guest,
/// naming what failed.
pub trait ChunkerHost: Send + 'static {
    /// Number of chunk partitions.
    fn partitions(&self) -> u32;
    /// Publishes `chunk` (a JSON object) committed to the partition of `stream_id`.
    fn publish_chunk(&mut self, stream_id: &[u8], chunk: &[u8]) -> Result<(), String>;
    /// Makes this worker's publishes durable, then returns the next committed Sum
    /// message, or `None` if none arrived within `timeout`.
    fn next_sum(&mut self, timeout: Duration) -> Result<Option<Vec<u8>>, String>;
    /// Up to `max_len` bytes of this worker's input file `file` at `offset`.
    fn read_file(&mut self, file: u32, offset: u64, max_len: u32) -> Result<Vec<u8>, String>;
}

/// The `journals` import's view of a chunker instance's state.
pub struct JournalsView<'a> {
    /// The job's services for this worker.
    pub host: &'a mut dyn ChunkerHost,
    /// The instance's limits (message size, read size).
    pub limits: &'a Limits,
    /// When the guest last resumed running (set when each host call returns).
    pub resumed_at: &'a mut Instant,
    /// The guest log, whose budget is renewed every [`LOG_BUDGET_INTERVAL`].
    pub log: &'a GuestLog,
    /// When the log budget was last renewed.
    pub budget_since: &'a mut Instant,
}

impl JournalsView<'_> {
    /// Marks the guest as running again from now, renewing its log budget if due.
    fn resume(&mut self) {
        let now = Instant::now();
        if now.duration_since(*self.budget_since) >= LOG_BUDGET_INTERVAL {
            self.log.reset_budget();
            *self.budget_since = now;
        }
        *self.resumed_at = now;
    }
}

impl Host for JournalsView<'_> {
    fn partitions(&mut self) -> wasmtime::Result<u32> {
        let n = self.host.partitions();
        self.resume();
        Ok(n)
    }

    fn publish_chunk(&mut self, stream_id: Vec<u8>, chunk: Vec<u8>) -> wasmtime::Result<Result<(), String>> {
        LimitExceeded::check("message_bytes", self.limits.message_bytes, chunk.len())?;
        let result = if stream_id.len() == 16 {
            self.host.publish_chunk(&stream_id, &chunk)
        } else {
            Err(format!("stream-id must be 16 bytes, got {}", stream_id.len()))
        };
        self.resume();
        Ok(result)
    }

    fn next_sum(&mut self, timeout_ms: u64) -> wasmtime::Result<Result<Option<Vec<u8>>, String>> {
        let result = self.host.next_sum(Duration::from_millis(timeout_ms));
        self.resume();
        Ok(result)
    }

    fn read_file(&mut self, file: u32, offset: u64, max_len: u32) -> wasmtime::Result<Result<Vec<u8>, String>> {
        LimitExceeded::check("message_bytes", self.limits.message_bytes, max_len as usize)?;
        let result = self.host.read_file(file, offset, max_len);
        self.resume();
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A host that records calls and answers from fixed data.
    #[derive(Default)]
    struct Recorder {
        published: Vec<(Vec<u8>, Vec<u8>)>,
        waits: Vec<Duration>,
    }

    impl ChunkerHost for Recorder {
        fn partitions(&self) -> u32 {
            3
        }
        fn publish_chunk(&mut self, stream_id: &[u8], chunk: &[u8]) -> Result<(), String> {
            self.published.push((stream_id.to_vec(), chunk.to_vec()));
            Ok(())
        }
        fn next_sum(&mut self, timeout: Duration) -> Result<Option<Vec<u8>>, String> {
            self.waits.push(timeout);
            Ok(None)
        }
        fn read_file(&mut self, file: u32, offset: u64, max_len: u32) -> Result<Vec<u8>, String> {
            Err(format!("no file {file} (offset {offset}, {max_len} bytes)"))
        }
    }

    fn with_view<R>(limits: &Limits, f: impl FnOnce(&mut JournalsView<'_>) -> R) -> (R, Recorder, Instant) {
        let mut host = Recorder::default();
        let log = GuestLog::new("chunker-0", "abcdef012345", limits);
        let start = Instant::now() - Duration::from_secs(10);
        let (mut resumed_at, mut budget_since) = (start, start);
        let r = f(&mut JournalsView {
            host: &mut host,
            limits,
            resumed_at: &mut resumed_at,
            log: &log,
            budget_since: &mut budget_since,
        });
        (r, host, resumed_at)
    }

    #[test]
    fn calls_are_forwarded_and_mark_the_guest_as_resumed() {
        let limits = Limits::default();
        let before = Instant::now();
        let (r, host, resumed_at) = with_view(&limits, |v| {
            assert_eq!(v.partitions().unwrap(), 3);
            v.publish_chunk(vec![7; 16], b"{}".to_vec()).unwrap().unwrap();
            v.next_sum(1500).unwrap()
        });
        assert_eq!(r, Ok(None));
        assert_eq!(host.published, vec![(vec![7; 16], b"{}".to_vec())]);
        assert_eq!(host.waits, vec![Duration::from_millis(1500)]);
        assert!(
            resumed_at >= before,
            "the guest's running time restarts after a host call"
        );
    }

    #[test]
    fn a_short_stream_id_is_a_domain_error_and_an_oversized_chunk_traps() {
        let limits = Limits {
            message_bytes: 8,
            ..Limits::default()
        };
        let ((short, big, read), host, _) = with_view(&limits, |v| {
            (
                v.publish_chunk(vec![1; 15], b"{}".to_vec()).unwrap(),
                v.publish_chunk(vec![1; 16], vec![b' '; 9]).unwrap_err(),
                v.read_file(0, 0, 9).unwrap_err(),
            )
        });
        assert_eq!(short, Err("stream-id must be 16 bytes, got 15".into()));
        assert_eq!(big.downcast_ref::<LimitExceeded>().unwrap().name, "message_bytes");
        assert_eq!(read.downcast_ref::<LimitExceeded>().unwrap().actual, 9);
        assert!(host.published.is_empty());
    }
}
