//! One worker's read-committed reader of the sums journal.
//!
//! Mirrors `pumpSums` in Gazette's `examples/stream-sum/chunker.go`: a
//! `ReadCommittedIter` (`message/reader.go`, reference §2.6; here
//! [`CommittedReader`]) over `examples/stream-sum/sums` from the offset of the job's
//! write barrier, forwarding committed messages to the worker. ACKs never come out of
//! the reader, duplicates and rolled-back messages are dropped by its sequencer. Each
//! worker has its own reader, so each sees every Sum once.
//!
//! The reader reopens its read after transient failures; this pump also retries the
//! transport failures the reader reports as permanent (see
//! [`is_retryable`]), so a worker rides out a broker restart. A sequencer
//! inconsistency ends the pump and is handed to the worker as an error.

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::publish::is_retryable;
use crate::journal::JournalClient;
use crate::message::{Backoff, CommittedReader, Envelope, Offset, ReaderError};

/// Committed sums buffered for a worker before the reader waits for it.
pub const SUMS_QUEUE: usize = 1024;

/// What a reader hands its worker: a committed Sum message (its JSON object, without
/// the frame's newline), or why reading the sums journal stopped for good.
pub type SumItem = Result<Vec<u8>, String>;

/// Starts a reader of `journal` from `offset`, stopping at `shutdown` or when the
/// returned receiver is dropped.
pub fn spawn_reader(
    client: Arc<dyn JournalClient>,
    journal: Arc<str>,
    offset: Offset,
    shutdown: watch::Receiver<bool>,
) -> (mpsc::Receiver<SumItem>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(SUMS_QUEUE);
    let task = tokio::spawn(async move {
        let mut shutdown = shutdown;
        tokio::select! {
            _ = pump(client, journal, offset, tx) => {},
            _ = shutdown.changed() => {},
        }
    });
    (rx, task)
}

/// Reads and forwards committed sums until the receiver is dropped.
async fn pump(client: Arc<dyn JournalClient>, journal: Arc<str>, offset: Offset, tx: mpsc::Sender<SumItem>) {
    let mut reader = CommittedReader::new(client, journal.clone(), offset, true);
    let mut backoff = Backoff::default();
    loop {
        match reader.next().await {
            Ok(Some(env)) => {
                backoff.reset();
                if tx.send(Ok(message_of(&env))).await.is_err() {
                    return; // the worker is gone
                }
            }
            Ok(None) => return, // a blocking read does not end; nothing more will come
            Err(ReaderError::Decode(e)) => {
                tracing::warn!(error = %e, "skipping a line of the sums journal that is not a message");
            }
            Err(ReaderError::Journal { source, offset, .. }) if is_retryable(&source) => {
                let delay = backoff.next_delay();
                tracing::warn!(%journal, offset, error = %source, retry_in = ?delay, "reading sums failed; retrying");
                tokio::time::sleep(delay).await;
            }
            Err(e) => {
                let _ = tx.send(Err(e.to_string())).await;
                return;
            }
        }
    }
}

/// The JSON object of a frame (without its newline).
fn message_of(env: &Envelope) -> Vec<u8> {
    let frame = &env.message[..];
    frame.strip_suffix(b"\n").unwrap_or(frame).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::defaults::{stream_sum_specs, sums_journal};
    use crate::journal::{AppendRequest, LocalClient, Storage};
    use crate::message::Publisher;

    /// Appends `publisher`'s buffered frames and returns the end offset.
    async fn flush(client: &LocalClient, publisher: &mut Publisher) -> Offset {
        let mut end = 0;
        for append in publisher.take_appends() {
            end = client
                .append(AppendRequest::new(append.journal.to_string(), append.bytes))
                .await
                .unwrap()
                .end;
        }
        end
    }

    async fn ack(client: &LocalClient, publisher: &mut Publisher) {
        for intent in publisher.build_ack_intents() {
            client
                .append(AppendRequest::new(intent.journal.to_string(), intent.intent))
                .await
                .unwrap();
        }
    }

    #[tokio::test]
    async fn only_committed_sums_after_the_offset_reach_the_worker_without_acks() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path()).unwrap();
        storage.create_missing(stream_sum_specs(1)).unwrap();
        let client = LocalClient::new(storage);
        let sums = sums_journal();
        let (mut a, mut b, mut c) = (
            Publisher::with_own_clock(),
            Publisher::with_own_clock(),
            Publisher::with_own_clock(),
        );

        // Before the reader's offset: never seen.
        b.publish_committed(&sums, br#"{"n":"old"}"#).unwrap();
        let offset = flush(&client, &mut b).await;

        let (_stop_tx, stop) = watch::channel(false);
        let (mut rx, _task) = spawn_reader(Arc::new(client.clone()), sums.as_str().into(), offset, stop);
        a.publish_uncommitted(&sums, br#"{"n":"a"}"#).unwrap(); // held until its ACK
        flush(&client, &mut a).await;
        c.publish_uncommitted(&sums, br#"{"n":"c"}"#).unwrap(); // never acknowledged
        flush(&client, &mut c).await;
        b.publish_committed(&sums, br#"{"n":"b"}"#).unwrap(); // commits itself
        flush(&client, &mut b).await;
        ack(&client, &mut a).await;
        b.publish_committed(&sums, br#"{"n":"last"}"#).unwrap();
        flush(&client, &mut b).await;

        let mut got = Vec::new();
        while got.len() < 3 {
            let message = rx.recv().await.unwrap().unwrap();
            got.push(String::from_utf8(message).unwrap());
        }
        let n = |s: &str| s.split("\"n\":").nth(1).unwrap().to_string();
        assert_eq!(
            got.iter().map(|s| n(s)).collect::<Vec<_>>(),
            vec!["\"b\"}", "\"a\"}", "\"last\"}"]
        );
        assert!(
            got.iter().all(|s| s.starts_with("{\"UUID\":\"") && !s.ends_with('\n')),
            "{got:?}"
        );
        assert!(rx.try_recv().is_err(), "nothing else: no ACK, no uncommitted message");
    }
}
