//! A [`JournalClient`] that records append bytes, latency and failures per journal.
//!
//! Gazette counts appends in the broker's append FSM (`broker/append_fsm.go`,
//! `gazette_commits_total`, `gazette_committed_bytes_total`); here every append of the
//! host's shards goes through this wrapper, whether the journals are local or remote,
//! so the transaction loop needs no timing code for its publishes and ACKs.

use std::sync::Arc;
use std::time::Instant;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::FutureExt;

use crate::metrics;
use crate::journal::{
    AppendRequest, AppendResult, ApplyChange, JournalClient, JournalError, JournalInfo, LabelSelector, ReadChunk,
    ReadRequest,
};

/// Wraps a client; see the module docs.
pub struct MeteredClient {
    /// The wrapped client.
    inner: Arc<dyn JournalClient>,
}

impl MeteredClient {
    /// `inner`, metered.
    pub fn wrap(inner: Arc<dyn JournalClient>) -> Arc<dyn JournalClient> {
        Arc::new(MeteredClient { inner })
    }
}

impl JournalClient for MeteredClient {
    fn list(&self, selector: LabelSelector) -> BoxFuture<'static, Result<Vec<JournalInfo>, JournalError>> {
        self.inner.list(selector)
    }

    fn apply(&self, changes: Vec<ApplyChange>) -> BoxFuture<'static, Result<i64, JournalError>> {
        self.inner.apply(changes)
    }

    fn append(&self, req: AppendRequest) -> BoxFuture<'static, Result<AppendResult, JournalError>> {
        let (journal, bytes, started) = (req.journal.clone(), req.content.len(), Instant::now());
        self.inner
            .append(req)
            .map(move |r| {
                metrics::appended(&journal, bytes, started, r.is_ok());
                r
            })
            .boxed()
    }

    fn read(&self, req: ReadRequest) -> BoxStream<'static, Result<ReadChunk, JournalError>> {
        self.inner.read(req)
    }

    fn prune(&self, journal: &str, before: i64) -> BoxFuture<'static, Result<crate::journal::PruneResult, JournalError>> {
        self.inner.prune(journal, before)
    }
}
