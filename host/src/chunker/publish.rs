//! Committed publishing of chunks: one shared publisher, one appender per partition.
//!
//! Mirrors the publishing half of Gazette's `examples/stream-sum/chunker.go`: one
//! `message.Publisher` shared by all workers, its clock raised to wall time every
//! second, each chunk `PublishCommitted` (OUTSIDE_TXN) to the partition chosen by the
//! `ModuloMapping` of its stream id. Gazette's `AppendService` turns those publishes
//! into asynchronous appends, one in flight per journal; so does this module.
//!
//! Invariants:
//! - Stamping a UUID and buffering its frame is one step under one lock, so within a
//!   partition UUID order equals byte order, and chunks of a stream (which all map to
//!   one partition) are appended in publish order.
//! - Each partition has one appender task; it drains the partition's buffer into one
//!   append at a time, retrying transient failures with backoff, and then announces
//!   the sequence number durable through. A [`Ticket`] is durable once that number
//!   reaches it ([`ChunkSink::wait_durable`]).
//! - A partition holding more than [`MAX_BUFFERED_BYTES`] not yet appended tells its
//!   publisher to wait ([`Ticket::backlogged`]), which bounds memory while the broker
//!   is unreachable.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::journal::{AppendRequest, JournalClient};
use crate::message::{AtomicClock, ModuloMapping, Publisher};

/// A partition with more buffered bytes than this makes its publishers wait.
pub const MAX_BUFFERED_BYTES: usize = 8 << 20;
/// How often the shared publisher's clock is raised to wall time (as Gazette's ticker).
pub const CLOCK_UPDATE_INTERVAL: Duration = Duration::from_secs(1);

/// Where one published chunk went: its partition and its sequence number there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticket {
    /// Index of the partition in the mapping's name order.
    pub partition: usize,
    /// 1-based number of the chunk among those published to the partition.
    pub seq: u64,
    /// Whether the partition's buffer is over [`MAX_BUFFERED_BYTES`]: the publisher
    /// should wait for this ticket to be durable before publishing more.
    pub backlogged: bool,
}

/// Frames published and not yet handed to the partition's appender.
#[derive(Default)]
struct Buffer {
    /// Frames in publish order.
    bytes: Vec<u8>,
    /// Sequence number of the last chunk published to the partition.
    seq: u64,
}

/// The publisher and the buffers, under one lock.
struct Inner {
    /// The shared committed publisher (its clock is raised by the ticker).
    publisher: Publisher,
    /// One buffer per partition.
    buffers: Vec<Buffer>,
}

/// One partition's appender signals.
struct Lane {
    /// Wakes the appender when its buffer has bytes.
    wake: Notify,
    /// Sequence number durable through (0: nothing yet).
    durable: watch::Sender<u64>,
}

/// What the appenders and publishers share.
struct Shared {
    /// Chunk partitions, in name order.
    mapping: ModuloMapping,
    /// Publisher and buffers.
    inner: Mutex<Inner>,
    /// Per partition.
    lanes: Vec<Lane>,
    /// A permanent append failure, once one happened: every later call fails with it.
    failed: Mutex<Option<String>>,
    /// Chunks published (for progress).
    chunks: AtomicU64,
    /// Bytes appended durably (for progress).
    appended: AtomicU64,
}

/// The job's chunk publisher (cheap to clone).
#[derive(Clone)]
pub struct ChunkSink {
    /// Shared state.
    shared: Arc<Shared>,
}

impl ChunkSink {
    /// A sink over `mapping` appending through `client`: starts one appender per
    /// partition and the clock ticker, all stopping when `shutdown` turns true.
    pub fn start(
        client: Arc<dyn JournalClient>,
        mapping: ModuloMapping,
        shutdown: watch::Receiver<bool>,
    ) -> (Self, Vec<JoinHandle<()>>) {
        let clock = Arc::new(AtomicClock::now());
        let n = mapping.partitions().len();
        let shared = Arc::new(Shared {
            mapping,
            inner: Mutex::new(Inner {
                publisher: Publisher::new(clock.clone()),
                buffers: (0..n).map(|_| Buffer::default()).collect(),
            }),
            lanes: (0..n)
                .map(|_| Lane {
                    wake: Notify::new(),
                    durable: watch::channel(0).0,
                })
                .collect(),
            failed: Mutex::new(None),
            chunks: AtomicU64::new(0),
            appended: AtomicU64::new(0),
        });
        let mut tasks: Vec<JoinHandle<()>> = (0..n)
            .map(|p| tokio::spawn(appender(shared.clone(), client.clone(), p, shutdown.clone())))
            .collect();
        tasks.push(tokio::spawn(tick_clock(clock, shutdown)));
        (ChunkSink { shared }, tasks)
    }

