//! streamsum-host: see the crate README.
pub mod runtime;
pub mod store;
