//! A shard's recovery log, seen from its owner: take-over with fencing, playback into
//! the store, fenced appends of committed transactions, and periodic snapshots.
//!
//! Gazette's `consumer/shard.go` (`completeRecovery`) with `recoverylog/recorder.go`
//! and `playback.go` (`InjectHandoff`): a new owner picks a random author id and
//! appends a hand-off no-op with `union_registers {author: <id>}`. From then on the
//! previous owner's appends, which carry `check_registers {author: <its id>}`, fail
//! with REGISTER_MISMATCH: it can never commit again. The new owner then plays the log
//! up to its hand-off into the local store — only the tail the store lacks if the
//! store is intact, else from the newest snapshot (or offset 0) into an emptied store
//! — and every transaction record it appends afterwards carries its own fence. After
//! each snapshot it writes, the owner prunes the log's fragments before it
//! (`JournalClient::prune`), so the log on the broker's disk stays about two snapshot
//! intervals long however long the shard runs.
//!
//! The snapshot interval counts every byte the log grew by since the newest snapshot,
//! not only transaction records: the lease renewals of an idle primary (and the slot
//! renewals of its standbys) are log content too. The heartbeat reports the log's head
//! after each renewal (`standby::heartbeat`), and an idle transaction loop waits on
//! [`RecoveryLog::snapshot_due`] — so a shard without input still snapshots and prunes
//! once the renewals alone fill an interval, and its log stays bounded as well.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use futures::StreamExt;
use tokio::sync::watch;

use super::source::Backoff;
use crate::message::append::append_retrying;
use crate::journal::{AppendRequest, AppendResult, JournalClient, JournalError, LabelSelector, LabelSet, ReadRequest};
use crate::store::recoverylog::{author_value, random_author, AUTHOR_REGISTER, SNAPSHOT_REGISTER};
use crate::store::{AppliedState, LogRecord, PlaybackError, Player, ShardDb, Start};

/// The shard lost its recovery log to another owner.
#[derive(Debug, thiserror::Error)]
#[error("shard {shard} is fenced: another process took over its recovery log {journal} (registers {registers}); this shard stops here")]
pub struct Fenced {
    /// The shard.
    pub shard: String,
    /// Its recovery log.
    pub journal: String,
    /// The log's registers, naming the new owner.
    pub registers: String,
}

/// The owner's handle on a shard's recovery log.
pub struct RecoveryLog {
    /// The shard, for messages.
    shard: String,
    /// Journals.
    client: Arc<dyn JournalClient>,
    /// The log journal.
    journal: String,
    /// This owner's id.
    author: u64,
    /// seq_no of the next record.
    next_seq: u64,
    /// The log's write head after this owner's last append.
    head: i64,
    /// The offset from which log growth counts toward the next snapshot: the newest
    /// snapshot's record at recovery (0 without one), then the end of each snapshot
    /// this owner writes (with the no-op pointing the register at it).
    snapshot_base: i64,
    /// The log's head as the heartbeat last saw it (lease and slot renewals grow the
    /// log between transactions); `None` until [`RecoveryLog::watch_heads`].
    heads: Option<watch::Receiver<i64>>,
    /// Snapshot once this many bytes were appended since the last one (0: never).
    snapshot_every: u64,
    /// Whether to prune the log before each new snapshot (cleared for good once the
    /// broker says it cannot prune, e.g. a Gazette broker).
    prune: bool,
}

/// What [`recover`] did, for logs and figures.
#[derive(Debug, Clone, Copy)]
pub struct Recovered {
    /// Records applied by playback.
    pub records: u64,
    /// Log bytes played (from the resume point, snapshot or 0 to the hand-off).
    pub bytes: i64,
    /// Whether the store was rebuilt rather than resumed.
    pub rebuilt: bool,
}

/// Takes over `journal` for shard `shard` and plays it into `db`.
///
/// # Errors
/// The log cannot be read or appended, or holds a record it cannot trust (named with
/// journal and offset): the shard must not start.
pub async fn recover(
    shard: &str,
    client: Arc<dyn JournalClient>,
    journal: &str,
    db: &ShardDb,
    snapshot_every: u64,
    shutdown: &watch::Receiver<bool>,
) -> anyhow::Result<(RecoveryLog, Recovered)> {
    recover_leased(shard, client, journal, db, snapshot_every, None, shutdown).await
}

