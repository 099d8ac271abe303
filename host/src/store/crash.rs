//! Named crash points: test builds abort the process at chosen points of the commit
//! and recovery sequences.
//!
//! Gazette's crash tests kill pods at random moments (`test/integration`); random
//! kills rarely land exactly between two steps of a commit, so these points make the
//! interesting moments reproducible. With the `crash-points` feature (enabled for the
//! workspace's tests), `STREAMSUM_CRASH_AT=<point>[:N]` makes the N-th (default first)
//! arrival at `<point>` in this process call `std::process::abort()`. The points:
//!
//! - `after-publish`: the transaction's messages are appended, its record is not;
//! - `after-log-append`: the recovery-log record (the commit point) is appended, the
//!   local RocksDB does not have it yet;
//! - `after-commit`: committed and applied, the ACK intents are not appended;
//! - `mid-playback`: after applying a record during playback;
//! - `mid-snapshot`: half-way through writing a snapshot's state.
//!
//! Without the feature this is a no-op.

/// Every named point, for validation and documentation.
pub const POINTS: [&str; 5] = ["after-publish", "after-log-append", "after-commit", "mid-playback", "mid-snapshot"];

/// Environment variable choosing the crash point.
pub const ENV: &str = "STREAMSUM_CRASH_AT";

#[cfg(feature = "crash-points")]
mod imp {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;

    /// The configured point and the arrival that aborts.
    static TARGET: OnceLock<Option<(String, u64)>> = OnceLock::new();
    /// Arrivals at the configured point so far.
    static ARRIVALS: AtomicU64 = AtomicU64::new(0);

    fn target() -> &'static Option<(String, u64)> {
        TARGET.get_or_init(|| {
            let value = std::env::var(super::ENV).ok()?;
            let (name, n) = match value.split_once(':') {
                Some((name, n)) => (name, n.parse().unwrap_or(1)),
                None => (value.as_str(), 1),
            };
            if !super::POINTS.contains(&name) {
                eprintln!("{}={value}: unknown crash point (known: {})", super::ENV, super::POINTS.join(", "));
                return None;
            }
            Some((name.to_owned(), n.max(1)))
        })
    }

    pub fn crash_point(name: &str) {
        if let Some((point, n)) = target() {
            if point == name && ARRIVALS.fetch_add(1, Ordering::SeqCst) + 1 == *n {
                eprintln!("crash point {name} reached (arrival {n}): aborting");
                std::process::abort();
            }
        }
    }
}

/// Aborts the process here if `STREAMSUM_CRASH_AT` names this point (test builds).
#[inline]
pub fn crash_point(name: &str) {
    debug_assert!(POINTS.contains(&name), "unknown crash point {name}");
    #[cfg(feature = "crash-points")]
    imp::crash_point(name);
}
