//! A decoded copy of the keys under a root at one etcd revision, and the pure steps
//! that build it from a range read and move it forward by watch events.
//!
//! Gazette's `keyspace/key_values.go` (`KeyValues`, `appendKeyValue`,
//! `updateKeyValuesTail`) and the revision rule of `keyspace/key_space.go`: a
//! snapshot's revision is the revision it was loaded at, then the mod revision of the
//! last event applied, so two copies of one root at the same revision hold the same
//! keys and values. etcd sends all events of one revision in one watch response, so
//! applying responses whole never shows half a transaction.
//!
//! Values are opaque bytes; a caller-supplied decoder turns each into a `V`. A key
//! that fails to decode is logged (key and error) and skipped: a new key stays out,
//! and a key whose new value is bad keeps its last good value, as in Gazette, so one
//! bad write does not take a working spec away. Nothing here panics on input.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

/// A caller's decoder: the key and its value to a `V`, or why not.
pub(crate) type DecodeFn<V> = dyn Fn(&str, &[u8]) -> Result<V, String> + Send + Sync;

/// One key's value and etcd metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue<V> {
    /// The raw value, as stored (the allocator copies it when it moves an assignment).
    pub value: Vec<u8>,
    /// The value decoded by the keyspace's decoder.
    pub decoded: V,
    /// Revision at which the key was (last) created: the leader rule reads it.
    pub create_revision: i64,
    /// Revision of the key's last change: guarded writes compare it.
    pub mod_revision: i64,
    /// Number of changes since creation (1 when created).
    pub version: i64,
    /// The lease the key is attached to, or 0.
    pub lease: i64,
}

/// A key and its value as read from etcd, before decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawKeyValue {
    pub key: String,
    pub value: Vec<u8>,
    pub create_revision: i64,
    pub mod_revision: i64,
    pub version: i64,
    pub lease: i64,
}

/// A watch event, before decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// The key was created or changed.
    Put(RawKeyValue),
    /// The key was deleted at `mod_revision`.
    Delete { key: String, mod_revision: i64 },
}

impl Event {
    /// The revision of the change.
    pub(crate) fn mod_revision(&self) -> i64 {
        match self {
            Event::Put(kv) => kv.mod_revision,
            Event::Delete { mod_revision, .. } => *mod_revision,
        }
    }
}

/// The keys under a root at one revision, in key order.
#[derive(Debug)]
pub struct Snapshot<V> {
    /// The revision this copy reflects.
    revision: i64,
    /// Every decoded key. Entries are shared between successive snapshots, so moving
    /// forward copies pointers, not values.
    entries: BTreeMap<String, Arc<KeyValue<V>>>,
}

impl<V> Snapshot<V> {
    /// The etcd revision this snapshot reflects.
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// The key's value, if present and decoded.
    pub fn get(&self, key: &str) -> Option<&KeyValue<V>> {
        self.entries.get(key).map(|kv| &**kv)
    }

    /// The key's shared value, if present and decoded.
    pub fn get_shared(&self, key: &str) -> Option<&Arc<KeyValue<V>>> {
        self.entries.get(key)
    }

    /// Every key starting with `prefix`, in key order.
    pub fn prefixed<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a Arc<KeyValue<V>>)> + 'a {
        self.entries.range::<str, _>((Bound::Included(prefix), Bound::Unbounded)).take_while(move |(k, _)| k.starts_with(prefix)).map(|(k, v)| (k.as_str(), v))
    }

    /// Every key, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Arc<KeyValue<V>>)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// How many keys are held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// An empty snapshot at `revision`.
    pub(crate) fn empty(revision: i64) -> Self {
        Snapshot { revision, entries: BTreeMap::new() }
    }

    /// The snapshot of a range read at `revision`.
    pub(crate) fn load(revision: i64, kvs: Vec<RawKeyValue>, decode: &DecodeFn<V>) -> Self {
        let mut snapshot = Snapshot::empty(revision);
        for kv in kvs {
            match decode(&kv.key, &kv.value) {
                Ok(decoded) => {
                    snapshot.entries.insert(kv.key.clone(), Arc::new(entry(kv, decoded)));
                }
                Err(error) => tracing::error!(key = %kv.key, %error, "skipping a key whose value does not decode (loading)"),
            }
        }
        snapshot
    }

    /// The snapshot after `events` (in revision order), or `None` if none is newer
    /// than this one (a replay after a re-watch).
    pub(crate) fn apply(&self, events: &[Event], decode: &DecodeFn<V>) -> Option<Self> {
        let newer: Vec<&Event> = events.iter().filter(|e| e.mod_revision() > self.revision).collect();
        let last = newer.last()?.mod_revision();
        let mut entries = self.entries.clone();
        for event in newer {
            match event {
                Event::Put(kv) => match decode(&kv.key, &kv.value) {
                    Ok(decoded) => {
                        entries.insert(kv.key.clone(), Arc::new(entry(kv.clone(), decoded)));
                    }
                    Err(error) => {
                        let kept = if entries.contains_key(&kv.key) { "keeping its last good value" } else { "leaving it out" };
                        tracing::error!(key = %kv.key, revision = kv.mod_revision, %error, "a key's new value does not decode; {kept}");
                    }
                },
                Event::Delete { key, .. } => {
                    if entries.remove(key).is_none() {
                        tracing::debug!(%key, "deleted key was not held (it never decoded)");
                    }
                }
            }
        }
        Some(Snapshot { revision: last.max(self.revision), entries })
    }
}

fn entry<V>(kv: RawKeyValue, decoded: V) -> KeyValue<V> {
    KeyValue {
        value: kv.value,
        decoded,
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
        lease: kv.lease,
    }
}

#[cfg(test)]
#[path = "snapshot_tests.rs"]
mod tests;
