//! Waiting for a stream's Sum and checking it: Gazette's `verify`.
//!
//! Mirrors `examples/stream-sum/chunker.go`: after a stream's final chunk the worker
//! reads the sums journal until the Sum with that stream's id arrives. Sums of other
//! workers' streams are skipped. A Sum with the right id but another `SeqNo` or
//! digest fails the run ("mis-matched sum"), and so does no Sum within the SLA.
//! While waiting it logs warnings at Gazette's schedule (100 ms, 250 ms, 500 ms, 1 s,
//! 2 s, 4 s, 6 s, 8 s, 10 s, 15 s, … every 5 s). Two checks Gazette does not make:
//! a Sum for a stream this worker already verified (a duplicate) or for one of its
//! streams that has not ended yet (premature) fails the run too.

use std::time::Duration;

use streamsum_model::{StreamId, Sum};

use crate::env::Env;

/// Gazette's warning points, in milliseconds after the wait starts; past the last
/// one, warnings repeat every [`WARN_EVERY_MS`].
pub const WARN_SCHEDULE_MS: [u64; 10] = [100, 250, 500, 1_000, 2_000, 4_000, 6_000, 8_000, 10_000, 15_000];
/// Interval of warnings after the last point of [`WARN_SCHEDULE_MS`].
pub const WARN_EVERY_MS: u64 = 5_000;

/// What a worker knows about a stream id seen on the sums journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Known {
    /// Not one of this worker's streams (another worker's): skip its Sum.
    Foreign,
    /// One of this worker's streams that has not ended yet.
    Open,
    /// One of this worker's streams whose Sum was already verified.
    Verified,
}

/// The `n`th warning point (from 0).
pub fn warning_point(n: usize) -> Duration {
    let ms = match WARN_SCHEDULE_MS.get(n) {
        Some(&ms) => ms,
        None => {
            let last = WARN_SCHEDULE_MS[WARN_SCHEDULE_MS.len() - 1];
            last + WARN_EVERY_MS * (n + 1 - WARN_SCHEDULE_MS.len()) as u64
        }
    };
    Duration::from_millis(ms)
}

/// Waits for `expected`'s Sum and returns its latency (from the call to its arrival).
///
/// # Errors
/// A mis-matched, duplicated, premature, malformed or late Sum, no Sum within `sla`,
/// or an error reading the sums journal. Messages name the stream, and for a
/// mismatch both the expected and the actual `SeqNo` and SHA-1.
pub fn await_sum(
    env: &mut impl Env,
    expected: &Sum,
    sla: Duration,
    known: impl Fn(&StreamId) -> Known,
) -> Result<Duration, String> {
    let start = env.now();
    let mut warned = 0;
    loop {
        let waited = env.now().saturating_sub(start);
        while warning_point(warned) <= waited && warning_point(warned) < sla {
            env.warn(&format!(
                "still waiting for the sum of stream {} after {:?} (SLA {sla:?})",
                expected.id,
                warning_point(warned)
            ));
            warned += 1;
        }
        if waited >= sla {
            return Err(format!(
                "timeout waiting for the sum of stream {} (seq_no {}): none within the SLA of {sla:?}",
                expected.id, expected.seq_no
            ));
        }
        let deadline = warning_point(warned).min(sla);
        let timeout = deadline.saturating_sub(waited).max(Duration::from_millis(1));
        let Some(message) = env.next_sum(timeout).map_err(|e| format!("reading the sums journal: {e}"))? else {
            continue;
        };
        let sum = Sum::parse(&message).map_err(|e| format!("reading the sums journal: {e}"))?;
        if sum.id != expected.id {
            match known(&sum.id) {
                Known::Foreign => continue,
                Known::Verified => return Err(format!("duplicated sum for stream {}: {}", sum.id, describe(&sum))),
                Known::Open => return Err(format!("premature sum for stream {} before its final chunk: {}", sum.id, describe(&sum))),
            }
        }
        if sum != *expected {
            return Err(format!(
                "mis-matched sum for stream {}: expected {}, got {}",
                expected.id,
                describe(expected),
                describe(&sum)
            ));
        }
        let latency = env.now().saturating_sub(start);
        if latency > sla {
            return Err(format!("late sum for stream {}: arrived after {latency:?}, SLA {sla:?}", expected.id));
        }
        return Ok(latency);
    }
}

fn describe(sum: &Sum) -> String {
    format!("seq_no {} sha1 {}", sum.seq_no, sum.sha1_hex())
}
