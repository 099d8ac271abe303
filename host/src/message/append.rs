//! The publisher's async shell: appends drained buffers through a journal client.
//!
//! Mirrors the role of Gazette's `broker/client/append_service.go` for our pure
//! [`Publisher`](super::Publisher): each journal's buffer is one atomic append (so a
//! reader never sees part of a publish batch), different journals are appended
//! concurrently, and a transient failure is retried with [`Backoff`]. A retried append
//! that had in fact landed is written twice: readers drop the duplicates by UUID
//! (the sequencer), so appends are at-least-once and delivery stays exactly-once.

use std::sync::Arc;

use futures::future::try_join_all;

use super::publisher::{AckIntent, PendingAppend};
use super::reader::Backoff;
use tokio::sync::watch;

use crate::journal::{AppendRequest, AppendResult, JournalClient, JournalError};

/// Appends each pending buffer (journals concurrently, retrying transient failures)
/// and returns where each landed, in the order given.
///
/// # Errors
/// The first non-transient [`JournalError`] (e.g. a missing journal).
pub async fn append_pending(
    client: &Arc<dyn JournalClient>,
    appends: Vec<PendingAppend>,
) -> Result<Vec<AppendResult>, JournalError> {
    try_join_all(appends.into_iter().map(|a| append_with_retry(client.clone(), a.journal.to_string(), a.bytes))).await
}

/// Appends ACK intents (after the checkpoint holding them has committed, or verbatim
/// from a recovered checkpoint), journals concurrently, retrying transient failures.
///
/// # Errors
/// The first non-transient [`JournalError`].
pub async fn append_intents(
    client: &Arc<dyn JournalClient>,
    intents: Vec<AckIntent>,
) -> Result<Vec<AppendResult>, JournalError> {
    try_join_all(intents.into_iter().map(|i| append_with_retry(client.clone(), i.journal.to_string(), i.intent))).await
}

async fn append_with_retry(
    client: Arc<dyn JournalClient>,
    journal: String,
    bytes: Vec<u8>,
) -> Result<AppendResult, JournalError> {
    let content = bytes::Bytes::from(bytes);
    let mut backoff = Backoff::default();
    loop {
        match client.append(AppendRequest::new(journal.clone(), content.clone())).await {
            Err(e) if e.is_transient() => {
                let delay = backoff.next_delay();
                tracing::warn!(%journal, error = %e, ?delay, "append failed; retrying");
                tokio::time::sleep(delay).await;
            }
            other => return other,
        }
    }
}

/// Whether an append (or read) that failed with `e` is worth retrying: transient
/// failures, and transport failures that surface from gRPC as protocol errors (a
/// connection cut mid-request). Appending the same frames again is safe: readers drop
/// duplicates by UUID.
pub fn is_retryable(e: &JournalError) -> bool {
    e.is_transient() || matches!(e, JournalError::Protocol(_))
}

