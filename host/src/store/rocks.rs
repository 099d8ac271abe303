//! A shard's RocksDB database: open, point reads, atomic commit, checkpoint load.
//!
//! Mirrors `consumer/store-rocksdb/store_rocksdb.go` (`StartCommit`,
//! `RestoreCheckpoint`): a commit writes the transaction's state and its checkpoint in
//! ONE `WriteBatch`, so after a crash the database holds either both or neither. The
//! checkpoint bytes are opaque here (the consumer layer encodes them).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rocksdb::{Options, WriteBatch, WriteOptions, DB};

use super::keys::{guest_key, CHECKPOINT_KEY};
use super::overlay::WriteSet;

/// Errors of a shard's store. Each names the database directory it concerns.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or created.
    #[error("opening RocksDB store at {dir}: {source}")]
    Open {
        /// The database directory.
        dir: PathBuf,
        /// RocksDB's error.
        source: rocksdb::Error,
    },
    /// The database's parent directory could not be created.
    #[error("creating directory {dir} for a RocksDB store: {source}")]
    CreateDir {
        /// The directory that could not be created.
        dir: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A point read failed.
    #[error("reading RocksDB store at {dir}: {source}")]
    Read {
        /// The database directory.
        dir: PathBuf,
        /// RocksDB's error.
        source: rocksdb::Error,
    },
    /// The commit's write batch failed; nothing of it was applied.
    #[error("committing to RocksDB store at {dir}: {source}")]
    Commit {
        /// The database directory.
        dir: PathBuf,
        /// RocksDB's error.
        source: rocksdb::Error,
    },
    /// The blocking task running the operation panicked or was cancelled.
    #[error("RocksDB task for store at {dir} did not complete: {source}")]
    Task {
        /// The database directory.
        dir: PathBuf,
        /// Tokio's join error.
        source: tokio::task::JoinError,
    },
}

/// One shard's open RocksDB database. Cheap to clone; clones share the database.
#[derive(Clone)]
pub struct ShardDb {
    /// The database directory, for error messages.
    pub(super) dir: Arc<PathBuf>,
    /// The open database (RocksDB handles are thread-safe).
    pub(super) db: Arc<DB>,
    /// Whether commits wait for the WAL to be fsynced. Without a recovery log this is
    /// what makes a commit durable; with one, the log is (and the local database is
    /// caught up from it after a crash).
    pub(super) sync: bool,
}

impl std::fmt::Debug for ShardDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardDb")
            .field("dir", &self.dir)
            .field("sync", &self.sync)
            .finish()
    }
}

