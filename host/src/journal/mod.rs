//! Journals: named, append-only, durable byte logs addressed by offset.
//!
//! The storage side of Gazette's broker (`broker/`, `broker/fragment/`) for one disk:
//! fragment files, a checksummed commit index with registers, group-committed
//! fdatasync, torn-tail recovery, and reads that wake on commit. [`JournalClient`]
//! is how the rest of the host uses journals, locally ([`LocalClient`]) or over gRPC;
//! its requests and results are in `request.rs`.

pub mod catalog;
mod client;
pub mod defaults;
pub mod duration;
mod error;
mod fragment;
pub mod journalspace;
mod log;
mod persist;
mod prune;
mod labels;
mod local;
mod read;
mod record;
mod recover;
mod replica;
mod spool;
pub mod stores;
mod request;
mod route;
pub mod selector;
mod spec;
mod storage;
mod syncer;

pub use catalog::JournalCatalog;
pub use client::JournalClient;
pub use local::{LocalClient, LOCAL_READ_CHUNK};
pub use route::{check_append, check_read, JournalRoutes, LocalRoutes, Misrouted, ProcessId, Route};
pub use request::{AppendRequest, AppendResult, ApplyChange, JournalInfo, ReadChunk, ReadRequest};
pub use error::JournalError;
pub use log::{Commit, Journal, SpecRecord, Written};
pub use persist::{catch_up, persist_all, refresh, IsPrimary, Persister, PERSIST_TICK};
pub use prune::PruneResult;
pub use replica::COPY_CHUNK;
pub use spool::{Reply, Spool, EMPTY_SUM};
pub use labels::{validate_label_name, validate_label_value, Label, LabelError, LabelSelector, LabelSet};
pub use read::{chunks, FragmentMeta, ReadEvent};
pub use record::INDEX_FILE;
pub use spec::{flags, validate_journal_name, Codec, FragmentSpec, JournalSpec};
pub use storage::Storage;
pub use fragment::FragmentFile;