    /// Number of partitions.
    pub fn partitions(&self) -> usize {
        self.shared.lanes.len()
    }

    /// Chunks published so far, and bytes durably appended.
    pub fn progress(&self) -> (u64, u64) {
        (
            self.shared.chunks.load(Ordering::Relaxed),
            self.shared.appended.load(Ordering::Relaxed),
        )
    }

    /// Publishes `chunk` committed to the partition of `stream_id`.
    ///
    /// # Errors
    /// `chunk` is not one JSON object, or an earlier append failed permanently.
    pub fn publish(&self, stream_id: &[u8], chunk: &[u8]) -> Result<Ticket, String> {
        self.check_failed()?;
        let shared = &*self.shared;
        let journal = shared.mapping.map(stream_id);
        let partition = shared
            .mapping
            .partitions()
            .iter()
            .position(|p| p == journal)
            .unwrap_or(0);
        let ticket = {
            let mut inner = shared.inner.lock().unwrap_or_else(|e| e.into_inner());
            inner
                .publisher
                .publish_committed(journal, chunk)
                .map_err(|e| format!("chunk for {journal}: {e}"))?;
            let framed: Vec<u8> = inner
                .publisher
                .take_appends()
                .into_iter()
                .flat_map(|a| a.bytes)
                .collect();
            let buffer = &mut inner.buffers[partition];
            buffer.bytes.extend_from_slice(&framed);
            buffer.seq += 1;
            Ticket {
                partition,
                seq: buffer.seq,
                backlogged: buffer.bytes.len() > MAX_BUFFERED_BYTES,
            }
        };
        shared.chunks.fetch_add(1, Ordering::Relaxed);
        shared.lanes[partition].wake.notify_one();
        Ok(ticket)
    }

    /// Resolves once `ticket`'s chunk (and every chunk before it in its partition) is
    /// durable.
    ///
    /// # Errors
    /// An append to the partition failed permanently.
    pub async fn wait_durable(&self, ticket: Ticket) -> Result<(), String> {
        let mut durable = self.shared.lanes[ticket.partition].durable.subscribe();
        loop {
            self.check_failed()?;
            if *durable.borrow_and_update() >= ticket.seq {
                return Ok(());
            }
            if durable.changed().await.is_err() {
                return Err("the chunk appender stopped".into());
            }
        }
    }

    fn check_failed(&self) -> Result<(), String> {
        match &*self.shared.failed.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(reason) => Err(reason.clone()),
            None => Ok(()),
        }
    }
}

/// Appends partition `p`'s buffered frames, one append at a time, until shutdown or a
/// permanent failure.
async fn appender(shared: Arc<Shared>, client: Arc<dyn JournalClient>, p: usize, mut shutdown: watch::Receiver<bool>) {
    let journal = shared.mapping.partitions()[p].clone();
    let lane = &shared.lanes[p];
    loop {
        let (bytes, seq) = {
            let mut inner = shared.inner.lock().unwrap_or_else(|e| e.into_inner());
            let buffer = &mut inner.buffers[p];
            (std::mem::take(&mut buffer.bytes), buffer.seq)
        };
        if bytes.is_empty() {
            tokio::select! {
                _ = lane.wake.notified() => continue,
                _ = shutdown.changed() => return,
            }
        }
        let len = bytes.len() as u64;
        match append_retrying(
            &*client,
            AppendRequest::new(journal.clone(), Bytes::from(bytes)),
            &shutdown,
        )
        .await
        {
            Ok(_) => {
                shared.appended.fetch_add(len, Ordering::Relaxed);
                lane.durable.send_replace(seq);
            }
            Err(e) => {
                let reason = format!("appending chunks to {journal}: {e}");
                tracing::error!("{reason}");
                *shared.failed.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
                // Wake every waiter so that it sees the failure.
                for lane in &shared.lanes {
                    lane.durable.send_modify(|_| {});
                }
                return;
            }
        }
    }
}

pub use crate::message::append::{append_retrying, is_retryable};

/// Raises the publisher's clock to wall time every [`CLOCK_UPDATE_INTERVAL`].
async fn tick_clock(clock: Arc<AtomicClock>, mut shutdown: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(CLOCK_UPDATE_INTERVAL);
    loop {
        tokio::select! {
            _ = ticker.tick() => clock.update(SystemTime::now()),
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
#[path = "publish_tests.rs"]
mod tests;