impl ShardDb {
    /// Opens the database in `dir`, creating it (and missing parents) if needed.
    /// Commits are fsynced.
    ///
    /// # Errors
    /// [`StoreError::Open`] naming `dir` (unwritable directory, locked by another
    /// process, corrupt database).
    pub async fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let dir = dir.into();
        let task_dir = dir.clone();
        tokio::task::spawn_blocking(move || Self::open_blocking(&task_dir, true))
            .await
            .map_err(|source| StoreError::Task { dir, source })?
    }

    /// As [`ShardDb::open`], synchronously, choosing whether commits are fsynced.
    pub fn open_blocking(dir: &Path, sync: bool) -> Result<Self, StoreError> {
        let open_err = |source| StoreError::Open {
            dir: dir.to_owned(),
            source,
        };
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        // As Gazette's store: keep MANIFEST churn small.
        opts.set_max_manifest_file_size(128 << 10);
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::CreateDir {
                dir: parent.to_owned(),
                source,
            })?;
        }
        let db = DB::open(&opts, dir).map_err(open_err)?;
        Ok(Self {
            dir: Arc::new(dir.to_owned()),
            db: Arc::new(db),
            sync,
        })
    }

    /// The database directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The committed value of guest key `key`. Synchronous: call it from a blocking
    /// context (a guest call runs on one).
    ///
    /// # Errors
    /// [`StoreError::Read`].
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.db.get(guest_key(key)).map_err(|source| StoreError::Read {
            dir: self.dir.to_path_buf(),
            source,
        })
    }

    /// Commits a transaction: its guest writes and its checkpoint, as one atomic
    /// RocksDB write batch. This write is the transaction's commit point in the store.
    ///
    /// # Errors
    /// [`StoreError::Commit`]; then nothing of the batch was applied.
    pub async fn commit(&self, writes: WriteSet, checkpoint: Vec<u8>) -> Result<(), StoreError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.commit_blocking(&writes, &checkpoint))
            .await
            .map_err(|source| StoreError::Task {
                dir: self.dir.to_path_buf(),
                source,
            })?
    }

    /// As [`ShardDb::commit`], synchronously.
    pub fn commit_blocking(&self, writes: &WriteSet, checkpoint: &[u8]) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        for (key, value) in writes.iter() {
            match value {
                Some(value) => batch.put(guest_key(key), value),
                None => batch.delete(guest_key(key)),
            }
        }
        batch.put(CHECKPOINT_KEY, checkpoint);
        let mut opts = WriteOptions::default();
        opts.set_sync(self.sync);
        // COMMIT POINT (store): state and checkpoint land together or not at all.
        self.db.write_opt(batch, &opts).map_err(|source| StoreError::Commit {
            dir: self.dir.to_path_buf(),
            source,
        })
    }

    /// The checkpoint of the last committed transaction, or `None` for a new database.
    ///
    /// # Errors
    /// [`StoreError::Read`].
    pub async fn load_checkpoint(&self) -> Result<Option<Vec<u8>>, StoreError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.load_checkpoint_blocking())
            .await
            .map_err(|source| StoreError::Task {
                dir: self.dir.to_path_buf(),
                source,
            })?
    }

    /// As [`ShardDb::load_checkpoint`], synchronously.
    pub fn load_checkpoint_blocking(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.db.get(CHECKPOINT_KEY).map_err(|source| StoreError::Read {
            dir: self.dir.to_path_buf(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::TxnOverlay;

    fn writes(pairs: &[(&[u8], Option<&[u8]>)]) -> WriteSet {
        let mut set = WriteSet::default();
        for (k, v) in pairs {
            match v {
                Some(v) => set.put(k.to_vec(), v.to_vec()),
                None => set.delete(k.to_vec()),
            }
        }
        set
    }

    #[tokio::test]
    async fn reopening_sees_committed_state_and_checkpoint() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("shards/chunks-part-000");
        {
            let db = ShardDb::open(&dir).await.unwrap();
            assert_eq!(
                db.load_checkpoint().await.unwrap(),
                None,
                "a new store has no checkpoint"
            );
            db.commit(writes(&[(b"a", Some(b"1")), (b"b", Some(b"2"))]), b"cp-1".to_vec())
                .await
                .unwrap();
            db.commit(writes(&[(b"a", None), (b"c", Some(b"3"))]), b"cp-2".to_vec())
                .await
                .unwrap();
        }
        let db = ShardDb::open(&dir).await.unwrap();
        assert_eq!(db.load_checkpoint().await.unwrap(), Some(b"cp-2".to_vec()));
        assert_eq!(db.get(b"a").unwrap(), None, "the delete of the second commit persisted");
        assert_eq!(db.get(b"b").unwrap(), Some(b"2".to_vec()));
        assert_eq!(db.get(b"c").unwrap(), Some(b"3".to_vec()));
    }

    #[tokio::test]
    async fn an_aborted_transaction_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let db = ShardDb::open(tmp.path().join("db")).await.unwrap();
        db.commit(writes(&[(b"kept", Some(b"v1"))]), b"cp-1".to_vec())
            .await
            .unwrap();

        let mut txn = TxnOverlay::new();
        txn.put(b"kept".to_vec(), b"v2".to_vec());
        txn.put(b"new".to_vec(), b"x".to_vec());
        assert_eq!(txn.get(&db, b"kept").unwrap(), Some(b"v2".to_vec()));
        drop(txn); // abort

        assert_eq!(db.get(b"kept").unwrap(), Some(b"v1".to_vec()));
        assert_eq!(db.get(b"new").unwrap(), None);
        assert_eq!(db.load_checkpoint().await.unwrap(), Some(b"cp-1".to_vec()));
    }

    #[tokio::test]
    async fn the_overlay_reads_its_own_writes_over_committed_state() {
        let tmp = tempfile::tempdir().unwrap();
        let db = ShardDb::open(tmp.path().join("db")).await.unwrap();
        db.commit(writes(&[(b"x", Some(b"old")), (b"y", Some(b"keep"))]), b"cp".to_vec())
            .await
            .unwrap();

        let mut txn = TxnOverlay::new();
        assert_eq!(txn.get(&db, b"x").unwrap(), Some(b"old".to_vec()));
        txn.put(b"x".to_vec(), b"new".to_vec());
        txn.delete(b"y".to_vec());
        assert_eq!(txn.get(&db, b"x").unwrap(), Some(b"new".to_vec()));
        assert_eq!(txn.get(&db, b"y").unwrap(), None);
        // Nothing reached the database yet.
        assert_eq!(db.get(b"x").unwrap(), Some(b"old".to_vec()));

        db.commit(txn.into_writes(), b"cp-2".to_vec()).await.unwrap();
        assert_eq!(db.get(b"x").unwrap(), Some(b"new".to_vec()));
        assert_eq!(db.get(b"y").unwrap(), None);
    }

    #[test]
    fn state_and_checkpoint_become_visible_atomically() {
        // A reader taking RocksDB snapshots while commits run must never see a state
        // key from one commit next to the checkpoint of another.
        let tmp = tempfile::tempdir().unwrap();
        let db = ShardDb::open_blocking(&tmp.path().join("db"), false).unwrap();
        let reader_db = db.clone();
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader_done = done.clone();
        let reader = std::thread::spawn(move || {
            let mut observed = 0;
            while !reader_done.load(std::sync::atomic::Ordering::Acquire) {
                let snap = reader_db.db.snapshot();
                let cp = snap.get(CHECKPOINT_KEY).unwrap();
                let state: Vec<_> = (0..8u8).map(|i| snap.get(guest_key(&[i])).unwrap()).collect();
                if let Some(cp) = cp {
                    assert!(state.iter().all(|v| v.as_deref() == Some(cp.as_slice())));
                    observed += 1;
                } else {
                    assert!(state.iter().all(Option::is_none));
                }
            }
            observed
        });
        for n in 0..2000u32 {
            let value = n.to_be_bytes();
            let mut set = WriteSet::default();
            for i in 0..8u8 {
                set.put(vec![i], value.to_vec());
            }
            db.commit_blocking(&set, &value).unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Release);
        assert!(reader.join().unwrap() > 0, "the reader saw committed snapshots");
    }

    #[tokio::test]
    async fn opening_under_a_file_names_the_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("not-a-dir");
        std::fs::write(&file, b"x").unwrap();
        let err = ShardDb::open(file.join("db")).await.unwrap_err();
        assert!(err.to_string().contains("not-a-dir"), "{err}");
    }
}
