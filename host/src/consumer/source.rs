//! Reading one source journal of a shard: read-uncommitted envelopes, forever.
//!
//! Gazette's shard starts one `RetryReader` → `ReadUncommittedIter` per source
//! (`consumer/shard.go`, `message/reader.go`) feeding a channel that the transaction
//! loop selects on. This is that reader: it reads blocking from an offset through any
//! [`JournalClient`], splits frames with the [`FrameDecoder`], and sends the envelopes
//! (and decode errors) to the shard, up to [`FRAMES_PER_EVENT`] per channel message and
//! at most [`MAX_QUEUED_FRAMES`] not yet handled. It survives broker restarts and
//! transient errors by re-reading from the offset of the next whole frame, with backoff
//! from 50 ms up to 5 s.
//!
//! Invariant: envelopes are sent in journal order with no gaps other than offset jumps
//! the broker reports (deleted content), which are logged.

use std::sync::Arc;

use futures::StreamExt;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use crate::journal::{JournalClient, JournalError, ReadRequest};
use crate::message::{DecodeError, Envelope, FrameDecoder, Offset};

pub use crate::message::Backoff;

/// Most frames in one [`SourceEvent`]: one channel hand-off per this many frames
/// instead of one per frame (the per-message send and wake-up showed in profiles).
pub const FRAMES_PER_EVENT: usize = 32;

/// Most frames sent to the shard and not yet handled by it: what bounds a reader's
/// memory when its shard is behind (the shard's channel counts events, not frames).
pub const MAX_QUEUED_FRAMES: usize = 32768;

/// What a source reader hands the shard: consecutive frames of the journal, in order.
#[derive(Debug, Default)]
pub struct SourceEvent {
    /// Each frame: an envelope with a valid message UUID, or a line that is not a
    /// message (the reader continues at the next line). At most [`FRAMES_PER_EVENT`].
    pub frames: Vec<Result<Envelope, DecodeError>>,
    /// This event's share of [`MAX_QUEUED_FRAMES`], given back when the shard drops it.
    budget: Option<OwnedSemaphorePermit>,
}

/// Reads `journal` from `offset` into `tx` until the receiver is dropped.
pub async fn read_source(client: Arc<dyn JournalClient>, journal: Arc<str>, offset: Offset, tx: mpsc::Sender<SourceEvent>) {
    let mut decoder = FrameDecoder::new(journal.clone(), offset);
    let mut backoff = Backoff::default();
    let queued = Arc::new(Semaphore::new(MAX_QUEUED_FRAMES));
    loop {
        let req = ReadRequest { journal: journal.to_string(), offset: decoder.offset(), block: true, end_offset: 0 };
        let mut stream = client.read(req);
        let err = loop {
            match stream.next().await {
                None => break None,
                Some(Err(e)) => break Some(e),
                Some(Ok(chunk)) => {
                    backoff.reset();
                    let expect = decoder.offset() + decoder.incomplete_len() as Offset;
                    if chunk.offset != expect {
                        tracing::warn!(%journal, expected = expect, got = chunk.offset, "offset jump in source journal; skipping to the new offset");
                        decoder = FrameDecoder::new(journal.clone(), chunk.offset);
                    }
                    decoder.push(&chunk.content);
                    let mut event = SourceEvent::default();
                    loop {
                        let frame = decoder.next_frame();
                        let done = frame.is_none();
                        event.frames.extend(frame);
                        if event.frames.len() == FRAMES_PER_EVENT || (done && !event.frames.is_empty()) {
                            // Cannot fail: the semaphore is never closed.
                            let Ok(permit) = queued.clone().acquire_many_owned(event.frames.len() as u32).await else { return };
                            event.budget = Some(permit);
                            if tx.send(std::mem::take(&mut event)).await.is_err() {
                                return; // The shard stopped.
                            }
                        }
                        if done {
                            break;
                        }
                    }
                }
            }
        };
        log_read_end(&journal, decoder.offset(), err.as_ref());
        // Re-read from the start of the incomplete line, if any.
        decoder = FrameDecoder::new(journal.clone(), decoder.offset());
        tokio::select! {
            _ = tokio::time::sleep(backoff.next_delay()) => {},
            _ = tx.closed() => return,
        }
    }
}

