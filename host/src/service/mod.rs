//! gRPC: Gazette's `protocol.Journal` service and client.
//!
//! The broker side ([`Broker`], [`EmbeddedBroker`]) serves the journal storage to
//! gazctl, Gazette's Go client and our own [`GrpcJournalClient`]; the client side
//! lets the host run against any Gazette-protocol broker. [`shard_api`] is Gazette's
//! consumer `Shard` service. Only this module names tonic.

pub mod admin;
mod append_api;
mod client;
pub mod control;
pub mod control_cli;
pub mod convert;
mod embedded;
mod limits;
pub mod gazctl;
mod host_server;
pub mod list_format;
mod list_api;
pub mod proto;
mod pipeline;
mod proxy;
mod replicate_api;
mod read_api;
mod server;
pub mod shard_api;
mod yaml;

pub use client::{GrpcJournalClient, APPEND_FRAME};
pub use embedded::{EmbeddedBroker, EmbeddedOptions, HostServices, Routing, DEFAULT_MAX_APPEND_BYTES, MAX_FRAME_BYTES, SHUTDOWN_GRACE};
pub use host_server::HostServer;
pub use list_api::LIST_PAGE;
pub use read_api::MAX_READ_CONTENT;
pub use pipeline::Replicator;
pub use server::{local_process_id, Broker, BrokerSettings};