/// [`recover`], whose hand-off also takes the primary's `lease` (with hot standbys):
/// the heartbeat renews it only once playback is done, and a playback slower than a
/// lease must not make other processes take the log for ownerless and take it back.
///
/// # Errors
/// As [`recover`].
pub async fn recover_leased(
    shard: &str,
    client: Arc<dyn JournalClient>,
    journal: &str,
    db: &ShardDb,
    snapshot_every: u64,
    lease: Option<std::time::Duration>,
    shutdown: &watch::Receiver<bool>,
) -> anyhow::Result<(RecoveryLog, Recovered)> {
    let began = Instant::now();
    let author = random_author();
    let author_label = author_value(author);
    let mut registers = vec![(AUTHOR_REGISTER, author_label.as_str())];
    // Live for a lease (others also wait a lease of grace past it); the heartbeat
    // renews it once playback is done.
    let leased = lease.map(|l| super::slots::lease_value(super::slots::now_ms(), l));
    if let Some(value) = &leased {
        registers.push((super::slots::LEASE_REGISTER, value.as_str()));
    }
    let req = AppendRequest {
        union_registers: LabelSet::from_pairs(registers),
        ..AppendRequest::new(journal, LogRecord::handoff(author).frame())
    };
    let handoff = append_retrying(&*client, req, shutdown)
        .await
        .with_context(|| format!("taking over recovery log {journal} (hand-off append)"))?;
    let snapshot = handoff.registers.value_of(SNAPSHOT_REGISTER).and_then(|v| v.parse::<i64>().ok());
    let head = handoff.begin;

    let resume = {
        let db = db.clone();
        tokio::task::spawn_blocking(move || db.applied_blocking()).await??
    };
    if resume.as_ref().is_some_and(|a| a.journal == journal && snapshot.is_some_and(|s| s > a.begin)) {
        tracing::info!(%shard, %journal, snapshot = ?snapshot, "the store is behind the newest snapshot (the log before it may be pruned); rebuilding from the snapshot");
    }
    let resume = resume.filter(|a| a.journal == journal && a.end <= head && snapshot.is_none_or(|s| s <= a.begin));
    let (player, rebuilt, from) = match resume {
        Some(applied) => {
            let from = applied.begin;
            match play(&*client, journal, Player::new(journal, db.clone(), Start::Resume(applied)), handoff.end).await {
                Ok(p) => (p, false, from),
                Err(e) if is_foreign(&e, from) => {
                    tracing::warn!(%shard, %journal, error = %e, "the local store does not match the recovery log; rebuilding it from the log");
                    (play_fresh(&*client, journal, db, snapshot, handoff.end).await?, true, snapshot.unwrap_or(0))
                }
                Err(e) => return Err(e.into()),
            }
        }
        None => (play_fresh(&*client, journal, db, snapshot, handoff.end).await?, true, snapshot.unwrap_or(0)),
    };
    let stats = Recovered { records: player.applied(), bytes: handoff.end - from, rebuilt };
    crate::metrics::recovery_replayed(shard, stats.bytes.max(0) as u64);
    tracing::info!(%shard, %journal, records = stats.records, bytes = stats.bytes, rebuilt, from_snapshot = ?snapshot, took = ?began.elapsed(), "recovery log played");
    let log = RecoveryLog {
        shard: shard.to_owned(),
        client,
        journal: journal.to_owned(),
        author,
        next_seq: player.last_seq() + 1,
        head: handoff.end,
        snapshot_base: snapshot.unwrap_or(0),
        heads: None,
        snapshot_every,
        prune: true,
    };
    Ok((log, stats))
}

/// Whether a resumed playback failed because the store is not this log's replica
/// (rather than because the log is damaged past the store's position).
pub(crate) fn is_foreign(e: &PlaybackError, from: i64) -> bool {
    match e {
        PlaybackError::Foreign { .. } | PlaybackError::Missing { .. } => true,
        PlaybackError::Frame { offset, .. } => *offset == from,
        _ => false,
    }
}