fn log_read_end(journal: &str, offset: Offset, err: Option<&JournalError>) {
    match err {
        None => tracing::debug!(%journal, offset, "source read ended; re-reading"),
        Some(e) if e.is_transient() => tracing::debug!(%journal, offset, error = %e, "source read failed; retrying"),
        Some(e) => tracing::warn!(%journal, offset, error = %e, "source read failed; retrying"),
    }
}

/// Reads the frames of `journal` in `[begin, end)` (a sequencer replay), skipping
/// malformed lines.
///
/// # Errors
/// The read failed; the caller retries the transaction.
pub async fn read_range(client: &dyn JournalClient, journal: Arc<str>, begin: Offset, end: Offset) -> Result<Vec<Envelope>, JournalError> {
    let mut decoder = FrameDecoder::new(journal.clone(), begin);
    let mut out = Vec::new();
    let mut stream = client.read(ReadRequest { journal: journal.to_string(), offset: begin, block: true, end_offset: end });
    while decoder.offset() < end {
        let Some(chunk) = stream.next().await.transpose()? else { break };
        decoder.push(&chunk.content);
        while let Some(frame) = decoder.next_frame() {
            if let Ok(env) = frame {
                out.push(env);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::journal::{AppendRequest, LocalClient, Storage};
    use crate::message::Publisher;

    #[tokio::test]
    async fn frames_arrive_in_order_in_events_and_at_most_the_budget_waits_unhandled() {
        let tmp = tempfile::tempdir().unwrap();
        let storage = Storage::open(tmp.path()).unwrap();
        storage.create_missing(crate::journal::defaults::stream_sum_specs(1)).unwrap();
        let journal = crate::journal::defaults::chunk_partition(0);
        let mut publisher = Publisher::with_own_clock();
        let total = MAX_QUEUED_FRAMES + 1000;
        for n in 0..total {
            publisher.publish_committed(&journal, format!("{{\"n\":{n}}}").as_bytes()).unwrap();
        }
        let client = Arc::new(LocalClient::new(storage));
        for a in publisher.take_appends() {
            client.append(AppendRequest::new(journal.clone(), a.bytes)).await.unwrap();
        }
        let (tx, mut rx) = mpsc::channel(1 << 20); // The channel alone would take them all.
        let reader = tokio::spawn(read_source(client, journal.as_str().into(), 0, tx));

        // Take all the reader sends before it waits on its budget. No signal exists for
        // "the reader waits": a quiet second ends the first phase.
        let mut held = Vec::new();
        let mut frames = 0;
        while let Ok(event) = tokio::time::timeout(Duration::from_secs(1), rx.recv()).await {
            let event = event.unwrap();
            assert!(!event.frames.is_empty() && event.frames.len() <= FRAMES_PER_EVENT);
            frames += event.frames.len();
            held.push(event);
        }
        // Permits are taken per event, so the reader may stop short by less than one event.
        assert!(frames <= MAX_QUEUED_FRAMES && frames + FRAMES_PER_EVENT > MAX_QUEUED_FRAMES, "{frames} frames were sent and not handled");
        let mut next = 0;
        let mut check = |event: SourceEvent| {
            for frame in event.frames {
                let text = String::from_utf8(frame.unwrap().message.to_vec()).unwrap();
                assert!(text.ends_with(&format!(",\"n\":{next}}}\n")), "frame {next}: {text}");
                next += 1;
            }
        };
        held.into_iter().for_each(&mut check);
        // Handled (dropped): the rest follows.
        while frames < total {
            let event = rx.recv().await.unwrap();
            frames += event.frames.len();
            check(event);
        }
        assert_eq!(next, total);
        reader.abort();
    }
}
