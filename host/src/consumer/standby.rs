//! Hot standbys: a shard replica that tails its recovery log while another process is
//! primary, and takes over when that primary goes silent.
//!
//! Gazette's `serveStandby` (`consumer/shard.go`) with the player tailing the log
//! (`recoverylog/playback.go`, reference §4.4). Etcd's assignments are replaced by the
//! log's registers (`slots.rs`): a process with `--hot-standbys N` (N ≥ 1) first looks
//! at them. With no live primary (no owner ever, or its lease expired more than a
//! lease ago, so no standby took over) it takes over at once. Otherwise it stands by only in one of the N standby slots, claimed and
//! renewed by compare-and-set; with every slot held by live others it stays IDLE for
//! that shard, looking again every lease. A standby applies every record as it
//! arrives; once no record of an owner has arrived for a lease (plus a quarter lease
//! per slot index, so that with N > 1 the standbys do not all take over at once), the
//! primary is taken for dead and the standby runs the normal recovery — hand-off
//! (fencing the old primary, should it wake up), then playback of only the records it
//! has not applied yet. A standby whose position was pruned from the log (it lagged
//! behind a snapshot) rebuilds from the newest snapshot.
//!
//! In a cluster (`--etcd`) the registers' slots and leases are not used: the
//! allocator's assignments say who is primary, as in Gazette. A replica assigned a
//! standby slot backfills and tails the log the same way ([`follow_assignment`]) and
//! takes over when its assignment is promoted to slot 0; the hand-off still fences the
//! old primary through the log's `author` register.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::watch;
use tokio::time::Instant;

use super::recovery::{is_foreign, play, play_fresh, Fenced};
use super::spec::{Role, ShardEnv, ShardSpec};
use crate::shutdown::stopped;
use super::slots::{choose_slot, live_holders, marker_frame, now_ms, primary_live, slot_register, Claim, SlotValue};
use super::source::Backoff;
use super::status::{ShardState, ShardStatus};
use crate::journal::{AppendRequest, AppendResult, JournalClient, JournalError, LabelSet, ReadRequest};
use crate::store::recoverylog::SNAPSHOT_REGISTER;
use crate::store::{PlaybackError, Player, ShardDb, Start};

/// How a stand-by ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StandbyEnd {
    /// No live primary: become primary.
    TakeOver,
    /// Shutdown was requested.
    Shutdown,
}

/// How tailing ended.
enum TailEnd {
    /// The primary was silent for the slot's lease.
    Silent,
    /// Another process took the slot (this one failed to renew in time).
    LostSlot,
    /// The log was pruned past this standby's position: look again, rebuild.
    Pruned,
    /// The allocator made this replica primary (a cluster standby).
    Promoted,
    /// Shutdown was requested.
    Shutdown,
}

/// Stands by for shard `spec` as process `me` until it should take over or shut down.
///
/// # Errors
/// The log holds a record the player refuses, or cannot be read or appended.
pub async fn stand_by(
    spec: &ShardSpec,
    env: &ShardEnv,
    db: &ShardDb,
    status: &Arc<ShardStatus>,
    shutdown: &mut watch::Receiver<bool>,
    me: u64,
) -> anyhow::Result<StandbyEnd> {
    let journal = env.recovery_log.as_str();
    let mut idle_since: Option<String> = None;
    loop {
        let Some(barrier) = barrier(&*env.client, journal, shutdown).await? else { return Ok(StandbyEnd::Shutdown) };
        let now = now_ms();
        if !primary_live(&barrier.registers, now, env.lease.as_millis() as u64) {
            tracing::info!(shard = %spec.id, %journal, "no live primary (none ever, or its lease expired); taking over");
            return Ok(StandbyEnd::TakeOver);
        }
        let Some(claim) = choose_slot(&barrier.registers, env.hot_standbys, me, now) else {
            let holders = live_holders(&barrier.registers, env.hot_standbys, now).join(", ");
            let why = format!("idle: all {} standby slot(s) are held by live processes ({holders})", env.hot_standbys);
            if idle_since.as_deref() != Some(why.as_str()) {
                tracing::info!(shard = %spec.id, %journal, "{why}; looking again every lease");
                idle_since = Some(why.clone());
            }
            status.set_idle(&why);
            if wait(env.lease, shutdown).await {
                return Ok(StandbyEnd::Shutdown);
            }
            continue;
        };
        idle_since = None;
        let Some(held) = renew_slot(&*env.client, journal, &claim, me, env.lease).await? else {
            continue; // Raced with another claimant: look again.
        };
        status.set(ShardState::Standby);
        tracing::info!(shard = %spec.id, %journal, slot = claim.slot, "holding a standby slot");
        let player = backfill(spec, env, db, &barrier).await?;
        tracing::info!(shard = %spec.id, %journal, records = player.applied(), "hot standby caught up; tailing the recovery log");
        let slot = Some((Claim { slot: claim.slot, current: Some(held) }, me));
        match tail(spec, env, player, slot, None, shutdown).await? {
            TailEnd::Silent | TailEnd::Promoted => return Ok(StandbyEnd::TakeOver),
            TailEnd::Shutdown => return Ok(StandbyEnd::Shutdown),
            TailEnd::LostSlot => tracing::warn!(shard = %spec.id, %journal, slot = claim.slot, "lost the standby slot to another process"),
            TailEnd::Pruned => tracing::info!(shard = %spec.id, %journal, "the log was pruned past this standby's position; rebuilding from the newest snapshot"),
        }
    }
}

