//! Errors of the journal layer, shared by the local storage and every client.
//!
//! Each Gazette `Status` a caller may branch on has its own variant, so a local
//! append and a gRPC append fail the same way. [`JournalError::is_transient`] tells
//! retrying callers (publisher, shards, chunker) whether trying again can help.

use super::labels::{LabelError, LabelSet};

/// A journal operation's failure.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The journal does not exist.
    #[error("journal {journal:?} not found")]
    NotFound {
        /// The journal asked for.
        journal: String,
    },
    /// A non-blocking read reached the write head.
    #[error("journal {journal:?}: offset {offset} not yet available (write head {write_head})")]
    OffsetNotYetAvailable {
        /// The journal read.
        journal: String,
        /// The offset asked for.
        offset: i64,
        /// The committed write head.
        write_head: i64,
    },
    /// `check_registers` did not match the journal's registers.
    #[error("journal {journal:?}: register mismatch (registers {registers:?})")]
    RegisterMismatch {
        /// The journal appended to.
        journal: String,
        /// The journal's current registers.
        registers: LabelSet,
    },
    /// An explicit append offset differed from the write head.
    #[error("journal {journal:?}: wrong append offset {offset} (write head {write_head})")]
    WrongAppendOffset {
        /// The journal appended to.
        journal: String,
        /// The offset requested.
        offset: i64,
        /// The journal's write head.
        write_head: i64,
    },
    /// The journal's flags forbid the operation.
    #[error("journal {journal:?}: {op} not allowed by the journal's flags")]
    NotAllowed {
        /// The journal.
        journal: String,
        /// "read" or "append".
        op: &'static str,
    },
    /// An Apply's expected mod revision did not match.
    #[error("apply failed: {0}")]
    EtcdTransactionFailed(String),
    /// A malformed request or spec (bad name, label, selector, option).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The broker answered with a Gazette status this client does not branch on.
    #[error("journal {journal:?}: broker answered status {status}")]
    Status {
        /// The journal, if any.
        journal: String,
        /// The Gazette status name.
        status: String,
    },
    /// The broker is unreachable or unavailable (connection refused, shutting down).
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    /// The broker or client does not offer the operation (e.g. pruning on a broker
    /// without the streamsum admin service).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A protocol violation by the peer (bad frame order, invalid response).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// Local storage failed (the journal is then closed to further appends).
    #[error("storage error on {context}: {source}")]
    Io {
        /// What was being done, naming the journal and file.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl JournalError {
    /// An [`JournalError::Invalid`] from any message.
    pub fn invalid(msg: impl Into<String>) -> Self {
        JournalError::Invalid(msg.into())
    }

    /// An [`JournalError::Io`] with context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        JournalError::Io { context: context.into(), source }
    }

    /// Whether retrying the same request later may succeed: unavailable brokers,
    /// refused connections and brokers with no primary are transient; missing
    /// journals, register mismatches and invalid requests are not.
    pub fn is_transient(&self) -> bool {
        match self {
            JournalError::Unavailable(_) => true,
            JournalError::Status { status, .. } => matches!(
                status.as_str(),
                "NO_JOURNAL_PRIMARY_BROKER" | "NOT_JOURNAL_PRIMARY_BROKER" | "NOT_JOURNAL_BROKER"
                    | "INSUFFICIENT_JOURNAL_BROKERS"
            ),
            _ => false,
        }
    }
}

impl From<LabelError> for JournalError {
    fn from(e: LabelError) -> Self {
        JournalError::Invalid(e.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_availability_problems_are_transient() {
        let j = || "a/journal".to_string();
        let cases = [
            (JournalError::Unavailable("connection refused".into()), true),
            (JournalError::Status { journal: j(), status: "NO_JOURNAL_PRIMARY_BROKER".into() }, true),
            (JournalError::Status { journal: j(), status: "INDEX_HAS_GREATER_OFFSET".into() }, false),
            (JournalError::NotFound { journal: j() }, false),
            (JournalError::RegisterMismatch { journal: j(), registers: LabelSet::default() }, false),
            (JournalError::WrongAppendOffset { journal: j(), offset: 1, write_head: 2 }, false),
            (JournalError::invalid("bad"), false),
            (JournalError::io("x", std::io::Error::other("disk")), false),
        ];
        for (e, transient) in cases {
            assert_eq!(e.is_transient(), transient, "{e}");
        }
    }
}
