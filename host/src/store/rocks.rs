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
use super::write_set::WriteSet;

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
#[path = "rocks_tests.rs"]
mod tests;
