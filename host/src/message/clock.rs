//! Message clocks: the 64-bit, per-producer monotonic counter carried in every UUID.
//!
//! Mirrors Gazette's `message/uuid.go` (`Clock`, `NewClock`, `Clock.Update`,
//! `Clock.Tick`). A clock is a 60-bit RFC 4122 v1 timestamp (100 ns units since
//! 1582-10-15) shifted left by 4, OR'd with a 4-bit sequence counter. It totally
//! orders one producer's messages; only its monotonicity matters for correctness.
//!
//! Invariant: an [`AtomicClock`] never moves backwards. `update` from wall time only
//! raises it, and `tick` adds [`TICK`] (1 µs, Gazette's value since 2025).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Offset between the RFC 4122 epoch (1582-10-15) and the Unix epoch, in 100 ns units.
pub const GREGORIAN_TO_UNIX_100NS: u64 = 122_192_928_000_000_000;

/// What [`AtomicClock::tick`] adds: 10 timestamp units of 100 ns, shifted past the
/// 4-bit counter, i.e. one microsecond.
pub const TICK: u64 = 160;

/// A point on one producer's clock: `(timestamp60 << 4) | counter4`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Clock(pub u64);

impl Clock {
    /// The zero clock. Messages carrying it (e.g. the nil UUID) are treated as
    /// self-committing and are never deduplicated.
    pub const ZERO: Clock = Clock(0);

    /// The clock of a wall-clock instant, with a zero counter.
    ///
    /// Instants before 1970 map to the Unix epoch; the timestamp is truncated to 60
    /// bits as a v1 UUID requires.
    pub fn from_system_time(t: SystemTime) -> Clock {
        let nanos = t.duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let ticks = (nanos / 100) as u64;
        let ts60 = ticks.wrapping_add(GREGORIAN_TO_UNIX_100NS) & ((1 << 60) - 1);
        Clock(ts60 << 4)
    }

    /// Nanoseconds since the Unix epoch that this clock's timestamp encodes
    /// (negative for clocks before 1970, e.g. small test clocks).
    pub fn as_unix_nanos(self) -> i128 {
        ((self.0 >> 4) as i128 - GREGORIAN_TO_UNIX_100NS as i128) * 100
    }
}

/// A producer's clock, shared between the publisher and whoever drives it forward
/// (the chunker once a second, a shard at the start of each transaction).
#[derive(Debug, Default)]
pub struct AtomicClock {
    /// The current clock value; only ever increases.
    value: AtomicU64,
}

impl AtomicClock {
    /// A clock starting at `start`.
    pub fn new(start: Clock) -> AtomicClock {
        AtomicClock { value: AtomicU64::new(start.0) }
    }

    /// A clock starting at the current wall time.
    pub fn now() -> AtomicClock {
        AtomicClock::new(Clock::from_system_time(SystemTime::now()))
    }

    /// The current value.
    pub fn load(&self) -> Clock {
        Clock(self.value.load(Ordering::SeqCst))
    }

    /// Raises the clock to the wall-clock instant `t`, unless it is already past it
    /// (a wall clock stepping backwards never moves the clock backwards).
    pub fn update(&self, t: SystemTime) {
        self.value.fetch_max(Clock::from_system_time(t).0, Ordering::SeqCst);
    }

    /// Advances the clock by [`TICK`] and returns the new value. Concurrent callers
    /// each get a distinct, strictly larger value.
    pub fn tick(&self) -> Clock {
        Clock(self.value.fetch_add(TICK, Ordering::SeqCst).wrapping_add(TICK))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn update_from_wall_time_encodes_100ns_ticks_since_1582() {
        // 2020-01-01T00:00:00Z, as in the reference's worked example.
        let t = UNIX_EPOCH + Duration::from_secs(1_577_836_800);
        assert_eq!(Clock::from_system_time(t), Clock(0x1ea2c29a747c0000));
        let c = AtomicClock::default();
        c.update(t);
        assert_eq!(c.load().as_unix_nanos(), 1_577_836_800_000_000_000);
    }

    #[test]
    fn update_only_moves_forward() {
        let c = AtomicClock::default();
        let later = UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        c.update(later);
        let at = c.load();
        c.update(UNIX_EPOCH + Duration::from_secs(1_000_000_000));
        assert_eq!(c.load(), at);
        c.update(UNIX_EPOCH);
        assert_eq!(c.load(), at);
    }

    #[test]
    fn tick_adds_160_and_returns_the_new_value() {
        let c = AtomicClock::new(Clock(1000));
        assert_eq!(c.tick(), Clock(1160));
        assert_eq!(c.tick(), Clock(1320));
        assert_eq!(c.load(), Clock(1320));
        assert_eq!(TICK, 10 << 4);
    }

    #[test]
    fn concurrent_ticks_are_distinct() {
        let c = std::sync::Arc::new(AtomicClock::new(Clock(0)));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || (0..1000).map(|_| c.tick().0).collect::<Vec<_>>())
            })
            .collect();
        let mut all: Vec<u64> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 4000);
        assert_eq!(c.load(), Clock(4000 * TICK));
    }
}
