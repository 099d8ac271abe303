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

impl CallError {
    /// Classifies an error returned by wasmtime for a call of `call`.
    pub(crate) fn from_wasmtime(call: &'static str, err: wasmtime::Error, timeout: Duration) -> Self {
        if let Some(limit) = err.downcast_ref::<LimitExceeded>() {
            return Self::Limit {
                call,
                limit: limit.clone(),
            };
        }
        if err.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) {
            return Self::Deadline { call, timeout };
        }
        match err.downcast::<StoreError>() {
            Ok(source) => Self::Store { call, source },
            Err(err) => {
                let message = err.chain().map(|c| c.to_string()).collect::<Vec<_>>().join(": ");
                Self::Trap { call, message }
            }
        }
    }

    /// The name of the limit hit, for a [`CallError::Limit`].
    pub fn limit_name(&self) -> Option<&'static str> {
        match self {
            Self::Limit { limit, .. } => Some(limit.name),
            _ => None,
        }
    }
}
