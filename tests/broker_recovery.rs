//! Crash recovery: torn tails written by hand are truncated on reopen, never served,
//! and the journal stays appendable. Checked over real gRPC after the reopen.

mod broker_support;

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use broker_support::*;
use streamsum_host::journal::{AppendRequest, FragmentFile, JournalClient, INDEX_FILE};

const J: &str = "examples/stream-sum/chunks/part-000";

/// Commits two appends, shuts down, and returns the journal's directory.
async fn committed_journal(dir: &Path) -> PathBuf {
    let broker = start(dir, 1).await;
    let client = grpc(&broker);
    client.append(AppendRequest::new(J, "hello\n")).await.unwrap();
    client.append(AppendRequest::new(J, "world\n")).await.unwrap();
    let jdir = broker.storage().journal(J).unwrap().dir().to_path_buf();
    broker.shutdown().await.unwrap();
    jdir
}

fn append_to(path: &Path, bytes: &[u8]) {
    OpenOptions::new().append(true).open(path).unwrap().write_all(bytes).unwrap();
}

fn fragment0(jdir: &Path) -> PathBuf {
    jdir.join(FragmentFile::file_name(0))
}

/// Reopens, checks that exactly the committed bytes are served, and that appends
/// continue right after them.
async fn assert_recovered(dir: &Path, jdir: &Path, committed: &[u8]) {
    let broker = start(dir, 1).await;
    let client = grpc(&broker);
    assert_eq!(read_all(&client, J).await, committed);
    assert_eq!(std::fs::metadata(fragment0(jdir)).unwrap().len(), committed.len() as u64, "tail truncated on disk");
    let next = client.append(AppendRequest::new(J, "again\n")).await.unwrap();
    assert_eq!(next.begin, committed.len() as i64);
    let mut want = committed.to_vec();
    want.extend_from_slice(b"again\n");
    assert_eq!(read_all(&client, J).await, want);
    broker.shutdown().await.unwrap();
    // And the result is itself durable and clean.
    let broker = start(dir, 1).await;
    assert_eq!(read_all(&grpc(&broker), J).await, want);
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn fragment_bytes_without_an_index_record_are_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let jdir = committed_journal(dir.path()).await;
    append_to(&fragment0(&jdir), b"torn partial append without its record");
    assert_recovered(dir.path(), &jdir, b"hello\nworld\n").await;
}

#[tokio::test]
async fn a_half_written_index_record_is_dropped_with_its_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let jdir = committed_journal(dir.path()).await;
    // The bytes of a third append reached the fragment, its record only in part.
    let index = jdir.join(INDEX_FILE);
    let full = std::fs::read(&index).unwrap();
    let record_len = full.len() / 2; // two equal-sized records
    append_to(&fragment0(&jdir), b"third\n");
    append_to(&index, &full[record_len..record_len + 20]);
    assert_recovered(dir.path(), &jdir, b"hello\nworld\n").await;
}

#[tokio::test]
async fn an_indexed_append_whose_bytes_did_not_reach_the_disk_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let jdir = committed_journal(dir.path()).await;
    // Simulate a crash where the index record of the last append persisted but its
    // data pages did not: zero the last append's bytes.
    let frag = fragment0(&jdir);
    let mut bytes = std::fs::read(&frag).unwrap();
    bytes[6..].fill(0);
    std::fs::write(&frag, &bytes).unwrap();
    assert_recovered(dir.path(), &jdir, b"hello\n").await;
}

#[tokio::test]
async fn garbage_after_the_index_and_a_missing_tail_are_both_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let jdir = committed_journal(dir.path()).await;
    append_to(&jdir.join(INDEX_FILE), &[0xAB; 64]);
    let frag = fragment0(&jdir);
    let bytes = std::fs::read(&frag).unwrap();
    std::fs::write(&frag, &bytes[..9]).unwrap(); // "world\n" only partly on disk
    assert_recovered(dir.path(), &jdir, b"hello\n").await;
}

#[tokio::test]
async fn fragments_roll_at_the_spec_length_and_reads_span_them() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), 0).await;
    let client = grpc(&broker);
    let mut s = spec("tests/rolling");
    s.fragment.length = 1024;
    client
        .apply(vec![streamsum_host::journal::ApplyChange::Upsert { spec: s, expect_mod_revision: 0 }])
        .await
        .unwrap();
    let mut want = Vec::new();
    for i in 0..40 {
        let rec = format!("{i:04} {}\n", "r".repeat(100 + i));
        client.append(AppendRequest::new("tests/rolling", rec.clone())).await.unwrap();
        want.extend_from_slice(rec.as_bytes());
    }
    let frags = broker.storage().journal("tests/rolling").unwrap().fragments();
    assert!(frags.len() >= 4, "rolled into several fragment files: {frags:?}");
    assert!(frags.windows(2).all(|w| w[0].1 == w[1].0), "fragments are contiguous");
    assert_eq!(read_all(&client, "tests/rolling").await, want);
    broker.shutdown().await.unwrap();
    let broker = start(dir.path(), 0).await;
    assert_eq!(read_all(&grpc(&broker), "tests/rolling").await, want);
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_second_broker_on_the_same_data_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), 1).await;
    let err = streamsum_host::journal::Storage::open(dir.path()).err().expect("second open refused");
    assert!(err.to_string().contains("is another broker using this data dir?"), "{err}");
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_storage_without_shutdown_keeps_acknowledged_appends_and_frees_the_dir() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..5u8 {
        let storage = streamsum_host::journal::Storage::open(dir.path()).unwrap();
        storage.create_missing(streamsum_host::journal::defaults::stream_sum_specs(1)).unwrap();
        let client = streamsum_host::journal::LocalClient::new(storage.clone());
        client.append(AppendRequest::new(J, vec![b'0' + round; 3])).await.unwrap();
        drop(client);
        drop(storage); // no shutdown: the sync thread and the lock must still go away
    }
    let storage = streamsum_host::journal::Storage::open(dir.path()).unwrap();
    let client = streamsum_host::journal::LocalClient::new(storage);
    assert_eq!(read_all(&client, J).await, b"000111222333444");
}
