//! Hot standbys: a shard replica that tails its recovery log while another process is
//! primary, and takes over when that primary goes silent.
//!
//! Gazette's `serveStandby` (`consumer/shard.go`) with the player tailing the log
//! (`recoverylog/playback.go`, reference §4.4); Etcd's assignment leases are replaced
//! by a lease kept in the log itself (DESIGN §7, issue 6 allows "a simple lease
//! through the broker's registers"): a primary started with `--hot-standbys` appends a
//! fenced no-op record every `lease / 4`, so its log never stays silent for a whole
//! lease while it lives. A standby applies every record as it arrives; once nothing
//! has arrived for a lease, the primary is taken for dead and the standby runs the
//! normal recovery — hand-off (fencing the old primary, should it wake up), then
//! playback of only the records it has not applied yet.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::watch;

use super::recovery::{is_foreign, play, play_fresh};
use super::shard::{stopped, ShardEnv, ShardSpec};
use super::source::Backoff;
use super::status::{ShardState, ShardStatus};
use crate::journal::{AppendRequest, JournalClient, JournalError, LabelSelector, LabelSet, ReadRequest};
use crate::store::recoverylog::{author_value, AUTHOR_REGISTER, SNAPSHOT_REGISTER};
use crate::store::{LogRecord, PlaybackError, Player, ShardDb, Start};

/// Tails the shard's recovery log into `db` until its primary is silent for a lease
/// (`Ok(true)`: take over) or shutdown (`Ok(false)`).
///
/// # Errors
/// The log holds a record the player refuses, or cannot be read.
pub async fn stand_by(
    spec: &ShardSpec,
    env: &ShardEnv,
    db: &ShardDb,
    status: &Arc<ShardStatus>,
    shutdown: &mut watch::Receiver<bool>,
) -> anyhow::Result<bool> {
    let journal = env.recovery_log.as_str();
    let client = env.client.clone();
    status.set(ShardState::Standby);
    // Backfill to the head (a barrier tells where it is, and the snapshot register).
    let barrier = loop {
        match client.append(AppendRequest::new(journal, bytes::Bytes::new())).await {
            Ok(r) => break r,
            Err(e) if e.is_transient() => {
                if wait(Duration::from_millis(200), shutdown).await {
                    return Ok(false);
                }
            }
            Err(e) => return Err(e.into()),
        }
    };
    let snapshot = barrier.registers.value_of(SNAPSHOT_REGISTER).and_then(|v| v.parse::<i64>().ok());
    let applied = {
        let db = db.clone();
        tokio::task::spawn_blocking(move || db.applied_blocking()).await??
    };
    let resume =
        applied.filter(|a| a.journal == journal && a.end <= barrier.end && snapshot.is_none_or(|s| s <= a.begin));
    let mut player = match resume {
        Some(a) => {
            let from = a.begin;
            match play(&*client, journal, Player::new(journal, db.clone(), Start::Resume(a)), barrier.end).await {
                Ok(p) => p,
                Err(e) if is_foreign(&e, from) => {
                    tracing::warn!(shard = %spec.id, %journal, error = %e, "the local store does not match the recovery log; rebuilding it");
                    play_fresh(&*client, journal, db, snapshot, barrier.end).await?
                }
                Err(e) => return Err(e.into()),
            }
        }
        None => play_fresh(&*client, journal, db, snapshot, barrier.end).await?,
    };
    tracing::info!(shard = %spec.id, %journal, records = player.applied(), "hot standby caught up; tailing the recovery log");

    // Tail: every record the primary appends (transactions and lease renewals).
    let mut backoff = Backoff::default();
    loop {
        let req = ReadRequest { journal: journal.to_owned(), offset: player.next_offset(), block: true, end_offset: 0 };
        let mut stream = client.read(req);
        loop {
            let item = tokio::select! {
                item = tokio::time::timeout(env.lease, stream.next()) => item,
                _ = stopped(shutdown) => return Ok(false),
            };
            match item {
                Err(_) => {
                    tracing::warn!(shard = %spec.id, %journal, lease = ?env.lease, "the primary's lease expired; taking over");
                    return Ok(true);
                }
                Ok(Some(Ok(chunk))) => {
                    backoff.reset();
                    player =
                        tokio::task::spawn_blocking(move || player.push(chunk.offset, &chunk.content).map(|()| player))
                            .await
                            .map_err(|e| PlaybackError::Task(e.to_string()))??;
                }
                Ok(Some(Err(e))) if e.is_transient() => {
                    tracing::debug!(shard = %spec.id, %journal, error = %e, "tailing the recovery log failed; retrying");
                    break;
                }
                Ok(Some(Err(e))) => return Err(PlaybackError::Read { journal: journal.to_owned(), source: e }.into()),
                Ok(None) => break,
            }
        }
        if wait(backoff.next_delay(), shutdown).await {
            return Ok(false);
        }
    }
}

/// Renews a primary's lease: a fenced no-op record every `lease / 4` until fenced or
/// aborted.
pub async fn renew_lease(client: Arc<dyn JournalClient>, journal: String, author: u64, lease: Duration) {
    let fence = LabelSelector::including(LabelSet::from_pairs([(AUTHOR_REGISTER, author_value(author).as_str())]));
    let frame = bytes::Bytes::from(LogRecord::handoff(author).frame());
    let mut tick = tokio::time::interval(lease / 4);
    loop {
        tick.tick().await;
        let req = AppendRequest {
            check_registers: Some(fence.clone()),
            ..AppendRequest::new(journal.clone(), frame.clone())
        };
        match client.append(req).await {
            Ok(_) => {}
            Err(JournalError::RegisterMismatch { .. }) => return, // Fenced: the transaction loop finds out too.
            Err(e) => tracing::debug!(%journal, error = %e, "renewing the lease failed; retrying"),
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
