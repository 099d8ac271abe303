//! streamsum-host: see the crate README.
pub mod message;
pub mod consumer;
