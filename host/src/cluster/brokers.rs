//! A broker as a member of the brokers' cluster.
//!
//! Gazette's broker wiring (`broker/service.go`, `resolver.go`, `replica.go`): the
//! process announces its `BrokerSpec` under a lease at `<root>/members/<zone>#<id>`,
//! keeps a watched copy of the root, runs the allocator over the journals (items
//! `<root>/items/<journal>`, each a `JournalSpec`), and follows the assignments
//! `<root>/assign/<journal>#<zone>#<id>#<slot>`:
//!
//! - every journal's [`Route`] is its assignments in slot order with each holder's
//!   endpoint; [`ClusterRoutes`] gives them to the broker, which serves a journal it
//!   is primary of and proxies (or routes) the others;
//! - a journal assigned here is created in the local storage with its spec from etcd
//!   before its route names this broker, so a request routed here finds it;
//! - the primary writes the route into the assignments' values once its replicas are
//!   in sync, which is what makes them consistent for the allocator (Gazette's
//!   `updateAssignments`);
//! - [`EtcdCatalog`] lists and applies journal specs in etcd, so any broker lists
//!   every journal and `journals apply` through any broker reaches them all.
//!
//! Every journal served here is replicated (`journal/replica.rs`,
//! `service/pipeline.rs`): its primary keeps a `Replicate` pipeline to the other
//! members of its route, and after syncing it with the route the snapshot shows
//! (Gazette's pulse, a zero-byte append) writes that route into every assignment of
//! the journal — which is what makes the assignments consistent for the allocator, so
//! a new replica counts only once it holds the journal's bytes, and a journal moved
//! between live brokers keeps them.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use prost::Message;
use streamsum_cluster::allocator::keys::item_key;
use streamsum_cluster::etcd::etcd_client::{Compare, CompareOp, Txn, TxnOp};
use streamsum_cluster::etcd::{update_all_assignments, AllocState, Snapshot};
use tokio::sync::watch;

use super::membership::Membership;
use super::route_of;
use super::values::{broker_member_out, endpoint_of, journal_out, BrokerValue, JournalValues};
use super::{ClusterArgs, DEFAULT_BROKER_ROOT};
use crate::journal::catalog::{check_changes, select};
use crate::journal::{
    ApplyChange, JournalCatalog, JournalError, JournalInfo, JournalRoutes, JournalSpec, LabelSelector, ProcessId, Route,
    Storage,
};
use crate::service::convert::route_out;
use crate::service::Replicator;
use crate::shutdown::stopped;

/// Gazette's default `--broker.limit`: journals one broker may hold.
pub const DEFAULT_JOURNAL_LIMIT: u32 = 1024;

/// How long a pulse (syncing a journal's replicas) may take before it is tried again.
const PULSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// How long an apply waits for this broker's copy of etcd to show it.
const APPLY_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Every journal's route, by name.
type RouteTable = Arc<BTreeMap<String, Route>>;

/// This broker's membership and routes.
pub struct BrokerMember {
    membership: Membership<BrokerValue>,
    pid: ProcessId,
    /// Where the content of journals served here lives.
    storage: Arc<Storage>,
    /// The routes, published after the journals they name here exist locally.
    routes: watch::Sender<RouteTable>,
    /// The keyspace revision the routes are at.
    revision: watch::Sender<i64>,
    /// The pipelines of the journals this broker is primary of (shared with the Broker).
    replicator: Arc<Replicator>,
}

impl BrokerMember {
    /// Connects to `--etcd`, announces this broker (serving at `endpoint`, holding at
    /// most `journal_limit` journals, their content in `storage`) and starts following
    /// the journals' assignments.
    ///
    /// # Errors
    /// etcd unreachable, a bad `--etcd-prefix`, `--zone` or `--id`, or another live
    /// process announced with the same zone and id.
    pub async fn join(args: &ClusterArgs, endpoint: &str, journal_limit: u32, storage: Arc<Storage>) -> anyhow::Result<Arc<Self>> {
        let id = args.member()?;
        let pid = ProcessId::new(id.zone, id.suffix);
        let value = broker_member_out(&pid, endpoint, journal_limit);
        let membership =
            Membership::join(args, DEFAULT_BROKER_ROOT, "broker", value, BrokerValue::decode, Arc::new(JournalValues)).await?;
        let revision = watch::Sender::new(membership.keyspace.snapshot().revision());
        let routes = watch::Sender::new(RouteTable::default());
        let table = Arc::new(ClusterRoutes { me: pid.clone(), table: routes.subscribe() });
        let replicator = Replicator::at_revision(storage.clone(), table, revision.subscribe());
        let member = Arc::new(BrokerMember { membership, pid, storage, routes, revision, replicator });
        let follower = member.clone();
        member.membership.spawn(move |shutdown| follower.follow(shutdown));
        Ok(member)
    }

