//! Async readers of journals: read-uncommitted envelopes with retries, and the
//! read-committed reader on top of the sequencer.
//!
//! Mirrors Gazette's `message/reader.go` (`ReadUncommittedIter`, `ReadCommittedIter`)
//! over `broker/client/retry_reader.go`: a read that fails transiently (a broker
//! restarting, a dropped connection) is reopened at the offset of the next frame
//! after a backoff of 50 ms doubling up to 5 s; a blocking read whose stream simply
//! ends is reopened too. This is the thin async shell around the pure `decode` and
//! `sequencer` steps: it only moves bytes between them and the journal client.

use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use futures::StreamExt;
use thiserror::Error;

use super::decode::{DecodeError, FrameDecoder};
use super::envelope::{Envelope, Offset};
use super::sequencer::{Sequencer, SequencerError, SequencerState};
use crate::journal::{JournalClient, JournalError, ReadChunk, ReadRequest};

/// First retry delay after a transient read failure.
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(50);
/// Largest retry delay.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Retry delays: `initial`, doubling on each consecutive failure, capped at `max`,
/// back to `initial` after progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// First delay.
    pub initial: Duration,
    /// Largest delay.
    pub max: Duration,
    /// The next delay to wait.
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(INITIAL_BACKOFF, MAX_BACKOFF)
    }
}

impl Backoff {
    /// Delays from `initial` doubling up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff { initial, max, next: initial }
    }

    /// The delay to wait now; the following one doubles (up to `max`).
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (delay * 2).min(self.max);
        delay
    }

    /// Progress was made: the next delay is `initial` again.
    pub fn reset(&mut self) {
        self.next = self.initial;
    }
}

/// Why a reader could not produce its next envelope.
#[derive(Debug, Error)]
pub enum ReaderError {
    /// A line is not a message. Not fatal: the next call continues after it.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The journal cannot be read (a non-transient error, e.g. it does not exist).
    #[error("reading journal {journal} at offset {offset}: {source}")]
    Journal {
        /// The journal.
        journal: Arc<str>,
        /// The offset being read.
        offset: Offset,
        /// The client's error.
        #[source]
        source: JournalError,
    },
    /// The sequencer refused a replay (an inconsistent journal).
    #[error(transparent)]
    Sequencer(#[from] SequencerError),
}

/// Envelopes of one journal in order, read-uncommitted, with retries.
pub struct UncommittedReader {
    /// The journal client.
    client: Arc<dyn JournalClient>,
    /// Frames bytes into envelopes; its offset is where a reopened read resumes.
    decoder: FrameDecoder,
    /// Wait at the head for more (else end there).
    block: bool,
    /// Stop at this offset (0: no end).
    end_offset: Offset,
    /// The open read, if any.
    stream: Option<BoxStream<'static, Result<ReadChunk, JournalError>>>,
    /// Delays between reopens.
    backoff: Backoff,
    /// Whether the end (head or `end_offset`) was reached.
    done: bool,
}

impl UncommittedReader {
    /// A reader of `journal` from `offset` (0 is the start).
    pub fn new(client: Arc<dyn JournalClient>, journal: impl Into<Arc<str>>, offset: Offset, block: bool) -> Self {
        UncommittedReader {
            client,
            decoder: FrameDecoder::new(journal, offset),
            block,
            end_offset: 0,
            stream: None,
            backoff: Backoff::default(),
            done: false,
        }
    }

    /// Uses `backoff` between retries instead of 50 ms → 5 s.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Stops reading at `end` (a range read, e.g. a replay).
    pub fn with_end_offset(mut self, end: Offset) -> Self {
        self.end_offset = end;
        self
    }

    /// The offset of the next frame.
    pub fn offset(&self) -> Offset {
        self.decoder.offset()
    }

