//! Group commit: one thread makes pending appends of all journals durable together.
//!
//! Gazette acknowledges an append once every replica has it in its spool; here the
//! durability point is `fdatasync`. Appends write their bytes and index record, then
//! queue their journal here. The sync thread takes every queued journal at once,
//! fdatasyncs all their touched files in parallel and only then advances each
//! journal's committed head. Appends arriving while a sync runs wait for the next
//! round, so N concurrent appenders (to one journal or many) share one round of
//! syncs instead of paying one each.

use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use super::log::Journal;

/// What one journal needs synced in a round.
pub struct SyncWork {
    /// Files written since the previous round (fragments and the index).
    pub files: Vec<Arc<File>>,
    /// The journal's written end when the work was captured.
    pub target: i64,
}

/// The queue shared with the sync thread.
#[derive(Default)]
struct Queue {
    /// Journals with appends awaiting a sync.
    dirty: Vec<Arc<Journal>>,
    /// Set to stop the thread once the queue drains.
    shutdown: bool,
}

/// Handle of the group-commit thread.
pub struct Syncer {
    /// Queue and its wake-up signal.
    queue: Arc<(Mutex<Queue>, Condvar)>,
    /// Sync rounds completed (group commit means far fewer rounds than appends).
    rounds: Arc<AtomicU64>,
    /// The thread, joined on shutdown.
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Syncer {
    /// Starts the sync thread.
    pub fn start() -> Arc<Self> {
        let queue: Arc<(Mutex<Queue>, Condvar)> = Arc::default();
        let rounds: Arc<AtomicU64> = Arc::default();
        let (q, r) = (queue.clone(), rounds.clone());
        let thread = std::thread::Builder::new()
            .name("journal-sync".into())
            .spawn(move || run(&q, &r))
            .expect("spawning the journal sync thread");
        Arc::new(Syncer { queue, rounds, thread: Mutex::new(Some(thread)) })
    }

    /// Sync rounds completed so far.
    pub fn rounds(&self) -> u64 {
        self.rounds.load(Ordering::Relaxed)
    }

    /// Queues `journal` for the next round.
    pub fn enqueue(&self, journal: Arc<Journal>) {
        let (m, cv) = &*self.queue;
        m.lock().unwrap_or_else(|p| p.into_inner()).dirty.push(journal);
        cv.notify_one();
    }

    /// Syncs whatever is queued, then stops the thread and waits for it.
    pub fn shutdown(&self) {
        let (m, cv) = &*self.queue;
        m.lock().unwrap_or_else(|p| p.into_inner()).shutdown = true;
        cv.notify_one();
        let mut thread = self.thread.lock().unwrap_or_else(|p| p.into_inner());
        // The last handle may be dropped on the sync thread itself (it briefly owns
        // journals, which own the syncer): it then exits on its own.
        if thread.as_ref().is_some_and(|t| t.thread().id() != std::thread::current().id()) {
            let _ = thread.take().map(JoinHandle::join);
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn run(queue: &(Mutex<Queue>, Condvar), rounds: &AtomicU64) {
    let (m, cv) = queue;
    loop {
        let batch = {
            let mut q = m.lock().unwrap_or_else(|p| p.into_inner());
            while q.dirty.is_empty() && !q.shutdown {
                q = cv.wait(q).unwrap_or_else(|p| p.into_inner());
            }
            if q.dirty.is_empty() {
                return;
            }
            std::mem::take(&mut q.dirty)
        };
        sync_round(batch);
        rounds.fetch_add(1, Ordering::Relaxed);
    }
}

/// One round: capture, sync every file in parallel, publish.
fn sync_round(batch: Vec<Arc<Journal>>) {
    let work: Vec<(Arc<Journal>, SyncWork)> = batch
        .into_iter()
        .map(|j| {
            let w = j.take_sync_work();
            (j, w)
        })
        .collect();
    let results: Vec<Result<(), String>> = if let [(j, w)] = work.as_slice() {
        vec![sync_files(j.name(), &w.files)]
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = work.iter().map(|(j, w)| s.spawn(move || sync_files(j.name(), &w.files))).collect();
            handles.into_iter().map(join).collect()
        })
    };
    for ((journal, w), result) in work.iter().zip(results) {
        if let Err(e) = &result {
            tracing::error!(journal = journal.name(), error = %e, "fdatasync failed; journal closed");
        }
        journal.finish_sync(w.target, result);
    }
}

fn join(h: std::thread::ScopedJoinHandle<'_, Result<(), String>>) -> Result<(), String> {
    h.join().unwrap_or_else(|_| Err("sync thread panicked".into()))
}

/// fdatasyncs a journal's files (in parallel when there are several).
fn sync_files(journal: &str, files: &[Arc<File>]) -> Result<(), String> {
    let sync = |f: &Arc<File>| f.sync_data().map_err(|e| format!("fdatasync of journal {journal:?}: {e}"));
    if files.len() == 1 {
        return sync(&files[0]);
    }
    std::thread::scope(|s| {
        let hs: Vec<_> = files.iter().map(|f| s.spawn(move || sync(f))).collect();
        hs.into_iter().try_for_each(join)
    })
}