    /// The routes the broker serves by.
    pub fn routes(self: &Arc<Self>) -> Arc<dyn JournalRoutes> {
        Arc::new(ClusterRoutes { me: self.pid.clone(), table: self.routes.subscribe() })
    }

    /// The replication pipelines the broker appends through.
    pub fn replicator(&self) -> Arc<Replicator> {
        self.replicator.clone()
    }

    /// The catalog the broker lists and applies through.
    pub fn catalog(self: &Arc<Self>) -> Arc<dyn JournalCatalog> {
        Arc::new(EtcdCatalog { member: self.clone() })
    }

    /// Turns true once this member's lease is lost.
    pub fn lost(&self) -> watch::Receiver<bool> {
        self.membership.lost()
    }

    /// Follows every new snapshot: local journals, routes, assignment values.
    async fn follow(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let mut snapshots = self.membership.keyspace.subscribe();
        let mut backoff = crate::consumer::source::Backoff::default();
        loop {
            let snapshot = snapshots.borrow_and_update().clone();
            let retry = !self.sync(&snapshot).await;
            let delay = if retry {
                backoff.next_delay()
            } else {
                backoff.reset();
                std::time::Duration::MAX
            };
            tokio::select! {
                r = snapshots.changed() => if r.is_err() { return },
                _ = tokio::time::sleep(delay), if retry => {}
                _ = stopped(&mut shutdown) => return,
            }
        }
    }

    /// Brings the local storage, the routes and this broker's assignment values up to
    /// `snapshot`; false if something must be tried again.
    async fn sync(&self, snapshot: &Snapshot<BrokerValue>) -> bool {
        let state = AllocState::new(&self.membership.root, snapshot, &JournalValues);
        let endpoint = |v: &BrokerValue| endpoint_of(v.member().and_then(|b| b.process_spec.as_ref()));
        let mut table = BTreeMap::new();
        let mut local = Vec::new();
        let mut pulses = Vec::new();
        for item in &state.items {
            let Some(spec) = item.kv.decoded.journal() else { continue };
            let (route, held) = route_of(&state, &item.item.id, endpoint);
            if route.includes(&self.pid) {
                local.push(spec.clone());
                if route.primary_member() == Some(&self.pid) {
                    let want = route_out(&route);
                    let values: Vec<(String, i64, bool)> = held
                        .iter()
                        .map(|a| (a.key.clone(), a.kv.mod_revision, matches!(&a.kv.decoded, BrokerValue::Route(Some(r)) if *r == want)))
                        .collect();
                    if values.iter().any(|(_, _, holds)| !holds) {
                        pulses.push((spec.name.clone(), route.clone(), values));
                    }
                }
            }
            if route.primary_member() != Some(&self.pid) {
                self.replicator.forget(&spec.name);
            }
            table.insert(spec.name.clone(), route);
        }
        // The journals first, then the routes that name them here, then the values
        // that tell the allocator this broker serves them with its replicas in sync.
        let mut ok = self.ensure_local(local).await;
        self.routes.send_replace(Arc::new(table));
        self.revision.send_replace(snapshot.revision());
        let done = futures::future::join_all(pulses.into_iter().map(|(journal, route, values)| self.pulse(journal, route, values))).await;
        ok &= done.into_iter().all(|ok| ok);
        ok
    }

    /// Syncs `journal`'s replicas with `route` and writes the route into its
    /// assignments; false if it must be tried again.
    async fn pulse(&self, journal: String, route: Route, values: Vec<(String, i64, bool)>) -> bool {
        let synced = match tokio::time::timeout(PULSE_TIMEOUT, self.replicator.pulse(&journal)).await {
            Ok(Ok(synced)) => synced,
            Ok(Err(e)) => {
                tracing::warn!(%journal, error = %e, "cannot sync the journal's replicas yet; retrying");
                return false;
            }
            Err(_) => {
                tracing::warn!(%journal, timeout = ?PULSE_TIMEOUT, "syncing the journal's replicas timed out; retrying");
                return false;
            }
        };
        if !synced.equivalent(&route) {
            return true; // The route moved meanwhile: the next snapshot pulses again.
        }
        match update_all_assignments(&self.membership.client, &values, route_out(&route).encode_to_vec()).await {
            Ok(_) => true,
            // An assignment changed meanwhile: the next revision says how.
            Err(streamsum_cluster::etcd::Error::Conflict { .. }) => true,
            Err(e) => {
                tracing::warn!(%journal, error = %e, "cannot write the route into the assignments; retrying");
                false
            }
        }
    }

