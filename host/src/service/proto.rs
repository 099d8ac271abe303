//! Generated prost messages and tonic stubs of Gazette's `protocol` package
//! (`host/proto/protocol.proto`, transcribed from `broker/protocol/protocol.proto`).
#![allow(missing_docs, clippy::all)]

tonic::include_proto!("protocol");