    /// The next envelope; `None` at the end (the head of a non-blocking read, or the
    /// end offset).
    ///
    /// # Errors
    /// [`ReaderError::Decode`] for a bad line (call again to continue);
    /// [`ReaderError::Journal`] for a non-transient journal error.
    pub async fn next(&mut self) -> Result<Option<Envelope>, ReaderError> {
        loop {
            if self.end_offset > 0 && self.decoder.offset() >= self.end_offset {
                return Ok(None); // Never yield frames past the end, even if the server sent them.
            }
            if let Some(frame) = self.decoder.next_frame() {
                return Ok(Some(frame?));
            }
            if self.done
                || (self.end_offset > 0
                    && self.decoder.offset() + self.decoder.incomplete_len() as Offset >= self.end_offset)
            {
                return Ok(None);
            }
            let offset = self.decoder.offset() + self.decoder.incomplete_len() as Offset;
            let journal = self.decoder.journal().clone();
            let stream = self.stream.get_or_insert_with(|| {
                let req = ReadRequest {
                    journal: journal.to_string(),
                    offset,
                    block: self.block,
                    end_offset: self.end_offset,
                };
                self.client.read(req)
            });
            match stream.next().await {
                Some(Ok(chunk)) => {
                    self.backoff.reset();
                    if chunk.offset != offset {
                        // A read from -1 (the head) starts wherever the head is; otherwise
                        // content below `offset` is gone (Gazette's ErrOffsetJump).
                        if offset >= 0 {
                            tracing::warn!(%journal, expected = offset, actual = chunk.offset, "read skipped ahead");
                        }
                        self.decoder = FrameDecoder::new(journal, chunk.offset);
                    }
                    self.decoder.push(&chunk.content);
                }
                Some(Err(JournalError::OffsetNotYetAvailable { .. })) if !self.block => {
                    self.done = true;
                }
                Some(Err(e)) if !e.is_transient() && !matches!(e, JournalError::OffsetNotYetAvailable { .. }) => {
                    self.stream = None;
                    return Err(ReaderError::Journal { journal, offset, source: e });
                }
                ended => {
                    // A transient failure, or the stream ended: reopen after a backoff.
                    self.stream = None;
                    match ended {
                        Some(Err(e)) => tracing::warn!(%journal, offset, error = %e, "journal read failed; retrying"),
                        _ if self.end_offset > 0
                            && self.decoder.offset() + self.decoder.incomplete_len() as Offset >= self.end_offset =>
                        {
                            continue
                        }
                        _ => tracing::debug!(%journal, offset, "journal read ended; reopening"),
                    }
                    tokio::time::sleep(self.backoff.next_delay()).await;
                }
            }
        }
    }
}

/// Committed envelopes of one journal, exactly once, never an acknowledgement.
pub struct CommittedReader {
    /// The underlying read-uncommitted reader.
    reader: UncommittedReader,
    /// Sequences the envelopes.
    sequencer: Sequencer,
    /// Client for replay reads.
    client: Arc<dyn JournalClient>,
}

impl CommittedReader {
    /// A reader of `journal` from `offset` with a fresh sequencer.
    pub fn new(client: Arc<dyn JournalClient>, journal: impl Into<Arc<str>>, offset: Offset, block: bool) -> Self {
        let journal = journal.into();
        let sequencer = Sequencer::new([(journal.clone(), offset)], [], 0);
        Self::with_sequencer(client, journal, offset, block, sequencer)
    }

    /// A reader resuming from a checkpointed sequencer `state` (its read-through
    /// offset for `journal`, else 0), with a ring of `ring_size` envelopes.
    pub fn from_state(
        client: Arc<dyn JournalClient>,
        journal: impl Into<Arc<str>>,
        state: SequencerState,
        ring_size: usize,
        block: bool,
    ) -> Self {
        let journal = journal.into();
        let offset = state.read_through.get(&journal).copied().unwrap_or(0);
        Self::with_sequencer(client, journal, offset, block, Sequencer::from_state(state, ring_size))
    }

    fn with_sequencer(
        client: Arc<dyn JournalClient>,
        journal: Arc<str>,
        offset: Offset,
        block: bool,
        sequencer: Sequencer,
    ) -> Self {
        CommittedReader { reader: UncommittedReader::new(client.clone(), journal, offset, block), sequencer, client }
    }

    /// The sequencer (e.g. to checkpoint it).
    pub fn sequencer_mut(&mut self) -> &mut Sequencer {
        &mut self.sequencer
    }

    /// The next committed envelope; `None` at the end of a non-blocking read. The
    /// previously returned envelope counts as processed once this is called.
    ///
    /// # Errors
    /// As [`UncommittedReader::next`], plus [`ReaderError::Sequencer`].
    pub async fn next(&mut self) -> Result<Option<Envelope>, ReaderError> {
        loop {
            if self.sequencer.is_dequeuing() {
                if let Some(env) = self.sequencer.step()? {
                    return Ok(Some(env));
                }
                continue;
            }
            let Some(env) = self.reader.next().await? else { return Ok(None) };
            if self.sequencer.queue_uncommitted(env)?.commits() {
                if let Some((journal, begin, end)) = self.sequencer.replay_range() {
                    let envelopes = read_range(self.client.clone(), journal, begin, end).await?;
                    self.sequencer.start_replay(envelopes)?;
                }
            }
        }
    }
}

/// Reads the envelopes of `[begin, end)` of `journal` (a sequencer replay).
async fn read_range(
    client: Arc<dyn JournalClient>,
    journal: Arc<str>,
    begin: Offset,
    end: Offset,
) -> Result<Vec<Envelope>, ReaderError> {
    {
        let mut replay = UncommittedReader::new(client, journal, begin, true).with_end_offset(end);
        let mut out = Vec::new();
        loop {
            match replay.next().await {
                Ok(Some(env)) => out.push(env),
                Ok(None) => return Ok(out),
                Err(ReaderError::Decode(_)) => continue, // Reported on the first read.
                Err(e) => return Err(e),
            }
        }
    }
}

/// `journals read --committed`: prints each committed message of `journal` (its
/// frame, one line) to stdout; bad lines go to stderr as warnings.
///
/// # Errors
/// A journal that cannot be read, or stdout that cannot be written.
pub async fn print_committed(
    client: Arc<dyn JournalClient>,
    journal: &str,
    offset: Offset,
    block: bool,
) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::Write;
    let mut reader = CommittedReader::new(client, journal, offset, block);
    let mut out = std::io::stdout().lock();
    loop {
        match reader.next().await {
            Ok(Some(env)) => {
                match out.write_all(&env.message).and_then(|()| if block { out.flush() } else { Ok(()) }) {
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                    r => r.context("writing to stdout")?,
                }
            }
            Ok(None) => break,
            Err(ReaderError::Decode(e)) => eprintln!("warning: skipping {e}"),
            Err(e) => return Err(e).with_context(|| format!("reading committed messages of {journal:?}")),
        }
    }
    out.flush().context("writing to stdout")
}

#[cfg(test)]
#[path = "reader_tests.rs"]
mod tests;
