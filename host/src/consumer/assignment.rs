//! Which shards this process serves: the seam the cluster plugs into (DESIGN §11).
//!
//! Gazette's consumer learns its shards from its assignments in etcd (the `Resolver`
//! in `consumer/resolver.go` watches `<root>/assign/…` and starts or stops a replica
//! per assignment). Here a [`ShardAssignments`] source says which [`ShardSpec`]s this
//! process should run, now and whenever that changes; [`ShardHost`](super::host)
//! follows it. The embedded default is [`FixedAssignments`]: the shards decided at
//! start (one per chunk partition), never changing. An etcd-backed source implements
//! the same trait and the shard host does not change.
//!
//! [`plan`] is the pure step: given what runs and what is assigned, which shards to
//! stop and which to start.

use std::collections::BTreeSet;

use tokio::sync::watch;

use super::spec::ShardSpec;

/// A source of this process's shard assignments.
pub trait ShardAssignments: Send + Sync + 'static {
    /// The shards assigned to this process: the current set at once, then a new value
    /// whenever it changes. A closed channel means the set will never change again.
    fn watch(&self) -> watch::Receiver<Vec<ShardSpec>>;
}

/// The embedded default: a set of shards fixed at start.
pub struct FixedAssignments {
    /// The shards; the sender is kept so that receivers see an open channel.
    tx: watch::Sender<Vec<ShardSpec>>,
}

impl FixedAssignments {
    /// Assigns exactly `shards` to this process, for its whole life.
    pub fn new(shards: Vec<ShardSpec>) -> Self {
        FixedAssignments { tx: watch::Sender::new(shards) }
    }
}

impl ShardAssignments for FixedAssignments {
    fn watch(&self) -> watch::Receiver<Vec<ShardSpec>> {
        self.tx.subscribe()
    }
}

/// What the shard host must do to go from the shards `running` to the `assigned` ones.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Ids of running shards no longer assigned (or assigned with a changed spec).
    pub stop: Vec<String>,
    /// Assigned shards not running (including restarts of changed specs), in order.
    pub start: Vec<ShardSpec>,
}

/// Compares `running` (id → the spec it runs) with `assigned`. A shard whose spec
/// changed is stopped and started again with the new one, as Gazette's resolver does
/// when an assignment's spec revision changes. Duplicate ids in `assigned` keep the
/// first.
pub fn plan<'a>(running: impl IntoIterator<Item = (&'a str, &'a ShardSpec)>, assigned: &[ShardSpec]) -> Plan {
    let mut seen = BTreeSet::new();
    let wanted: Vec<&ShardSpec> = assigned.iter().filter(|s| seen.insert(s.id.as_str())).collect();
    let running: Vec<(&str, &ShardSpec)> = running.into_iter().collect();
    let mut out = Plan::default();
    for (id, spec) in &running {
        if !wanted.iter().any(|w| w.id == *id && *w == *spec) {
            out.stop.push(id.to_string());
        }
    }
    for spec in wanted {
        let keeps = running.iter().any(|(id, r)| *id == spec.id && spec == *r);
        if !keeps {
            out.start.push(spec.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn spec(id: &str) -> ShardSpec {
        ShardSpec {
            id: id.into(),
            source: format!("chunks/{id}"),
            min_txn_duration: Duration::ZERO,
            max_txn_duration: Duration::from_secs(1),
            ring_size: 0,
            max_failures: 0,
        }
    }

    fn ids(specs: &[ShardSpec]) -> Vec<&str> {
        specs.iter().map(|s| s.id.as_str()).collect()
    }

    #[test]
    fn a_plan_starts_what_is_new_stops_what_is_gone_and_keeps_the_rest() {
        let (a, b, c) = (spec("a"), spec("b"), spec("c"));
        let running = [("a", &a), ("b", &b)];
        let p = plan(running, &[b.clone(), c.clone()]);
        assert_eq!(p.stop, vec!["a"]);
        assert_eq!(ids(&p.start), vec!["c"]);
        assert_eq!(plan(running, &[a.clone(), b.clone()]), Plan::default(), "nothing changed");
        assert_eq!(ids(&plan([], &[a.clone(), b.clone()]).start), vec!["a", "b"], "first assignment");
        assert_eq!(plan(running, &[]).stop, vec!["a", "b"], "all unassigned");
    }

    #[test]
    fn a_changed_spec_restarts_its_shard_and_duplicates_count_once() {
        let a = spec("a");
        let mut a2 = spec("a");
        a2.max_txn_duration = Duration::from_secs(2);
        let p = plan([("a", &a)], &[a2.clone()]);
        assert_eq!((p.stop, ids(&p.start)), (vec!["a".to_string()], vec!["a"]));
        let p = plan([], &[a.clone(), a2]);
        assert_eq!(p.start.len(), 1);
        assert_eq!(p.start[0].max_txn_duration, Duration::from_secs(1), "the first of duplicates wins");
    }

    #[test]
    fn fixed_assignments_never_change() {
        let fixed = FixedAssignments::new(vec![spec("a"), spec("b")]);
        let rx = fixed.watch();
        assert_eq!(ids(&rx.borrow()), vec!["a", "b"]);
        assert!(!rx.has_changed().unwrap(), "the channel is open and has no news");
    }
}
