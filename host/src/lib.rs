//! streamsum-host: see the crate README.
pub mod journal;
pub mod service;
pub mod cli;
pub mod message;
pub mod consumer;
