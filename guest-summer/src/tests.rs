//! Unit tests of the Summer, run under wasmtime by `streamsum-guest-test`
//! (`cargo test --target wasm32-wasip2 -p guest-summer`).
//!
//! They call the exported `consume`/`finalize-txn` exactly as the host would, against
//! the runner's in-memory store and publisher, and check outcomes through the test-only
//! `testing` interface: the exact published JSON, the exact store contents, and
//! SHA-1 digests computed independently with the `sha1` crate.

use sha1::{Digest, Sha1};
use streamsum_model::{encode_chunk, StreamId, Sum, SumState, SUMS_JOURNAL};

use crate::exports::streamsum::plugin::consumer::Guest;
use crate::streamsum::plugin::testing;
use crate::streamsum::plugin::types::{Batch, Envelope};
use crate::{summer, Component};

const JOURNAL: &str = "examples/stream-sum/chunks/part-003";
const A: StreamId = StreamId([0xaa; 16]);
const B: StreamId = StreamId([0xbb; 16]);

/// Resets the runner's in-memory host and the guest's Summer.
fn fresh() {
    testing::reset();
    summer::with(|s| s.reset());
}

/// The JSON line of a chunk as the host frames it (UUID stamped, newline).
fn chunk(id: StreamId, seq_no: u64, data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    encode_chunk(&id, seq_no, data, &mut body);
    let mut frame = b"{\"UUID\":\"a747c01e-2c29-11ea-8000-010203040506\",".to_vec();
    frame.extend_from_slice(&body[1..]);
    frame.push(b'\n');
    frame
}

/// A packed batch of `frames` from [`JOURNAL`], the first one at offset `first`.
fn batch_at(first: u64, frames: &[Vec<u8>]) -> Batch {
    let mut envelopes = Vec::new();
    let mut packed = Vec::new();
    let mut begin = first;
    for f in frames {
        let end = begin + f.len() as u64;
        envelopes.push(Envelope { begin, end });
        packed.extend_from_slice(f);
        begin = end;
    }
    Batch { journal: JOURNAL.to_string(), envelopes, frames: packed }
}

fn batch(frames: &[Vec<u8>]) -> Batch {
    batch_at(1000, frames)
}

fn sha1(data: &[u8]) -> [u8; 20] {
    Sha1::digest(data).into()
}

/// The Sums published since the last call, checking they went to the sums journal.
fn published_sums() -> Vec<Sum> {
    testing::take_published()
        .into_iter()
        .map(|(journal, msg)| {
            assert_eq!(journal, SUMS_JOURNAL);
            Sum::parse(&msg).expect("published sums parse")
        })
        .collect()
}

#[test]
fn battery_horse_in_one_chunk_or_two_gives_the_sha1_of_the_concatenation() {
    fresh();
    let frames = [
        chunk(A, 1, b"battery horse"),
        chunk(B, 1, b"battery"),
        chunk(A, 2, b""),
        chunk(B, 2, b" horse"),
        chunk(B, 3, b""),
    ];
    Component::consume(batch(&frames)).unwrap();
    let want = sha1(b"battery horse");
    assert_eq!(
        published_sums(),
        vec![Sum { id: A, seq_no: 2, sha1: want }, Sum { id: B, seq_no: 3, sha1: want }]
    );
    let hex = "4b177dc1bb6960eddba2d012b9e29ef727b1d593";
    assert_eq!(published_json_after(A, 2, b"battery horse"), format!(
        "{{\"ID\":\"{A}\",\"SeqNo\":2,\"SHA1\":\"{hex}\"}}"
    ));
}

/// Publishes a one-chunk stream `id` in a fresh summer and returns the exact JSON.
fn published_json_after(id: StreamId, seq_no: u64, data: &[u8]) -> String {
    fresh();
    let frames: Vec<Vec<u8>> = (1..seq_no).map(|s| chunk(id, s, data)).chain([chunk(id, seq_no, b"")]).collect();
    Component::consume(batch(&frames)).unwrap();
    let mut published = testing::take_published();
    assert_eq!(published.len(), 1);
    String::from_utf8(published.remove(0).1).unwrap()
}

