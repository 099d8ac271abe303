//! Logging setup: `tracing` to stderr, text or JSON lines, filtered by level.
//!
//! Gazette logs through logrus with `--log.level` and `--log.format` (text, json,
//! color); these are the same knobs. The filter is the first of: `--log` /
//! `STREAMSUM_LOG` (a full `EnvFilter` directive such as `warn,streamsum_host=debug`),
//! `RUST_LOG`, and `--log-level`. Each shard transaction runs in a `txn` span (shard,
//! txn number), so every line logged inside one carries them; nothing is logged per
//! message at info level.

use std::io::IsTerminal;

use anyhow::Context;
use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

/// How log lines look.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable text (colored on a terminal).
    #[default]
    Text,
    /// One JSON object per line, with the current span's fields.
    Json,
}

/// The least severe level logged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    /// Everything.
    Trace,
    /// Diagnostics.
    Debug,
    /// Lifecycle events (start, plugin loaded, shard primary, shutdown).
    #[default]
    Info,
    /// Retries and recoverable trouble.
    Warn,
    /// Failures.
    Error,
    /// Nothing.
    Off,
}

impl LogLevel {
    /// The `EnvFilter` directive.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
            LogLevel::Off => "off",
        }
    }
}

/// The filter directive in effect and where it came from.
pub fn choose_filter(log: Option<&str>, rust_log: Option<&str>, level: LogLevel) -> (String, &'static str) {
    match (log.filter(|s| !s.is_empty()), rust_log.filter(|s| !s.is_empty())) {
        (Some(f), _) => (f.to_owned(), "--log"),
        (None, Some(f)) => (f.to_owned(), "RUST_LOG"),
        (None, None) => (level.as_str().to_owned(), "--log-level"),
    }
}

/// Installs the global subscriber.
///
/// # Errors
/// The filter directive is invalid (named by where it came from).
pub fn init(log: Option<&str>, format: LogFormat, level: LogLevel) -> anyhow::Result<()> {
    let rust_log = std::env::var("RUST_LOG").ok();
    let (directive, from) = choose_filter(log, rust_log.as_deref(), level);
    let filter = EnvFilter::try_new(&directive).with_context(|| format!("{from} filter {directive:?}"))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).try_init(),
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).try_init(),
    };
    // A second init (tests calling main_with twice) keeps the first subscriber.
    let _ = result;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_comes_from_log_then_rust_log_then_the_level() {
        let cases = [
            (Some("warn,streamsum_host=debug"), Some("trace"), LogLevel::Info, ("warn,streamsum_host=debug", "--log")),
            (None, Some("debug"), LogLevel::Error, ("debug", "RUST_LOG")),
            (Some(""), Some(""), LogLevel::Warn, ("warn", "--log-level")),
            (None, None, LogLevel::Info, ("info", "--log-level")),
        ];
        for (log, rust_log, level, (want, from)) in cases {
            assert_eq!(choose_filter(log, rust_log, level), (want.to_owned(), from), "{log:?} {rust_log:?} {level:?}");
        }
    }

    #[test]
    fn an_invalid_filter_is_refused_naming_its_source() {
        let err = init(Some("foo=[[["), LogFormat::Text, LogLevel::Info).unwrap_err();
        assert!(format!("{err:#}").starts_with("--log filter \"foo=[[[\""), "{err:#}");
    }
}
