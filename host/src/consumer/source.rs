//! Reading one source journal of a shard: read-uncommitted envelopes, forever.
//!
//! Gazette's shard starts one `RetryReader` → `ReadUncommittedIter` per source
//! (`consumer/shard.go`, `message/reader.go`) feeding a channel that the transaction
//! loop selects on. This is that reader: it reads blocking from an offset through any
//! [`JournalClient`], splits frames with the [`FrameDecoder`], and sends the envelopes
//! (and decode errors) to the shard, up to [`FRAMES_PER_EVENT`] per channel message. It survives broker restarts and transient errors by
//! re-reading from the offset of the next whole frame, with backoff from 50 ms up to 5 s.
//!
//! Invariant: envelopes are sent in journal order with no gaps other than offset jumps
//! the broker reports (deleted content), which are logged.

use std::sync::Arc;

use futures::StreamExt;
use tokio::sync::mpsc;

use crate::journal::{JournalClient, JournalError, ReadRequest};
use crate::message::{DecodeError, Envelope, FrameDecoder, Offset};

pub use crate::message::Backoff;

/// Most frames in one [`SourceEvent`]: one channel hand-off per this many frames
/// instead of one per frame (the per-message send and wake-up showed in profiles), while
/// the shard's channel of `READ_CHANNEL` events still bounds what is buffered.
pub const FRAMES_PER_EVENT: usize = 32;

/// What a source reader hands the shard: consecutive frames of the journal, in order.
#[derive(Debug, Default)]
pub struct SourceEvent {
    /// Each frame: an envelope with a valid message UUID, or a line that is not a
    /// message (the reader continues at the next line). At most [`FRAMES_PER_EVENT`].
    pub frames: Vec<Result<Envelope, DecodeError>>,
}

/// Reads `journal` from `offset` into `tx` until the receiver is dropped.
pub async fn read_source(client: Arc<dyn JournalClient>, journal: Arc<str>, offset: Offset, tx: mpsc::Sender<SourceEvent>) {
    let mut decoder = FrameDecoder::new(journal.clone(), offset);
    let mut backoff = Backoff::default();
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
