//! `guest_summer.wasm`: Gazette's stream-sum Summer as a wasm32-wasip2 component.
//!
//! Mirrors `examples/stream-sum/stream_sum.go` (`Summer`, `ConsumeMessage`,
//! `FinalizeTxn`) with SHA-1 sums. The host runs it inside exactly-once shard
//! transactions (world `summer` of `wit/streamsum.wit`):
//!
//! - `consume` gets a packed batch of committed chunks from one partition. Per chunk
//!   it loads the stream's [`SumState`](streamsum_model::SumState) from the
//!   transaction's cache, else from the store (key = the 16 raw id bytes), applies
//!   the chunk, and when the (empty) final chunk arrives publishes the stream's Sum to
//!   `examples/stream-sum/sums`.
//! - `finalize-txn` writes every state touched in the transaction into the store and
//!   clears the cache: durable state lives in the host, never in guest memory.
//!
//! Errors (a message that is not JSON, a malformed id or base64, a chunk out of
//! order, duplicated, foreign, or after its stream's end) name the journal, the
//! offset, the stream and both sequence numbers, and have no partial effect: see
//! [`summer::Summer::consume`].

mod batch;
mod summer;
#[cfg(test)]
mod tests;

// The test build generates the `summer-tests` world (`summer` plus the runner's
// `testing` interface) so that unit tests under `streamsum-guest-test` can inspect the
// in-memory store and publisher. Both worlds produce the same module paths.
#[cfg(not(test))]
wit_bindgen::generate!({ world: "summer", path: "../wit" });
#[cfg(test)]
wit_bindgen::generate!({ world: "summer-tests", path: "../wit" });

use exports::streamsum::plugin::consumer::Guest;
use streamsum::plugin::types::Batch;

/// The exported component: a unit struct delegating to the per-instance [`summer`].
struct Component;

impl Guest for Component {
    fn consume(batch: Batch) -> Result<(), String> {
        summer::with(|s| s.consume(&batch))
    }

    fn finalize_txn() -> Result<(), String> {
        summer::with(|s| s.finalize_txn())
    }
}

export!(Component);
