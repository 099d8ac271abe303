//! The set of journals under a data directory: open, list, apply, append, read.
//!
//! Plays the part of Gazette's Etcd keyspace of `JournalSpec`s plus the broker's
//! resolver (`broker/resolver.go`) on one node. Layout under the data directory:
//!
//! ```text
//! revision                         current revision (bumped by every Apply)
//! journals/<name>-<hash>/spec.json  the spec with its create/mod revisions
//! journals/<name>-<hash>/index.log  commit index (see record.rs)
//! journals/<name>-<hash>/<begin>.raw fragment files (see fragment.rs)
//! ```
//!
//! Spec files and the revision are replaced atomically (write, fsync, rename, fsync
//! the directory), so specs persist across restarts and revisions only increase.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use sha2::{Digest, Sha256};
use tokio::sync::watch;
use tokio_stream::wrappers::ReceiverStream;

use super::request::{AppendRequest, AppendResult, ApplyChange, JournalInfo, ReadRequest};
use super::error::JournalError;
use super::fragment::sync_dir;
use super::log::{Journal, SpecRecord};
use super::catalog::{check_changes, select, JournalCatalog};
use super::labels::LabelSelector;
use super::read::{read_events, ReadEvent};
use super::spec::JournalSpec;
use super::syncer::Syncer;

const SPEC_FILE: &str = "spec.json";
const LOCK_FILE: &str = "LOCK";
const REVISION_FILE: &str = "revision";

/// Journals stored under one data directory.
pub struct Storage {
    /// The data directory.
    dir: PathBuf,
    /// Open journals by name (name order is Gazette's listing order).
    journals: RwLock<BTreeMap<String, Arc<Journal>>>,
    /// Serializes Apply transactions.
    apply_lock: Mutex<()>,
    /// Current revision; watched by List watches.
    revision: watch::Sender<i64>,
    /// The group committer shared by all journals.
    syncer: Arc<Syncer>,
    /// Holds an exclusive `flock` on `LOCK` while open: one process per data dir.
    /// Released by [`Storage::shutdown`], even while other references remain.
    lock: Mutex<Option<std::fs::File>>,
    /// Open fragment stores (`persist.rs`).
    stores: super::stores::Stores,
}

