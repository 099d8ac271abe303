//! The shard host follows its assignments: starts what is assigned, stops (through
//! each shard's own signal) what is not, and aborts a shard that outlives the grace.

use std::sync::Mutex;

use futures::FutureExt;
use tokio::sync::mpsc;

use super::*;
use crate::consumer::assignment::FixedAssignments;

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

/// A source whose assignment the test changes.
struct Changing(watch::Sender<Vec<ShardSpec>>);

impl ShardAssignments for Changing {
    fn watch(&self) -> watch::Receiver<Vec<ShardSpec>> {
        self.0.subscribe()
    }
}

/// A runner that reports `start <id>` and `stop <id>` (after its stop signal) and
/// otherwise waits; shards named `stuck*` ignore their stop signal.
fn recording() -> (RunShard, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let run: RunShard = Arc::new(move |spec: ShardSpec, _status, mut stop: watch::Receiver<bool>| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(format!("start {}", spec.id));
            if spec.id.starts_with("stuck") {
                std::future::pending::<()>().await;
            }
            stopped(&mut stop).await;
            let _ = tx.send(format!("stop {}", spec.id));
        }
        .boxed()
    });
    (run, rx)
}

fn listed(host: &ShardHost) -> Vec<String> {
    host.list().read().unwrap().iter().map(|s| s.snapshot().id).collect()
}

async fn next(rx: &mut mpsc::UnboundedReceiver<String>) -> String {
    rx.recv().await.expect("an event")
}

#[tokio::test]
async fn fixed_assignments_run_every_shard_until_the_host_stops() {
    let (run, mut events) = recording();
    let host = ShardHost::start(Arc::new(FixedAssignments::new(vec![spec("a"), spec("b")])), run, ShardList::default());
    assert_eq!(listed(&host), ["a", "b"], "listed as soon as start returns");
    let mut started = vec![next(&mut events).await, next(&mut events).await];
    started.sort();
    assert_eq!(started, ["start a", "start b"]);
    let list = host.list();
    host.stop().await;
    let mut stopped = vec![next(&mut events).await, next(&mut events).await];
    stopped.sort();
    assert_eq!(stopped, ["stop a", "stop b"]);
    assert!(list.read().unwrap().is_empty(), "nothing runs after stop");
}

#[tokio::test]
async fn a_changed_assignment_stops_only_the_unassigned_and_starts_only_the_new() {
    let (run, mut events) = recording();
    let (tx, _) = watch::channel(vec![spec("a")]);
    let host = ShardHost::start(Arc::new(Changing(tx.clone())), run, ShardList::default());
    assert_eq!(next(&mut events).await, "start a");

    tx.send(vec![spec("a"), spec("b")]).unwrap();
    assert_eq!(next(&mut events).await, "start b", "a keeps running: no stop of a first");
    tx.send(vec![spec("b")]).unwrap();
    assert_eq!(next(&mut events).await, "stop a");
    let mut changed = spec("b");
    changed.max_txn_duration = Duration::from_secs(3);
    tx.send(vec![changed]).unwrap();
    assert_eq!(next(&mut events).await, "stop b", "a changed spec restarts its shard");
    assert_eq!(next(&mut events).await, "start b");
    assert_eq!(listed(&host), ["b"]);
    host.stop().await;
    assert_eq!(next(&mut events).await, "stop b");
    assert!(events.try_recv().is_err(), "no other start or stop");
}

#[tokio::test]
async fn a_shard_that_ignores_its_stop_signal_is_aborted_after_the_grace() {
    let (run, mut events) = recording();
    let dropped = Arc::new(Mutex::new(false));
    let flag = dropped.clone();
    // Wraps the runner so that the stuck shard's future notes being dropped (aborted).
    let run: RunShard = Arc::new(move |spec, status, stop| {
        let guard = DropFlag(flag.clone());
        let inner = run(spec, status, stop);
        async move {
            let _guard = guard;
            inner.await
        }
        .boxed()
    });
    let list = ShardList::default();
    let host = ShardHost::start_with_grace(Arc::new(FixedAssignments::new(vec![spec("stuck")])), run, list, Duration::from_millis(200));
    assert_eq!(next(&mut events).await, "start stuck");
    let began = tokio::time::Instant::now();
    host.stop().await;
    assert!(began.elapsed() >= Duration::from_millis(200), "it waited the grace: {:?}", began.elapsed());
    assert!(*dropped.lock().unwrap(), "the stuck shard's task was aborted");
}

#[test]
fn the_stop_grace_is_ten_seconds() {
    assert_eq!(SHARD_STOP_GRACE, Duration::from_secs(10));
}

struct DropFlag(Arc<Mutex<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        *self.0.lock().unwrap() = true;
    }
}
