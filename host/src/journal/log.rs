//! One journal: its spec, fragment files, registers and the append path.
//!
//! Plays the part of Gazette's replica pipeline and spool (`broker/append_fsm.go`,
//! `broker/fragment/spool.go`) on a single disk. An append is checked (flags, explicit
//! offset, `check_registers`), written to the tail fragment file and to the commit
//! index under the journal's lock, so appends never interleave, and is then handed to
//! the [`Syncer`] which fdatasyncs it together with every other pending append. Only
//! when its bytes are durable does the committed head advance — that is when readers
//! see them and when the appender is acknowledged.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use sha1::{Digest, Sha1};
use tokio::sync::watch;

use super::request::{AppendRequest, AppendResult};
use super::error::JournalError;
use super::fragment::{sync_dir, FragmentFile};
use super::labels::LabelSet;
use super::record::IndexRecord;
use super::recover::recover;
use super::spec::JournalSpec;
use super::syncer::{SyncWork, Syncable, Syncer};

/// The committed state readers and appenders wait on.
#[derive(Clone, Debug, Default)]
pub struct Commit {
    /// Committed (durable, readable) write head.
    pub head: i64,
    /// Durable head, which a replicated journal's readable head may trail (`replica.rs`).
    pub synced: i64,
    /// Set when the journal stops serving (deleted, I/O failure, shutdown).
    pub closed: Option<Arc<str>>,
    /// Set when the journal was deleted (readers then answer "not found").
    pub deleted: bool,
}

/// A journal spec with its revisions.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SpecRecord {
    /// The spec.
    pub spec: JournalSpec,
    /// Revision at which the journal was created.
    pub create_revision: i64,
    /// Revision of the spec's last change.
    pub mod_revision: i64,
}

/// What a write put where (not yet durable, nor readable).
#[derive(Clone, Debug)]
pub struct Written {
    /// Where its bytes begin.
    pub begin: i64,
    /// Where they end.
    pub end: i64,
    /// The registers after it.
    pub registers: LabelSet,
    /// A replicated journal's spool after it: the primary's commit proposal.
    pub spool: Option<super::spool::Spool>,
}

/// Mutable append-side state.
pub(super) struct State {
    /// Fragment files, sorted; the last one takes appends. The first one's begin is
    /// the journal's low-water mark once older fragments were pruned (`prune.rs`).
    pub(super) fragments: Vec<FragmentFile>,
    /// The commit index file (replaced by a compacted one when pruning).
    pub(super) index: Arc<std::fs::File>,
    /// Bytes written to the index.
    pub(super) index_len: u64,
    /// End of written bytes, including appends awaiting their sync.
    pub(super) write_end: i64,
    /// Readable head (mirrors `Commit::head`): the durable head, held back by the
    /// replication gate of a replicated journal (`replica.rs`).
    pub(super) committed: i64,
    /// Durable head: everything before it is fdatasynced here.
    pub(super) synced: i64,
    /// Replication state of a journal served by a cluster's brokers (`replica.rs`).
    pub(super) repl: Option<super::spool::ReplState>,
    /// The last fragment file takes no more appends (rolled for a flush, `persist.rs`).
    pub(super) tail_closed: bool,
    /// When the last fragment file got its first bytes.
    pub(super) tail_since: Option<std::time::Instant>,
    /// Registers after the last written append.
    pub(super) registers: LabelSet,
    /// Files written since the last sync was captured.
    unsynced: Vec<Arc<std::fs::File>>,
    /// Whether the journal is queued with the syncer.
    queued: bool,
    /// Why the journal no longer accepts appends, if it does not.
    pub(super) closed: Option<Arc<str>>,
}

