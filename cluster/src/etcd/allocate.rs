//! The allocator loop: every member runs it, the leader acts.
//!
//! Gazette's `allocator/allocator.go` (`Allocate`). On every keyspace revision the
//! loop extracts the [`AllocState`]; if this member is the [`AllocState::leader`] it
//! re-[`solve`]s when members or items changed (the cached answer stays valid
//! otherwise, and re-solving mid-move could pick either side), [`converge`]s one safe
//! step, and applies it as guarded transactions ([`super::txn_plan`]). Then it waits
//! for the keyspace to move past what it read — or to reach its own write, so the
//! next step never acts on a copy that lacks it. A transaction whose guards fail lost
//! a race with another writer; the next revision, which that writer caused, tells the
//! loop what happened. A transaction etcd did not answer is retried after a backoff.
//!
//! Members leave by their lease: their key and the assignments put under its lease
//! vanish in one revision, the leader sees fewer members and re-solves. A member
//! drains by announcing an item limit of zero; once it holds nothing the loop returns
//! [`Exit::Drained`] and the caller revokes its lease, as Gazette's session does.

use std::sync::Arc;

use etcd_client::Client;
use tokio::sync::watch;

use super::alloc_state::{AllocState, AllocatorValues};
use super::backoff::backoff;
use super::keyspace::KeySpace;
use super::snapshot::Snapshot;
use super::txn_plan::{plan, Guard, TxnPlan};
use super::Error;
use crate::allocator::keys::member_key;
use crate::allocator::{changes, converge, solve, stalled, unstall, Desired, Item, Member, MemberId};

/// Why [`Allocator::run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Shutdown was requested.
    Shutdown,
    /// This member's item limit is zero and it holds no assignments: revoke its lease.
    Drained,
}

/// What the loop did last, for status pages and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllocatorStatus {
    /// The keyspace revision of the last round.
    pub revision: i64,
    /// Whether this member led that round.
    pub leader: bool,
    /// Whether that round found nothing to do (always true for a follower).
    pub idle: bool,
    /// Solves run so far.
    pub solves: u64,
    /// Steps that broke a stall past item limits ([`unstall`]) so far.
    pub stalls: u64,
    /// Transactions applied so far.
    pub txns: u64,
    /// Transactions whose guards failed (races lost) so far.
    pub conflicts: u64,
}

/// The members and items a desired answer was solved for.
type SolvedFor = (Vec<Member>, Vec<Item>);

/// One member's allocator loop. See the module doc.
pub struct Allocator<V> {
    /// Transactions go through it.
    client: Client,
    /// The watched keyspace of the allocator's root.
    keyspace: KeySpace<V>,
    /// This member.
    local: MemberId,
    /// The application's reading of values.
    values: Arc<dyn AllocatorValues<V>>,
    /// Published after every round.
    status: watch::Sender<AllocatorStatus>,
    /// The leader's cached answer and the members and items it was solved for.
    solved: Option<(SolvedFor, Desired)>,
}

/// What a round asks the loop to do next.
enum Round {
    /// Return.
    Done(Exit),
    /// Wait for the keyspace to reach `next`; if `retry`, also try again after a
    /// backoff (etcd failed, so `next` may never come).
    Wait { next: i64, retry: bool },
}

