//! The transaction loop of a primary shard.
//!
//! Gazette's `consumer/transaction.go`, reduced to what a shard with one plugin needs:
//!
//! 1. **Consume**: apply read-uncommitted envelopes to the sequencer; hand each
//!    committed message to the guest, packed into batches of one journal. The first
//!    message starts the clock: the transaction keeps consuming while input flows and
//!    for at least `min_txn_duration`, waits (up to `max_txn_duration`) for an ACK that
//!    an upstream producer's open transaction promises, and closes as soon as input
//!    stalls after that — or at `max_txn_duration` regardless.
//! 2. **Finalize**: the guest flushes its cache into store writes.
//! 3. **Publish**: once the previous transaction's ACKs are written (so this one's
//!    messages follow them in every journal), frame the guest's publishes as
//!    CONTINUE_TXN messages and append them; wait until they are durable.
//! 4. **Checkpoint** the sequencer (read-through offsets, producer states) with this
//!    transaction's ACK intents, and **commit** it with the store writes: one record
//!    appended to the shard's recovery log (the commit point), then applied to RocksDB
//!    in one write batch.
//! 5. **Acknowledge**: append the ACK intents in the background; the next transaction
//!    consumes meanwhile but publishes nothing before they land.
//!
//! A crash anywhere leaves either the old checkpoint (its ACK intents, re-appended on
//! recovery, roll back this transaction's publishes; its offsets re-read the input and
//! its producer states drop what was already applied) or the new one (its intents are
//! re-appended, which is idempotent).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{anyhow, Context};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::checkpoint::Checkpoint;
use super::spec::{ShardEnv, ShardSpec};
use crate::shutdown::stopped;
use super::source::{read_range, SourceEvent};
use super::status::ShardStatus;
use crate::journal::{AppendRequest, JournalClient};
use crate::message::append::append_retrying;
use crate::message::{DecodeError, Envelope, Publisher, Sequencer, SequencerError};
use super::app::Application;
use crate::runtime::{CallError, MessageBatch, PluginVersion, SummerPlugin, TxnOutput};
use super::recovery::RecoveryLog;
use crate::store::{crash_point, LogOp, LogRecord, ShardDb};

/// Most messages handed to the guest in one `consume` call.
pub const MAX_BATCH_MESSAGES: usize = 1024;
/// Most frame bytes handed to the guest in one `consume` call (a batch holds at least
/// one message, whatever its size).
pub const MAX_BATCH_BYTES: usize = 1 << 20;
/// Producers silent for longer than this are dropped from checkpoints (Gazette's 24 h).
pub const PRUNE_HORIZON: Duration = Duration::from_secs(24 * 3600);

/// How a transaction ended.
#[derive(Debug, PartialEq, Eq)]
pub enum TxnEnd {
    /// It committed.
    Committed,
    /// Shutdown was requested; it was abandoned before its commit.
    Shutdown,
    /// A new plugin version was published before the transaction consumed anything:
    /// a boundary at which to swap (issue 7).
    Idle,
}

/// A shard's transaction machinery, kept across its transactions.
pub struct Txn {
    /// The shard's spec.
    spec: ShardSpec,
    /// Journals.
    client: Arc<dyn JournalClient>,
    /// The shard's store.
    db: ShardDb,
    /// The shard's recovery log, owned by this shard life.
    log: RecoveryLog,
    /// Progress reporting.
    status: Arc<ShardStatus>,
    /// Read-committed sequencing of the source.
    sequencer: Sequencer,
    /// This shard life's producer (fresh id per life).
    publisher: Publisher,
    /// The guest; `None` only while a call runs on a blocking thread.
    instance: Option<Box<dyn Application>>,
    /// Envelopes from the source reader.
    rx: mpsc::Receiver<SourceEvent>,
    /// The batch being filled for the guest.
    batch: Option<MessageBatch>,
    /// The `consume` call in flight on a blocking thread, if any: the guest consumes
    /// one batch while the loop sequences the next (it holds the instance meanwhile).
    consuming: Option<Consuming>,
    /// The batch the last finished `consume` call returned, emptied for reuse.
    spare: Option<MessageBatch>,
    /// ACK appends of the previous transaction, still in flight.
    prev_acks: Option<JoinHandle<anyhow::Result<()>>>,
    /// Ends a transaction that has consumed nothing when a new plugin version is
    /// published (hot swap, `swap.rs`); `None` without hot reload.
    wake: Option<watch::Receiver<SummerPlugin>>,
}

