//! Generated bindings of the WIT contract (`wit/streamsum.wit`), in one private module.
//!
//! Every host import is `trappable`: a host function answers a guest that breaks a
//! limit with a trap (DESIGN §9), while domain failures go back as WIT `result`s. The
//! chunker world's bindings reuse the summer's `log` interface.

/// The `summer` world: imports `log`, `store`, `publisher`; exports `consumer`.
pub(crate) mod summer {
    wasmtime::component::bindgen!({
        world: "summer",
        path: "../wit",
        imports: { default: trappable },
        additional_derives: [PartialEq, Eq],
    });
}

/// The `chunker` world: imports `log`, `journals`; exports `run`. Its host side is
/// built by the chunker job; the bindings are here so only `runtime/` names wasmtime.
#[allow(dead_code)]
pub(crate) mod chunker {
    wasmtime::component::bindgen!({
        world: "chunker",
        path: "../wit",
        imports: { default: trappable },
        with: {
            "streamsum:plugin/log": super::summer::streamsum::plugin::log,
        },
    });
}

pub(crate) use summer::streamsum::plugin::types::{Batch, Envelope};
pub(crate) use summer::streamsum::plugin::{log, publisher, store};
pub(crate) use summer::{Summer, SummerPre};
