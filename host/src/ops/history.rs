//! The status page's chart data: one sample per second of committed chunks/s and mean
//! transaction latency, the last [`HISTORY_SAMPLES`] kept in memory.
//!
//! Sampling on the server (not in the browser) means a page shows the last two
//! minutes as soon as it loads, and a page can long-poll for the next sample
//! (`/api/status?after=SEQ`) instead of polling blindly. No Gazette counterpart:
//! Gazette leaves charts to Prometheus and Grafana.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::watch;

/// Samples kept (two minutes at one per second).
pub const HISTORY_SAMPLES: usize = 120;
/// Time between samples.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// One point of the charts.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sample {
    /// Sequence number (1 for the first sample).
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// Messages committed per second since the previous sample.
    pub chunks_per_s: f64,
    /// Mean duration (ms) of the transactions committed since the previous sample, if any.
    pub latency_ms: Option<f64>,
}

/// Cumulative totals a sample is the difference of.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Totals {
    /// Messages committed.
    pub messages: u64,
    /// Sum of transaction durations, seconds.
    pub txn_seconds: f64,
    /// Transactions timed.
    pub txns: u64,
}

/// Samples, oldest first, and the totals and time of the last record.
type Kept = (VecDeque<Sample>, Option<(Totals, Instant)>);

/// The kept samples, and a signal of the newest one's sequence number.
pub struct History {
    /// See [`Kept`].
    inner: Mutex<Kept>,
    /// The newest sample's `seq` (0: none yet).
    seq: watch::Sender<u64>,
}

impl Default for History {
    fn default() -> Self {
        History { inner: Mutex::new((VecDeque::new(), None)), seq: watch::channel(0).0 }
    }
}

impl History {
    /// Records `totals` observed at `now` (wall clock `time_ms`); the first call only
    /// sets the baseline.
    pub fn record(&self, totals: Totals, now: Instant, time_ms: u64) {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (samples, last) = &mut *guard;
        if let Some((prev, at)) = last.replace((totals, now)) {
            let dt = now.saturating_duration_since(at).as_secs_f64().max(1e-3);
            let txns = totals.txns.saturating_sub(prev.txns);
            let seq = samples.back().map(|s| s.seq + 1).unwrap_or(1);
            samples.push_back(Sample {
                seq,
                time_ms,
                chunks_per_s: totals.messages.saturating_sub(prev.messages) as f64 / dt,
                latency_ms: (txns > 0).then(|| 1e3 * (totals.txn_seconds - prev.txn_seconds) / txns as f64),
            });
            while samples.len() > HISTORY_SAMPLES {
                samples.pop_front();
            }
            self.seq.send_replace(seq);
        }
    }

    /// The kept samples, oldest first.
    pub fn samples(&self) -> Vec<Sample> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).0.iter().cloned().collect()
    }

    /// Waits (at most `timeout`) until a sample newer than `after` exists.
    pub async fn wait_newer(&self, after: u64, timeout: Duration) {
        let mut rx = self.seq.subscribe();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|seq| *seq > after)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_rates_and_mean_latencies_between_records() {
        let h = History::default();
        let t0 = Instant::now();
        h.record(Totals { messages: 10, txn_seconds: 1.0, txns: 2 }, t0, 1000);
        assert!(h.samples().is_empty(), "the first record is the baseline");
        h.record(Totals { messages: 110, txn_seconds: 1.5, txns: 12 }, t0 + Duration::from_secs(2), 3000);
        h.record(Totals { messages: 110, txn_seconds: 1.5, txns: 12 }, t0 + Duration::from_secs(3), 4000);
        let s = h.samples();
        assert_eq!(s[0], Sample { seq: 1, time_ms: 3000, chunks_per_s: 50.0, latency_ms: Some(50.0) });
        assert_eq!(s[1], Sample { seq: 2, time_ms: 4000, chunks_per_s: 0.0, latency_ms: None });
    }

    #[test]
    fn only_the_last_120_samples_are_kept() {
        let h = History::default();
        let t0 = Instant::now();
        for i in 0..=(HISTORY_SAMPLES as u64 + 5) {
            h.record(Totals { messages: i, ..Totals::default() }, t0 + Duration::from_secs(i), i);
        }
        let s = h.samples();
        assert_eq!(s.len(), HISTORY_SAMPLES);
        assert_eq!((s[0].seq, s[HISTORY_SAMPLES - 1].seq), (6, HISTORY_SAMPLES as u64 + 5));
    }

    #[tokio::test]
    async fn a_waiter_wakes_on_the_next_sample() {
        let h = std::sync::Arc::new(History::default());
        let t0 = Instant::now();
        h.record(Totals::default(), t0, 0);
        let waiter = tokio::spawn({
            let h = h.clone();
            async move { h.wait_newer(0, Duration::from_secs(30)).await }
        });
        h.record(Totals::default(), t0 + Duration::from_secs(1), 1);
        tokio::time::timeout(Duration::from_secs(5), waiter).await.unwrap().unwrap();
    }
}
