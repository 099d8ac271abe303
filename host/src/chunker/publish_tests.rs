//! Unit tests of the chunk sink against a local journal storage: routing, order,
//! flags, refused chunks, permanent failures.

use std::collections::HashMap;

use futures::StreamExt;

use super::*;
use crate::journal::defaults::{chunk_partition, stream_sum_specs};
use crate::journal::{JournalError, LocalClient, ReadRequest, Storage};
use crate::message::decode::extract_uuid;
use crate::message::uuid::{clock_of, flags_of};
use crate::message::{fnv1a32, Flags};

async fn read_all(client: &LocalClient, journal: &str) -> Vec<u8> {
    let mut stream = client.read(ReadRequest {
        journal: journal.into(),
        offset: 0,
        block: false,
        end_offset: 0,
    });
    let mut out = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(chunk) => out.extend_from_slice(&chunk.content),
            Err(JournalError::OffsetNotYetAvailable { .. }) => break,
            Err(e) => panic!("{e}"),
        }
    }
    out
}

fn storage(dir: &std::path::Path, partitions: usize) -> LocalClient {
    let storage = Storage::open(dir).unwrap();
    storage.create_missing(stream_sum_specs(partitions)).unwrap();
    LocalClient::new(storage)
}

#[tokio::test]
async fn chunks_reach_their_partition_in_publish_order_as_committed_messages() {
    let dir = tempfile::tempdir().unwrap();
    let client = storage(dir.path(), 3);
    let mapping = ModuloMapping::new((0..3).map(chunk_partition)).unwrap();
    let (_stop_tx, stop) = watch::channel(false);
    let (sink, _tasks) = ChunkSink::start(Arc::new(client.clone()), mapping, stop);
    let ids: Vec<[u8; 16]> = (0u8..5).map(|i| [i; 16]).collect();
    let mut last: HashMap<usize, Ticket> = HashMap::new();
    for seq in 1..=6 {
        for id in &ids {
            let chunk = format!(r#"{{"ID":"{:02x}","SeqNo":{seq}}}"#, id[0]);
            let ticket = sink.publish(id, chunk.as_bytes()).unwrap();
            assert!(!ticket.backlogged);
            last.insert(ticket.partition, ticket);
        }
    }
    for ticket in last.values() {
        sink.wait_durable(*ticket).await.unwrap();
    }
    assert_eq!(sink.progress().0, 30);

    let (mut seen, mut total) = (0, 0);
    for p in 0..3 {
        let bytes = read_all(&client, &chunk_partition(p)).await;
        total += bytes.len() as u64;
        let mut previous_clock = None;
        let mut next_seq: HashMap<String, u64> = HashMap::new();
        for line in bytes.split_inclusive(|&b| b == b'\n') {
            let uuid = extract_uuid(line).unwrap();
            assert_eq!(flags_of(&uuid), Flags::OUTSIDE_TXN);
            assert!(previous_clock < Some(clock_of(&uuid)), "byte order is UUID order");
            previous_clock = Some(clock_of(&uuid));
            let text = String::from_utf8_lossy(line);
            let id = text.split("\"ID\":\"").nth(1).unwrap()[..2].to_string();
            let id_byte = u8::from_str_radix(&id, 16).unwrap();
            assert_eq!(
                fnv1a32(&[id_byte; 16]) as usize % 3,
                p,
                "{id} is on the partition its id maps to"
            );
            let want = next_seq.entry(id).or_insert(1);
            assert!(text.contains(&format!("\"SeqNo\":{want}}}")), "{text}");
            *want += 1;
            seen += 1;
        }
    }
    assert_eq!(seen, 30);
    assert_eq!(sink.progress().1, total, "bytes appended are counted");
}

#[test]
fn transport_failures_are_retried_and_refusals_are_not() {
    assert!(is_retryable(&JournalError::Unavailable("tcp connect error".into())));
    assert!(is_retryable(&JournalError::Protocol(
        "Internal: h2 protocol error".into()
    )));
    assert!(!is_retryable(&JournalError::NotFound { journal: "j".into() }));
    assert!(!is_retryable(&JournalError::invalid("content")));
}

#[tokio::test]
async fn a_chunk_that_is_not_a_json_object_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let client = storage(dir.path(), 1);
    let (_stop_tx, stop) = watch::channel(false);
    let (sink, _tasks) = ChunkSink::start(
        Arc::new(client),
        ModuloMapping::new([chunk_partition(0)]).unwrap(),
        stop,
    );
    let err = sink.publish(&[1; 16], b"[1]").unwrap_err();
    assert!(
        err.starts_with("chunk for examples/stream-sum/chunks/part-000: "),
        "{err}"
    );
    assert_eq!(sink.progress().0, 0);
}

#[tokio::test]
async fn a_permanent_append_failure_is_reported_to_every_later_call() {
    let dir = tempfile::tempdir().unwrap();
    let client = storage(dir.path(), 1);
    let (_stop_tx, stop) = watch::channel(false);
    let mapping = ModuloMapping::new(["examples/stream-sum/chunks/missing"]).unwrap();
    let (sink, _tasks) = ChunkSink::start(Arc::new(client), mapping, stop);
    let ticket = sink.publish(&[1; 16], b"{}").unwrap();
    let err = sink.wait_durable(ticket).await.unwrap_err();
    assert!(
        err.starts_with("appending chunks to examples/stream-sum/chunks/missing: "),
        "{err}"
    );
    assert_eq!(sink.publish(&[1; 16], b"{}").unwrap_err(), err);
}