/// Empties `db` and plays `journal` into it from the newest snapshot (or offset 0).
///
/// # Errors
/// As [`play`], or the store could not be cleared.
pub(crate) async fn play_fresh(
    client: &dyn JournalClient,
    journal: &str,
    db: &ShardDb,
    snapshot: Option<i64>,
    through: i64,
) -> anyhow::Result<Player> {
    let start = snapshot.map(Start::Snapshot).unwrap_or(Start::Beginning);
    let clear = db.clone();
    tokio::task::spawn_blocking(move || clear.clear_blocking()).await??;
    Ok(play(client, journal, Player::new(journal, db.clone(), start), through).await?)
}

/// Reads `journal` from the player's offset to `through`, feeding the player.
///
/// # Errors
/// A record the player refuses, or a read that fails permanently.
pub async fn play(
    client: &dyn JournalClient,
    journal: &str,
    mut player: Player,
    through: i64,
) -> Result<Player, PlaybackError> {
    let mut backoff = Backoff::default();
    while player.next_offset() < through {
        let req =
            ReadRequest { journal: journal.to_owned(), offset: player.next_offset(), block: true, end_offset: through };
        let mut stream = client.read(req);
        while let Some(item) = stream.next().await {
            match item {
                Ok(chunk) => {
                    backoff.reset();
                    player =
                        tokio::task::spawn_blocking(move || player.push(chunk.offset, &chunk.content).map(|()| player))
                            .await
                            .map_err(|e| PlaybackError::Task(e.to_string()))??;
                    if player.next_offset() >= through {
                        break;
                    }
                }
                Err(e) if e.is_transient() => {
                    tracing::warn!(%journal, error = %e, "reading the recovery log failed; retrying");
                    tokio::time::sleep(backoff.next_delay()).await;
                    break;
                }
                Err(source) => return Err(PlaybackError::Read { journal: journal.to_owned(), source }),
            }
        }
    }
    player.finish(through)?;
    Ok(player)
}

impl RecoveryLog {
    /// The log journal.
    pub fn journal(&self) -> &str {
        &self.journal
    }

    /// This owner's id (its fencing register value).
    pub fn author(&self) -> u64 {
        self.author
    }

    /// Appends `record` as this owner's next record: THE COMMIT POINT of a
    /// transaction. Returns the record (with `seq_no` and author set) and where it
    /// landed, i.e. the store position to apply it with.
    ///
    /// # Errors
    /// [`Fenced`] if another owner took over; else the append's failure.
    pub async fn append(
        &mut self,
        mut record: LogRecord,
        shutdown: &watch::Receiver<bool>,
    ) -> anyhow::Result<(LogRecord, AppliedState)> {
        record.seq_no = self.next_seq;
        record.author = self.author;
        let frame = record.frame();
        let req = AppendRequest {
            check_registers: Some(LabelSelector::including(self.fence())),
            ..AppendRequest::new(self.journal.clone(), frame)
        };
        let result = self.append_fenced(req, shutdown).await?;
        self.next_seq += 1;
        self.head = result.end;
        if record.snapshot {
            self.snapshot_base = result.end;
        }
        let applied = AppliedState {
            journal: self.journal.clone(),
            begin: result.begin,
            end: result.end,
            record_seq: record.seq_no,
            record_author: record.author,
            last_seq: record.seq_no,
        };
        Ok((record, applied))
    }

    /// Writes a snapshot of `db` if enough log was written since the last one.
    ///
    /// # Errors
    /// As [`RecoveryLog::append`], or the store could not be read.
    pub async fn maybe_snapshot(&mut self, db: &ShardDb, shutdown: &watch::Receiver<bool>) -> anyhow::Result<()> {
        if self.snapshot_every == 0 || self.since_snapshot() < self.snapshot_every {
            return Ok(());
        }
        let began = Instant::now();
        let grown = self.since_snapshot();
        let (seq, author, src) = (self.next_seq, self.author, db.clone());
        let record = tokio::task::spawn_blocking(move || src.snapshot_record_blocking(seq, author)).await??;
        let keys = record.ops.len();
        let (_, applied) = self.append(record, shutdown).await.context("appending a snapshot")?;
        // Point the `snapshot` register at it (a fenced no-op carrying the register:
        // lease renewals may append between the two, so the offset is not known
        // before the snapshot lands). A crash in between leaves the previous
        // snapshot in force, which is still correct.
        let req = AppendRequest {
            check_registers: Some(LabelSelector::including(self.fence())),
            union_registers: LabelSet::from_pairs([(SNAPSHOT_REGISTER, applied.begin.to_string().as_str())]),
            ..AppendRequest::new(self.journal.clone(), LogRecord::handoff(self.author).frame())
        };
        let pointed =
            self.append_fenced(req, shutdown).await.context("pointing the snapshot register at the new snapshot")?;
        (self.head, self.snapshot_base) = (pointed.end, pointed.end);
        let (db, bytes, at) = (db.clone(), applied.end - applied.begin, applied.begin);
        tokio::task::spawn_blocking(move || db.apply_record_blocking(&LogRecord::default(), &applied)).await??;
        tracing::info!(shard = %self.shard, journal = %self.journal, keys, bytes, grown, took = ?began.elapsed(), "snapshot written");
        self.prune_before(at).await;
        Ok(())
    }