impl Txn {
    /// The machinery of a shard that just recovered.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        spec: &ShardSpec,
        env: &ShardEnv,
        db: ShardDb,
        log: RecoveryLog,
        status: Arc<ShardStatus>,
        sequencer: Sequencer,
        publisher: Publisher,
        instance: Box<dyn Application>,
        rx: mpsc::Receiver<SourceEvent>,
    ) -> Self {
        Txn {
            spec: spec.clone(),
            client: env.client.clone(),
            db,
            log,
            status,
            sequencer,
            publisher,
            instance: Some(instance),
            rx,
            batch: Some(MessageBatch::new(&spec.source)),
            consuming: None,
            spare: None,
            prev_acks: None,
            wake: None,
        }
    }

    /// Ends idle transactions ([`TxnEnd::Idle`]) when `wake` sees a new plugin version.
    pub fn set_wake(&mut self, wake: watch::Receiver<SummerPlugin>) {
        self.wake = Some(wake);
    }

    /// The plugin version of the instance (`None` only while a guest call runs).
    pub fn plugin_version(&self) -> Option<PluginVersion> {
        self.instance.as_ref().map(|i| i.version().clone())
    }

    /// Replaces the instance at a transaction boundary (hot swap); the old one is dropped.
    pub fn replace_instance(&mut self, instance: Box<dyn Application>) {
        self.instance = Some(instance);
    }

    /// Runs one transaction to its commit, or until shutdown is requested.
    ///
    /// # Errors
    /// Anything that fails the transaction; nothing of it was committed.
    pub async fn run_one(&mut self, shutdown: &mut watch::Receiver<bool>) -> anyhow::Result<TxnEnd> {
        let (min, max) = (self.spec.min_txn_duration, self.spec.max_txn_duration);
        let mut began: Option<Instant> = None;
        let mut consumed = 0u64;
        loop {
            let now = Instant::now();
            let timer = match began {
                None => None,
                Some(b) if now >= b + max => break,
                Some(b) if now < b + min => Some(b + min),
                Some(b) if self.sequencer.has_pending() => Some(b + max),
                Some(_) => match self.rx.try_recv() {
                    Ok(event) => {
                        consumed += self.handle(event).await?;
                        continue;
                    }
                    Err(mpsc::error::TryRecvError::Empty) => break, // Input stalled: close.
                    Err(mpsc::error::TryRecvError::Disconnected) => return Err(reader_gone(&self.spec)),
                },
            };
            let sleep = tokio::time::sleep_until(timer.unwrap_or(now + max).into());
            tokio::select! {
                event = self.rx.recv() => {
                    let event = event.ok_or_else(|| reader_gone(&self.spec))?;
                    let n = self.handle(event).await?;
                    if n > 0 && began.is_none() {
                        began = Some(Instant::now());
                        self.publisher.clock().update(SystemTime::now());
                    }
                    consumed += n;
                }
                _ = sleep, if timer.is_some() => {}
                _ = new_version(&mut self.wake), if began.is_none() => return Ok(TxnEnd::Idle),
                // Lease renewals filled a snapshot interval while idle: snapshot and prune.
                _ = self.log.snapshot_due(), if began.is_none() => self.log.maybe_snapshot(&self.db, shutdown).await?,
                _ = stopped(shutdown) => {
                    self.abort();
                    return Ok(TxnEnd::Shutdown);
                }
            }
        }
        crate::metrics::phase(&self.spec.id, "consume", began);
        self.commit(consumed, shutdown).await?;
        crate::metrics::txn_committed(&self.spec.id, began);
        Ok(TxnEnd::Committed)
    }

    /// Waits for the previous transaction's ACKs.
    ///
    /// # Errors
    /// An ACK could not be appended.
    pub async fn finish_acks(&mut self) -> anyhow::Result<()> {
        match self.prev_acks.take() {
            Some(task) => task.await.context("ACK task")?,
            None => Ok(()),
        }
    }

    /// Applies one source event; returns how many messages went to the guest.
    async fn handle(&mut self, event: SourceEvent) -> anyhow::Result<u64> {
        let mut n = 0;
        for frame in event.frames {
            n += self.handle_frame(frame).await?;
        }
        Ok(n)
    }

    /// Applies one frame; returns how many messages went to the guest.
    async fn handle_frame(&mut self, frame: Result<Envelope, DecodeError>) -> anyhow::Result<u64> {
        let env = match frame {
            Ok(env) => env,
            Err(e) => {
                // Policy: a line that is not a message is reported and skipped; the
                // messages around it (other streams) are unaffected.
                tracing::error!(shard = %self.spec.id, journal = %e.journal, begin = e.begin, end = e.end, error = %e, "skipping a line that is not a message");
                return Ok(0);
            }
        };
        let outcome = self.sequencer.queue_uncommitted(env)?;
        if !outcome.commits() {
            return Ok(0);
        }
        let mut n = 0;
        loop {
            match self.sequencer.step() {
                Ok(Some(env)) => {
                    self.push(env).await?;
                    n += 1;
                }
                Ok(None) => return Ok(n),
                Err(SequencerError::ReplayRequired { journal, begin, end }) => {
                    let envelopes = read_range(&*self.client, journal.clone(), begin, end)
                        .await
                        .with_context(|| format!("replaying {journal} [{begin}, {end})"))?;
                    self.sequencer.start_replay(envelopes)?;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Adds a committed message to the batch, handing the batch to the guest first if
    /// it is full or holds another journal's messages.
    async fn push(&mut self, env: Envelope) -> anyhow::Result<()> {
        let batch = self.batch.as_mut().ok_or_else(|| anyhow!("batch in use"))?;
        let full = batch.len() >= MAX_BATCH_MESSAGES || batch.frame_bytes() + env.message.len() > MAX_BATCH_BYTES;
        if !batch.is_empty() && (full || batch.journal() != &*env.journal) {
            self.flush().await?;
        }
        let batch = self.batch.as_mut().ok_or_else(|| anyhow!("batch in use"))?;
        if batch.is_empty() && batch.journal() != &*env.journal {
            batch.reset(&env.journal);
        }
        batch.push(env.begin as u64, &env.message);
        Ok(())
    }

    /// Hands the batch to the guest's `consume` on a blocking thread and returns
    /// without waiting for it (after waiting for the previous call, if any): the loop
    /// fills the next batch meanwhile. [`Txn::settle`] collects the outcome.
    async fn flush(&mut self) -> anyhow::Result<()> {
        self.settle().await?;
        if self.batch.as_ref().is_none_or(MessageBatch::is_empty) {
            return Ok(());
        }
        let batch = self.batch.take().ok_or_else(|| anyhow!("batch in use"))?;
        let mut instance = self.instance.take().ok_or_else(|| anyhow!("the guest instance was lost"))?;
        let (journal, count, first) = (batch.journal().to_owned(), batch.len(), batch.first_offset().unwrap_or_default());
        crate::metrics::consumed(&self.spec.id, &journal, batch.frame_bytes());
        self.batch = Some(self.spare.take().unwrap_or_else(|| MessageBatch::new(&journal)));
        let task = tokio::task::spawn_blocking(move || {
            let result = instance.consume(&batch);
            (instance, batch, result)
        });
        self.consuming = Some(Consuming { task, journal, count, first, started: Instant::now() });
        Ok(())
    }

    /// Waits for the `consume` call in flight, if any, and takes the instance back.
    ///
    /// # Errors
    /// The call failed: the transaction must be aborted.
    async fn settle(&mut self) -> anyhow::Result<()> {
        let Some(call) = self.consuming.take() else { return Ok(()) };
        let (instance, mut batch, result) = call.task.await.context("guest call task")?;
        self.instance = Some(instance);
        crate::metrics::guest_call(&self.spec.id, "consume", call.started, &result);
        let (journal, count, first) = (call.journal, call.count, call.first);
        result.with_context(|| format!("consuming {count} messages of {journal} from offset {first}"))?;
        batch.reset(&journal);
        self.spare = Some(batch);
        Ok(())
    }

    /// Runs `f` on the guest on a blocking thread (a call may take up to its deadline).
    async fn on_guest<R: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut dyn Application) -> R + Send + 'static,
    ) -> anyhow::Result<R> {
        self.settle().await?;
        let mut instance = self.instance.take().ok_or_else(|| anyhow!("the guest instance was lost"))?;
        let (instance, r) = tokio::task::spawn_blocking(move || {
            let r = f(&mut *instance);
            (instance, r)
        })
        .await
        .context("guest call task")?;
        self.instance = Some(instance);
        Ok(r)
    }

    /// Abandons the transaction in flight. (A `consume` call still running holds the
    /// instance; it is dropped with its task's result, never reused.)
    fn abort(&mut self) {
        if let Some(instance) = self.instance.as_mut() {
            instance.abort_txn();
        }
    }

    /// Finalizes, publishes, checkpoints, commits and acknowledges.
    async fn commit(&mut self, consumed: u64, shutdown: &watch::Receiver<bool>) -> anyhow::Result<()> {
        let mut laps = crate::metrics::Laps::start(&self.spec.id);
        self.flush().await?;
        let started = Instant::now();
        let out = self.on_guest(|instance| instance.finalize_txn()).await?;
        crate::metrics::guest_call(&self.spec.id, "finalize-txn", started, &out);
        laps.mark("finalize");
        let TxnOutput { writes, published } = out.map_err(|e: CallError| anyhow!(e)).context("finalizing the transaction")?;

        // This transaction's messages must follow the previous one's ACKs.
        self.finish_acks().await.context("acknowledging the previous transaction")?;
        for p in &published {
            self.publisher
                .publish_uncommitted(&p.journal, &p.message)
                .with_context(|| format!("framing a message the guest published to {}", p.journal))?;
        }
        let appends = self.publisher.take_appends().into_iter().map(|a| {
            let req = AppendRequest::new(a.journal.to_string(), a.bytes);
            append_retrying(&*self.client, req, shutdown)
        });
        futures::future::try_join_all(appends).await.context("appending the transaction's messages")?;

        let state = self.sequencer.checkpoint(PRUNE_HORIZON);
        let read_through = state.read_through.get(self.spec.source.as_str()).copied().unwrap_or(0);
        let intents = self.publisher.build_ack_intents();
        let checkpoint = Checkpoint {
            sequencer: state,
            ack_intents: intents.iter().map(|a| (a.journal.clone(), a.intent.clone())).collect(),
        };
        let record = LogRecord {
            ops: writes.iter().map(|(k, v)| LogOp { key: k.to_vec(), value: v.map(<[u8]>::to_vec) }).collect(),
            checkpoint: Some(checkpoint.encode()),
            ..LogRecord::default()
        };
        crash_point("after-publish");
        // COMMIT POINT: the guest's writes and the checkpoint, as one recovery-log
        // record (fenced by this owner's register).
        let (record, applied) = self.log.append(record, shutdown).await?;
        crash_point("after-log-append");
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.apply_record_blocking(&record, &applied))
            .await
            .context("store task")?
            .context("applying the committed record to the store")?;
        self.status.committed(consumed, read_through);
        crash_point("after-commit");
        laps.mark("commit_wait");

        let client = self.client.clone();
        let ack_shutdown = shutdown.clone();
        self.prev_acks = Some(tokio::spawn(async move {
            for intent in intents {
                let journal = intent.journal.to_string();
                append_retrying(&*client, AppendRequest::new(journal.clone(), intent.intent), &ack_shutdown)
                    .await
                    .with_context(|| format!("appending the ACK intent to {journal}"))?;
            }
            laps.mark("ack");
            Ok(())
        }));
        self.log.maybe_snapshot(&self.db, shutdown).await?;
        Ok(())
    }
}

/// A `consume` call running on a blocking thread, and what its error report names.
struct Consuming {
    /// The call; it hands back the instance, the batch and the outcome.
    task: JoinHandle<(Box<dyn Application>, MessageBatch, Result<(), CallError>)>,
    /// The batch's source journal.
    journal: String,
    /// Messages in the batch.
    count: usize,
    /// Offset of its first message.
    first: u64,
    /// When the call started (metrics).
    started: Instant,
}

/// Resolves when `wake` sees a new version; never without one.
async fn new_version(wake: &mut Option<watch::Receiver<SummerPlugin>>) {
    if let Some(rx) = wake {
        if rx.changed().await.is_ok() {
            return;
        }
    }
    std::future::pending().await
}

fn reader_gone(spec: &ShardSpec) -> anyhow::Error {
    anyhow!("the reader of {} stopped", spec.source)
}
