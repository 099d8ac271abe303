//! Latency percentiles for the worker's report.
//!
//! Nearest-rank percentiles over the per-stream latencies (final chunk published →
//! Sum verified). The host merges all workers' samples again for the job's total.

/// The `q`-quantile (`0 < q <= 1`) of sorted `samples` by nearest rank; 0 if empty.
pub fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `(p50, p99, max)` of `samples`.
pub fn summary(samples: &[u64]) -> (u64, u64, u64) {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    (percentile(&sorted, 0.50), percentile(&sorted, 0.99), sorted.last().copied().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<u64> = (1..=100).rev().collect();
        assert_eq!(summary(&samples), (50, 99, 100));
        assert_eq!(summary(&[7]), (7, 7, 7));
        assert_eq!(summary(&[]), (0, 0, 0));
        assert_eq!(summary(&[3, 1, 2]), (2, 3, 3));
    }
}