    /// Creates or updates the journals assigned here in the local storage.
    async fn ensure_local(&self, specs: Vec<JournalSpec>) -> bool {
        let storage = self.storage.clone();
        let done = tokio::task::spawn_blocking(move || {
            let mut ok = true;
            for spec in specs {
                let name = spec.name.clone();
                let change = match storage.journal(&spec.name) {
                    Ok(j) if j.spec().spec == spec => None,
                    Ok(j) => Some(ApplyChange::Upsert { spec, expect_mod_revision: j.spec().mod_revision }),
                    Err(_) => Some(ApplyChange::Upsert { spec, expect_mod_revision: 0 }),
                };
                if let Some(change) = change {
                    if let Err(e) = storage.apply(vec![change]) {
                        tracing::error!(journal = %name, error = %e, "cannot create or update an assigned journal in the local storage; retrying");
                        ok = false;
                        continue;
                    }
                }
                if let Err(e) = storage.journal(&name).and_then(|j| j.enable_replication()) {
                    tracing::error!(journal = %name, error = %e, "cannot replicate an assigned journal; retrying");
                    ok = false;
                }
            }
            ok
        });
        done.await.unwrap_or(false)
    }

    /// Stops following and revokes the lease: this broker's journals are re-assigned
    /// at once. Call after the broker stopped serving.
    pub async fn leave(&self) {
        self.membership.leave().await;
    }
}

/// Routes from the brokers' assignments.
struct ClusterRoutes {
    me: ProcessId,
    table: watch::Receiver<RouteTable>,
}

impl JournalRoutes for ClusterRoutes {
    fn local(&self) -> &ProcessId {
        &self.me
    }

    fn route(&self, journal: &str) -> Route {
        self.table.borrow().get(journal).cloned().unwrap_or_default()
    }
}

/// Journal specs in etcd.
struct EtcdCatalog {
    member: Arc<BrokerMember>,
}

impl EtcdCatalog {
    /// Every journal of `snapshot`, in name order.
    fn journals(&self, snapshot: &Snapshot<BrokerValue>) -> Vec<JournalInfo> {
        let prefix = format!("{}/items/", self.member.membership.root);
        snapshot
            .prefixed(&prefix)
            .filter_map(|(_, kv)| {
                let spec = kv.decoded.journal()?.clone();
                Some(JournalInfo { spec, create_revision: kv.create_revision, mod_revision: kv.mod_revision, write_head: 0, route: Route::default() })
            })
            .collect()
    }
}

impl JournalCatalog for EtcdCatalog {
    fn revision(&self) -> i64 {
        *self.member.revision.borrow()
    }

    fn subscribe_revision(&self) -> watch::Receiver<i64> {
        self.member.revision.subscribe()
    }

    fn list(&self, selector: &LabelSelector) -> Result<(i64, Vec<JournalInfo>), JournalError> {
        let snapshot = self.member.membership.keyspace.snapshot();
        Ok((snapshot.revision(), select(selector, self.journals(&snapshot))?))
    }

    fn apply_changes(&self, changes: Vec<ApplyChange>) -> BoxFuture<'static, Result<i64, JournalError>> {
        let member = self.member.clone();
        let snapshot = member.membership.keyspace.snapshot();
        let current: BTreeMap<String, i64> = self.journals(&snapshot).into_iter().map(|j| (j.spec.name, j.mod_revision)).collect();
        Box::pin(async move {
            check_changes(&changes, |name| current.get(name).copied())?;
            let mut compares = Vec::new();
            let mut ops = Vec::new();
            for change in &changes {
                let (name, expect) = match change {
                    ApplyChange::Upsert { spec, expect_mod_revision } => (spec.name.as_str(), *expect_mod_revision),
                    ApplyChange::Delete { journal, expect_mod_revision } => (journal.as_str(), *expect_mod_revision),
                };
                let key = item_key(&member.membership.root, name).map_err(|e| JournalError::invalid(format!("journal {name:?}: {e}")))?;
                if expect != -1 {
                    compares.push(Compare::mod_revision(key.as_str(), CompareOp::Equal, expect));
                }
                ops.push(match change {
                    ApplyChange::Upsert { spec, .. } => TxnOp::put(key.as_str(), journal_out(spec), None),
                    ApplyChange::Delete { .. } => TxnOp::delete(key.as_str(), None),
                });
            }
            let response = member
                .membership
                .client
                .kv_client()
                .txn(Txn::new().when(compares).and_then(ops))
                .await
                .map_err(|e| JournalError::Unavailable(format!("etcd: applying journal changes: {e}")))?;
            if !response.succeeded() {
                return Err(JournalError::EtcdTransactionFailed(
                    "a journal changed since its revision was read (or a new one already exists): list and apply again".into(),
                ));
            }
            let revision = response.header().map_or(0, |h| h.revision());
            // Answer once this broker's copy (and its routes) have the change.
            let mut revisions = member.revision.subscribe();
            let caught_up = tokio::time::timeout(APPLY_WAIT, revisions.wait_for(|r| *r >= revision)).await;
            if !matches!(caught_up, Ok(Ok(_))) {
                tracing::warn!(revision, "applied, but this broker's copy of etcd has not caught up yet");
            }
            Ok(revision)
        })
    }
}