/// A cluster standby (`ShardEnv::role` set): the allocator's assignment, not the log's
/// registers, says who is primary. Backfills the store and tails the recovery log
/// until the role becomes [`Role::Primary`] (then the caller recovers the rest,
/// fencing the old primary) or shutdown. With `after_change`, first waits for the
/// role to change at all: a primary that was fenced while still assigned primary
/// waits for the assignment that replaced it rather than fence its successor back.
///
/// # Errors
/// The log holds a record the player refuses, or cannot be read or appended.
pub async fn follow_assignment(
    spec: &ShardSpec,
    env: &ShardEnv,
    db: &ShardDb,
    status: &Arc<ShardStatus>,
    shutdown: &mut watch::Receiver<bool>,
    after_change: bool,
) -> anyhow::Result<StandbyEnd> {
    let Some(mut role) = env.role.clone() else { anyhow::bail!("shard {}: no assigned role to follow", spec.id) };
    let journal = env.recovery_log.as_str();
    if after_change {
        role.borrow_and_update();
        tokio::select! {
            _ = role.changed() => {}
            _ = stopped(shutdown) => return Ok(StandbyEnd::Shutdown),
        }
    }
    loop {
        if *role.borrow_and_update() == Role::Primary {
            return Ok(StandbyEnd::TakeOver);
        }
        let Some(barrier) = barrier(&*env.client, journal, shutdown).await? else { return Ok(StandbyEnd::Shutdown) };
        status.set(ShardState::Recovering);
        let player = backfill(spec, env, db, &barrier).await?;
        tracing::info!(shard = %spec.id, %journal, records = player.applied(), "assigned standby caught up; tailing the recovery log");
        status.set(ShardState::Standby);
        match tail(spec, env, player, None, Some(role.clone()), shutdown).await? {
            TailEnd::Promoted => {
                tracing::info!(shard = %spec.id, %journal, "assigned primary; taking over");
                return Ok(StandbyEnd::TakeOver);
            }
            TailEnd::Shutdown => return Ok(StandbyEnd::Shutdown),
            TailEnd::Pruned => tracing::info!(shard = %spec.id, %journal, "the log was pruned past this standby's position; rebuilding from the newest snapshot"),
            TailEnd::Silent | TailEnd::LostSlot => {}
        }
    }
}

/// Resolves once `role` says primary; never, without a role or once its sender is gone.
async fn promoted(role: &mut Option<watch::Receiver<Role>>) {
    if let Some(rx) = role {
        if rx.wait_for(|r| *r == Role::Primary).await.is_ok() {
            return;
        }
    }
    std::future::pending::<()>().await
}

/// Sleeps until `deadline`; never, without one.
async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending::<()>().await,
    }
}