#[test]
fn a_final_sum_is_published_once_and_only_at_the_end_of_its_stream() {
    fresh();
    let data: Vec<u8> = (0..=255).collect();
    Component::consume(batch(&[chunk(A, 1, &data), chunk(A, 2, &data)])).unwrap();
    Component::consume(batch_at(2000, &[chunk(A, 3, &data)])).unwrap();
    assert!(testing::take_published().is_empty(), "no sum before the final chunk");
    Component::finalize_txn().unwrap();

    Component::consume(batch_at(3000, &[chunk(A, 4, b"")])).unwrap();
    let all: Vec<u8> = [&data[..], &data[..], &data[..]].concat();
    assert_eq!(published_sums(), vec![Sum { id: A, seq_no: 4, sha1: sha1(&all) }]);
    Component::finalize_txn().unwrap();

    // The final chunk again, or anything after it, is refused and publishes nothing.
    let err = Component::consume(batch_at(4000, &[chunk(A, 4, b"")])).unwrap_err();
    assert!(err.contains("chunk seq_no 4 arrived after the stream ended at seq_no 4"), "{err}");
    let err = Component::consume(batch_at(4000, &[chunk(A, 5, b"more")])).unwrap_err();
    assert!(err.contains("chunk seq_no 5 arrived after the stream ended at seq_no 4"), "{err}");
    assert!(testing::take_published().is_empty());
}

#[test]
fn an_out_of_order_chunk_is_rejected_naming_journal_offset_stream_and_both_seq_nos() {
    fresh();
    let frames = [chunk(A, 1, b"one"), chunk(A, 3, b"three")];
    let offset = 1000 + frames[0].len();
    let err = Component::consume(batch(&frames)).unwrap_err();
    assert_eq!(
        err,
        format!("journal {JOURNAL} offset {offset}: stream {A}: chunk seq_no 3 is out of order: last applied seq_no is 1, expected 2")
    );
}

#[test]
fn a_duplicate_chunk_is_rejected_even_across_transactions() {
    fresh();
    Component::consume(batch(&[chunk(A, 1, b"one"), chunk(A, 2, b"two")])).unwrap();
    Component::finalize_txn().unwrap();
    let err = Component::consume(batch_at(5000, &[chunk(A, 2, b"two")])).unwrap_err();
    assert_eq!(
        err,
        format!("journal {JOURNAL} offset 5000: stream {A}: chunk seq_no 2 is out of order: last applied seq_no is 2, expected 3")
    );
}

#[test]
fn a_chunk_of_a_foreign_stream_joining_mid_stream_is_rejected() {
    fresh();
    // B was never started on this shard: its chunks belong to another partition's
    // history (or were lost), so seq_no 7 cannot be applied.
    let err = Component::consume(batch(&[chunk(A, 1, b"a"), chunk(B, 7, b"b")])).unwrap_err();
    assert!(err.contains(&format!("stream {B}: chunk seq_no 7 is out of order: last applied seq_no is 0, expected 1")), "{err}");
}

#[test]
fn a_chunk_whose_stored_state_belongs_to_a_foreign_stream_is_rejected() {
    fresh();
    // A's committed state, misfiled under B's key (a corrupt or tampered store).
    Component::consume(batch(&[chunk(A, 1, b"a")])).unwrap();
    Component::finalize_txn().unwrap();
    let (_, a_value) = testing::store_contents().remove(0);
    crate::streamsum::plugin::store::put(&B.0, &a_value);
    let err = Component::consume(batch_at(7000, &[chunk(B, 2, b"b")])).unwrap_err();
    assert_eq!(err, format!("journal {JOURNAL} offset 7000: chunk of stream {B} applied to the state of stream {A}"));
    assert!(testing::take_published().is_empty());
}

#[test]
fn a_failed_batch_publishes_nothing_writes_nothing_and_forgets_the_transaction() {
    fresh();
    Component::consume(batch(&[chunk(B, 1, b"committed?")])).unwrap();
    // A completes inside the failing batch: its sum must not be published.
    let frames = [chunk(A, 1, b"x"), chunk(A, 2, b""), b"{not json\n".to_vec()];
    assert!(Component::consume(batch(&frames)).is_err());
    assert!(testing::take_published().is_empty());
    assert_eq!(summer::with(|s| s.cached_streams()), 0, "the aborted transaction's cache is dropped");
    Component::finalize_txn().unwrap();
    assert!(testing::store_contents().is_empty(), "nothing of the aborted transaction is written");
    // The shard retries from its checkpoint: the same chunks apply cleanly.
    Component::consume(batch(&[chunk(B, 1, b"committed?"), chunk(A, 1, b"x"), chunk(A, 2, b"")])).unwrap();
    assert_eq!(published_sums(), vec![Sum { id: A, seq_no: 2, sha1: sha1(b"x") }]);
}

