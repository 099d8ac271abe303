//! The job's report: the workers' reports merged, and files mode's checksum lines.
//!
//! Gazette's chunker reports nothing but failures; this one ends with what it did
//! (streams, chunks, bytes, throughput) and the latency from each stream's final chunk
//! to its verified sum, as percentiles over every worker's samples (merged here, not
//! averaged from the workers' own percentiles). In files mode it prints one
//! `<sha1-hex>  <path>` line per file, in command-line order, which `sha1sum -c`
//! accepts.

use std::fmt::Write;
use std::time::Duration;

use crate::runtime::chunker::Report;

/// The job's totals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobReport {
    /// Workers that ran.
    pub workers: usize,
    /// Streams completed and verified.
    pub streams: u64,
    /// Chunks published, final empty chunks included.
    pub chunks: u64,
    /// Data bytes published.
    pub bytes: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Every verified stream's latency, sorted.
    pub latencies_us: Vec<u64>,
}

impl JobReport {
    /// Merges the workers' reports of a run that took `elapsed`.
    pub fn merge<'a>(reports: impl IntoIterator<Item = &'a Report>, elapsed: Duration) -> Self {
        let mut job = JobReport {
            elapsed,
            ..JobReport::default()
        };
        for r in reports {
            job.workers += 1;
            job.streams += r.streams;
            job.chunks += r.chunks;
            job.bytes += r.bytes;
            job.latencies_us.extend_from_slice(&r.latencies_us);
        }
        job.latencies_us.sort_unstable();
        job
    }

    /// The `q`-quantile (`0 < q <= 1`) of the latencies by nearest rank (the guests'
    /// definition); zero without samples.
    pub fn percentile(&self, q: f64) -> Duration {
        let n = self.latencies_us.len();
        if n == 0 {
            return Duration::ZERO;
        }
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        Duration::from_micros(self.latencies_us[rank - 1])
    }

    /// The report as printed on stderr.
    pub fn render(&self) -> String {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "chunker report: {} workers, {} streams verified, {} chunks, {} data bytes in {:.3}s",
            self.workers, self.streams, self.chunks, self.bytes, secs
        );
        let _ = writeln!(
            out,
            "throughput: {:.1} chunks/s, {:.1} streams/s, {:.3} MiB/s of data",
            self.chunks as f64 / secs,
            self.streams as f64 / secs,
            self.bytes as f64 / secs / (1 << 20) as f64
        );
        let _ = writeln!(
            out,
            "latency from final chunk to verified sum: p50 {}, p99 {}, max {}",
            ms(self.percentile(0.50)),
            ms(self.percentile(0.99)),
            ms(self.percentile(1.0))
        );
        out
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3}ms", d.as_secs_f64() * 1e3)
}

/// One line of `sha1sum` output for `path`. As GNU `sha1sum` does, a path with a
/// backslash or a newline is escaped and the line starts with a backslash.
pub fn sha1sum_line(sha1: &str, path: &str) -> String {
    if path.contains(['\\', '\n', '\r']) {
        let escaped = path.replace('\\', "\\\\").replace('\n', "\\n").replace('\r', "\\r");
        format!("\\{sha1}  {escaped}")
    } else {
        format!("{sha1}  {path}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(latencies_us: Vec<u64>, bytes: u64) -> Report {
        Report {
            streams: latencies_us.len() as u64,
            chunks: 3 * latencies_us.len() as u64,
            bytes,
            elapsed_us: 0,
            p50_us: 0,
            p99_us: 0,
            max_us: 0,
            latencies_us,
            files: Vec::new(),
        }
    }

    #[test]
    fn reports_merge_with_percentiles_over_all_samples() {
        // Worker 0 is fast, worker 1 slow: the merged median lies between them, which
        // averaging the workers' own medians would not give.
        let fast = report((1..=50).collect(), 100);
        let slow = report((951..=1000).collect(), 50);
        let job = JobReport::merge([&fast, &slow], Duration::from_secs(2));
        assert_eq!((job.workers, job.streams, job.chunks, job.bytes), (2, 100, 300, 150));
        assert_eq!(job.percentile(0.50), Duration::from_micros(50));
        assert_eq!(job.percentile(0.99), Duration::from_micros(999));
        assert_eq!(job.percentile(1.0), Duration::from_micros(1000));
        let text = job.render();
        assert!(
            text.contains("2 workers, 100 streams verified, 300 chunks, 150 data bytes in 2.000s"),
            "{text}"
        );
        assert!(text.contains("throughput: 150.0 chunks/s, 50.0 streams/s"), "{text}");
        assert!(text.contains("p50 0.050ms, p99 0.999ms, max 1.000ms"), "{text}");
        assert_eq!(JobReport::default().percentile(0.5), Duration::ZERO);
    }

    #[test]
    fn sha1sum_lines_escape_like_gnu_sha1sum() {
        let sum = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
        assert_eq!(sha1sum_line(sum, "dir/a b.txt"), format!("{sum}  dir/a b.txt"));
        assert_eq!(sha1sum_line(sum, "a\\b\nc"), format!("\\{sum}  a\\\\b\\nc"));
    }
}
