//! [`LocalClient`]: the [`JournalClient`] of this process's own [`Storage`].
//!
//! The embedded broker's shards and tools read and append through it with no network
//! hop; blocking storage work (spec files, pruning) runs on `spawn_blocking`.

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};

use super::client::JournalClient;
use super::error::JournalError;
use super::labels::LabelSelector;
use super::prune::PruneResult;
use super::request::{AppendRequest, AppendResult, ApplyChange, JournalInfo, ReadChunk, ReadRequest};
use super::storage::Storage;

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