    /// Log bytes written since the newest snapshot, by anyone: this owner's records and
    /// the renewals the heartbeat saw land.
    pub fn since_snapshot(&self) -> u64 {
        let seen = self.heads.as_ref().map_or(0, |h| *h.borrow());
        (self.head.max(seen) - self.snapshot_base).max(0) as u64
    }

    /// Counts the log growth that `heads` reports (the log's head after each of the
    /// heartbeat's renewals, `standby::heartbeat`) toward the snapshot interval.
    pub fn watch_heads(&mut self, heads: watch::Receiver<i64>) {
        self.heads = Some(heads);
    }

    /// Resolves once the log grew by a snapshot interval since the newest snapshot,
    /// counting renewals; never with snapshots off or without
    /// [`RecoveryLog::watch_heads`]. The transaction loop awaits it between
    /// transactions, then calls [`RecoveryLog::maybe_snapshot`]: cancel-safe, it only
    /// waits.
    pub async fn snapshot_due(&mut self) {
        let (every, base, head) = (self.snapshot_every, self.snapshot_base, self.head);
        match self.heads.as_mut() {
            Some(heads) if every > 0 => {
                let due = |seen: &i64| (head.max(*seen) - base).max(0) as u64 >= every;
                if heads.wait_for(due).await.is_ok() {
                    return;
                }
                // The heartbeat is gone (its shard life is ending): nothing more to count.
                std::future::pending().await
            }
            _ => std::future::pending().await,
        }
    }

    /// Deletes the log's fragments that end at or before `offset`, the newest
    /// snapshot's record, now that the register points there: playback never reads
    /// below it again. Housekeeping only: a failure is logged, and the next snapshot
    /// prunes what this one could not.
    async fn prune_before(&mut self, offset: i64) {
        if !self.prune {
            return;
        }
        match self.client.prune(&self.journal, offset).await {
            Ok(r) if r.removed.is_empty() => {}
            Ok(r) => {
                tracing::info!(shard = %self.shard, journal = %self.journal, low = r.low, bytes = r.removed_bytes(), fragments = r.removed.len(), "pruned the recovery log before the newest snapshot");
            }
            Err(JournalError::Unsupported(why)) => {
                tracing::warn!(shard = %self.shard, journal = %self.journal, "cannot prune the recovery log ({why}); it will keep growing");
                self.prune = false;
            }
            Err(e) => {
                tracing::warn!(shard = %self.shard, journal = %self.journal, offset, error = %e, "pruning the recovery log failed; the next snapshot tries again");
            }
        }
    }

    fn fence(&self) -> LabelSet {
        LabelSet::from_pairs([(AUTHOR_REGISTER, author_value(self.author).as_str())])
    }

    async fn append_fenced(
        &self,
        req: AppendRequest,
        shutdown: &watch::Receiver<bool>,
    ) -> anyhow::Result<AppendResult> {
        match append_retrying(&*self.client, req, shutdown).await {
            Ok(r) => Ok(r),
            Err(JournalError::RegisterMismatch { registers, .. }) => Err(Fenced {
                shard: self.shard.clone(),
                journal: self.journal.clone(),
                registers: format!("{registers:?}"),
            }
            .into()),
            Err(e) => Err(e).with_context(|| format!("appending to recovery log {}", self.journal)),
        }
    }
}