#[test]
fn finalize_txn_flushes_the_cache_into_the_store() {
    fresh();
    Component::consume(batch(&[chunk(A, 1, b"battery"), chunk(B, 1, b"staple"), chunk(A, 2, b" horse")])).unwrap();
    assert!(testing::store_contents().is_empty(), "nothing is written before finalize-txn");
    Component::finalize_txn().unwrap();
    assert_eq!(summer::with(|s| s.cached_streams()), 0);

    let contents = testing::store_contents();
    let keys: Vec<&[u8]> = contents.iter().map(|(k, _)| k.as_slice()).collect();
    assert_eq!(keys, vec![&A.0[..], &B.0[..]]);
    let a = SumState::decode(A, &contents[0].1).unwrap();
    let b = SumState::decode(B, &contents[1].1).unwrap();
    assert_eq!((a.seq_no, a.ended, a.sum().sha1), (2, false, sha1(b"battery horse")));
    assert_eq!((b.seq_no, b.ended, b.sum().sha1), (1, false, sha1(b"staple")));

    // The next transaction resumes from the store, not from guest memory.
    summer::with(|s| s.reset());
    Component::consume(batch_at(9000, &[chunk(A, 3, b"")])).unwrap();
    assert_eq!(published_sums(), vec![Sum { id: A, seq_no: 3, sha1: sha1(b"battery horse") }]);
    Component::finalize_txn().unwrap();
    let ended = SumState::decode(A, &testing::store_contents()[0].1).unwrap();
    assert!(ended.ended, "final states are kept, as in Gazette");
}

#[test]
fn bad_input_is_an_error_naming_journal_and_offset() {
    let good = chunk(A, 1, b"ok");
    let offset = 1000 + good.len();
    let cases: Vec<(Vec<u8>, String)> = vec![
        (b"this is not json\n".to_vec(), "invalid chunk JSON".into()),
        (b"\xff\xfe\n".to_vec(), "invalid chunk JSON".into()),
        (b"{\"ID\":\"0123\",\"SeqNo\":2,\"Data\":\"AA==\"}\n".to_vec(), "malformed stream id \"0123\"".into()),
        (format!("{{\"ID\":\"{A}\",\"SeqNo\":2,\"Data\":\"%%%\"}}\n").into_bytes(), format!("stream {A} seq_no 2: Data is not valid base64")),
        (format!("{{\"ID\":\"{A}\",\"Data\":\"AA==\"}}\n").into_bytes(), "chunk has no SeqNo field".into()),
    ];
    for (frame, want) in cases {
        fresh();
        let err = Component::consume(batch(&[good.clone(), frame.clone()])).unwrap_err();
        let prefix = format!("journal {JOURNAL} offset {offset}: ");
        assert!(err.starts_with(&prefix) && err.contains(&want), "{:?}: {err}", String::from_utf8_lossy(&frame));
    }
}

#[test]
fn acknowledgements_are_skipped() {
    fresh();
    let ack = b"{\"UUID\":\"a747c01e-2c29-11ea-9402-010203040506\"}\n".to_vec();
    Component::consume(batch(&[ack.clone(), chunk(A, 1, b"a"), ack, chunk(A, 2, b"")])).unwrap();
    assert_eq!(published_sums(), vec![Sum { id: A, seq_no: 2, sha1: sha1(b"a") }]);
}

#[test]
fn an_inconsistent_batch_layout_is_refused_before_any_effect() {
    fresh();
    let mut b = batch(&[chunk(A, 1, b"a"), chunk(A, 2, b"")]);
    b.frames.pop();
    let err = Component::consume(b).unwrap_err();
    assert!(err.starts_with(&format!("journal {JOURNAL} offset 1000: malformed batch")), "{err}");
    let mut b = batch(&[chunk(A, 1, b"a")]);
    b.envelopes[0].end = b.envelopes[0].begin - 1;
    assert!(Component::consume(b).unwrap_err().contains("malformed batch"));
    assert!(testing::take_published().is_empty());
}
