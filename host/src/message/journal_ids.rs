//! Small journal ids and a fast hasher for the sequencer's per-message lookups.
//!
//! The sequencer looks up its (journal, producer) state several times per message;
//! hashing a 40-byte journal name with SipHash each time cost more than the rest of
//! sequencing. Journals are interned once to a `u32` (envelopes of one reader share
//! one `Arc<str>`, so the common case is a pointer comparison), and keys are hashed
//! with an FxHash-style multiply (keys are not attacker-chosen: producer ids are
//! random and journal ids are ours).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use super::uuid::ProducerId;

/// A (journal, producer) pair with the journal interned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct JournalProducer {
    /// Interned journal id (see [`JournalIds`]).
    pub journal: u32,
    /// The producer.
    pub producer: ProducerId,
}

/// FxHash-style hasher: rotate, xor, multiply per word.
#[derive(Default, Clone, Copy)]
pub(crate) struct FastHasher(u64);

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_u32(&mut self, v: u32) {
        self.write_u64(v as u64);
    }

    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A HashMap using [`FastHasher`].
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// Interns journal names to dense `u32` ids.
#[derive(Debug, Default)]
pub(crate) struct JournalIds {
    /// Names by id.
    names: Vec<Arc<str>>,
    /// Ids by name.
    index: HashMap<Arc<str>, u32>,
    /// The last name looked up, to skip hashing when envelopes share one `Arc`.
    last: Option<(Arc<str>, u32)>,
}

impl JournalIds {
    /// The id of `name`, interning it if new.
    pub fn id(&mut self, name: &Arc<str>) -> u32 {
        if let Some((last, id)) = &self.last {
            if Arc::ptr_eq(last, name) {
                return *id;
            }
        }
        let id = match self.index.get(name) {
            Some(&id) => id,
            None => {
                let id = self.names.len() as u32;
                self.names.push(name.clone());
                self.index.insert(name.clone(), id);
                id
            }
        };
        self.last = Some((name.clone(), id));
        id
    }

    /// The name of an interned id.
    pub fn name(&self, id: u32) -> &Arc<str> {
        &self.names[id as usize]
    }

    /// Number of interned journals.
    pub fn len(&self) -> usize {
        self.names.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_names_get_one_id_whether_or_not_they_share_an_arc() {
        let mut ids = JournalIds::default();
        let a: Arc<str> = "a/journal".into();
        let a2: Arc<str> = "a/journal".into();
        let b: Arc<str> = "b/journal".into();
        assert_eq!(ids.id(&a), 0);
        assert_eq!(ids.id(&a), 0);
        assert_eq!(ids.id(&b), 1);
        assert_eq!(ids.id(&a2), 0);
        assert_eq!(&**ids.name(1), "b/journal");
        assert_eq!(ids.len(), 2);
    }

    #[test]
    fn fast_hasher_distinguishes_producers_and_journals() {
        use std::hash::BuildHasher;
        let build = BuildHasherDefault::<FastHasher>::default();
        let h = |j: u32, p: [u8; 6]| build.hash_one(JournalProducer { journal: j, producer: ProducerId(p) });
        assert_ne!(h(0, [1, 0, 0, 0, 0, 0]), h(0, [1, 0, 0, 0, 0, 1]));
        assert_ne!(h(0, [1, 0, 0, 0, 0, 0]), h(1, [1, 0, 0, 0, 0, 0]));
    }
}