impl State {
    /// Recomputes the readable head from the durable head and the replication gate,
    /// and tells readers and appenders if either moved.
    pub(super) fn publish(&mut self, tx: &watch::Sender<Commit>) {
        let gate = self.repl.as_ref().map_or(i64::MAX, |r| r.gate);
        self.committed = self.synced.min(gate);
        let (head, synced) = (self.committed, self.synced);
        tx.send_if_modified(|c| {
            let moved = c.head != head || c.synced != synced;
            c.head = head;
            c.synced = synced;
            moved
        });
    }
}

/// A journal stored in its own directory.
pub struct Journal {
    /// The journal's name.
    name: String,
    /// Its directory.
    dir: PathBuf,
    /// Spec and revisions.
    spec: Mutex<SpecRecord>,
    /// Append-side state.
    pub(super) state: Mutex<State>,
    /// Committed head, watched by readers and appenders.
    pub(super) commit_tx: watch::Sender<Commit>,
    /// Fragments persisted to the spec's fragment stores, by begin (`persist.rs`).
    pub(super) remote: Mutex<Vec<super::stores::RemoteFragment>>,
    /// The shared group committer.
    syncer: Arc<Syncer>,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Journal {
    /// Opens (recovering a torn tail) the journal stored in `dir`.
    pub fn open(dir: &Path, spec: SpecRecord, syncer: Arc<Syncer>) -> Result<Arc<Self>, JournalError> {
        let rec = recover(dir)?;
        if rec.truncated_bytes > 0 {
            tracing::warn!(journal = %spec.spec.name, bytes = rec.truncated_bytes, "truncated a torn tail");
        }
        let state = State {
            fragments: rec.fragments,
            index: Arc::new(rec.index),
            index_len: rec.index_len,
            write_end: rec.head,
            committed: rec.head,
            synced: rec.head,
            repl: None,
            tail_closed: false,
            tail_since: None,
            registers: rec.registers,
            unsynced: Vec::new(),
            queued: false,
            closed: None,
        };
        Ok(Arc::new(Journal {
            name: spec.spec.name.clone(),
            dir: dir.to_path_buf(),
            spec: Mutex::new(spec),
            state: Mutex::new(state),
            commit_tx: watch::Sender::new(Commit { head: rec.head, synced: rec.head, closed: None, deleted: false }),
            remote: Mutex::default(),
            syncer,
        }))
    }

    /// The journal's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The journal's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The spec and its revisions.
    pub fn spec(&self) -> SpecRecord {
        lock(&self.spec).clone()
    }

    /// Replaces the spec (after it was persisted).
    pub fn set_spec(&self, rec: SpecRecord) {
        *lock(&self.spec) = rec;
    }

    /// The committed head.
    pub fn head(&self) -> i64 {
        self.commit_tx.borrow().head
    }

    /// The journal's registers (including appends awaiting their sync).
    pub fn registers(&self) -> LabelSet {
        lock(&self.state).registers.clone()
    }

    /// A receiver of commit updates.
    pub fn subscribe(&self) -> watch::Receiver<Commit> {
        self.commit_tx.subscribe()
    }

    /// Stops the journal: pending and future appends and reads fail with `why`.
    pub fn close(&self, why: &str) {
        self.close_with(why, false);
    }

    /// Closes the journal because it was deleted (readers then answer "not found").
    pub fn close_deleted(&self) {
        self.close_with("journal deleted", true);
    }

    fn close_with(&self, why: &str, deleted: bool) {
        let why: Arc<str> = why.into();
        lock(&self.state).closed.get_or_insert_with(|| why.clone());
        // One update, so that a woken reader sees `deleted` together with `closed`.
        self.commit_tx.send_modify(|c| {
            c.closed.get_or_insert(why);
            c.deleted |= deleted;
        });
    }

    /// The fragment file covering committed `offset`: its begin, committed end and file.
    pub fn fragment_at(&self, offset: i64) -> Option<(i64, i64, Arc<std::fs::File>)> {
        let st = lock(&self.state);
        if offset < 0 || offset >= st.committed {
            return None;
        }
        let idx = st.fragments.partition_point(|f| f.begin <= offset).checked_sub(1)?;
        let f = &st.fragments[idx];
        Some((f.begin, f.end().min(st.committed), f.file.clone()))
    }

    /// The low-water mark: the first offset whose bytes are still stored (0 unless
    /// fragments were pruned; the head once every fragment was pruned).
    pub fn low(&self) -> i64 {
        let st = lock(&self.state);
        st.fragments.first().map_or(st.committed, |f| f.begin.min(st.committed))
    }

    /// The committed `[begin, end)` of every fragment file, in order.
    pub fn fragments(&self) -> Vec<(i64, i64)> {
        let st = lock(&self.state);
        st.fragments
            .iter()
            .filter(|f| f.begin < st.committed)
            .map(|f| (f.begin, f.end().min(st.committed)))
            .collect()
    }

    /// Appends `req.content` atomically and waits until it is durable.
    ///
    /// # Errors
    /// `NotAllowed` (read-only journal), `WrongAppendOffset`, `RegisterMismatch`,
    /// `Invalid` (register changes without content), `Io` (the journal is then closed).
    pub async fn append(self: &Arc<Self>, req: &AppendRequest) -> Result<AppendResult, JournalError> {
        let sum: [u8; 20] = Sha1::digest(&req.content).into();
        let written = self.write(req)?;
        self.wait_head(written.end).await?;
        Ok(AppendResult { journal: self.name.clone(), begin: written.begin, end: written.end, sha1: sum, registers: written.registers })
    }

    /// Waits until the readable head reaches `end`.
    pub async fn wait_head(&self, end: i64) -> Result<(), JournalError> {
        self.wait_commit(|c| c.head >= end).await
    }

    /// Waits until the durable head reaches `end` (a replicated journal's readable
    /// head may still trail it).
    pub async fn wait_synced(&self, end: i64) -> Result<(), JournalError> {
        self.wait_commit(|c| c.synced >= end).await
    }

    async fn wait_commit(&self, reached: impl Fn(&Commit) -> bool) -> Result<(), JournalError> {
        let mut rx = self.subscribe();
        let commit = rx
            .wait_for(|c| reached(c) || c.closed.is_some())
            .await
            .map_err(|_| JournalError::Unavailable(format!("journal {:?} closed", self.name)))?
            .clone();
        if reached(&commit) {
            return Ok(());
        }
        if commit.deleted {
            return Err(JournalError::NotFound { journal: self.name.clone() });
        }
        let why = commit.closed.as_deref().unwrap_or("closed");
        Err(JournalError::Unavailable(format!("journal {:?}: {why}", self.name)))
    }

    /// The locked part of an append: checks, writes and queues the sync, without
    /// waiting for it (a replicated journal's primary then waits for its replicas too,
    /// `service/pipeline.rs`).
    ///
    /// # Errors
    /// As [`Journal::append`].
    pub fn write(self: &Arc<Self>, req: &AppendRequest) -> Result<Written, JournalError> {
        let spec = self.spec().spec;
        let mut guard = lock(&self.state);
        let st = &mut *guard;
        if let Some(why) = &st.closed {
            return Err(JournalError::Unavailable(format!("journal {:?}: {why}", self.name)));
        }
        if !spec.may_write() {
            return Err(JournalError::NotAllowed { journal: self.name.clone(), op: "append" });
        }
        if req.offset != 0 && req.offset != st.write_end {
            return Err(JournalError::WrongAppendOffset {
                journal: self.name.clone(),
                offset: req.offset,
                write_head: st.write_end,
            });
        }
        if let Some(sel) = &req.check_registers {
            if !st.registers.is_empty() && !sel.matches(&st.registers) {
                return Err(JournalError::RegisterMismatch { journal: self.name.clone(), registers: st.registers.clone() });
            }
        }
        if req.content.is_empty() {
            if !req.union_registers.is_empty() || !req.subtract_registers.is_empty() {
                return Err(JournalError::invalid(format!(
                    "journal {:?}: register union/subtract requires at least one content byte",
                    self.name
                )));
            }
            // A write barrier: it commits once everything written before it has.
            let spool = st.repl.as_ref().map(|r| r.spool(st.write_end, &st.registers));
            return Ok(Written { begin: st.write_end, end: st.write_end, registers: st.registers.clone(), spool });
        }
        let registers = st.registers.union(&req.union_registers).subtract(&req.subtract_registers);
        let roll_at = spec.fragment.length;
        // A replicated journal's primary decides where fragments begin; its replicas
        // follow the proposals (`replica.rs`).
        let write_end = st.write_end;
        let new_file = match &mut st.repl {
            Some(repl) => repl.roll_if_longer(write_end, roll_at),
            None => st.tail_closed || st.fragments.last().is_none_or(|f| f.len >= roll_at),
        };
        match self.write_locked(st, &req.content, registers, new_file) {
            Ok((begin, end, registers)) => {
                let spool = st.repl.as_ref().map(|r| r.spool(end, &registers));
                Ok(Written { begin, end, registers, spool })
            }
            Err(e) => {
                st.closed = Some(format!("failed by {e}").into());
                Err(e)
            }
        }
    }

    /// Writes `content` at the write end with `registers` after it, in a new fragment
    /// file if `new_file` (or if there is none yet), and queues its sync.
    pub(super) fn write_locked(
        self: &Arc<Self>,
        st: &mut State,
        content: &[u8],
        registers: LabelSet,
        new_file: bool,
    ) -> Result<(i64, i64, LabelSet), JournalError> {
        let begin = st.write_end;
        let end = begin + content.len() as i64;
        if new_file || st.fragments.last().is_none() {
            st.fragments.push(FragmentFile::create(&self.dir, begin)?);
            sync_dir(&self.dir)?;
            st.tail_closed = false;
            st.tail_since = Some(std::time::Instant::now());
        }
        let frag = st.fragments.last_mut().expect("a tail fragment exists");
        frag.write_tail(content)?;
        let file = frag.file.clone();
        if let Some(repl) = &mut st.repl {
            repl.extend(content);
        }

        let record = IndexRecord {
            begin: begin as u64,
            end: end as u64,
            durable: st.committed as u64,
            content_crc: crc32fast::hash(content),
            registers: (registers != st.registers).then(|| registers.clone()),
        };
        let bytes = record.encode();
        std::os::unix::fs::FileExt::write_all_at(&*st.index, &bytes, st.index_len)
            .map_err(|e| JournalError::io(format!("writing index of journal {:?}", self.name), e))?;
        st.index_len += bytes.len() as u64;
        st.write_end = end;
        st.registers = registers.clone();
        if !st.unsynced.iter().any(|f| Arc::ptr_eq(f, &file)) {
            st.unsynced.push(file);
        }
        if !st.queued {
            st.queued = true;
            self.syncer.enqueue(self.clone());
        }
        Ok((begin, end, registers))
    }
}

/// The syncer's view of a journal (`syncer.rs`).
impl Syncable for Journal {
    fn name(&self) -> &str {
        Journal::name(self)
    }

    fn take_sync_work(&self) -> SyncWork {
        let mut st = lock(&self.state);
        st.queued = false;
        let mut files = std::mem::take(&mut st.unsynced);
        files.push(st.index.clone());
        SyncWork { files, target: st.write_end }
    }

    fn finish_sync(&self, target: i64, result: Result<(), String>) {
        let mut st = lock(&self.state);
        match result {
            Ok(()) if target > st.synced => {
                st.synced = target;
                st.publish(&self.commit_tx);
            }
            Ok(()) => {}
            Err(e) => {
                let why: Arc<str> = format!("sync failed: {e}").into();
                st.closed = Some(why.clone());
                self.commit_tx.send_modify(|c| c.closed = Some(why));
            }
        }
    }
}
