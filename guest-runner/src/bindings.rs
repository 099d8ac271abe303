//! Host-side bindings of the guest-test worlds (`chunker-tests`, `summer-tests`).
//!
//! Two `bindgen!` calls because the two worlds export different things; the shared
//! interfaces (`log`, `testing`) are generated once and reused through `with`.

/// Bindings of world `chunker-tests`: `log`, `journals`, `testing`, chunker types.
pub mod chunker {
    wasmtime::component::bindgen!({ path: "../wit", world: "chunker-tests" });
}

/// Bindings of world `summer-tests`: `store`, `publisher`, consumer types.
pub mod summer {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "summer-tests",
        with: {
            "streamsum:plugin/log": super::chunker::streamsum::plugin::log,
            "streamsum:plugin/testing": super::chunker::streamsum::plugin::testing,
        },
    });
}

pub use chunker::streamsum::plugin::{journals, log, testing};
pub use summer::streamsum::plugin::{publisher, store};
