//! The `store` interface: the guest's transactional key/value view of its shard.
//!
//! Reads see the transaction's own writes, then the shard's committed RocksDB state;
//! writes are buffered in the transaction's overlay and reach RocksDB only when the
//! consumer commits them with the checkpoint (see `store/`). This is the guest's side of
//! the store Gazette hands a Go application (`consumer/store-rocksdb`). Oversized keys
//! and values trap with the limit's name.

use super::bindings::store::Host;
use super::limits::{LimitExceeded, Limits};
use crate::store::{ShardDb, TxnOverlay};

/// The `store` import's view of the host state.
pub struct StoreView<'a> {
    /// The current transaction's writes.
    pub overlay: &'a mut TxnOverlay,
    /// The shard's committed state.
    pub db: &'a ShardDb,
    /// The instance's limits (key and value sizes).
    pub limits: &'a Limits,
}

impl StoreView<'_> {
    fn check_key(&self, key: &[u8]) -> Result<(), LimitExceeded> {
        LimitExceeded::check("key_bytes", self.limits.key_bytes, key.len())
    }
}

impl Host for StoreView<'_> {
    fn get(&mut self, key: Vec<u8>) -> wasmtime::Result<Option<Vec<u8>>> {
        self.check_key(&key)?;
        // A RocksDB read error is the host's fault, not the guest's: it still aborts the
        // call (as a trap carrying the StoreError), and the caller reports it as such.
        Ok(self.overlay.get(self.db, &key)?)
    }

    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) -> wasmtime::Result<()> {
        self.check_key(&key)?;
        LimitExceeded::check("value_bytes", self.limits.value_bytes, value.len())?;
        self.overlay.put(key, value);
        Ok(())
    }

    fn delete(&mut self, key: Vec<u8>) -> wasmtime::Result<()> {
        self.check_key(&key)?;
        self.overlay.delete(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit_name(err: wasmtime::Error) -> &'static str {
        err.downcast_ref::<LimitExceeded>().expect("a LimitExceeded trap").name
    }

    #[test]
    fn keys_and_values_are_capped_by_name_and_reads_see_own_writes() {
        let tmp = tempfile::tempdir().unwrap();
        let db = ShardDb::open_blocking(&tmp.path().join("db"), false).unwrap();
        let mut set = crate::store::WriteSet::default();
        set.put(b"committed".to_vec(), b"old".to_vec());
        db.commit_blocking(&set, b"cp").unwrap();

        let limits = Limits {
            key_bytes: 16,
            value_bytes: 32,
            ..Limits::default()
        };
        let mut overlay = TxnOverlay::new();
        let mut view = StoreView {
            overlay: &mut overlay,
            db: &db,
            limits: &limits,
        };

        assert_eq!(view.get(b"committed".to_vec()).unwrap(), Some(b"old".to_vec()));
        view.put(b"committed".to_vec(), b"new".to_vec()).unwrap();
        assert_eq!(view.get(b"committed".to_vec()).unwrap(), Some(b"new".to_vec()));
        view.delete(b"committed".to_vec()).unwrap();
        assert_eq!(view.get(b"committed".to_vec()).unwrap(), None);

        view.put(vec![1; 16], vec![2; 32]).unwrap(); // exactly at both caps
        assert_eq!(limit_name(view.put(vec![1; 17], vec![]).unwrap_err()), "key_bytes");
        assert_eq!(limit_name(view.put(vec![1], vec![2; 33]).unwrap_err()), "value_bytes");
        assert_eq!(limit_name(view.get(vec![1; 17]).unwrap_err()), "key_bytes");
        assert_eq!(limit_name(view.delete(vec![1; 17]).unwrap_err()), "key_bytes");

        // Nothing reached RocksDB.
        assert_eq!(db.get(b"committed").unwrap(), Some(b"old".to_vec()));
        assert_eq!(db.get(&[1; 16]).unwrap(), None);
    }
}
