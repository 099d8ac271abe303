//! Pruning (issue 6): `streamsum.admin.Admin/PruneFragments` deletes exactly the whole
//! fragments that end at or before an offset; the bytes after are intact (same SHA-1),
//! `ListFragments` shows what remains, a read below the first kept fragment jumps
//! forward to it as Gazette's does, a restart keeps the journal pruned (also after a
//! crash between the index compaction and the file removals), appends continue at the
//! head, and bad requests fail with errors naming the journal and offset. Also through
//! the real binary: `streamsum-host journals prune <journal> --before <offset>`.

mod broker_support;
mod support;

use std::process::Command;

use broker_support::*;
use futures::StreamExt;
use streamsum_host::journal::{AppendRequest, ApplyChange, FragmentFile, JournalClient, JournalError, LabelSet, ReadRequest};
use streamsum_host::service::proto;

const J: &str = "tests/pruned";

/// Creates J rolling fragments at 1 KiB and appends 6 × 700 bytes (fragments of 1,400
/// bytes: [0,1400) [1400,2800) [2800,4200)); the second append sets a register.
async fn filled(client: &impl JournalClient) -> Vec<u8> {
    let mut s = spec(J);
    s.fragment.length = 1024;
    client.apply(vec![ApplyChange::Upsert { spec: s, expect_mod_revision: 0 }]).await.unwrap();
    let mut all = Vec::new();
    for i in 0..6u32 {
        let content: Vec<u8> = (0..700u32).map(|j| ((i * 31 + j * 7) % 251) as u8).collect();
        let mut req = AppendRequest::new(J, content.clone());
        if i == 1 {
            req.union_registers = LabelSet::from_pairs([("author", "first-owner")]);
        }
        client.append(req).await.unwrap();
        all.extend(content);
    }
    all
}

/// The fragments ListFragments reports.
async fn listed(stub: &mut proto::journal_client::JournalClient<tonic::transport::Channel>) -> Vec<(i64, i64)> {
    let req = proto::FragmentsRequest { journal: J.into(), ..Default::default() };
    let resp = stub.list_fragments(req).await.unwrap().into_inner();
    resp.fragments.iter().map(|f| f.spec.as_ref().map(|s| (s.begin, s.end)).unwrap()).collect()
}

/// A non-blocking read from `offset`: where its content starts, and the bytes to the head.
async fn read_from(client: &impl JournalClient, offset: i64) -> (i64, Vec<u8>) {
    let mut stream = client.read(ReadRequest { journal: J.into(), offset, block: false, end_offset: 0 });
    let (mut first, mut out) = (None, Vec::new());
    while let Some(item) = stream.next().await {
        match item {
            Ok(c) => {
                let start = *first.get_or_insert(c.offset);
                assert_eq!(c.offset, start + out.len() as i64, "contiguous after the jump");
                out.extend_from_slice(&c.content);
            }
            Err(JournalError::OffsetNotYetAvailable { .. }) => break,
            Err(e) => panic!("read of {J}: {e}"),
        }
    }
    (first.unwrap_or(-1), out)
}