/// Appends `req`, retrying [`is_retryable`] failures with [`Backoff`] until
/// `shutdown` turns true.
///
/// # Errors
/// A permanent failure (unknown journal, register mismatch, refused content, …), or
/// the last failure once shutdown was requested.
pub async fn append_retrying(
    client: &dyn JournalClient,
    req: AppendRequest,
    shutdown: &watch::Receiver<bool>,
) -> Result<AppendResult, JournalError> {
    let mut backoff = Backoff::default();
    loop {
        match client.append(req.clone()).await {
            Ok(r) => return Ok(r),
            Err(e) if is_retryable(&e) && !*shutdown.borrow() => {
                let delay = backoff.next_delay();
                tracing::warn!(journal = %req.journal, error = %e, retry_in = ?delay, "append failed; retrying");
                tokio::time::sleep(delay).await;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{JournalSpec, LabelSet, LocalClient, ReadRequest, Storage};
    use crate::message::{AtomicClock, Clock, ProducerId, Publisher};
    use futures::StreamExt;

    async fn read_all(client: &Arc<dyn JournalClient>, journal: &str) -> Vec<u8> {
        let mut s = client.read(ReadRequest { journal: journal.into(), offset: 0, block: false, end_offset: 0 });
        let mut out = Vec::new();
        while let Some(Ok(chunk)) = s.next().await {
            out.extend_from_slice(&chunk.content);
        }
        out
    }

    #[tokio::test]
    async fn drained_buffers_and_intents_land_in_publish_order() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path()).unwrap();
        let specs = ["t/chunks", "t/sums"].map(|n| JournalSpec {
            name: n.into(),
            labels: LabelSet::from_pairs([("content-type", "application/x-ndjson")]),
            ..JournalSpec::default()
        });
        storage.create_missing(specs.to_vec()).unwrap();
        let client: Arc<dyn JournalClient> = Arc::new(LocalClient::new(storage.clone()));

        let mut p = Publisher::with_producer(ProducerId([1; 6]), Arc::new(AtomicClock::new(Clock(1 << 20))), false);
        p.publish_committed("t/chunks", b"{\"n\":1}").unwrap();
        p.publish_uncommitted("t/sums", b"{\"n\":2}").unwrap();
        p.publish_committed("t/chunks", b"{\"n\":3}").unwrap();
        let appends = p.take_appends();
        let want_chunks = appends[0].bytes.clone();
        let mut want_sums = appends[1].bytes.clone();
        let results = append_pending(&client, appends).await.unwrap();
        assert_eq!(
            results.iter().map(|r| (r.journal.as_str(), r.begin, r.end)).collect::<Vec<_>>(),
            vec![("t/chunks", 0, want_chunks.len() as i64), ("t/sums", 0, want_sums.len() as i64),]
        );
        let intents = p.build_ack_intents();
        want_sums.extend_from_slice(&intents[0].intent);
        append_intents(&client, intents).await.unwrap();
        assert_eq!(read_all(&client, "t/chunks").await, want_chunks);
        assert_eq!(read_all(&client, "t/sums").await, want_sums);

        p.publish_committed("t/missing", b"{}").unwrap();
        let err = append_pending(&client, p.take_appends()).await.unwrap_err();
        assert!(matches!(err, JournalError::NotFound { .. }), "{err}");
        storage.shutdown();
    }

    /// Fails the first `failures` appends with a transient error, then delegates.
    struct Flaky {
        inner: LocalClient,
        failures: std::sync::atomic::AtomicUsize,
    }

    impl JournalClient for Flaky {
        fn list(
            &self,
            s: crate::journal::LabelSelector,
        ) -> futures::future::BoxFuture<'static, Result<Vec<crate::journal::JournalInfo>, JournalError>> {
            self.inner.list(s)
        }
        fn apply(
            &self,
            c: Vec<crate::journal::ApplyChange>,
        ) -> futures::future::BoxFuture<'static, Result<i64, JournalError>> {
            self.inner.apply(c)
        }
        fn append(
            &self,
            req: AppendRequest,
        ) -> futures::future::BoxFuture<'static, Result<AppendResult, JournalError>> {
            use futures::FutureExt;
            let left = self.failures.load(std::sync::atomic::Ordering::SeqCst);
            if left > 0 {
                self.failures.store(left - 1, std::sync::atomic::Ordering::SeqCst);
                return async { Err(JournalError::Unavailable("broker restarting".into())) }.boxed();
            }
            self.inner.append(req)
        }
        fn read(
            &self,
            req: ReadRequest,
        ) -> futures::stream::BoxStream<'static, Result<crate::journal::ReadChunk, JournalError>> {
            self.inner.read(req)
        }
    }

    #[tokio::test]
    async fn transient_append_failures_are_retried() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path()).unwrap();
        let spec = JournalSpec {
            name: "t/chunks".into(),
            labels: LabelSet::from_pairs([("content-type", "application/x-ndjson")]),
            ..JournalSpec::default()
        };
        storage.create_missing(vec![spec]).unwrap();
        let flaky = Arc::new(Flaky { inner: LocalClient::new(storage.clone()), failures: 2.into() });
        let client: Arc<dyn JournalClient> = flaky.clone();
        let mut p = Publisher::with_producer(ProducerId([1; 6]), Arc::new(AtomicClock::new(Clock(1 << 20))), false);
        p.publish_committed("t/chunks", b"{}").unwrap();
        let appends = p.take_appends();
        let want = appends[0].bytes.clone();
        let started = std::time::Instant::now();
        append_pending(&client, appends).await.unwrap();
        assert!(started.elapsed() >= std::time::Duration::from_millis(150), "waited 50 ms then 100 ms");
        assert_eq!(flaky.failures.load(std::sync::atomic::Ordering::SeqCst), 0);
        assert_eq!(read_all(&client, "t/chunks").await, want);
        storage.shutdown();
    }
}