impl<V: Send + Sync + 'static> Allocator<V> {
    /// The loop of `local`, over `keyspace` (which must be watched), writing through
    /// `client`.
    pub fn new(client: Client, keyspace: KeySpace<V>, local: MemberId, values: Arc<dyn AllocatorValues<V>>) -> Self {
        let status = watch::Sender::new(AllocatorStatus::default());
        Allocator { client, keyspace, local, values, status, solved: None }
    }

    /// A receiver of the status each round publishes.
    pub fn status(&self) -> watch::Receiver<AllocatorStatus> {
        self.status.subscribe()
    }

    /// Runs rounds from the keyspace revision `announced` (this member's
    /// announcement) on, until shutdown or drained.
    ///
    /// # Errors
    /// [`Error::MemberGone`] when this member's key vanishes (its lease ended: stop
    /// serving); [`Error::Key`] for a name converge produced that no key can hold.
    pub async fn run(mut self, announced: i64, mut shutdown: watch::Receiver<bool>) -> Result<Exit, Error> {
        let mut snapshot = tokio::select! {
            s = self.keyspace.wait_for_revision(announced) => s,
            _ = shutdown.wait_for(|stop| *stop) => return Ok(Exit::Shutdown),
        };
        let mut failures = 0u32;
        loop {
            let (next, retry) = match self.round(&snapshot).await? {
                Round::Done(exit) => return Ok(exit),
                Round::Wait { next, retry } => (next, retry),
            };
            failures = if retry { failures + 1 } else { 0 };
            snapshot = tokio::select! {
                s = self.keyspace.wait_for_revision(next) => s,
                _ = tokio::time::sleep(backoff(failures)), if retry => self.keyspace.snapshot(),
                _ = shutdown.wait_for(|stop| *stop) => return Ok(Exit::Shutdown),
            };
        }
    }

    /// One round over `snapshot`.
    async fn round(&mut self, snapshot: &Snapshot<V>) -> Result<Round, Error> {
        let root = self.keyspace.root().to_string();
        let state = AllocState::new(&root, snapshot, &*self.values);
        let Some(local) = state.member(&self.local) else {
            return Err(Error::MemberGone { key: member_key(&root, &self.local)?, revision: state.revision });
        };
        if local.member.item_limit == 0 && state.assignments_of(&self.local).next().is_none() {
            tracing::info!(member = %self.local, "drained: no item limit and no assignments left");
            return Ok(Round::Done(Exit::Drained));
        }
        let fixed = [Guard::ModRevision { key: local.key.clone(), revision: local.kv.mod_revision }];
        let mut status = AllocatorStatus { revision: state.revision, leader: false, idle: true, ..self.status.borrow().clone() };
        let mut wait = Round::Wait { next: state.revision + 1, retry: false };

        if state.leader().as_ref() == Some(&self.local) {
            status.leader = true;
            let (members, items, current) = (state.member_models(), state.item_models(), state.assignment_models());
            let desired = self.desired(&state, &mut status);
            let mut ops = converge(&members, &items, &current, desired);
            if stalled(&current, desired, &ops) {
                tracing::info!(revision = state.revision, "convergence stalled on a swap between full members; adding past item limits");
                ops = unstall(&members, &items, &current, desired);
                status.stalls += 1;
            }
            if !ops.is_empty() {
                status.idle = false;
                let txns = match plan(&root, &state, &ops, &fixed) {
                    Ok(txns) => txns,
                    Err(error @ Error::TxnTooLarge { .. }) => {
                        tracing::error!(%error, "cannot apply this step; waiting for the keyspace to change");
                        Vec::new()
                    }
                    Err(error) => return Err(error),
                };
                tracing::debug!(revision = state.revision, ops = ops.len(), txns = txns.len(), "converging");
                let (through, retry) = match self.apply(&txns, &mut status).await {
                    Applied::Through(revision) | Applied::Conflict(revision) => (revision, false),
                    Applied::Failed(error, revision) => {
                        tracing::warn!(%error, revision = state.revision, "applying the allocator's step failed (will retry)");
                        (revision, true)
                    }
                };
                wait = Round::Wait { next: through.max(state.revision + 1), retry };
            }
        } else {
            self.solved = None;
        }
        self.status.send_replace(status);
        Ok(wait)
    }

    /// The desired assignments, re-solved only when members or items changed.
    fn desired(&mut self, state: &AllocState<V>, status: &mut AllocatorStatus) -> &Desired {
        let inputs = (state.member_models(), state.item_models());
        if self.solved.as_ref().is_some_and(|(solved_for, _)| *solved_for != inputs) {
            self.solved = None;
        }
        let (_, desired) = self.solved.get_or_insert_with(|| {
            let current = state.assignment_models();
            let desired = solve(&inputs.0, &inputs.1, &current);
            let c = changes(&current, &desired);
            let slots: u64 = inputs.1.iter().map(|i| u64::from(i.desired_replication)).sum();
            tracing::info!(
                revision = state.revision,
                members = inputs.0.len(),
                items = inputs.1.len(),
                item_slots = slots,
                add = c.added,
                remove = c.removed,
                keep = c.unchanged,
                "solved for the desired assignments"
            );
            if ((c.added + c.unchanged) as u64) < slots {
                tracing::warn!(unattainable = slots - (c.added + c.unchanged) as u64, "cannot reach the desired replication of every item");
            }
            status.solves += 1;
            (inputs, desired)
        });
        desired
    }

    /// Applies `txns` in order, stopping at the first that fails.
    async fn apply(&self, txns: &[TxnPlan], status: &mut AllocatorStatus) -> Applied {
        let mut through = 0;
        for txn in txns {
            match self.client.kv_client().txn(txn.to_txn()).await {
                Ok(response) if response.succeeded() => {
                    through = response.header().map_or(through, |h| h.revision());
                    status.txns += 1;
                }
                Ok(_) => {
                    tracing::debug!(revision = status.revision, "allocator transaction lost a race; waiting for the next revision");
                    status.conflicts += 1;
                    return Applied::Conflict(through);
                }
                Err(error) => return Applied::Failed(Error::etcd("applying an allocator transaction")(error), through),
            }
        }
        Applied::Through(through)
    }
}

/// How applying a round's transactions went.
enum Applied {
    /// All applied, the last at this revision (0 if none).
    Through(i64),
    /// A guard failed, after those before it applied (through this revision, or 0).
    Conflict(i64),
    /// etcd failed, after those before it applied.
    Failed(Error, i64),
}
