//! The shard host: runs the shards assigned to this process, following the assignment.
//!
//! Gazette's consumer `Service` with its `Resolver` (`consumer/service.go`,
//! `resolver.go`): for every assigned shard a replica task runs; when the assignment
//! changes, shards no longer assigned are stopped (each through its own stop signal,
//! given [`SHARD_STOP_GRACE`] to finish before it is aborted) and newly assigned ones
//! are started. What "running a shard" means is the caller's [`RunShard`] (the service
//! builds the shard's environment and calls `run_shard`), so this loop is the same for
//! the embedded default's [`FixedAssignments`](super::assignment::FixedAssignments)
//! and a cluster's etcd-backed assignments.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::assignment::{plan, ShardAssignments};
use super::spec::ShardSpec;
use super::status::{ShardList, ShardStatus};
use crate::shutdown::stopped;

/// How long a stopped shard may take to finish before it is aborted.
pub const SHARD_STOP_GRACE: Duration = Duration::from_secs(10);

/// Runs one shard until its stop signal turns true.
pub type RunShard = Arc<dyn Fn(ShardSpec, Arc<ShardStatus>, watch::Receiver<bool>) -> BoxFuture<'static, ()> + Send + Sync>;

/// A shard this host runs.
struct Running {
    /// The spec it was started with (a changed spec restarts it).
    spec: ShardSpec,
    /// Its status, also in the host's [`ShardList`].
    status: Arc<ShardStatus>,
    /// Set to true to stop just this shard.
    stop: watch::Sender<bool>,
    /// Its task.
    task: JoinHandle<()>,
}

/// The shard host's follower task and what it shares.
pub struct ShardHost {
    /// The running shards' status, in assignment order (the status page, `shards
    /// list` and the control service read it).
    list: ShardList,
    /// Set to true to stop the host and all its shards.
    shutdown: watch::Sender<bool>,
    /// The follower loop.
    task: JoinHandle<()>,
}

impl ShardHost {
    /// Starts the shards assigned now (they are in `list` when this returns), then
    /// follows `assignments` until [`ShardHost::stop`], keeping `list` current.
    pub fn start(assignments: Arc<dyn ShardAssignments>, run: RunShard, list: ShardList) -> ShardHost {
        Self::start_with_grace(assignments, run, list, SHARD_STOP_GRACE)
    }

    /// As [`ShardHost::start`], with another grace for stopping shards.
    pub fn start_with_grace(assignments: Arc<dyn ShardAssignments>, run: RunShard, list: ShardList, grace: Duration) -> ShardHost {
        let mut follower = Follower { run, list: list.clone(), running: BTreeMap::new(), grace };
        let mut rx = assignments.watch();
        let first = rx.borrow_and_update().clone();
        let started = follower.start_new(&first);
        tracing::info!(shards = started, "shards started");
        let (shutdown, shutdown_rx) = watch::channel(false);
        let task = tokio::spawn(follower.follow(rx, shutdown_rx));
        ShardHost { list, shutdown, task }
    }

    /// The running shards' status.
    pub fn list(&self) -> ShardList {
        self.list.clone()
    }

    /// Stops every shard (abandoning transactions in flight; a shard that does not
    /// finish within the grace is aborted) and the follower.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "the shard host's task failed");
        }
    }
}

/// The follower loop's state.
struct Follower {
    run: RunShard,
    list: ShardList,
    running: BTreeMap<String, Running>,
    grace: Duration,
}

impl Follower {
    async fn follow(mut self, mut rx: watch::Receiver<Vec<ShardSpec>>, mut shutdown: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                changed = rx.changed() => {
                    if changed.is_err() {
                        // The assignment will never change again: run what runs until shutdown.
                        stopped(&mut shutdown).await;
                        break;
                    }
                    let assigned = rx.borrow_and_update().clone();
                    self.apply(&assigned).await;
                }
                _ = stopped(&mut shutdown) => break,
            }
        }
        let all: Vec<Running> = std::mem::take(&mut self.running).into_values().collect();
        stop_all(all, self.grace).await;
        self.publish(&[]);
    }

    /// Stops the shards no longer assigned, then starts the new ones.
    async fn apply(&mut self, assigned: &[ShardSpec]) {
        let p = plan(self.running.iter().map(|(id, r)| (id.as_str(), &r.spec)), assigned);
        let stopping: Vec<Running> = p.stop.iter().filter_map(|id| self.running.remove(id)).collect();
        if !stopping.is_empty() {
            tracing::info!(shards = ?p.stop, "shards unassigned; stopping them");
        }
        stop_all(stopping, self.grace).await;
        let started = self.start_new(assigned);
        if started > 0 {
            tracing::info!(shards = started, "newly assigned shards started");
        }
    }

    /// Starts every shard of `assigned` that does not run; returns how many.
    fn start_new(&mut self, assigned: &[ShardSpec]) -> usize {
        let mut started = 0;
        for spec in assigned {
            if self.running.contains_key(&spec.id) {
                continue;
            }
            let status = Arc::new(ShardStatus::new(&spec.id));
            let (stop, stop_rx) = watch::channel(false);
            let task = tokio::spawn((self.run)(spec.clone(), status.clone(), stop_rx));
            self.running.insert(spec.id.clone(), Running { spec: spec.clone(), status, stop, task });
            started += 1;
        }
        self.publish(assigned);
        started
    }

    /// Puts the running shards' status in the list, in assignment order.
    fn publish(&self, assigned: &[ShardSpec]) {
        let statuses = assigned.iter().filter_map(|s| self.running.get(&s.id)).map(|r| r.status.clone()).collect();
        *self.list.write().unwrap_or_else(|p| p.into_inner()) = statuses;
    }
}

/// Signals every shard of `shards` to stop, then waits for them together, aborting
/// those still running after `grace`.
async fn stop_all(shards: Vec<Running>, grace: Duration) {
    for r in &shards {
        let _ = r.stop.send(true);
    }
    let deadline = tokio::time::Instant::now() + grace;
    for mut r in shards {
        match tokio::time::timeout_at(deadline, &mut r.task).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(shard = %r.spec.id, error = %e, "shard task failed"),
            Err(_) => {
                // A shard blocked on an unreachable broker must not keep the process
                // alive: nothing uncommitted is lost by stopping it here. It is gone
                // (its store closed) once this returns, so a restart can reopen it.
                r.task.abort();
                let _ = r.task.await;
                tracing::warn!(shard = %r.spec.id, ?grace, "shard did not stop in time; aborted");
            }
        }
    }
}

#[cfg(test)]
#[path = "host_tests.rs"]
mod tests;
