//! Generated prost messages and tonic stubs of Gazette's `protocol` package
//! (`host/proto/protocol.proto`, transcribed from `broker/protocol/protocol.proto`),
//! its `consumer` package (`consumer.proto`: the `Shard` service) and the recovery-log
//! hints that package refers to (`recoverylog.proto`). The broker's messages are
//! re-exported here, as every caller reaches them through `proto::`.
#![allow(missing_docs, clippy::all)]

/// Gazette's `protocol` package: journals, the broker's `Journal` service.
pub mod protocol {
    #![allow(missing_docs, clippy::all)]
    tonic::include_proto!("protocol");
}

/// Gazette's `consumer` package: shard specs and the `Shard` service.
pub mod consumer {
    #![allow(missing_docs, clippy::all)]
    tonic::include_proto!("consumer");
}

/// Gazette's `recoverylog` package, as far as shard hints go.
pub mod recoverylog {
    #![allow(missing_docs, clippy::all)]
    tonic::include_proto!("recoverylog");
}

pub use protocol::*;
