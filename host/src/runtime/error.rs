//! What can go wrong in a guest call, as the consumer needs to tell it apart.
//!
//! Issue 8: a trap, a deadline, a limit or an error result each aborts the transaction
//! and discards the instance, and the reason must be reported by name. No Gazette
//! counterpart (a Go application's failure is a returned `error` or a crash).

use std::time::Duration;

use super::limits::LimitExceeded;
use crate::store::StoreError;

/// A failed guest call. After any of these the instance is unusable: the caller aborts
/// the transaction and discards the instance.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The guest trapped (`unreachable`, out-of-bounds access, stack overflow, …).
    #[error("guest {call} trapped: {message}")]
    Trap {
        /// The guest function (`consume`, `finalize-txn`, `instantiate`).
        call: &'static str,
        /// Wasmtime's description of the trap, with the guest backtrace if known.
        message: String,
    },
    /// The call ran past its epoch deadline and was interrupted.
    #[error("guest {call} ran past its deadline of {timeout:?}")]
    Deadline {
        /// The guest function.
        call: &'static str,
        /// The configured `Limits::call_timeout`.
        timeout: Duration,
    },
    /// The guest exceeded a named limit.
    #[error("guest {call} trapped: {limit}")]
    Limit {
        /// The guest function.
        call: &'static str,
        /// Which limit, the cap and what the guest asked for.
        limit: LimitExceeded,
    },
    /// The call burnt all of its fuel (`Limits::fuel`, metering on).
    #[error("guest {call} exceeded the fuel limit: ran out of its {fuel} units of fuel")]
    OutOfFuel {
        /// The guest function.
        call: &'static str,
        /// The configured `Limits::fuel` per call.
        fuel: u64,
    },
    /// The guest returned an error result (a domain failure it describes itself).
    #[error("guest {call} failed: {text}")]
    Guest {
        /// The guest function.
        call: &'static str,
        /// The guest's error text (it should name the journal and offset at fault).
        text: String,
    },
    /// The host's store failed while serving the guest (not the guest's fault).
    #[error("store failure during guest {call}: {source}")]
    Store {
        /// The guest function.
        call: &'static str,
        /// The store's error.
        source: StoreError,
    },
    /// The instance already failed; it must be discarded.
    #[error("the guest instance is unusable after an earlier failure: {0}")]
    Unusable(String),
}

/// Backtrace lines kept at each end of a trap message (a runaway recursion would
/// otherwise put thousands of frames in one log line and in the shard's status).
const BACKTRACE_LINES: usize = 4;

/// `message` with the middle of a long wasm backtrace replaced by a count; the first
/// frames and the last line (which ends with the trap's reason) are kept.
fn shorten_backtrace(message: &str) -> String {
    let lines: Vec<&str> = message.lines().collect();
    if lines.len() <= 2 * BACKTRACE_LINES + 1 {
        return message.to_owned();
    }
    let omitted = lines.len() - 2 * BACKTRACE_LINES;
    let mut out = lines[..BACKTRACE_LINES].join("\n");
    out.push_str(&format!("\n    … {omitted} frames omitted …\n"));
    out.push_str(&lines[lines.len() - BACKTRACE_LINES..].join("\n"));
    out
}

impl CallError {
    /// Classifies an error returned by wasmtime for a call of `call`.
    pub(crate) fn from_wasmtime(call: &'static str, err: wasmtime::Error, timeout: Duration) -> Self {
        Self::classify(call, err, timeout, None)
    }

    /// As [`CallError::from_wasmtime`], for a call that ran with `fuel` units of fuel.
    pub(crate) fn classify(call: &'static str, err: wasmtime::Error, timeout: Duration, fuel: Option<u64>) -> Self {
        if let Some(limit) = err.downcast_ref::<LimitExceeded>() {
            return Self::Limit {
                call,
                limit: limit.clone(),
            };
        }
        if err.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) {
            return Self::Deadline { call, timeout };
        }
        if err.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::OutOfFuel) {
            return Self::OutOfFuel { call, fuel: fuel.unwrap_or(0) };
        }
        match err.downcast::<StoreError>() {
            Ok(source) => Self::Store { call, source },
            Err(err) => {
                let message = err.chain().map(|c| c.to_string()).collect::<Vec<_>>().join(": ");
                Self::Trap { call, message: shorten_backtrace(&message) }
            }
        }
    }

    /// The name of the limit hit (a [`Limits`](super::limits::Limits) field), for a
    /// [`CallError::Limit`], [`CallError::OutOfFuel`] or [`CallError::Deadline`].
    pub fn limit_name(&self) -> Option<&'static str> {
        match self {
            Self::Limit { limit, .. } => Some(limit.name),
            Self::OutOfFuel { .. } => Some("fuel"),
            Self::Deadline { .. } => Some("call_timeout"),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_backtraces_keep_both_ends_and_the_reason() {
        let frames: Vec<String> = (0..100).map(|i| format!("  {i}: 0x17f8 - <wasm function 29>")).collect();
        let message = format!("error while executing at wasm backtrace:\n{}: wasm trap: call stack exhausted", frames.join("\n"));
        let short = shorten_backtrace(&message);
        assert_eq!(short.lines().count(), 2 * BACKTRACE_LINES + 1, "{short}");
        assert!(short.ends_with("99: 0x17f8 - <wasm function 29>: wasm trap: call stack exhausted"), "{short}");
        assert!(short.contains("… 93 frames omitted …"), "{short}");
        assert_eq!(shorten_backtrace("wasm trap: unreachable"), "wasm trap: unreachable");
    }
}
