//! The journal client interface used by the rest of the host.
//!
//! Everything above the journal layer — the message layer's read-committed reader,
//! the publisher, shards, the chunker — talks to journals through
//! [`JournalClient`], never to storage or gRPC directly. Two implementations exist:
//! [`LocalClient`](super::LocalClient) on this process's [`Storage`](super::Storage)
//! (the embedded broker and its shards, no network hop, `local.rs`) and
//! `service::GrpcJournalClient` for any broker that speaks Gazette's `protocol.Journal`
//! (ours or Gazette's own). This mirrors the role of Gazette's `broker/client` package
//! (`Reader`, `Appender`, `ListJournals`).

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};

use super::error::JournalError;
use super::labels::LabelSelector;
use super::prune::PruneResult;
use super::request::{AppendRequest, AppendResult, ApplyChange, JournalInfo, ReadChunk, ReadRequest};

/// Access to journals, local or remote.
///
/// A read stream yields committed chunks in order; a non-blocking read ends with
/// `Err(OffsetNotYetAvailable)` once it reaches the head, and a `block`ing read waits
/// for new commits. Dropping the stream cancels the read.
pub trait JournalClient: Send + Sync + 'static {
    /// Journals matched by `selector` (Gazette's `name` and `prefix` meta-labels
    /// work), ordered by name.
    fn list(&self, selector: LabelSelector) -> BoxFuture<'static, Result<Vec<JournalInfo>, JournalError>>;

    /// Applies changes atomically; returns the new revision.
    fn apply(&self, changes: Vec<ApplyChange>) -> BoxFuture<'static, Result<i64, JournalError>>;

    /// Appends atomically; resolves once the bytes are durable.
    fn append(&self, req: AppendRequest) -> BoxFuture<'static, Result<AppendResult, JournalError>>;

    /// Reads committed bytes from an offset.
    fn read(&self, req: ReadRequest) -> BoxStream<'static, Result<ReadChunk, JournalError>>;

    /// Snapshots of the journals `selector` matches: the current set at once, then a
    /// new snapshot whenever the matched set or one of its specs changes (Gazette's
    /// List watch; write heads are as of each snapshot). Clients that cannot watch
    /// yield one error.
    fn watch(&self, selector: LabelSelector) -> BoxStream<'static, Result<Vec<JournalInfo>, JournalError>> {
        let _ = selector;
        futures::stream::once(async { Err(JournalError::Protocol("this journal client cannot watch".into())) }).boxed()
    }

    /// Deletes `journal`'s whole fragments that end at or before `before`, moving its
    /// low-water mark (a streamsum extension: Gazette prunes through its fragment
    /// stores, not `protocol.Journal`; ours is `streamsum.admin.Admin/PruneFragments`).
    /// Clients that cannot prune yield `Unsupported`.
    fn prune(&self, journal: &str, before: i64) -> BoxFuture<'static, Result<PruneResult, JournalError>> {
        let msg = format!("journal {journal:?}: this journal client cannot prune (to offset {before})");
        async move { Err(JournalError::Unsupported(msg)) }.boxed()
    }

    /// A zero-byte append: resolves with the write head once every append started
    /// before it has committed.
    fn barrier(&self, journal: &str) -> BoxFuture<'static, Result<i64, JournalError>> {
        self.append(AppendRequest::new(journal, Bytes::new())).map(|r| r.map(|a| a.end)).boxed()
    }
}
