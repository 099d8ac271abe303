//! The Summer: a per-transaction cache of stream states over the host's store.
//!
//! Mirrors Gazette's `Summer` (`examples/stream-sum/stream_sum.go`): states are
//! loaded lazily from the store, updated in a cache, and flushed by `finalize-txn`.
//! Two differences: a bad chunk is a returned error (Gazette `log.Fatal`s), and the
//! Sums that a batch completes are published only after the whole batch is valid.
//!
//! Error handling: the host aborts the transaction on any `consume` error and may
//! keep this instance for the next one, so on error the cache and pending sums are
//! dropped entirely. The next transaction re-reads states from the store, which
//! holds only committed data. Nothing is written to the store outside
//! `finalize-txn`, and nothing is published for a batch that fails.

use std::cell::RefCell;
use std::collections::HashMap;

use streamsum_model::{parse_chunk, Message, StreamId, SumState, SUMS_JOURNAL};

use crate::batch;
use crate::streamsum::plugin::types::Batch;
use crate::streamsum::plugin::{publisher, store};

/// The Summer's memory between calls (within one transaction only).
#[derive(Default)]
pub struct Summer {
    /// States touched in the current transaction, written out by `finalize_txn`.
    cache: HashMap<StreamId, SumState>,
    /// Decoded `Data` of the chunk being applied; reused to avoid an allocation per
    /// message.
    data: Vec<u8>,
    /// JSON of the Sums completed by the current batch, published once it is valid.
    pending: Vec<Vec<u8>>,
    /// Store value being encoded in `finalize_txn`; reused across streams.
    value: Vec<u8>,
}

thread_local! {
    /// The instance's Summer. Components are single-threaded; the host serializes
    /// calls into an instance.
    static SUMMER: RefCell<Summer> = RefCell::new(Summer::default());
}

/// Runs `f` on the instance's Summer.
pub fn with<R>(f: impl FnOnce(&mut Summer) -> R) -> R {
    SUMMER.with(|s| f(&mut s.borrow_mut()))
}

impl Summer {
    /// Consumes a batch: applies every chunk, then publishes the Sums it completed.
    ///
    /// # Errors
    /// A message naming the journal and offset (and stream and sequence numbers where
    /// they apply). On error the whole transaction's cache is discarded and nothing
    /// of this batch is published.
    pub fn consume(&mut self, batch: &Batch) -> Result<(), String> {
        let result = self.apply_batch(batch).and_then(|()| self.publish_pending(&batch.journal));
        if result.is_err() {
            self.cache.clear();
        }
        self.pending.clear();
        result
    }

    /// Writes every cached state into the store and empties the cache.
    ///
    /// # Errors
    /// None today; the signature leaves room for the host to report store failures.
    pub fn finalize_txn(&mut self) -> Result<(), String> {
        for (id, state) in self.cache.drain() {
            self.value.clear();
            state.encode(&mut self.value);
            store::put(id.as_bytes(), &self.value);
        }
        Ok(())
    }

    /// Whether the cache is empty (for tests: a failed batch leaves nothing behind).
    #[cfg(test)]
    pub fn cached_streams(&self) -> usize {
        self.cache.len()
    }

    /// Forgets everything, as a fresh instance would (for tests).
    #[cfg(test)]
    pub fn reset(&mut self) {
        *self = Summer::default();
    }

    fn apply_batch(&mut self, batch: &Batch) -> Result<(), String> {
        batch::validate(batch)?;
        for (envelope, frame) in batch::messages(batch) {
            let at = |what: String| format!("journal {} offset {}: {what}", batch.journal, envelope.begin);
            let chunk = match parse_chunk(frame).map_err(|e| at(e.to_string()))? {
                Message::Ack => continue,
                Message::Chunk(chunk) => chunk,
            };
            chunk.decode_data(&mut self.data).map_err(|e| at(e.to_string()))?;
            let state = match self.cache.entry(chunk.id) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => v.insert(load(chunk.id).map_err(at)?),
            };
            if state.update(&chunk, &self.data).map_err(|e| at(e.to_string()))? {
                self.pending.push(state.sum().to_json());
            }
        }
        Ok(())
    }

    fn publish_pending(&mut self, journal: &str) -> Result<(), String> {
        for sum in &self.pending {
            publisher::publish(SUMS_JOURNAL, sum).map_err(|e| {
                format!("publishing a sum for a chunk of journal {journal} to {SUMS_JOURNAL}: {e}")
            })?;
        }
        Ok(())
    }
}

/// The committed state of stream `id` from the store, or a fresh one.
fn load(id: StreamId) -> Result<SumState, String> {
    match store::get(id.as_bytes()) {
        None => Ok(SumState::new(id)),
        Some(value) => SumState::decode(id, &value).map_err(|e| e.to_string()),
    }
}
