//! [`WriteSet`]: the writes of one transaction, in key order, as the store commits
//! them (`rocks.rs`) and the recovery log records them (`recoverylog.rs`).

use std::collections::BTreeMap;

/// The writes of one transaction: guest key → new value, or `None` for a delete.
///
/// Keys are the guest's own bytes (no prefix); [`ShardDb::commit`] places them in the
/// guest namespace.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WriteSet {
    /// Latest write per key; a later put or delete of the same key replaces the earlier.
    entries: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl WriteSet {
    /// Records a put of `value` under `key`.
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.entries.insert(key, Some(value));
    }

    /// Records a delete of `key`.
    pub fn delete(&mut self, key: Vec<u8>) {
        self.entries.insert(key, None);
    }

    /// What this write set says about `key`: `None` if it was not written,
    /// `Some(None)` if it was deleted, `Some(Some(value))` if it was put.
    pub fn lookup(&self, key: &[u8]) -> Option<Option<&[u8]>> {
        self.entries.get(key).map(|v| v.as_deref())
    }

    /// Number of distinct keys written.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The writes in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> {
        self.entries.iter().map(|(k, v)| (k.as_slice(), v.as_deref()))
    }
}
