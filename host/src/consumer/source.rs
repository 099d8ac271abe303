//! Reading one source journal of a shard: read-uncommitted envelopes, forever.
//!
//! Gazette's shard starts one `RetryReader` → `ReadUncommittedIter` per source
//! (`consumer/shard.go`, `message/reader.go`) feeding a channel that the transaction
//! loop selects on. This is that reader: it reads blocking from an offset through any
//! [`JournalClient`], splits frames with the [`FrameDecoder`], and sends each envelope
//! (or decode error) to the shard. It survives broker restarts and transient errors by
//! re-reading from the offset of the next whole frame, with backoff from 50 ms up to 5 s.
//!
//! Invariant: envelopes are sent in journal order with no gaps other than offset jumps
//! the broker reports (deleted content), which are logged.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::mpsc;

use crate::journal::{JournalClient, JournalError, ReadRequest};
use crate::message::{DecodeError, Envelope, FrameDecoder, Offset};

/// First retry delay after a failed read.
pub const BACKOFF_MIN: Duration = Duration::from_millis(50);
/// Largest retry delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// What a source reader hands the shard.
#[derive(Debug)]
pub enum SourceEvent {
    /// A frame with a valid message UUID.
    Envelope(Envelope),
    /// A line that is not a message; the reader continues at the next line.
    Malformed(DecodeError),
}

/// Exponential backoff between `BACKOFF_MIN` and `BACKOFF_MAX`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Self {
        Backoff(BACKOFF_MIN)
    }
}

impl Backoff {
    /// The delay to wait now; doubles the next one.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.0;
        self.0 = (self.0 * 2).min(BACKOFF_MAX);
        d
    }

    /// Back to the shortest delay after a success.
    pub fn reset(&mut self) {
        self.0 = BACKOFF_MIN;
    }
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
                    while let Some(frame) = decoder.next_frame() {
                        let event = match frame {
                            Ok(env) => SourceEvent::Envelope(env),
                            Err(e) => SourceEvent::Malformed(e),
                        };
                        if tx.send(event).await.is_err() {
                            return; // The shard stopped.
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
    use super::*;

    #[test]
    fn backoff_doubles_from_50ms_to_5s_and_resets() {
        let mut b = Backoff::default();
        let delays: Vec<_> = (0..10).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(delays, [50, 100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
        b.reset();
        assert_eq!(b.next_delay(), BACKOFF_MIN);
    }
}