impl Storage {
    /// Opens (creating if needed) the storage in `dir`, recovering every journal.
    ///
    /// # Errors
    /// I/O failures and unreadable spec files, naming the path.
    pub fn open(dir: impl AsRef<Path>) -> Result<Arc<Self>, JournalError> {
        let dir = dir.as_ref().to_path_buf();
        let jdir = dir.join("journals");
        std::fs::create_dir_all(&jdir).map_err(|e| JournalError::io(format!("creating {}", jdir.display()), e))?;
        let lock = lock_dir(&dir)?;
        let syncer = Syncer::start();
        let mut journals = BTreeMap::new();
        let mut revision = read_revision(&dir)?;
        let entries = std::fs::read_dir(&jdir).map_err(|e| JournalError::io(format!("listing {}", jdir.display()), e))?;
        for entry in entries {
            let path = entry.map_err(|e| JournalError::io(format!("listing {}", jdir.display()), e))?.path();
            let spec_path = path.join(SPEC_FILE);
            if !spec_path.exists() {
                continue; // a journal directory whose creation never completed
            }
            let text = std::fs::read(&spec_path).map_err(|e| JournalError::io(format!("reading {}", spec_path.display()), e))?;
            let rec: SpecRecord = serde_json::from_slice(&text)
                .map_err(|e| JournalError::invalid(format!("spec file {}: {e}", spec_path.display())))?;
            revision = revision.max(rec.mod_revision);
            let journal = Journal::open(&path, rec, syncer.clone())?;
            journals.insert(journal.name().to_string(), journal);
        }
        Ok(Arc::new(Storage {
            dir,
            journals: RwLock::new(journals),
            apply_lock: Mutex::new(()),
            revision: watch::Sender::new(revision.max(1)),
            syncer,
            lock: Mutex::new(Some(lock)),
            stores: Default::default(),
        }))
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The current revision (always > 0).
    pub fn revision(&self) -> i64 {
        *self.revision.borrow()
    }

    /// A receiver of revision changes (for List watches).
    pub fn subscribe_revision(&self) -> watch::Receiver<i64> {
        self.revision.subscribe()
    }

    /// The open journal `name`.
    ///
    /// # Errors
    /// `NotFound`.
    pub fn journal(&self, name: &str) -> Result<Arc<Journal>, JournalError> {
        let map = self.journals.read().unwrap_or_else(|p| p.into_inner());
        map.get(name).cloned().ok_or_else(|| JournalError::NotFound { journal: name.to_string() })
    }

    /// Every open journal, by name.
    pub fn all(&self) -> Vec<Arc<Journal>> {
        self.journals.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }

    /// The fragment stores journals of this storage are persisted to.
    pub fn stores(&self) -> &super::stores::Stores {
        &self.stores
    }

    /// Journals matching `selector` by name order, with the revision of the listing.
    ///
    /// # Errors
    /// `Invalid` for a malformed selector (a `prefix` value must end in `/`).
    pub fn list(&self, selector: &LabelSelector) -> Result<(i64, Vec<JournalInfo>), JournalError> {
        let revision = self.revision();
        let map = self.journals.read().unwrap_or_else(|p| p.into_inner());
        let all = map.values().map(|journal| {
            let rec = journal.spec();
            JournalInfo { spec: rec.spec, create_revision: rec.create_revision, mod_revision: rec.mod_revision, write_head: journal.head(), route: Default::default() }
        });
        Ok((revision, select(selector, all)?))
    }

    /// Applies changes as one transaction and returns the new revision.
    ///
    /// # Errors
    /// `Invalid` (bad spec, delete without expected revision, duplicate journal),
    /// `EtcdTransactionFailed` (an expected mod revision does not match), `Io`.
    pub fn apply(&self, changes: Vec<ApplyChange>) -> Result<i64, JournalError> {
        let _tx = self.apply_lock.lock().unwrap_or_else(|p| p.into_inner());
        self.check_changes(&changes)?;
        let revision = self.revision() + 1;
        for change in changes {
            match change {
                ApplyChange::Upsert { spec, .. } => self.upsert(spec, revision)?,
                ApplyChange::Delete { journal, .. } => self.delete(&journal)?,
            }
        }
        write_atomic(&self.dir, REVISION_FILE, revision.to_string().as_bytes())?;
        self.revision.send_replace(revision);
        Ok(revision)
    }

    /// Creates every journal of `specs` that does not exist yet; returns how many.
    pub fn create_missing(&self, specs: Vec<JournalSpec>) -> Result<usize, JournalError> {
        let missing: Vec<ApplyChange> = specs
            .into_iter()
            .filter(|s| self.journal(&s.name).is_err())
            .map(|spec| ApplyChange::Upsert { spec, expect_mod_revision: 0 })
            .collect();
        let n = missing.len();
        if n > 0 {
            self.apply(missing)?;
        }
        Ok(n)
    }

    fn check_changes(&self, changes: &[ApplyChange]) -> Result<(), JournalError> {
        check_changes(changes, |name| self.journal(name).ok().map(|j| j.spec().mod_revision))
    }

    fn upsert(&self, spec: JournalSpec, revision: i64) -> Result<(), JournalError> {
        if let Ok(journal) = self.journal(&spec.name) {
            let rec = SpecRecord { spec, create_revision: journal.spec().create_revision, mod_revision: revision };
            write_atomic(journal.dir(), SPEC_FILE, &serde_json::to_vec_pretty(&rec).expect("specs serialize"))?;
            journal.set_spec(rec);
            return Ok(());
        }
        let dir = self.dir.join("journals").join(journal_dir_name(&spec.name));
        std::fs::create_dir_all(&dir).map_err(|e| JournalError::io(format!("creating {}", dir.display()), e))?;
        let rec = SpecRecord { spec, create_revision: revision, mod_revision: revision };
        write_atomic(&dir, SPEC_FILE, &serde_json::to_vec_pretty(&rec).expect("specs serialize"))?;
        sync_dir(&self.dir.join("journals"))?;
        let journal = Journal::open(&dir, rec, self.syncer.clone())?;
        self.journals.write().unwrap_or_else(|p| p.into_inner()).insert(journal.name().to_string(), journal);
        Ok(())
    }

    fn delete(&self, name: &str) -> Result<(), JournalError> {
        let journal = self.journals.write().unwrap_or_else(|p| p.into_inner()).remove(name);
        if let Some(journal) = journal {
            journal.close_deleted();
            let dir = journal.dir();
            std::fs::remove_dir_all(dir).map_err(|e| JournalError::io(format!("removing {}", dir.display()), e))?;
            sync_dir(&self.dir.join("journals"))?;
        }
        Ok(())
    }

    /// Appends to a journal and waits for durability.
    ///
    /// # Errors
    /// See [`Journal::append`]; `NotFound` for an unknown journal.
    pub async fn append(&self, req: &AppendRequest) -> Result<AppendResult, JournalError> {
        self.journal(&req.journal)?.append(req).await
    }

    /// Starts a read; content events carry at most `max_chunk` bytes.
    ///
    /// # Errors
    /// `NotFound`, `NotAllowed` (write-only journal), `Invalid` offsets.
    pub fn read(&self, req: &ReadRequest, max_chunk: usize) -> Result<ReceiverStream<Result<ReadEvent, JournalError>>, JournalError> {
        self.read_with(req, false, max_chunk)
    }

    /// [`Storage::read`] with Gazette's `metadata_only` option.
    pub fn read_with(&self, req: &ReadRequest, metadata_only: bool, max_chunk: usize) -> Result<ReceiverStream<Result<ReadEvent, JournalError>>, JournalError> {
        let journal = self.journal(&req.journal)?;
        if !journal.spec().spec.may_read() {
            return Err(JournalError::NotAllowed { journal: req.journal.clone(), op: "read" });
        }
        if req.offset < -1 {
            return Err(JournalError::invalid(format!("journal {:?}: invalid read offset {}", req.journal, req.offset)));
        }
        if req.end_offset != 0 && (req.end_offset < 0 || (req.offset >= 0 && req.end_offset < req.offset)) {
            return Err(JournalError::invalid(format!(
                "journal {:?}: end offset {} before offset {}",
                req.journal, req.end_offset, req.offset
            )));
        }
        Ok(read_events(journal, req.clone(), metadata_only, max_chunk.max(1)))
    }

    /// Deletes journal `name`'s fragments that end at or before `before` (see
    /// [`Journal::prune`]); blocking file work, so call it off the async workers.
    ///
    /// # Errors
    /// `NotFound`, `Invalid` (an offset outside `[0, write head]`), `Io`.
    pub fn prune(&self, name: &str, before: i64) -> Result<super::prune::PruneResult, JournalError> {
        self.journal(name)?.prune(before)
    }

    /// Group-commit rounds completed since open (each fdatasyncs every pending append).
    pub fn sync_rounds(&self) -> u64 {
        self.syncer.rounds()
    }

    /// Makes pending appends durable, stops the sync thread and closes every journal.
    pub fn shutdown(&self) {
        self.syncer.shutdown();
        for journal in self.journals.read().unwrap_or_else(|p| p.into_inner()).values() {
            journal.close("storage shut down");
        }
        // Closing the file releases the flock: the directory may be opened again at
        // once, even if tasks still hold references to this (closed) storage.
        self.lock.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

/// A readable, unique directory name for a journal.
fn journal_dir_name(name: &str) -> String {
    let readable: String = name.chars().take(80).map(|c| if c == '/' { '_' } else { c }).collect();
    let hash = Sha256::digest(name.as_bytes());
    let hex: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{readable}-{hex}")
}

/// Takes the data directory's exclusive lock, failing if another process holds it.
fn lock_dir(dir: &Path) -> Result<std::fs::File, JournalError> {
    use std::os::fd::AsRawFd;
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| JournalError::io(format!("opening {}", path.display()), e))?;
    // SAFETY: flock on a file descriptor we own; no memory is shared with the call.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        return Err(JournalError::io(format!("locking {} (is another broker using this data dir?)", path.display()), e));
    }
    Ok(file)
}

fn read_revision(dir: &Path) -> Result<i64, JournalError> {
    let path = dir.join(REVISION_FILE);
    match std::fs::read_to_string(&path) {
        Ok(s) => s.trim().parse().map_err(|e| JournalError::invalid(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(JournalError::io(format!("reading {}", path.display()), e)),
    }
}

/// Replaces `dir/name` atomically and durably.
fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), JournalError> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(name);
    let io = |e| JournalError::io(format!("writing {}", path.display()), e);
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    std::io::Write::write_all(&mut f, bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    sync_dir(dir)
}

impl JournalCatalog for Arc<Storage> {
    fn revision(&self) -> i64 {
        Storage::revision(self)
    }

    fn subscribe_revision(&self) -> watch::Receiver<i64> {
        Storage::subscribe_revision(self)
    }

    fn list(&self, selector: &LabelSelector) -> Result<(i64, Vec<JournalInfo>), JournalError> {
        Storage::list(self, selector)
    }

    fn apply_changes(&self, changes: Vec<ApplyChange>) -> futures::future::BoxFuture<'static, Result<i64, JournalError>> {
        let storage = self.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || storage.apply(changes))
                .await
                .map_err(|e| JournalError::Unavailable(format!("apply task failed: {e}")))?
        })
    }
}
