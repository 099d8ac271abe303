//! `log`: guest log lines go to the runner's stderr (outside libtest's capture).
//!
//! `trace` and `debug` lines are dropped unless `STREAMSUM_GUEST_LOG=debug`, so the
//! chunker's waiting warnings show but its chatter does not.

use crate::bindings::log::{Host, Level};

use super::TestHost;

impl Host for TestHost {
    fn log(&mut self, level: Level, message: String) {
        let verbose = std::env::var("STREAMSUM_GUEST_LOG").is_ok_and(|v| v == "debug");
        let name = match level {
            Level::Trace if verbose => "TRACE",
            Level::Debug if verbose => "DEBUG",
            Level::Trace | Level::Debug => return,
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        };
        eprintln!("[guest {name}] {message}");
    }
}
