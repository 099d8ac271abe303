//! One worker's host services: what its guest's `journals` calls do.
//!
//! The guest runs on a blocking thread; each call here bridges into the job's tokio
//! runtime. Mirrors the glue of Gazette's `examples/stream-sum/chunker.go` between a
//! worker's `generate`/`verify` loops and the shared publisher and its `pumpSums`
//! channel:
//! - `publish-chunk` hands the chunk to the shared [`ChunkSink`] and remembers, per
//!   partition, the last ticket this worker got (waiting only if the partition is
//!   backlogged);
//! - `next-sum` first waits until all of this worker's chunks are durable (so a final
//!   chunk is surely appended before its sum is awaited), then for the next committed
//!   Sum from the worker's own reader, all within the guest's timeout;
//! - every call fails fast once the job is stopping (another worker failed, or a
//!   signal), so a guest blocked in `next-sum` returns promptly.

use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch};

use super::files::WorkerFiles;
use super::pace::Pacer;
use super::publish::{ChunkSink, Ticket};
use super::sums::SumItem;
use crate::runtime::ChunkerHost;
use crate::shutdown::stopped;

/// The error a guest sees once the job is stopping.
pub const STOPPED: &str = "the chunker job is stopping (another worker failed or it was interrupted)";

/// Pace waits at least this long also watch for the job stopping.
const LONG_PACE_WAIT: Duration = Duration::from_millis(5);

/// The host services of one worker.
pub struct WorkerHost {
    /// The job's runtime (the guest's thread is not one of its workers).
    handle: Handle,
    /// The shared chunk publisher.
    sink: ChunkSink,
    /// Committed sums from this worker's reader of the sums journal.
    sums: mpsc::Receiver<SumItem>,
    /// This worker's input files (files mode).
    files: WorkerFiles,
    /// The last ticket this worker got per partition and has not yet seen durable.
    unflushed: Vec<Option<Ticket>>,
    /// Turns true when the job stops.
    stop: watch::Receiver<bool>,
    /// The job's shared `--rate` schedule, if any.
    pacer: Option<Pacer>,
}

impl WorkerHost {
    /// A worker publishing through `sink`, reading `sums` and `files`, stopping with `stop`.
    pub fn new(
        handle: Handle,
        sink: ChunkSink,
        sums: mpsc::Receiver<SumItem>,
        files: WorkerFiles,
        stop: watch::Receiver<bool>,
    ) -> Self {
        let unflushed = vec![None; sink.partitions()];
        WorkerHost {
            handle,
            sink,
            sums,
            files,
            unflushed,
            stop,
            pacer: None,
        }
    }

    /// Paces this worker's publishes by the job's shared `--rate` schedule.
    pub fn with_pacer(mut self, pacer: Option<Pacer>) -> Self {
        self.pacer = pacer;
        self
    }

    /// Waits for this worker's next `--rate` slot. Short waits sleep the guest's own
    /// (blocking) thread, which is precise to tens of microseconds; long ones also
    /// end when the job stops.
    fn pace(&mut self) -> Result<(), String> {
        let Some(pacer) = &self.pacer else { return Ok(()) };
        let slot = pacer.reserve(Instant::now());
        let Some(wait) = slot.checked_duration_since(Instant::now()) else { return Ok(()) };
        if wait < LONG_PACE_WAIT {
            std::thread::sleep(wait);
            return Ok(());
        }
        let stop = &mut self.stop;
        self.handle.block_on(async {
            tokio::select! {
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(slot)) => Ok(()),
                _ = stopped(stop) => Err(STOPPED.to_string()),
            }
        })
    }

    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Waits until every chunk this worker published is durable.
    async fn flush(sink: &ChunkSink, unflushed: &mut [Option<Ticket>]) -> Result<(), String> {
        for slot in unflushed.iter_mut() {
            if let Some(ticket) = *slot {
                sink.wait_durable(ticket).await?;
                *slot = None;
            }
        }
        Ok(())
    }
}

impl ChunkerHost for WorkerHost {
    fn partitions(&self) -> u32 {
        self.sink.partitions() as u32
    }

    fn publish_chunk(&mut self, stream_id: &[u8], chunk: &[u8]) -> Result<(), String> {
        if self.stopping() {
            return Err(STOPPED.into());
        }
        self.pace()?;
        let ticket = self.sink.publish(stream_id, chunk)?;
        self.unflushed[ticket.partition] = Some(ticket);
        if ticket.backlogged {
            let (sink, stop) = (&self.sink, &mut self.stop);
            self.handle.block_on(async {
                tokio::select! {
                    r = sink.wait_durable(ticket) => r,
                    _ = stopped(stop) => Err(STOPPED.into()),
                }
            })?;
        }
        Ok(())
    }

    fn next_sum(&mut self, timeout: Duration) -> Result<Option<Vec<u8>>, String> {
        let deadline = tokio::time::Instant::from_std(Instant::now() + timeout);
        let Self {
            handle,
            sink,
            sums,
            unflushed,
            stop,
            ..
        } = self;
        handle.block_on(async {
            let wait = async {
                Self::flush(sink, unflushed).await?;
                match sums.recv().await {
                    Some(item) => item.map(Some),
                    None => Err("the reader of the sums journal stopped".to_string()),
                }
            };
            tokio::select! {
                r = tokio::time::timeout_at(deadline, wait) => r.unwrap_or(Ok(None)),
                _ = stopped(stop) => Err(STOPPED.into()),
            }
        })
    }

    fn read_file(&mut self, file: u32, offset: u64, max_len: u32) -> Result<Vec<u8>, String> {
        if self.stopping() {
            return Err(STOPPED.into());
        }
        self.files.read(file, offset, max_len)
    }
}
