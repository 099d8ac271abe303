//! Reading committed bytes: the loop behind both a local read and a gRPC `Read`.
//!
//! Mirrors `broker/read_api.go serveRead`: find the fragment covering the offset;
//! if there is one, emit a metadata event (fragment, write head) and then its
//! committed bytes in content events of at most `max_chunk` bytes; otherwise either
//! end with `OffsetNotYetAvailable` (non-blocking) or wait for the next commit. Bytes
//! are read with `pread` on a blocking thread in batches, and come from the page cache
//! for readers tailing the head. Readers only ever see committed (synced) bytes.
//! A read from below the journal's low-water mark (pruned fragments, `prune.rs`)
//! starts at the mark instead: its first event's offset is greater than requested.

use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::request::{ReadChunk, ReadRequest};
use super::error::JournalError;
use super::fragment::FragmentFile;
use super::log::Journal;

/// Bytes read from disk per blocking call.
const READ_BATCH: usize = 1 << 20;
/// Events buffered ahead of a slow consumer.
const READ_AHEAD: usize = 32;

/// The fragment a metadata event describes (a local, uncompressed fragment).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FragmentMeta {
    /// The journal.
    pub journal: String,
    /// First offset of the fragment file.
    pub begin: i64,
    /// Its committed end.
    pub end: i64,
}

/// What a read produces, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadEvent {
    /// A fragment covering `offset` is ready; its content follows.
    Fragment {
        /// The effective read offset.
        offset: i64,
        /// The committed head (≥ `fragment.end`).
        write_head: i64,
        /// The fragment.
        fragment: FragmentMeta,
    },
    /// Committed, non-empty bytes starting at `offset`.
    Content {
        /// Offset of `content[0]`.
        offset: i64,
        /// The bytes.
        content: Bytes,
    },
}

/// Starts a read of `journal` (already resolved and validated) as a stream of events.
pub fn read_events(
    journal: Arc<Journal>,
    req: ReadRequest,
    metadata_only: bool,
    max_chunk: usize,
) -> ReceiverStream<Result<ReadEvent, JournalError>> {
    let (tx, rx) = mpsc::channel(READ_AHEAD);
    tokio::spawn(async move {
        if let Err(e) = serve(&journal, req, metadata_only, max_chunk, &tx).await {
            let _ = tx.send(Err(e)).await;
        }
    });
    ReceiverStream::new(rx)
}

type Tx = mpsc::Sender<Result<ReadEvent, JournalError>>;

/// The read loop; returns `Ok` when the read is complete or the receiver is gone.
async fn serve(journal: &Journal, req: ReadRequest, metadata_only: bool, max_chunk: usize, tx: &Tx) -> Result<(), JournalError> {
    let mut commits = journal.subscribe();
    let mut offset = req.offset;
    loop {
        let commit = commits.borrow_and_update().clone();
        if offset == -1 {
            offset = commit.head;
        }
        // Below the first local fragment (pruned, or never here after a lost disk),
        // the fragment stores serve what they hold (`persist.rs`); over what nobody
        // holds a read jumps forward, as Gazette's does over deleted fragments; the
        // events carry the new offset.
        let low = journal.low();
        if offset < low {
            if let Some(f) = journal.remote_at(offset) {
                let stop = if req.end_offset != 0 { f.end.min(req.end_offset) } else { f.end };
                let fragment = FragmentMeta { journal: journal.name().to_string(), begin: f.begin, end: f.end };
                let meta = ReadEvent::Fragment { offset, write_head: journal.head(), fragment };
                if tx.send(Ok(meta)).await.is_err() || metadata_only {
                    return Ok(());
                }
                while offset < stop {
                    let len = ((stop - offset) as usize).min(READ_BATCH);
                    let data = f.store.read(&f, offset, len).await?;
                    if !send_content(tx, offset, &data, max_chunk).await {
                        return Ok(());
                    }
                    offset += len as i64;
                }
                continue;
            }
            offset = journal.remote_after(offset).map_or(low, |next| next.min(low));
        }
        offset = offset.max(low);
        if req.end_offset != 0 && offset >= req.end_offset {
            return Ok(());
        }
        if let Some((begin, end, file)) = journal.fragment_at(offset) {
            let fragment = FragmentMeta { journal: journal.name().to_string(), begin, end };
            let meta = ReadEvent::Fragment { offset, write_head: journal.head(), fragment };
            if tx.send(Ok(meta)).await.is_err() || metadata_only {
                return Ok(());
            }
            let stop = if req.end_offset != 0 { end.min(req.end_offset) } else { end };
            while offset < stop {
                let len = ((stop - offset) as usize).min(READ_BATCH);
                let data = read_blocking(journal.name(), file.clone(), begin, offset, len).await?;
                if !send_content(tx, offset, &data, max_chunk).await {
                    return Ok(());
                }
                offset += len as i64;
            }
            continue;
        }
        if commit.deleted {
            return Err(JournalError::NotFound { journal: journal.name().to_string() });
        }
        if let Some(why) = &commit.closed {
            return Err(JournalError::Unavailable(format!("journal {:?}: {why}", journal.name())));
        }
        if !req.block {
            return Err(JournalError::OffsetNotYetAvailable {
                journal: journal.name().to_string(),
                offset,
                write_head: commit.head,
            });
        }
        tokio::select! {
            changed = commits.changed() => if changed.is_err() { return Ok(()) },
            _ = tx.closed() => return Ok(()),
        }
    }
}

/// Sends `data` (at `offset`) in content events of at most `max_chunk` bytes; false
/// once the receiver is gone.
async fn send_content(tx: &Tx, offset: i64, data: &Bytes, max_chunk: usize) -> bool {
    for start in (0..data.len()).step_by(max_chunk) {
        let piece = data.slice(start..(start + max_chunk).min(data.len()));
        if tx.send(Ok(ReadEvent::Content { offset: offset + start as i64, content: piece })).await.is_err() {
            return false;
        }
    }
    true
}

async fn read_blocking(name: &str, file: Arc<std::fs::File>, begin: i64, offset: i64, len: usize) -> Result<Bytes, JournalError> {
    let context = || format!("reading journal {name:?} at offset {offset}");
    tokio::task::spawn_blocking(move || FragmentFile::read(&file, begin, offset, len))
        .await
        .map_err(|e| JournalError::io(context(), std::io::Error::other(e)))?
        .map(Bytes::from)
        .map_err(|e| JournalError::io(context(), e))
}

/// Content chunks of a read (metadata events only update the reported write head).
pub fn chunks(
    events: impl Stream<Item = Result<ReadEvent, JournalError>> + Send + 'static,
) -> impl Stream<Item = Result<ReadChunk, JournalError>> + Send + 'static {
    let mut write_head = 0;
    events.filter_map(move |ev| {
        let out = match ev {
            Ok(ReadEvent::Fragment { write_head: w, .. }) => {
                write_head = w;
                None
            }
            Ok(ReadEvent::Content { offset, content }) => Some(Ok(ReadChunk { offset, write_head, content })),
            Err(e) => Some(Err(e)),
        };
        futures::future::ready(out)
    })
}
