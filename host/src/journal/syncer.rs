//! Group commit: one thread makes pending appends of all journals durable together.
//!
//! Gazette acknowledges an append once every replica has it in its spool; here the
//! durability point is `fdatasync`. Appends write their bytes and index record, then
//! queue their journal here. The sync thread takes every queued journal at once,
//! fdatasyncs all their touched files in parallel and only then advances each
//! journal's committed head. Appends arriving while a sync runs wait for the next
//! round, so N concurrent appenders (to one journal or many) share one round of
//! syncs instead of paying one each. The fdatasyncs of a round run on a pool of
//! persistent threads.

use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread::JoinHandle;

/// What the syncer syncs: a journal (`log.rs`), seen only through the three calls a
/// round makes, so that the syncer does not depend on the journal that uses it.
pub trait Syncable: Send + Sync {
    /// The journal's name, for errors and logs.
    fn name(&self) -> &str;
    /// Captures what the next sync must make durable.
    fn take_sync_work(&self) -> SyncWork;
    /// Publishes the outcome of the sync of the work last captured.
    fn finish_sync(&self, target: i64, result: Result<(), String>);
}

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
    dirty: Vec<Arc<dyn Syncable>>,
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
    pub fn enqueue(&self, journal: Arc<dyn Syncable>) {
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

/// Threads of the sync pool: enough for every file of a round with the default
/// journals (8 partitions, their 8 recovery logs and the sums: 17 journals, 2 files
/// each) to be in flight at once.
const SYNC_THREADS: usize = 34;

fn run(queue: &(Mutex<Queue>, Condvar), rounds: &AtomicU64) {
    let (m, cv) = queue;
    let pool = SyncPool::start(SYNC_THREADS);
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
        sync_round(batch, &pool);
        rounds.fetch_add(1, Ordering::Relaxed);
    }
}

/// One round: capture, sync every file of every journal in parallel on the pool,
/// publish.
fn sync_round(batch: Vec<Arc<dyn Syncable>>, pool: &SyncPool) {
    let work: Vec<(Arc<dyn Syncable>, SyncWork)> = batch
        .into_iter()
        .map(|j| {
            let w = j.take_sync_work();
            (j, w)
        })
        .collect();
    let (done_tx, done_rx) = mpsc::channel();
    let mut pending: Vec<usize> = work.iter().map(|(_, w)| w.files.len()).collect();
    for (i, (journal, w)) in work.iter().enumerate() {
        for file in &w.files {
            pool.submit(SyncJob { journal: journal.name().to_owned(), file: file.clone(), index: i, done: done_tx.clone() });
        }
    }
    drop(done_tx);
    let mut results: Vec<Result<(), String>> = vec![Ok(()); work.len()];
    // Ends once every job has reported (or was dropped unreported).
    for (i, result) in done_rx.iter() {
        pending[i] -= 1;
        if results[i].is_ok() {
            results[i] = result;
        }
    }
    // A file whose sync never reported is not known durable: the journal must not
    // advance its head over it.
    for ((journal, _), (result, left)) in work.iter().zip(results.iter_mut().zip(&pending)) {
        if *left > 0 && result.is_ok() {
            *result = Err(format!("fdatasync of journal {:?}: a sync thread stopped before reporting", journal.name()));
        }
    }
    for ((journal, w), result) in work.iter().zip(results) {
        if let Err(e) = &result {
            tracing::error!(journal = journal.name(), error = %e, "fdatasync failed; journal closed");
        }
        journal.finish_sync(w.target, result);
    }
}

/// One fdatasync for the pool.
struct SyncJob {
    /// The journal owning the file (for the error message).
    journal: String,
    /// The file.
    file: Arc<File>,
    /// The journal's index in its round.
    index: usize,
    /// Where the outcome goes.
    done: mpsc::Sender<(usize, Result<(), String>)>,
}

/// Persistent threads running a round's fdatasyncs in parallel. A round used to spawn
/// a thread per journal and per file (about 50 per round with 8 partitions): on a
/// loaded 2-core box those spawns cost milliseconds on every append's path (issue 9).
struct SyncPool {
    /// Jobs for the threads; dropping it stops them.
    tx: Mutex<Option<mpsc::Sender<SyncJob>>>,
}

impl SyncPool {
    /// Starts `threads` sync threads.
    fn start(threads: usize) -> Self {
        let (tx, rx) = mpsc::channel::<SyncJob>();
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..threads {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new().name(format!("journal-fsync-{n}")).spawn(move || loop {
                let job = match rx.lock().unwrap_or_else(|p| p.into_inner()).recv() {
                    Ok(job) => job,
                    Err(_) => return, // The pool was dropped.
                };
                let result = job.file.sync_data().map_err(|e| format!("fdatasync of journal {:?}: {e}", job.journal));
                let _ = job.done.send((job.index, result));
            });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a journal sync thread; syncing with fewer");
            }
        }
        SyncPool { tx: Mutex::new(Some(tx)) }
    }

    /// Queues `job`; with no thread left to run it, runs it on the caller.
    fn submit(&self, job: SyncJob) {
        let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let job = match tx {
            Some(tx) => match tx.send(job) {
                Ok(()) => return,
                Err(mpsc::SendError(job)) => job,
            },
            None => job,
        };
        let result = job.file.sync_data().map_err(|e| format!("fdatasync of journal {:?}: {e}", job.journal));
        let _ = job.done.send((job.index, result));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_runs_every_job_of_a_round_even_with_more_files_than_threads() {
        let dir = tempfile::tempdir().unwrap();
        let pool = SyncPool::start(2);
        let (done_tx, done_rx) = mpsc::channel();
        for i in 0..7 {
            let file = Arc::new(File::create(dir.path().join(format!("f{i}"))).unwrap());
            pool.submit(SyncJob { journal: format!("j{i}"), file, index: i, done: done_tx.clone() });
        }
        drop(done_tx);
        let mut seen: Vec<usize> = done_rx.iter().map(|(i, r)| r.map(|()| i).unwrap()).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..7).collect::<Vec<_>>());
    }

    #[test]
    fn a_round_of_the_default_journals_fits_the_pool_at_once() {
        let journals = 2 * super::super::defaults::DEFAULT_PARTITIONS + 1; // partitions, logs, sums
        assert_eq!(SYNC_THREADS, 2 * journals, "two files (fragment, index) per journal");
    }
}