#[tokio::test]
async fn prune_drops_exactly_the_fragments_below_the_offset_and_survives_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), 0).await;
    let client = grpc(&broker);
    let all = filled(&client).await;
    let mut rpc = stub(&broker).await;
    assert_eq!(listed(&mut rpc).await, vec![(0, 1400), (1400, 2800), (2800, 4200)]);
    let jdir = broker.storage().journal(J).unwrap().dir().to_path_buf();
    let first_file = std::fs::read(jdir.join(FragmentFile::file_name(0))).unwrap();

    // 2799 lies inside the second fragment: only the first ends at or before it.
    let r = client.prune(J, 2799).await.unwrap();
    assert_eq!((r.removed.clone(), r.low, r.write_head, r.removed_bytes()), (vec![(0, 1400)], 1400, 4200, 1400));
    assert_eq!(listed(&mut rpc).await, vec![(1400, 2800), (2800, 4200)]);
    assert!(!jdir.join(FragmentFile::file_name(0)).exists(), "the fragment file is gone");

    // A read at 0 (or anywhere below 1400) jumps to 1400; the rest is intact.
    for from in [0, 1000] {
        let (at, bytes) = read_from(&client, from).await;
        assert_eq!(at, 1400);
        assert_eq!(sha1_hex(&bytes), sha1_hex(&all[1400..]));
    }
    // On the wire, Gazette's way: the metadata frame's offset is the jumped one.
    let req = proto::ReadRequest { journal: J.into(), offset: 0, metadata_only: true, ..Default::default() };
    let frame = rpc.read(req).await.unwrap().into_inner().message().await.unwrap().unwrap();
    let fragment = frame.fragment.unwrap();
    assert_eq!((frame.status, frame.offset, fragment.begin, fragment.end, frame.write_head), (0, 1400, 1400, 2800, 4200));
    // The same through the in-process client.
    let (at, bytes) = read_from(&broker.client(), 0).await;
    assert_eq!((at, bytes.len()), (1400, all.len() - 1400));

    // Restart: still pruned, registers kept, appends continue at the head.
    broker.shutdown().await.unwrap();
    let broker = start(dir.path(), 0).await;
    let client = grpc(&broker);
    let mut rpc = stub(&broker).await;
    assert_eq!(listed(&mut rpc).await, vec![(1400, 2800), (2800, 4200)]);
    let (at, bytes) = read_from(&client, 0).await;
    assert_eq!((at, sha1_hex(&bytes)), (1400, sha1_hex(&all[1400..])));
    let next = client.append(AppendRequest::new(J, "more")).await.unwrap();
    assert_eq!((next.begin, next.registers.value_of("author")), (4200, Some("first-owner")));

    // Everything up to the head: every fragment goes; reads start at the head.
    let r = client.prune(J, 4204).await.unwrap();
    assert_eq!((r.removed, r.low), (vec![(1400, 2800), (2800, 4200), (4200, 4204)], 4204));
    assert!(listed(&mut rpc).await.is_empty());
    assert_eq!(read_from(&client, 0).await, (-1, vec![]));
    let next = client.append(AppendRequest::new(J, "after")).await.unwrap();
    assert_eq!(next.begin, 4204);
    assert_eq!(read_from(&client, 0).await, (4204, b"after".to_vec()));

    // A prune that crashed after compacting the index left a file below the mark:
    // reopening removes it and serves only [4204, head).
    broker.shutdown().await.unwrap();
    std::fs::write(jdir.join(FragmentFile::file_name(0)), &first_file).unwrap();
    // And one that crashed before installing its compacted index left the temporary.
    std::fs::write(jdir.join(".index.log.tmp"), b"half-written").unwrap();
    let broker = start(dir.path(), 0).await;
    assert!(!jdir.join(FragmentFile::file_name(0)).exists(), "a leftover below the mark is removed on open");
    assert!(!jdir.join(".index.log.tmp").exists(), "so is an uninstalled compacted index");
    assert_eq!(read_from(&grpc(&broker), 0).await, (4204, b"after".to_vec()));
    assert_eq!(listed(&mut stub(&broker).await).await, vec![(4204, 4209)]);
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_prune_requests_are_refused_naming_the_journal_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), 0).await;
    let client = grpc(&broker);
    filled(&client).await;
    let err = client.prune("tests/missing", 10).await.unwrap_err();
    assert!(matches!(&err, JournalError::NotFound { journal } if journal == "tests/missing"), "{err}");
    let err = client.prune(J, 5000).await.unwrap_err();
    assert_eq!(err.to_string(), "invalid request: journal \"tests/pruned\": prune offset 5000 is not within [0, write head 4200]");
    assert!(client.prune(J, -3).await.is_err());
    // Nothing qualifies below the first fragment's end: nothing is removed.
    let r = client.prune(J, 1399).await.unwrap();
    assert_eq!((r.removed, r.low), (vec![], 0));
    broker.shutdown().await.unwrap();
}

// The broker runs in this test's runtime while the CLI process is waited for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journals_prune_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), 0).await;
    filled(&grpc(&broker)).await;
    let run = |args: &[&str]| {
        Command::new(support::host_bin())
            .args(["journals", "--broker", &broker.url(), "prune"])
            .args(args)
            .env("STREAMSUM_LOG", "warn")
            .output()
            .unwrap()
    };
    let out = run(&[J, "--before", "2800"]);
    assert!(out.status.success(), "{}", support::describe(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        r#"{"journal":"tests/pruned","low":2800,"removed_bytes":2800,"removed_fragments":[[0,1400],[1400,2800]],"write_head":4200}"#
    );
    let out = run(&[J, "--before", "9999"]);
    assert_eq!(out.status.code(), Some(1), "{}", support::describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pruning journal \"tests/pruned\" before offset 9999") && err.contains("write head 4200"), "{err}");
    let out = run(&["tests/nope", "--before", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("journal \"tests/nope\" not found"), "{}", support::describe(&out));
    broker.shutdown().await.unwrap();
}
