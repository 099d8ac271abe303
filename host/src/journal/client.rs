//! The journal client interface used by the rest of the host.
//!
//! Everything above the journal layer — the message layer's read-committed reader,
//! the publisher, shards, the chunker — talks to journals through
//! [`JournalClient`], never to storage or gRPC directly. Two implementations exist:
//! [`LocalClient`] on this process's [`Storage`](super::Storage) (the embedded broker
//! and its shards, no network hop) and `service::GrpcJournalClient` for any broker that
//! speaks Gazette's `protocol.Journal` (ours or Gazette's own). This mirrors the role
//! of Gazette's `broker/client` package (`Reader`, `Appender`, `ListJournals`).

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};

use super::error::JournalError;
use super::labels::{LabelSelector, LabelSet};
use super::spec::JournalSpec;
use super::prune::PruneResult;
use super::storage::Storage;

/// A journal as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalInfo {
    /// The journal's spec (name, labels, fragment settings).
    pub spec: JournalSpec,
    /// Revision of the spec's creation.
    pub create_revision: i64,
    /// Revision of the spec's last change.
    pub mod_revision: i64,
    /// Committed write head when listed.
    pub write_head: i64,
}

/// One atomic append.
#[derive(Clone, Debug, Default)]
pub struct AppendRequest {
    /// Journal to append to.
    pub journal: String,
    /// The bytes; empty makes the append a write barrier.
    pub content: Bytes,
    /// 0 to append at the head, else the offset the head must equal.
    pub offset: i64,
    /// Precondition on the journal's registers (an empty register set matches any).
    pub check_registers: Option<LabelSelector>,
    /// Labels replacing same-named registers (needs content).
    pub union_registers: LabelSet,
    /// Registers to remove (needs content).
    pub subtract_registers: LabelSet,
}

impl AppendRequest {
    /// A plain append of `content` to `journal`.
    pub fn new(journal: impl Into<String>, content: impl Into<Bytes>) -> Self {
        AppendRequest { journal: journal.into(), content: content.into(), ..Default::default() }
    }
}

/// A committed append: where its bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendResult {
    /// The journal.
    pub journal: String,
    /// Offset of the append's first byte.
    pub begin: i64,
    /// Offset just past its last byte (`begin == end` for a barrier: the head).
    pub end: i64,
    /// SHA-1 of the appended bytes.
    pub sha1: [u8; 20],
    /// The journal's registers after the append.
    pub registers: LabelSet,
}

/// A read from an offset.
#[derive(Clone, Debug, Default)]
pub struct ReadRequest {
    /// Journal to read.
    pub journal: String,
    /// First offset (-1: the write head).
    pub offset: i64,
    /// Wait for content at the head instead of ending with `OffsetNotYetAvailable`.
    pub block: bool,
    /// Stop at this offset (0: no end).
    pub end_offset: i64,
}

/// Committed bytes of a journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadChunk {
    /// Offset of `content[0]`.
    pub offset: i64,
    /// The journal's committed head as last reported.
    pub write_head: i64,
    /// Non-empty content.
    pub content: Bytes,
}

/// A change applied by [`JournalClient::apply`].
#[derive(Clone, Debug)]
pub enum ApplyChange {
    /// Create (`expect_mod_revision == 0`) or update (`> 0` must equal the current
    /// revision; -1 skips the check) a journal.
    Upsert {
        /// The spec.
        spec: JournalSpec,
        /// Expected current mod revision.
        expect_mod_revision: i64,
    },
    /// Delete a journal (`expect_mod_revision` must not be 0).
    Delete {
        /// The journal.
        journal: String,
        /// Expected current mod revision (-1: any).
        expect_mod_revision: i64,
    },
}

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

/// Largest content chunk a local read yields.
pub const LOCAL_READ_CHUNK: usize = 1 << 20;

/// [`JournalClient`] on this process's storage.
#[derive(Clone)]
pub struct LocalClient {
    /// The storage.
    storage: Arc<Storage>,
}

impl LocalClient {
    /// A client of `storage`.
    pub fn new(storage: Arc<Storage>) -> Self {
        LocalClient { storage }
    }
}

impl JournalClient for LocalClient {
    fn list(&self, selector: LabelSelector) -> BoxFuture<'static, Result<Vec<JournalInfo>, JournalError>> {
        let s = self.storage.clone();
        async move { s.list(&selector).map(|(_, js)| js) }.boxed()
    }

    fn apply(&self, changes: Vec<ApplyChange>) -> BoxFuture<'static, Result<i64, JournalError>> {
        let s = self.storage.clone();
        async move {
            // Apply writes and fsyncs spec files: keep it off the async workers.
            tokio::task::spawn_blocking(move || s.apply(changes))
                .await
                .map_err(|e| JournalError::io("apply task", std::io::Error::other(e)))?
        }
        .boxed()
    }

    fn append(&self, req: AppendRequest) -> BoxFuture<'static, Result<AppendResult, JournalError>> {
        let s = self.storage.clone();
        async move { s.append(&req).await }.boxed()
    }

    fn watch(&self, selector: LabelSelector) -> BoxStream<'static, Result<Vec<JournalInfo>, JournalError>> {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let storage = self.storage.clone();
        tokio::spawn(async move {
            let mut revisions = storage.subscribe_revision();
            let mut last = None;
            loop {
                revisions.borrow_and_update();
                let snapshot = storage.list(&selector).map(|(_, js)| js);
                let key = snapshot.as_ref().ok().map(|js| js.iter().map(|j| (j.spec.name.clone(), j.mod_revision)).collect::<Vec<_>>());
                if key.is_none() || key != last {
                    let failed = snapshot.is_err();
                    if tx.send(snapshot).await.is_err() || failed {
                        return;
                    }
                    last = key;
                }
                tokio::select! {
                    changed = revisions.changed() => if changed.is_err() { return },
                    _ = tx.closed() => return,
                }
            }
        });
        tokio_stream::wrappers::ReceiverStream::new(rx).boxed()
    }

    fn prune(&self, journal: &str, before: i64) -> BoxFuture<'static, Result<PruneResult, JournalError>> {
        let (s, journal) = (self.storage.clone(), journal.to_owned());
        async move {
            // Rewrites the index, removes files and fsyncs: off the async workers.
            tokio::task::spawn_blocking(move || s.prune(&journal, before))
                .await
                .map_err(|e| JournalError::io("prune task", std::io::Error::other(e)))?
        }
        .boxed()
    }

    fn read(&self, req: ReadRequest) -> BoxStream<'static, Result<ReadChunk, JournalError>> {
        let events = match self.storage.read(&req, LOCAL_READ_CHUNK) {
            Ok(events) => events,
            Err(e) => return futures::stream::once(async move { Err(e) }).boxed(),
        };
        super::read::chunks(events).boxed()
    }
}
