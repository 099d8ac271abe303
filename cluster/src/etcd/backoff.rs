//! How long to wait before retrying etcd.
//!
//! Gazette's `keyspace/key_space.go` (`backoff`) retries at once, then after 5 ms,
//! then seconds up to 5 s. Ours doubles from 50 ms to a 2 s cap: tests cut etcd off
//! for a moment and should see the reconnection promptly, and a process retrying a
//! down etcd twice a second costs nothing.

use std::time::Duration;

/// The first delay after a failure that followed a success.
pub(crate) const FIRST_DELAY: Duration = Duration::from_millis(50);
/// The longest delay between attempts.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(2);

/// The delay before retry number `attempt` (0 is the first try: no delay).
pub(crate) fn backoff(attempt: u32) -> Duration {
    match attempt {
        0 => Duration::ZERO,
        n => FIRST_DELAY.saturating_mul(1 << (n - 1).min(16)).min(MAX_DELAY),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_start_at_once_then_double_from_50ms_to_a_2s_cap() {
        let ms = |n: u32| backoff(n).as_millis();
        let cases = [(0, 0), (1, 50), (2, 100), (3, 200), (4, 400), (5, 800), (6, 1600), (7, 2000), (40, 2000), (u32::MAX, 2000)];
        for (attempt, want) in cases {
            assert_eq!(ms(attempt), want, "attempt {attempt}");
        }
    }
}
