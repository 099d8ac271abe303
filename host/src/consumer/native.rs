//! The summer's logic compiled into the host: the baseline that benchmarks compare the
//! wasm summer against (cargo feature `native-summer`; never used by the product).
//!
//! It mirrors `guest-summer/src/summer.rs` step for step with the same model crate:
//! states loaded from the committed store on first touch, updated in a per-transaction
//! cache, Sums published once a stream's final chunk arrives, the cache written out at
//! `finalize_txn`. What differs is only what the sandbox costs: no component boundary,
//! no copies into linear memory, no epoch checks.

use std::collections::HashMap;

use streamsum_model::{parse_chunk, Message, StreamId, SumState, SUMS_JOURNAL};

use super::app::Application;
use crate::runtime::{CallError, MessageBatch, PluginVersion, Published, TxnOutput};
use crate::store::{ShardDb, WriteSet};

/// The version a native summer reports (not a SHA-256: there are no bytes to hash).
pub const NATIVE_VERSION: &str = "native-summer";

/// The native summer of one shard.
pub struct NativeSummer {
    /// The shard's store (committed state).
    db: ShardDb,
    /// States touched in the current transaction.
    cache: HashMap<StreamId, SumState>,
    /// Sums completed in the current transaction, in order.
    published: Vec<Published>,
    /// Decoded `Data` of the chunk being applied (reused).
    data: Vec<u8>,
    /// Its version.
    version: PluginVersion,
}

impl NativeSummer {
    /// A native summer over the shard's `db`.
    pub fn new(db: ShardDb) -> Self {
        let version = PluginVersion::named(NATIVE_VERSION);
        NativeSummer { db, cache: HashMap::new(), published: Vec::new(), data: Vec::new(), version }
    }

    fn apply(&mut self, journal: &str, begin: u64, frame: &[u8]) -> Result<(), String> {
        let at = |what: String| format!("journal {journal} offset {begin}: {what}");
        let chunk = match parse_chunk(frame).map_err(|e| at(e.to_string()))? {
            Message::Ack => return Ok(()),
            Message::Chunk(chunk) => chunk,
        };
        chunk.decode_data(&mut self.data).map_err(|e| at(e.to_string()))?;
        let state = match self.cache.entry(chunk.id) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let stored = self.db.get(chunk.id.as_bytes()).map_err(|e| at(e.to_string()))?;
                let state = match stored {
                    None => SumState::new(chunk.id),
                    Some(value) => SumState::decode(chunk.id, &value).map_err(|e| at(e.to_string()))?,
                };
                v.insert(state)
            }
        };
        if state.update(&chunk, &self.data).map_err(|e| at(e.to_string()))? {
            self.published.push(Published { journal: SUMS_JOURNAL.to_owned(), message: state.sum().to_json() });
        }
        Ok(())
    }
}

impl Application for NativeSummer {
    fn consume(&mut self, batch: &MessageBatch) -> Result<(), CallError> {
        for (begin, frame) in batch.messages() {
            if let Err(text) = self.apply(batch.journal(), begin, frame) {
                self.abort_txn();
                return Err(CallError::Guest { call: "consume", text });
            }
        }
        Ok(())
    }

    fn finalize_txn(&mut self) -> Result<TxnOutput, CallError> {
        let mut writes = WriteSet::default();
        let mut value = Vec::new();
        for (id, state) in self.cache.drain() {
            value.clear();
            state.encode(&mut value);
            writes.put(id.as_bytes().to_vec(), value.clone());
        }
        Ok(TxnOutput { writes, published: std::mem::take(&mut self.published) })
    }

    fn abort_txn(&mut self) {
        self.cache.clear();
        self.published.clear();
    }

    fn version(&self) -> &PluginVersion {
        &self.version
    }
}
