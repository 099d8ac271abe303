//! A shard: one source journal, one store, one plugin instance, run as a primary.
//!
//! Gazette's `consumer/shard.go` (`servePrimary`) and `transaction.go`
//! (`runTransactions`): restore the checkpoint from the store, re-append its ACK
//! intents verbatim (this commits or rolls back whatever the last transaction
//! published), start a reader per source at the checkpointed offsets, build the
//! sequencer from the checkpointed producer states, and run transactions back to back
//! (the loop itself is in `txn.rs`). Any failure — a guest error, trap or deadline, a
//! store or journal error — aborts the transaction in flight; the shard then starts
//! over from its last checkpoint after a backoff, with a fresh instance and a fresh
//! producer id, exactly as a Gazette shard does when it is re-assigned.

use std::sync::Arc;

use anyhow::Context;
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

use super::app::Application;
use super::spec::{Role, ShardEnv, ShardSpec};
use super::checkpoint::Checkpoint;
use super::recovery::{recover_leased, Fenced};
use super::standby::{follow_assignment, heartbeat, stand_by, StandbyEnd};
use super::source::{read_source, Backoff, SourceEvent};
use super::status::{ShardState, ShardStatus};
use super::swap::ShardSwap;
use super::txn::{Txn, TxnEnd};
use crate::message::append::append_retrying;
use crate::journal::AppendRequest;
use crate::message::{Offset, Publisher, Sequencer};
use crate::runtime::{ShardContext, SummerInstance};
use crate::shutdown::{sleep_or_stopped, stopped};
use crate::store::ShardDb;

/// Source events buffered between a reader and its shard (Gazette's
/// `read_channel_size`, smaller: our envelopes hold their bytes).
const READ_CHANNEL: usize = 4096;

/// Runs a shard until `shutdown` turns true, restarting it from its checkpoint after
/// any failure.
pub async fn run_shard(spec: ShardSpec, env: ShardEnv, status: Arc<ShardStatus>, mut shutdown: watch::Receiver<bool>) {
    let mut backoff = Backoff::default();
    let mut failures: u32 = 0;
    let db = loop {
        let dir = env.db_dir.clone();
        // Not fsynced: the recovery log is what makes a commit durable, and a store
        // that lost its last writes is caught up from the log on recovery.
        match tokio::task::spawn_blocking(move || ShardDb::open_blocking(&dir, false)).await {
            Ok(Ok(db)) => break db,
            Ok(Err(e)) => status.fail(&format!("opening the store: {e}")),
            Err(e) => status.fail(&format!("opening the store: {e}")),
        }
        tracing::error!(shard = %spec.id, dir = %env.db_dir.display(), "cannot open the shard's store; retrying");
        if sleep_or_stopped(backoff.next_delay(), &mut shutdown).await {
            return;
        }
    };
    // This process's id as a standby-slot holder of this shard.
    let me = crate::store::recoverylog::random_author();
    // A cluster replica follows its assigned role; the embedded default stands by
    // through the log's registers when it has hot standbys.
    let mut standby = match &env.role {
        Some(role) => *role.borrow() == Role::Standby,
        None => env.hot_standbys > 0,
    };
    // Set when this replica was fenced while still assigned primary.
    let mut fenced_as_primary = false;
    loop {
        if standby {
            let ended = match env.role {
                Some(_) => follow_assignment(&spec, &env, &db, &status, &mut shutdown, fenced_as_primary).await,
                None => stand_by(&spec, &env, &db, &status, &mut shutdown, me).await,
            };
            fenced_as_primary = false;
            match ended {
                Ok(StandbyEnd::TakeOver) => standby = false,
                Ok(StandbyEnd::Shutdown) => {
                    status.set(ShardState::Stopped);
                    return;
                }
                Err(e) => {
                    tracing::error!(shard = %spec.id, error = format!("{e:#}"), "hot standby failed; retrying");
                    status.fail(&format!("{e:#}"));
                    if sleep_or_stopped(backoff.next_delay(), &mut shutdown).await {
                        status.set(ShardState::Stopped);
                        return;
                    }
                    continue;
                }
            }
        }
        let committed_before = status.transactions();
        let result = serve(&spec, &env, &db, &status, &mut shutdown).await;
        let Err(e) = result else {
            status.set(ShardState::Stopped);
            return;
        };
        if let Some(fenced) = e.downcast_ref::<Fenced>() {
            // Another process owns the shard now: never retry as primary (it would
            // fence that one); stand by behind it if standbys are wanted.
            status.fail(&fenced.to_string());
            if let Some(role) = &env.role {
                // The allocator made another replica primary: follow the assignment.
                fenced_as_primary = *role.borrow() == Role::Primary;
                tracing::warn!(shard = %spec.id, error = %fenced, "shard fenced; following its assignment");
                standby = true;
                continue;
            }
            if env.hot_standbys > 0 {
                tracing::warn!(shard = %spec.id, error = %fenced, "shard fenced; standing by");
                standby = true;
                continue;
            }
            tracing::error!(shard = %spec.id, error = %fenced, "shard fenced; stopping it");
            return;
        }
        if status.transactions() > committed_before {
            backoff.reset(); // It made progress: a new failure, not a crash loop.
            failures = 0;
        }
        failures += 1;
        if spec.max_failures > 0 && failures >= spec.max_failures {
            tracing::error!(shard = %spec.id, error = format!("{e:#}"), failures, "shard FAILED: too many consecutive failures; it stops retrying");
            status.give_up(&format!("{e:#}"), failures);
            stopped(&mut shutdown).await;
            return;
        }
        let delay = backoff.next_delay();
        tracing::error!(shard = %spec.id, error = format!("{e:#}"), retry_in = ?delay, "shard failed; restarting from its last checkpoint");
        status.fail(&format!("{e:#}"));
        crate::metrics::shard_failed(&spec.id);
        status.set_failures(failures);
        if sleep_or_stopped(delay, &mut shutdown).await {
            status.set(ShardState::Stopped);
            return;
        }
    }
}

