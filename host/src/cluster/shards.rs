//! A shard host as a member of its consumer application's cluster.
//!
//! Gazette's consumer `Service` with its `Resolver` and `updateStatus`
//! (`consumer/service.go`, `resolver.go`, `shard.go`): the process announces its
//! `ConsumerSpec` under a lease at `<root>/members/<zone>#<id>`, keeps a watched copy
//! of the root, runs the allocator (acting while it is the oldest member), and
//! follows its own assignments `<root>/assign/<shard>#<zone>#<id>#<slot>`:
//!
//! - the shards assigned to it are what [`ShardMember`] hands the shard host as its
//!   [`ShardAssignments`]; each replica's [`Role`] follows its slot (0: primary, else
//!   standby), so a promotion changes the role of a running replica instead of
//!   restarting it;
//! - every replica's status is written back into its assignment's value as Gazette's
//!   `ReplicaStatus` ([`ShardMember::report`]): the allocator waits for a new standby
//!   to be STANDBY before it removes the replica it replaces, and `Shard/List` shows
//!   it.
//!
//! When the process dies its lease expires, its member key and assignments vanish in
//! one revision, the leader re-solves, and standbys elsewhere are promoted; their
//! hand-off fences the dead primary through the recovery log, should it be only
//! paused. [`ShardMember::leave`] revokes the lease at a clean exit, so that happens at
//! once instead of after the lease's TTL.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use streamsum_cluster::allocator::MemberId;
use streamsum_cluster::etcd::etcd_client::Client;
use streamsum_cluster::etcd::{update_assignment, AllocState, KeySpace, Snapshot};
use tokio::sync::watch;

use super::membership::Membership;
use super::values::{consumer_member_out, replica_out, ConsumerValue, ShardValues};
use super::{ClusterArgs, DEFAULT_CONSUMER_ROOT};
use crate::consumer::directory::ReplicaReport;
use crate::consumer::{Role, ShardAssignments, ShardSpec, ShardStatus};
use crate::journal::ProcessId;
use crate::shutdown::stopped;

/// Gazette's default `--consumer.limit`: shards one host may hold.
pub const DEFAULT_SHARD_LIMIT: u32 = 32;

/// This process's membership and assignments.
pub struct ShardMember {
    membership: Membership<ConsumerValue>,
    /// `--max-shard-failures`, for the runtime specs of assigned shards.
    max_failures: u32,
    /// The shards assigned to this process.
    assigned: watch::Sender<Vec<ShardSpec>>,
    /// Each assigned shard's role and recovery log.
    replicas: Mutex<BTreeMap<String, Replica>>,
}

/// What this process knows of one of its assigned shards.
struct Replica {
    role: watch::Sender<Role>,
    recovery_log: String,
}

impl ShardMember {
    /// Connects to `--etcd`, announces this process (serving the `Shard` API at
    /// `endpoint`, holding at most `shard_limit` shards) and starts following its
    /// assignments.
    ///
    /// # Errors
    /// etcd unreachable, a bad `--etcd-prefix`, `--zone` or `--id`, or another live
    /// process announced with the same zone and id.
    pub async fn join(args: &ClusterArgs, endpoint: &str, shard_limit: u32, max_failures: u32) -> anyhow::Result<Arc<Self>> {
        let id = args.member()?;
        let value = consumer_member_out(&ProcessId::new(id.zone, id.suffix), endpoint, shard_limit);
        let membership =
            Membership::join(args, DEFAULT_CONSUMER_ROOT, "shard host", value, ConsumerValue::decode, Arc::new(ShardValues)).await?;
        let member = Arc::new(ShardMember { membership, max_failures, assigned: watch::Sender::new(Vec::new()), replicas: Mutex::default() });
        let follower = member.clone();
        member.membership.spawn(move |shutdown| follower.follow(shutdown));
        Ok(member)
    }

    /// This member's id.
    pub fn id(&self) -> &MemberId {
        &self.membership.me
    }

    /// This member as a process id (routes name it so).
    pub fn process_id(&self) -> ProcessId {
        self.membership.process_id()
    }

    /// The watched keyspace (the directory reads it too).
    pub fn keyspace(&self) -> &KeySpace<ConsumerValue> {
        &self.membership.keyspace
    }

    /// The root of the keyspace.
    pub fn root(&self) -> &str {
        &self.membership.root
    }

    /// The etcd client.
    pub fn client(&self) -> &Client {
        &self.membership.client
    }

    /// Turns true once this member's lease is lost: its shards are being moved to
    /// other members and it must stop serving.
    pub fn lost(&self) -> watch::Receiver<bool> {
        self.membership.lost()
    }

    /// The assigned role of shard `id`'s replica here (standby until assigned).
    pub fn role(&self, id: &str) -> watch::Receiver<Role> {
        let mut replicas = self.replicas.lock().unwrap_or_else(|p| p.into_inner());
        match replicas.get(id) {
            Some(r) => r.role.subscribe(),
            None => {
                let role = watch::Sender::new(Role::Standby);
                let rx = role.subscribe();
                replicas.insert(id.to_string(), Replica { role, recovery_log: String::new() });
                rx
            }
        }
    }

