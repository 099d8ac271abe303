//! The etcd layer's errors, for callers that branch on them.
//!
//! As in the flow crates the style guide points to, a library layer gets a
//! `thiserror` enum with [`Error::is_transient`]; the service that drives it wraps
//! these in `anyhow` with context.

use thiserror::Error;
use tonic::Code;

use crate::allocator::KeyError;

/// What can go wrong talking to etcd or keeping Gazette's keyspace rules.
#[derive(Debug, Error)]
pub enum Error {
    /// etcd could not be reached, or refused a request.
    #[error("etcd {action}: {source}")]
    Etcd {
        /// What was being done ("granting a lease", "loading /root", …).
        action: String,
        #[source]
        source: etcd_client::Error,
    },
    /// Another lease holds the key: another live process announced the same member.
    #[error("{key:?} is already announced under lease {lease:#x}: is another process running with the same zone and suffix?")]
    AlreadyAnnounced {
        /// The contested key.
        key: String,
        /// The lease that holds it.
        lease: i64,
    },
    /// A guarded write found the key changed (or deleted) since the revision it read.
    #[error("{key:?} is no longer at revision {expected}: it was modified or deleted meanwhile")]
    Conflict {
        /// The guarded key.
        key: String,
        /// The mod revision the write expected.
        expected: i64,
    },
    /// The root of a keyspace is not a clean absolute path.
    #[error("keyspace root {root:?} must start with '/' and must not end with '/'")]
    BadRoot {
        /// The rejected root.
        root: String,
    },
    /// A member, item or assignment name does not fit the allocator's key shapes.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The allocator's own member key is gone: its lease expired or was revoked.
    #[error("member key {key:?} is not in the keyspace at revision {revision}: its lease ended")]
    MemberGone {
        /// The member key.
        key: String,
        /// The keyspace revision that lacks it.
        revision: i64,
    },
    /// One item's operations exceed what etcd accepts in one transaction.
    #[error("item {item:?} needs {writes} writes and {guards} comparisons in one transaction; etcd accepts {max} of each")]
    TxnTooLarge {
        /// The item.
        item: String,
        /// Its writes.
        writes: usize,
        /// Its comparisons, with the ones every transaction carries.
        guards: usize,
        /// etcd's limit (its default `--max-txn-ops`).
        max: usize,
    },
}

impl Error {
    /// An [`Error::Etcd`] for `action`.
    pub(crate) fn etcd(action: impl Into<String>) -> impl FnOnce(etcd_client::Error) -> Error {
        let action = action.into();
        move |source| Error::Etcd { action, source }
    }

    /// Whether trying again later (after reading the keyspace again) may succeed:
    /// etcd being unreachable or busy, or a guarded write losing a race.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Etcd { source, .. } => match source {
                etcd_client::Error::GRpcStatus(status) => matches!(
                    status.code(),
                    Code::Unavailable | Code::DeadlineExceeded | Code::Unknown | Code::Aborted | Code::ResourceExhausted
                ),
                etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) | etcd_client::Error::WatchError(_) => true,
                _ => false,
            },
            Error::Conflict { .. } => true,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_or_busy_etcd_and_lost_races_are_transient_the_rest_is_not() {
        let grpc = |status: tonic::Status| Error::Etcd { action: "test".into(), source: etcd_client::Error::GRpcStatus(status) };
        let cases = [
            ("etcd unavailable", grpc(tonic::Status::unavailable("down")), true),
            ("deadline exceeded", grpc(tonic::Status::deadline_exceeded("slow")), true),
            ("a bad request", grpc(tonic::Status::invalid_argument("no")), false),
            ("a lost race", Error::Conflict { key: "k".into(), expected: 3 }, true),
            ("a duplicate member", Error::AlreadyAnnounced { key: "k".into(), lease: 1 }, false),
            ("a vanished member", Error::MemberGone { key: "k".into(), revision: 9 }, false),
        ];
        for (name, error, transient) in cases {
            assert_eq!(error.is_transient(), transient, "{name}: {error}");
        }
    }
}
