//! streamsum-host: see the crate README.
pub mod store;
