//! `trap_summer.wasm`: a summer that implements the `summer` world correctly as far
//! as types go, so it loads and links, but traps (a wasm `unreachable`) on the first
//! batch it is handed. The hot-swap tests (`tests/swap_*.rs`, issue 7) swap it in under
//! load and expect the host to roll it back on every shard, with no sum lost or
//! duplicated. Test-only; built by `scripts/build-guests.sh`.

wit_bindgen::generate!({ world: "summer", path: "../../../wit" });

use exports::streamsum::plugin::consumer::Guest;
use streamsum::plugin::types::Batch;

/// The exported component.
struct Component;

impl Guest for Component {
    fn consume(_batch: Batch) -> Result<(), String> {
        // A trap, not an error result: the host must treat it as a failed transaction.
        core::arch::wasm32::unreachable()
    }

    fn finalize_txn() -> Result<(), String> {
        Ok(())
    }
}

export!(Component);
