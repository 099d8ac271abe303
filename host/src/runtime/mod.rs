//! The wasmtime plugin runtime: how the host runs untrusted wasm components.
//!
//! DESIGN §9. The data path through this module:
//!
//! 1. [`engine::PluginEngine`]: one wasmtime engine (Cranelift, component model, epoch
//!    interruption) and its epoch ticker.
//! 2. [`cache::ComponentCache`]: .wasm bytes → compiled component, cached on disk by
//!    SHA-256 (the [`cache::PluginVersion`]) and engine compatibility hash.
//! 3. [`plugin::SummerPlugin`]: a component checked against the `summer` world and
//!    pre-linked with the host's imports (refused, naming what is missing, otherwise).
//! 4. [`summer::SummerInstance`]: one per shard, kept across transactions: `consume`
//!    packed [`batch::MessageBatch`]es, `finalize_txn` → the transaction's store writes
//!    and publishes.
//!
//! The host imports live one per file: `store_host.rs`, `publisher_host.rs`,
//! `log_host.rs`, and the sandboxed WASI subset in `wasi.rs`. All caps are in
//! [`limits::Limits`]. Only this module names wasmtime.

pub mod batch;
mod bindings;
pub mod cache;
pub mod engine;
pub mod error;
pub mod limits;
pub mod log_host;
pub mod plugin;
pub mod publisher_host;
mod state;
pub mod store_host;
pub mod summer;
#[cfg(test)]
mod test_log;
mod wasi;

pub use batch::MessageBatch;
pub use cache::{CacheOutcome, ComponentCache, PluginVersion};
pub use engine::PluginEngine;
pub use error::CallError;
pub use limits::{LimitExceeded, Limits};
pub use plugin::{LoadError, SummerPlugin};
pub use publisher_host::Published;
pub use summer::{ShardContext, SummerInstance, TxnOutput};
pub mod chunker;
pub mod journals_host;
pub use chunker::{ChunkerInstance, ChunkerLoadError, ChunkerPlugin};
pub use journals_host::ChunkerHost;
pub mod plugin_watch;
pub mod reload;
pub use reload::{Refusal, Reloaded, Reloader};