/// One life of the shard as primary: recovery, then transactions until shutdown
/// (`Ok`) or a failure (`Err`).
async fn serve(
    spec: &ShardSpec,
    env: &ShardEnv,
    db: &ShardDb,
    status: &Arc<ShardStatus>,
    shutdown: &mut watch::Receiver<bool>,
) -> anyhow::Result<()> {
    status.set(ShardState::Recovering);
    // Take over the recovery log (fencing any previous owner) and bring the store up
    // to the log's head before reading its checkpoint.
    let lease = (env.hot_standbys > 0).then_some(env.lease);
    let (mut log, _) =
        recover_leased(&spec.id, env.client.clone(), &env.recovery_log, db, env.snapshot_every, lease, shutdown)
            .await
            .with_context(|| format!("recovering shard {} from {}", spec.id, env.recovery_log))?;
    // Fenced appends fail once another process takes over; the heartbeat makes an
    // idle primary find out within about a lease (and renews the lease standbys watch).
    // The log growth it sees counts toward the next snapshot, which an idle primary
    // takes between transactions: renewals alone never grow the log without bound.
    let (heads, watched) = watch::channel(0);
    log.watch_heads(watched);
    let fenced = heartbeat(
        env.client.clone(),
        spec.id.clone(),
        env.recovery_log.clone(),
        log.author(),
        env.lease,
        env.hot_standbys > 0,
        heads,
    );
    tokio::select! {
        r = run_primary(spec, env, db, status, shutdown, log) => r,
        fenced = fenced => Err(fenced.into()),
    }
}

/// The primary's work after recovery: the checkpoint's ACKs, the reader, and
/// transactions until shutdown (`Ok`) or a failure (`Err`).
async fn run_primary(
    spec: &ShardSpec,
    env: &ShardEnv,
    db: &ShardDb,
    status: &Arc<ShardStatus>,
    shutdown: &mut watch::Receiver<bool>,
    log: super::recovery::RecoveryLog,
) -> anyhow::Result<()> {
    let checkpoint = match db.load_checkpoint().await.context("loading the checkpoint")? {
        Some(bytes) => Checkpoint::decode(&bytes).with_context(|| format!("decoding the checkpoint in {}", db.dir().display()))?,
        None => Checkpoint::default(),
    };
    // Re-append the last transaction's ACK intents verbatim (Gazette's
    // `runTransactions` preamble): commits its output if the crash came after the
    // commit, rolls back anything published since.
    for (journal, intent) in &checkpoint.ack_intents {
        append_retrying(&*env.client, AppendRequest::new(journal.to_string(), intent.clone()), shutdown)
            .await
            .with_context(|| format!("re-appending the recovered ACK intent to {journal}"))?;
    }
    let source: Arc<str> = spec.source.as_str().into();
    let offset: Offset = checkpoint.sequencer.read_through.get(&source).copied().unwrap_or(0);
    let sequencer = Sequencer::from_state(checkpoint.sequencer, spec.ring_size);

    let mut swap = env.reloader.clone().map(ShardSwap::new);
    let plugin = swap.as_mut().map_or_else(|| env.plugin.clone(), ShardSwap::current);
    let ctx = ShardContext { shard: spec.id.clone(), db: db.clone(), journals: env.publishable.clone() };
    let swap_ctx = ctx.clone();
    let limits = env.limits.clone();
    let instance: Box<dyn Application> = if env.native_summer {
        super::baseline::native_summer(db.clone())?
    } else {
        let instance = tokio::task::spawn_blocking(move || SummerInstance::instantiate(&plugin, ctx, limits))
            .await?
            .context("instantiating the plugin")?;
        Box::new(instance)
    };

    let (tx, rx) = mpsc::channel::<SourceEvent>(READ_CHANNEL);
    let reader = tokio::spawn(read_source(env.client.clone(), source.clone(), offset, tx));
    let _reader = AbortOnDrop(reader);

    tracing::info!(shard = %spec.id, %source, offset, plugin = %instance.version().short(), "shard is primary");
    // Progress starts at the checkpoint (what `shards list` and /api/status show until
    // the first commit; a promoted replica's is the old primary's last commit).
    status.set_primary(instance.version().as_str(), offset);
    let mut txn = Txn::new(spec, env, db.clone(), log, status.clone(), sequencer, Publisher::with_own_clock(), instance, rx);
    if let Some(swap) = &swap {
        txn.set_wake(swap.wake());
    }
    loop {
        // The transaction boundary: a new plugin version takes over here (issue 7).
        if let Some(swap) = swap.as_mut() {
            swap.at_boundary(spec, env, swap_ctx.clone(), &mut txn, status).await?;
        }
        let span = tracing::info_span!("txn", shard = %spec.id, txn = status.transactions() + 1);
        let end = match txn.run_one(shutdown).instrument(span).await {
            Ok(end) => end,
            Err(e) => {
                if let Some(swap) = swap.as_mut() {
                    swap.failed(spec, status, &e);
                }
                return Err(e);
            }
        };
        match end {
            TxnEnd::Idle => {}
            TxnEnd::Committed => {
                if let Some(swap) = swap.as_mut() {
                    swap.committed(spec);
                }
            }
            TxnEnd::Shutdown => {
                txn.finish_acks().await?;
                return Ok(());
            }
        }
    }
}

/// Aborts a task when dropped (the source reader dies with its shard's life).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
