//! Helpers shared by the broker tests: an embedded broker on 127.0.0.1:0, raw tonic
//! stubs for protocol-level checks, and small journal utilities.
#![allow(dead_code)]

use std::path::Path;

use futures::StreamExt;
use sha1::{Digest, Sha1};
use streamsum_host::journal::{JournalClient, JournalError, JournalSpec, LabelSet, ReadRequest};
use streamsum_host::service::proto::journal_client::JournalClient as Stub;
use streamsum_host::service::{EmbeddedBroker, EmbeddedOptions, GrpcJournalClient};
use tonic::transport::Channel;

/// Starts a broker on 127.0.0.1:0 over `dir` with `partitions` stream-sum partitions.
pub async fn start(dir: &Path, partitions: usize) -> EmbeddedBroker {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let opts = EmbeddedOptions { partitions, ..Default::default() };
    EmbeddedBroker::start(dir, listener, opts).await.unwrap()
}

/// A gRPC journal client of `broker`.
pub fn grpc(broker: &EmbeddedBroker) -> GrpcJournalClient {
    GrpcJournalClient::new(&broker.url()).unwrap()
}

/// A raw tonic stub of `broker`.
pub async fn stub(broker: &EmbeddedBroker) -> Stub<Channel> {
    Stub::connect(broker.url()).await.unwrap()
}

/// A plain test journal spec.
pub fn spec(name: &str) -> JournalSpec {
    JournalSpec {
        name: name.into(),
        labels: LabelSet::from_pairs([("content-type", "application/octet-stream")]),
        ..JournalSpec::default()
    }
}

/// All committed bytes of `journal` (non-blocking read from 0 to the head).
pub async fn read_all(client: &impl JournalClient, journal: &str) -> Vec<u8> {
    let mut stream = client.read(ReadRequest { journal: journal.into(), offset: 0, block: false, end_offset: 0 });
    let mut out = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(chunk) => {
                assert_eq!(chunk.offset as usize, out.len(), "chunks are contiguous");
                out.extend_from_slice(&chunk.content);
            }
            Err(JournalError::OffsetNotYetAvailable { write_head, .. }) => {
                assert_eq!(write_head as usize, out.len());
                return out;
            }
            Err(e) => panic!("read of {journal}: {e}"),
        }
    }
    panic!("non-blocking read of {journal} ended without OFFSET_NOT_YET_AVAILABLE")
}

/// Hex SHA-1.
pub fn sha1_hex(bytes: &[u8]) -> String {
    Sha1::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}