    /// The recovery log of assigned shard `id`, as its spec declares it.
    pub fn recovery_log(&self, id: &str) -> Option<String> {
        let replicas = self.replicas.lock().unwrap_or_else(|p| p.into_inner());
        replicas.get(id).map(|r| r.recovery_log.clone()).filter(|l| !l.is_empty())
    }

    /// Keeps shard `id`'s assignment value equal to its replica's status until `stop`:
    /// Gazette's `updateStatus`, a guarded put that keeps the assignment's lease.
    pub async fn report(self: Arc<Self>, id: String, status: Arc<ShardStatus>, mut stop: watch::Receiver<bool>) {
        let mut changes = status.subscribe();
        let mut snapshots = self.keyspace().subscribe();
        let mut backoff = crate::consumer::source::Backoff::default();
        // What was compared last: progress changes the status on every transaction,
        // the replica code rarely; nothing to look up while neither side moved.
        let mut compared: Option<(i64, ReplicaReport)> = None;
        loop {
            let want = ReplicaReport::of(&status.snapshot());
            let snapshot = snapshots.borrow_and_update().clone();
            let seen = (snapshot.revision(), want.clone());
            let unchanged = compared.as_ref() == Some(&seen);
            compared = Some(seen);
            if unchanged {
                // Neither the status code nor the keyspace moved.
            } else if let Some((key, revision, have)) = self.assignment(&snapshot, &id) {
                if have.as_ref() != Some(&want) {
                    match update_assignment(self.client(), &key, revision, replica_out(&want)).await {
                        Ok(at) => {
                            backoff.reset();
                            tracing::debug!(shard = %id, code = want.code.as_str(), revision = at, "replica status written");
                        }
                        // A conflict: the assignment moved meanwhile; the next
                        // revision shows where.
                        Err(e @ streamsum_cluster::etcd::Error::Conflict { .. }) => {
                            tracing::debug!(shard = %id, error = %e, "replica status not written");
                        }
                        Err(e) if e.is_transient() => {
                            let delay = backoff.next_delay();
                            tracing::warn!(shard = %id, error = %e, retry_in = ?delay, "cannot write the replica status; retrying");
                            if crate::shutdown::sleep_or_stopped(delay, &mut stop).await {
                                return;
                            }
                            compared = None;
                            continue;
                        }
                        Err(e) => tracing::warn!(shard = %id, error = %e, "cannot write the replica status"),
                    }
                }
            }
            tokio::select! {
                _ = changes.changed() => {}
                r = snapshots.changed() => if r.is_err() { return },
                _ = stopped(&mut stop) => return,
            }
        }
    }

    /// This member's assignment of shard `id`: key, mod revision and status.
    fn assignment(&self, snapshot: &Snapshot<ConsumerValue>, id: &str) -> Option<(String, i64, Option<ReplicaReport>)> {
        let state = AllocState::new(self.root(), snapshot, &ShardValues);
        let entry = state.assignments_of_item(id).iter().find(|a| a.assignment.member() == *self.id())?;
        Some((entry.key.clone(), entry.kv.mod_revision, entry.kv.decoded.replica().cloned()))
    }

    /// Follows this member's assignments in every new snapshot.
    async fn follow(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut snapshots = self.keyspace().subscribe();
        loop {
            let snapshot = snapshots.borrow_and_update().clone();
            self.assign_from(&snapshot);
            tokio::select! {
                r = snapshots.changed() => if r.is_err() { return },
                _ = stopped(&mut shutdown) => return,
            }
        }
    }

    /// Sets roles and recovery logs, then the assigned specs, from `snapshot`.
    fn assign_from(&self, snapshot: &Snapshot<ConsumerValue>) {
        let state = AllocState::new(self.root(), snapshot, &ShardValues);
        let mut specs = Vec::new();
        {
            let mut replicas = self.replicas.lock().unwrap_or_else(|p| p.into_inner());
            let mut kept = BTreeMap::new();
            for a in state.assignments_of(self.id()) {
                let id = &a.assignment.item_id;
                let Some(declared) = state.item(id).and_then(|i| i.kv.decoded.shard()) else { continue };
                let role = if a.assignment.slot == 0 { Role::Primary } else { Role::Standby };
                let replica = replicas.remove(id).unwrap_or_else(|| Replica { role: watch::Sender::new(role), recovery_log: String::new() });
                replica.role.send_if_modified(|r| std::mem::replace(r, role) != role);
                kept.insert(id.clone(), Replica { recovery_log: declared.recovery_log(), ..replica });
                specs.push(declared.runtime(self.max_failures));
            }
            *replicas = kept;
        }
        self.assigned.send_if_modified(|current| {
            let changed = *current != specs;
            if changed {
                tracing::info!(shards = ?specs.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), revision = state.revision, "assignments changed");
                *current = std::mem::take(&mut specs);
            }
            changed
        });
    }

    /// Stops following and revokes the lease: this member's assignments vanish at
    /// once and its shards move to other members. Call after the shards stopped.
    pub async fn leave(&self) {
        self.membership.leave().await;
    }
}

impl ShardAssignments for ShardMember {
    fn watch(&self) -> watch::Receiver<Vec<ShardSpec>> {
        self.assigned.subscribe()
    }
}
