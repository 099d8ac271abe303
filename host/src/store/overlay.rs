//! The per-transaction write overlay of a shard's store.
//!
//! Plays the part of the shared `WriteBatch` that Gazette's RocksDB store hands to the
//! application (`store_rocksdb.go`), with one difference the WIT contract requires: reads
//! see the transaction's own writes (a RocksDB `WriteBatch` cannot be read; Gazette's
//! stream-sum keeps its own cache for that). Puts and deletes are buffered in key order;
//! a read first looks here, then falls through to the committed database. Dropping the
//! overlay aborts the transaction: nothing of it ever reached RocksDB.


use super::rocks::{ShardDb, StoreError};
use super::write_set::WriteSet;

/// A transaction's view of a shard's store: its own buffered writes over the database.
#[derive(Debug, Default)]
pub struct TxnOverlay {
    /// The transaction's writes so far.
    writes: WriteSet,
}

impl TxnOverlay {
    /// An overlay with no writes.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of `key` as this transaction sees it: its own latest write if any,
    /// else the committed value in `db`.
    ///
    /// # Errors
    /// A RocksDB read error of the fall-through read.
    pub fn get(&self, db: &ShardDb, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.get_with(key, |key| db.get(key))
    }

    /// As [`TxnOverlay::get`], falling through to `read` instead of a database.
    pub fn get_with(
        &self,
        key: &[u8],
        read: impl FnOnce(&[u8]) -> Result<Option<Vec<u8>>, StoreError>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        match self.writes.lookup(key) {
            Some(own) => Ok(own.map(<[u8]>::to_vec)),
            None => read(key),
        }
    }

    /// Buffers a put.
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.writes.put(key, value);
    }

    /// Buffers a delete.
    pub fn delete(&mut self, key: Vec<u8>) {
        self.writes.delete(key);
    }

    /// Ends the transaction's writing: its write set, for [`ShardDb::commit`].
    pub fn into_writes(self) -> WriteSet {
        self.writes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn committed(key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(match key {
            b"a" => Some(b"committed-a".to_vec()),
            b"b" => Some(b"committed-b".to_vec()),
            _ => None,
        })
    }

    #[test]
    fn reads_see_own_writes_then_fall_through() {
        let mut txn = TxnOverlay::new();
        txn.put(b"a".to_vec(), b"mine".to_vec());
        txn.delete(b"b".to_vec());
        txn.put(b"c".to_vec(), b"new".to_vec());

        assert_eq!(txn.get_with(b"a", committed).unwrap(), Some(b"mine".to_vec()));
        assert_eq!(
            txn.get_with(b"b", committed).unwrap(),
            None,
            "own delete hides committed"
        );
        assert_eq!(txn.get_with(b"c", committed).unwrap(), Some(b"new".to_vec()));
        assert_eq!(txn.get_with(b"z", committed).unwrap(), None);

        let untouched = TxnOverlay::new();
        assert_eq!(
            untouched.get_with(b"a", committed).unwrap(),
            Some(b"committed-a".to_vec())
        );
    }

    #[test]
    fn later_writes_of_a_key_replace_earlier_ones() {
        let mut txn = TxnOverlay::new();
        txn.put(b"k".to_vec(), b"1".to_vec());
        txn.delete(b"k".to_vec());
        assert_eq!(txn.get_with(b"k", committed).unwrap(), None);
        txn.put(b"k".to_vec(), b"2".to_vec());
        assert_eq!(txn.get_with(b"k", committed).unwrap(), Some(b"2".to_vec()));

        let writes = txn.into_writes();
        assert_eq!(writes.len(), 1);
        assert_eq!(writes.iter().collect::<Vec<_>>(), vec![(&b"k"[..], Some(&b"2"[..]))]);
    }
}
