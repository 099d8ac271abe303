//! The progress bar on stderr, shown only when stderr is a terminal.
//!
//! It counts what the host sees: chunks published through the shared publisher
//! against the total the job will publish (known unless streams run forever), and
//! bytes durably appended. Redrawn in place every [`REDRAW_EVERY`]; erased when the
//! job ends so the final report starts on a clean line. No Gazette counterpart.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use super::publish::ChunkSink;

/// Interval between redraws.
pub const REDRAW_EVERY: Duration = Duration::from_millis(250);
/// Width of the bar, in characters.
const BAR_WIDTH: usize = 30;

/// Starts redrawing the bar if stderr is a terminal; `None` otherwise. Abort the task
/// and call [`clear`] when the job ends.
pub fn start(sink: ChunkSink, total: Option<u64>) -> Option<JoinHandle<()>> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    Some(tokio::spawn(async move {
        let started = Instant::now();
        let mut ticker = tokio::time::interval(REDRAW_EVERY);
        loop {
            ticker.tick().await;
            let (chunks, appended) = sink.progress();
            let line = render(chunks, total, appended, started.elapsed());
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K{line}");
            let _ = err.flush();
        }
    }))
}

/// Erases the bar's line (if a bar was shown).
pub fn clear(task: Option<JoinHandle<()>>) {
    if let Some(task) = task {
        task.abort();
        let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
    }
}

/// One frame of the bar: `[####      ]  40%  400/1000 chunks  1.2 MiB  123 chunks/s`,
/// or without the bar and percentage when the total is unknown.
pub fn render(chunks: u64, total: Option<u64>, appended: u64, elapsed: Duration) -> String {
    let rate = chunks as f64 / elapsed.as_secs_f64().max(1e-3);
    let mib = appended as f64 / (1 << 20) as f64;
    match total {
        Some(total) if total > 0 => {
            let done = chunks.min(total);
            let filled = (done as u128 * BAR_WIDTH as u128 / total as u128) as usize;
            format!(
                "[{}{}] {:>3}%  {done}/{total} chunks  {mib:.1} MiB  {rate:.0} chunks/s",
                "#".repeat(filled),
                " ".repeat(BAR_WIDTH - filled),
                done * 100 / total
            )
        }
        _ => format!("{chunks} chunks  {mib:.1} MiB  {rate:.0} chunks/s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_show_the_fraction_done_and_the_rate() {
        let frame = render(400, Some(1000), 3 << 19, Duration::from_secs(2));
        assert_eq!(
            frame,
            format!(
                "[{}{}]  40%  400/1000 chunks  1.5 MiB  200 chunks/s",
                "#".repeat(12),
                " ".repeat(18)
            )
        );
        let full = render(1000, Some(1000), 0, Duration::from_secs(1));
        assert!(full.starts_with(&format!("[{}] 100%", "#".repeat(30))), "{full}");
        assert_eq!(
            render(5, None, 0, Duration::from_secs(1)),
            "5 chunks  0.0 MiB  5 chunks/s"
        );
    }
}