/// A zero-byte append: the log's head and registers (`None` on shutdown).
async fn barrier(
    client: &dyn JournalClient,
    journal: &str,
    shutdown: &mut watch::Receiver<bool>,
) -> anyhow::Result<Option<AppendResult>> {
    let mut backoff = Backoff::default();
    loop {
        match client.append(AppendRequest::new(journal, bytes::Bytes::new())).await {
            Ok(r) => return Ok(Some(r)),
            Err(e) if e.is_transient() => {
                if wait(backoff.next_delay(), shutdown).await {
                    return Ok(None);
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Claims or renews `claim`'s slot for `me` until a lease from now; returns the new
/// register value, or `None` if the compare-and-set lost.
async fn renew_slot(
    client: &dyn JournalClient,
    journal: &str,
    claim: &Claim,
    me: u64,
    lease: Duration,
) -> anyhow::Result<Option<String>> {
    let value = SlotValue { holder: me, expires: now_ms() + lease.as_millis() as u64 }.render();
    let req = AppendRequest {
        check_registers: Some(claim.check()),
        union_registers: LabelSet::from_pairs([(slot_register(claim.slot).as_str(), value.as_str())]),
        ..AppendRequest::new(journal, marker_frame())
    };
    match client.append(req).await {
        Ok(_) => Ok(Some(value)),
        Err(JournalError::RegisterMismatch { .. }) => Ok(None),
        Err(e) if e.is_transient() => Ok(claim.current.clone()), // Keep it; renew next time.
        Err(e) => Err(e.into()),
    }
}

/// Brings `db` up to the barrier's head: resumes where it stopped if that is still in
/// the log and not before the newest snapshot, else rebuilds from the snapshot.
async fn backfill(spec: &ShardSpec, env: &ShardEnv, db: &ShardDb, barrier: &AppendResult) -> anyhow::Result<Player> {
    let (client, journal) = (&*env.client, env.recovery_log.as_str());
    let snapshot = barrier.registers.value_of(SNAPSHOT_REGISTER).and_then(|v| v.parse::<i64>().ok());
    let applied = {
        let db = db.clone();
        tokio::task::spawn_blocking(move || db.applied_blocking()).await??
    };
    if applied.as_ref().is_some_and(|a| a.journal == journal && snapshot.is_some_and(|s| s > a.begin)) {
        tracing::info!(shard = %spec.id, %journal, snapshot = ?snapshot, "the store is behind the newest snapshot (the log before it may be pruned); rebuilding from the snapshot");
    }
    let resume =
        applied.filter(|a| a.journal == journal && a.end <= barrier.end && snapshot.is_none_or(|s| s <= a.begin));
    Ok(match resume {
        Some(a) => {
            let from = a.begin;
            match play(client, journal, Player::new(journal, db.clone(), Start::Resume(a)), barrier.end).await {
                Ok(p) => p,
                Err(e) if is_foreign(&e, from) => {
                    tracing::warn!(shard = %spec.id, %journal, error = %e, "the local store does not match the recovery log; rebuilding it");
                    play_fresh(client, journal, db, snapshot, barrier.end).await?
                }
                Err(e) => return Err(e.into()),
            }
        }
        None => play_fresh(client, journal, db, snapshot, barrier.end).await?,
    })
}

/// Tails the log into the player until it should stop: with a standby `slot` (the
/// register-held kind), renewing it every lease / 3 until the primary is silent for
/// the slot's lease or the slot is lost; with an assigned `role`, until it says
/// primary. Either way also when the log was pruned past the player, or on shutdown.
async fn tail(
    spec: &ShardSpec,
    env: &ShardEnv,
    mut player: Player,
    mut slot: Option<(Claim, u64)>,
    mut role: Option<watch::Receiver<Role>>,
    shutdown: &mut watch::Receiver<bool>,
) -> anyhow::Result<TailEnd> {
    let (client, journal) = (env.client.clone(), env.recovery_log.as_str());
    let silence = slot.as_ref().map(|(claim, _)| env.lease + env.lease / 4 * claim.slot as u32);
    let mut renew = tokio::time::interval(env.lease / 3);
    renew.tick().await; // The claim itself was the first renewal.
    let (mut seen, mut life) = (player.owner_records(), Instant::now());
    let mut backoff = Backoff::default();
    loop {
        let req = ReadRequest { journal: journal.to_owned(), offset: player.next_offset(), block: true, end_offset: 0 };
        let mut stream = client.read(req);
        loop {
            tokio::select! {
                item = stream.next() => match item {
                    Some(Ok(chunk)) => {
                        backoff.reset();
                        let pushed = tokio::task::spawn_blocking(move || player.push(chunk.offset, &chunk.content).map(|()| player))
                            .await
                            .map_err(|e| PlaybackError::Task(e.to_string()))?;
                        player = match pushed {
                            Ok(p) => p,
                            Err(PlaybackError::Missing { .. }) => return Ok(TailEnd::Pruned),
                            Err(e) => return Err(e.into()),
                        };
                        if player.owner_records() > seen {
                            (seen, life) = (player.owner_records(), Instant::now());
                        }
                    }
                    Some(Err(e)) if e.is_transient() => {
                        tracing::debug!(shard = %spec.id, %journal, error = %e, "tailing the recovery log failed; retrying");
                        break;
                    }
                    Some(Err(e)) => return Err(PlaybackError::Read { journal: journal.to_owned(), source: e }.into()),
                    None => break,
                },
                _ = sleep_until_some(silence.map(|s| life + s)) => {
                    let slot = slot.as_ref().map_or(0, |(claim, _)| claim.slot);
                    tracing::warn!(shard = %spec.id, %journal, lease = ?env.lease, slot, "the primary's lease expired; taking over");
                    return Ok(TailEnd::Silent);
                }
                _ = renew.tick(), if slot.is_some() => {
                    let (claim, me) = slot.as_mut().expect("a slot to renew");
                    match renew_slot(&*client, journal, claim, *me, env.lease).await? {
                        Some(value) => claim.current = Some(value),
                        None => return Ok(TailEnd::LostSlot),
                    }
                }
                _ = promoted(&mut role) => return Ok(TailEnd::Promoted),
                _ = stopped(shutdown) => return Ok(TailEnd::Shutdown),
            }
        }
        if wait(backoff.next_delay(), shutdown).await {
            return Ok(TailEnd::Shutdown);
        }
    }
}

/// A primary's heartbeat; resolves only once the primary is fenced. With standbys
/// (`renew_lease`), a fenced no-op every `lease / 4` that also renews the `lease`
/// register; without, a fenced zero-byte append every `lease / 2`, which writes
/// nothing but still fails once another process took over. Either way an idle
/// primary learns it was fenced within about a lease. After each renewal it reports
/// the log's head on `heads` (renewals, its own and its standbys', grow the log: the
/// shard counts them toward its next snapshot, `RecoveryLog::snapshot_due`).
pub async fn heartbeat(
    client: Arc<dyn JournalClient>,
    shard: String,
    journal: String,
    author: u64,
    lease: Duration,
    renew_lease: bool,
    heads: watch::Sender<i64>,
) -> Fenced {
    use crate::store::recoverylog::{author_value, AUTHOR_REGISTER};
    use crate::store::LogRecord;
    let fence = crate::journal::LabelSelector::including(LabelSet::from_pairs([(AUTHOR_REGISTER, author_value(author).as_str())]));
    let frame = bytes::Bytes::from(LogRecord::handoff(author).frame());
    let mut tick = tokio::time::interval(if renew_lease { lease / 4 } else { lease / 2 });
    loop {
        tick.tick().await;
        let req = if renew_lease {
            let value = super::slots::lease_value(now_ms(), lease);
            AppendRequest {
                check_registers: Some(fence.clone()),
                union_registers: LabelSet::from_pairs([(super::slots::LEASE_REGISTER, value.as_str())]),
                ..AppendRequest::new(journal.clone(), frame.clone())
            }
        } else {
            AppendRequest { check_registers: Some(fence.clone()), ..AppendRequest::new(journal.clone(), bytes::Bytes::new()) }
        };
        match client.append(req).await {
            Ok(r) => {
                heads.send_if_modified(|head| {
                    let grew = r.end > *head;
                    if grew {
                        *head = r.end;
                    }
                    grew
                });
            }
            Err(JournalError::RegisterMismatch { registers, .. }) => {
                return Fenced { shard, journal, registers: format!("{registers:?}") };
            }
            Err(e) => tracing::debug!(%journal, error = %e, "heartbeat of the recovery log failed; retrying"),
        }
    }
}

/// Sleeps for `delay`; true if shutdown was requested meanwhile.
async fn wait(delay: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(delay) => false,
        _ = stopped(shutdown) => true,
    }
}
