//! The `log` interface, and the guest log shared with captured stdout/stderr.
//!
//! A guest's log lines go into the host's `tracing` log tagged with the shard (or
//! chunker worker) and the plugin version, so that a line can be traced to the exact
//! build that wrote it. Lines are truncated to `Limits::log_line_bytes`; past
//! `Limits::txn_log_bytes` per transaction, lines are dropped and counted, and the count
//! is logged once when the transaction ends. A chatty guest slows nothing but itself.
//! No Gazette counterpart (Go applications use logrus directly).

use std::sync::{Arc, Mutex};

use super::bindings::log::{Host, Level};
use super::limits::Limits;

/// Where a guest's log lines go: their tags and the per-transaction budget. Shared by
/// the `log` import and the guest's stdout/stderr streams.
#[derive(Debug)]
pub struct GuestLog {
    /// The shard (or chunker worker) the instance serves.
    owner: Arc<str>,
    /// First digits of the plugin version's SHA-256.
    version: String,
    /// `Limits::log_line_bytes`.
    line_bytes: usize,
    /// `Limits::txn_log_bytes`.
    txn_bytes: usize,
    /// What is left of this transaction's budget, and what was dropped.
    budget: Mutex<Budget>,
}

/// The log budget of the current transaction.
#[derive(Debug, Default)]
struct Budget {
    /// Bytes logged so far in this transaction.
    used: usize,
    /// Lines dropped in this transaction because the budget was spent.
    dropped: u64,
}

impl GuestLog {
    /// The log of an instance serving `owner` with plugin `version` (short form).
    pub fn new(owner: &str, version: &str, limits: &Limits) -> Arc<Self> {
        Arc::new(Self {
            owner: owner.into(),
            version: version.to_owned(),
            line_bytes: limits.log_line_bytes,
            txn_bytes: limits.txn_log_bytes,
            budget: Mutex::default(),
        })
    }

    /// The longest line kept, in bytes (`Limits::log_line_bytes`).
    pub fn line_bytes(&self) -> usize {
        self.line_bytes
    }

    /// Logs one line from `source` (`log`, `stdout` or `stderr`) at `level`, truncated
    /// to the line limit, unless this transaction's budget is spent. Returns whether the
    /// line was written.
    pub fn line(&self, source: &'static str, level: Level, text: &str) -> bool {
        // A line costs the bytes it keeps after truncation.
        let cost = text.len().min(self.line_bytes);
        {
            let mut budget = self.budget.lock().unwrap_or_else(|e| e.into_inner());
            if budget.used + cost > self.txn_bytes {
                budget.dropped += 1;
                return false;
            }
            budget.used += cost;
        }
        let text = truncate(text, self.line_bytes);
        let (owner, plugin) = (&*self.owner, self.version.as_str());
        match level {
            Level::Trace => tracing::trace!(shard = owner, plugin, source, "{text}"),
            Level::Debug => tracing::debug!(shard = owner, plugin, source, "{text}"),
            Level::Info => tracing::info!(shard = owner, plugin, source, "{text}"),
            Level::Warn => tracing::warn!(shard = owner, plugin, source, "{text}"),
            Level::Error => tracing::error!(shard = owner, plugin, source, "{text}"),
        }
        true
    }

    /// Starts a new transaction's budget, first reporting how many lines the previous
    /// one dropped (if any). Returns that count.
    pub fn reset_budget(&self) -> u64 {
        let dropped = {
            let mut budget = self.budget.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::take(&mut *budget).dropped
        };
        if dropped > 0 {
            tracing::warn!(
                shard = &*self.owner,
                plugin = self.version.as_str(),
                dropped,
                "guest log lines dropped: over the per-transaction log budget"
            );
        }
        dropped
    }
}

/// `text` cut to at most `max` bytes on a character boundary, marked if cut.
fn truncate(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max {
        return text.into();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… [{} bytes truncated]", &text[..end], text.len() - end).into()
}

/// The `log` import's view of the host state.
pub struct LogView<'a> {
    /// The instance's guest log.
    pub log: &'a GuestLog,
}

impl Host for LogView<'_> {
    fn log(&mut self, level: Level, message: String) -> wasmtime::Result<()> {
        for line in message.lines() {
            self.log.line("log", level, line);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_on_a_char_boundary() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("abcdef", 3), "abc… [3 bytes truncated]");
        // 'é' is two bytes: a cut at 2 would split it.
        assert_eq!(truncate("aé", 2), "a… [2 bytes truncated]");
    }

    #[test]
    fn lines_past_the_transaction_budget_are_dropped_and_counted() {
        let limits = Limits {
            log_line_bytes: 8,
            txn_log_bytes: 20,
            ..Limits::default()
        };
        let log = GuestLog::new("chunks-part-000", "abcdef012345", &limits);
        let mut view = LogView { log: &log };
        // A 100-byte line is truncated to 8 bytes first, and costs only those 8.
        let long = "x".repeat(100);
        assert!(log.line("log", Level::Info, &long)); // 8
        assert!(log.line("stdout", Level::Info, "12345678")); // 16
        assert!(!log.line("stdout", Level::Info, "12345678"), "24 would be over 20");
        view.log(Level::Warn, "ab\ncd\nef".into()).unwrap(); // 18, 20, then dropped
        assert_eq!(log.reset_budget(), 2, "one stdout line and the last line of the call");
        assert!(log.line("log", Level::Info, "fresh budget"));
        assert_eq!(log.reset_budget(), 0);
    }
}
