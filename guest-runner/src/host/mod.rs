//! The runner's in-memory host: what `streamsum-host` provides to a plugin, minus
//! durability and journals, plus the test-only `testing` interface.
//!
//! One `TestHost` per test binary run. libtest runs wasm32-wasip2 tests one after
//! another on one thread, and each test starts with `testing.reset`, so tests do not
//! see each other's state. One file per WIT interface implements its `Host` trait.

mod journals;
mod log;
mod publisher;
mod store;
mod testing;

use std::collections::{BTreeMap, VecDeque};

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::native_summer::NativeSummer;

/// Chunk partitions that `journals.partitions` reports (Gazette's stream-sum
/// example has 8: `examples/stream-sum/chunks/part-000` … `part-007`).
pub const PARTITIONS: u32 = 8;

/// Everything a test binary's store holds.
pub struct TestHost {
    /// WASI state: stdio, arguments and environment of the test binary.
    wasi: WasiCtx,
    /// WASI resources (streams, pollables) handed to the guest.
    table: ResourceTable,
    /// The `store` interface's key/value pairs, sorted by key for `store-contents`.
    kv: BTreeMap<Vec<u8>, Vec<u8>>,
    /// `publisher.publish` calls since the last `take-published`.
    published: Vec<(String, Vec<u8>)>,
    /// `journals.publish-chunk` calls since the last `take-chunks`, with partitions.
    chunks: Vec<(u32, Vec<u8>)>,
    /// Sums queued by `testing.push-sum`, served first by `next-sum`.
    pushed_sums: VecDeque<Vec<u8>>,
    /// Whether `next-sum` also serves the sums computed by `summer`.
    auto_sum: bool,
    /// Computes the sums of the published chunks, as the real summer would.
    summer: NativeSummer,
    /// Contents of the input files served by `journals.read-file`, by index.
    files: Vec<Vec<u8>>,
}

impl TestHost {
    /// A host with empty state and auto-sum on.
    pub fn new(wasi: WasiCtx) -> Self {
        TestHost {
            wasi,
            table: ResourceTable::new(),
            kv: BTreeMap::new(),
            published: Vec::new(),
            chunks: Vec::new(),
            pushed_sums: VecDeque::new(),
            auto_sum: true,
            summer: NativeSummer::default(),
            files: Vec::new(),
        }
    }
}

impl WasiView for TestHost {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// Whether `message` is a JSON object (what the real host requires of publishes).
fn is_json_object(message: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(message).is_ok()
}
