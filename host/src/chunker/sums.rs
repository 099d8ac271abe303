//! One worker's read-committed reader of the sums journal.
//!
//! Mirrors `pumpSums` in Gazette's `examples/stream-sum/chunker.go` over a
//! `message.ReadCommittedIter` (`message/reader.go`, reference §2.6): a retrying,
//! blocking read of `examples/stream-sum/sums` from the offset of the job's write
//! barrier, read-uncommitted envelopes through a [`Sequencer`] (ring of
//! [`SUMS_RING_SIZE`], as Gazette's chunker), replaying from the journal when a
//! committed span was evicted from the ring, and only committed, non-ACK messages
//! forwarded. Each worker has its own reader, so each sees every Sum once.
//!
//! The read itself is `consumer::source::read_source`: it survives an unreachable or
//! restarted broker by re-reading from the next whole frame with backoff.

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::consumer::source::{read_range, read_source, Backoff, SourceEvent};
use crate::journal::JournalClient;
use crate::message::{Envelope, Offset, Sequencer, SequencerError};

/// Size of each reader's sequencer ring (Gazette's chunker uses 16).
pub const SUMS_RING_SIZE: usize = 16;
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

/// Reads, sequences and forwards committed sums until the receiver is dropped.
async fn pump(client: Arc<dyn JournalClient>, journal: Arc<str>, offset: Offset, tx: mpsc::Sender<SumItem>) {
    let (events_tx, mut events) = mpsc::channel(256);
    let _reader = AbortOnDrop(tokio::spawn(read_source(client.clone(), journal.clone(), offset, events_tx)));
    let mut sequencer = Sequencer::new([(journal.clone(), offset)], [], SUMS_RING_SIZE);
    while let Some(event) = events.recv().await {
        let env = match event {
            SourceEvent::Envelope(env) => env,
            SourceEvent::Malformed(e) => {
                tracing::warn!(error = %e, "skipping a line of the sums journal that is not a message");
                continue;
            }
        };
        let result = match sequencer.queue_uncommitted(env) {
            Ok(outcome) if outcome.commits() => drain(&mut sequencer, &*client, &tx).await,
            Ok(_) => Ok(true),
            Err(e) => Err(e.to_string()),
        };
        match result {
            Ok(true) => {}
            Ok(false) => break, // the worker is gone
            Err(reason) => {
                let _ = tx.send(Err(format!("sequencing {journal}: {reason}"))).await;
                break;
            }
        }
    }
}

/// Aborts the task when dropped: the raw reader may be parked in a blocking read, and
/// must not outlive the pump when the job stops.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Steps through a committed sequence, forwarding each message. Returns `Ok(false)` if
/// the worker is gone.
async fn drain(sequencer: &mut Sequencer, client: &dyn JournalClient, tx: &mpsc::Sender<SumItem>) -> Result<bool, String> {
    loop {
        match sequencer.step() {
            Ok(Some(env)) => {
                if tx.send(Ok(message_of(&env))).await.is_err() {
                    return Ok(false);
                }
            }
            Ok(None) => return Ok(true),
            Err(SequencerError::ReplayRequired { journal, begin, end }) => {
                let envelopes = replay(client, journal, begin, end).await;
                sequencer.start_replay(envelopes).map_err(|e| e.to_string())?;
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Re-reads `[begin, end)` of `journal`, retrying with backoff until it succeeds.
async fn replay(client: &dyn JournalClient, journal: Arc<str>, begin: Offset, end: Offset) -> Vec<Envelope> {
    let mut backoff = Backoff::default();
    loop {
        match read_range(client, journal.clone(), begin, end).await {
            Ok(envelopes) => return envelopes,
            Err(e) => {
                let delay = backoff.next_delay();
                tracing::warn!(%journal, begin, end, error = %e, retry_in = ?delay, "replaying sums failed; retrying");
                tokio::time::sleep(delay).await;
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
            end = client.append(AppendRequest::new(append.journal.to_string(), append.bytes)).await.unwrap().end;
        }
        end
    }

    async fn ack(client: &LocalClient, publisher: &mut Publisher) {
        for intent in publisher.build_ack_intents() {
            client.append(AppendRequest::new(intent.journal.to_string(), intent.intent)).await.unwrap();
        }
    }

    #[tokio::test]
    async fn only_committed_sums_after_the_offset_reach_the_worker_without_acks() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open(dir.path()).unwrap();
        storage.create_missing(stream_sum_specs(1)).unwrap();
        let client = LocalClient::new(storage);
        let sums = sums_journal();
        let (mut a, mut b, mut c) = (Publisher::with_own_clock(), Publisher::with_own_clock(), Publisher::with_own_clock());

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
        assert_eq!(got.iter().map(|s| n(s)).collect::<Vec<_>>(), vec!["\"b\"}", "\"a\"}", "\"last\"}"]);
        assert!(got.iter().all(|s| s.starts_with("{\"UUID\":\"") && !s.ends_with('\n')), "{got:?}");
        assert!(rx.try_recv().is_err(), "nothing else: no ACK, no uncommitted message");
    }
}
