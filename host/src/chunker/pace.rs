//! `--rate`: one pacer shared by all workers, spreading publishes evenly in time.
//!
//! Gazette's chunker publishes as fast as it can; the benchmarks also need a known,
//! lower load (latency at half of full load), so the host's chunker side can cap the
//! job's publish rate. The cap is job-wide, not per worker: every worker's
//! `publish-chunk` takes the next free slot from one schedule, slots
//! `1 / rate` seconds apart, and waits for it. A schedule that fell behind (the
//! publishers were slower than the rate) restarts at the present rather than
//! bursting to catch up, so in any window of `w` seconds at most `w * rate + 1`
//! chunks are published.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Largest `--rate` accepted (chunks per second); above it the slot spacing would be
/// under a nanosecond.
pub const MAX_RATE: f64 = 1e9;

/// Parses `--rate` (chunks per second, a positive finite number).
///
/// # Errors
/// Not a number, zero, negative, not finite or above [`MAX_RATE`] (clap prefixes the
/// message with `--rate`).
pub fn parse_rate(s: &str) -> Result<f64, String> {
    let rate: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("not a number of chunks per second (e.g. 5000 or 2.5): {s:?}"))?;
    if !rate.is_finite() || rate <= 0.0 || rate > MAX_RATE {
        return Err(format!("must be more than 0 and at most {MAX_RATE} chunks per second, got {s}"));
    }
    Ok(rate)
}

/// The job's shared publish schedule (cheap to clone).
#[derive(Clone, Debug)]
pub struct Pacer {
    /// Time between two slots.
    interval: Duration,
    /// The next free slot (`None` before the first publish).
    next: Arc<Mutex<Option<Instant>>>,
}

impl Pacer {
    /// A pacer allowing `rate` publishes per second across all its clones.
    ///
    /// # Panics
    /// Never for a rate accepted by [`parse_rate`]; other rates are clamped to it.
    pub fn new(rate: f64) -> Self {
        let rate = if rate.is_finite() { rate.clamp(1e-9, MAX_RATE) } else { MAX_RATE };
        Pacer {
            interval: Duration::from_secs_f64(1.0 / rate),
            next: Arc::new(Mutex::new(None)),
        }
    }

    /// Time between two slots.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Takes the next slot at or after `now` and returns it: the caller publishes once
    /// the clock reaches it. Slots are handed out in order, one `interval` apart.
    pub fn reserve(&self, now: Instant) -> Instant {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let slot = match *next {
            Some(n) if n > now => n,
            _ => now,
        };
        *next = Some(slot + self.interval);
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    #[test]
    fn rate_must_be_a_positive_number() {
        assert_eq!(parse_rate("2.5"), Ok(2.5));
        assert_eq!(parse_rate("5000"), Ok(5000.0));
        for bad in ["0", "-3", "0.0", "inf", "NaN", "1e10"] {
            let e = parse_rate(bad).unwrap_err();
            assert!(e.contains("more than 0"), "{bad}: {e}");
        }
        assert!(parse_rate("fast").unwrap_err().contains("not a number"));
        assert!(parse_rate("").unwrap_err().contains("not a number"));
    }

    #[test]
    fn slots_are_one_interval_apart_and_never_in_the_past() {
        let pacer = Pacer::new(100.0);
        let t0 = Instant::now();
        assert_eq!(pacer.reserve(t0), t0);
        assert_eq!(pacer.reserve(t0), t0 + Duration::from_millis(10));
        assert_eq!(pacer.reserve(t0), t0 + Duration::from_millis(20));
        // A schedule that fell behind restarts at the present: no catch-up burst.
        let late = t0 + Duration::from_secs(5);
        assert_eq!(pacer.reserve(late), late);
        assert_eq!(pacer.reserve(late), late + Duration::from_millis(10));
        // Clones share the schedule.
        let other = pacer.clone();
        assert_eq!(other.reserve(late), late + Duration::from_millis(20));
    }

    /// Four threads publish as fast as the shared pacer lets them; the count of
    /// publishes over the measured window is within the bound.
    #[test]
    fn publishes_from_many_threads_are_paced_to_the_rate() {
        const RATE: f64 = 500.0;
        let pacer = Pacer::new(RATE);
        let published = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (pacer, published, done) = (pacer.clone(), published.clone(), done.clone());
                std::thread::spawn(move || {
                    while !done.load(Ordering::Relaxed) {
                        let slot = pacer.reserve(Instant::now());
                        if let Some(wait) = slot.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                        published.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        // The measured window (this sleep times the window; it synchronises nothing).
        std::thread::sleep(Duration::from_millis(400));
        let count = published.load(Ordering::Relaxed);
        let elapsed = started.elapsed().as_secs_f64();
        done.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().unwrap();
        }
        let bound = RATE * elapsed + 1.0;
        assert!(count as f64 <= bound, "{count} publishes in {elapsed:.3}s exceed {bound:.0}");
        // Unpaced, four threads would do millions; paced, close to the rate.
        assert!(count as f64 >= 0.5 * RATE * elapsed, "{count} publishes in {elapsed:.3}s: far under the rate");
    }
}
