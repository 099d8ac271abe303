//! Appends and reads over real gRPC: atomicity under concurrency, blocking reads,
//! rollback, register fencing, Read framing.

mod broker_support;

use std::time::Duration;

use broker_support::*;
use bytes::Bytes;
use sha1::{Digest, Sha1};
use streamsum_host::journal::{AppendRequest, ApplyChange, JournalClient, JournalError, LabelSelector, LabelSet};
use streamsum_host::service::proto;
use streamsum_host::service::MAX_READ_CONTENT;

const J: &str = "examples/stream-sum/sums";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_from_many_clients_never_interleave_and_all_become_readable() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), 1).await;
    let mut tasks = Vec::new();
    for c in 0..32 {
        let client = grpc(&broker); // each task its own connection
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for s in 0..10 {
                // Records of varied length so interleaving could not go unnoticed.
                let body = format!("client-{c:02} seq-{s} {}\n", "x".repeat(50 + c * 37 + s * 101));
                let r = client.append(AppendRequest::new(J, body.clone())).await.unwrap();
                assert_eq!(r.sha1, <[u8; 20]>::from(Sha1::digest(body.as_bytes())));
                out.push((r.begin, r.end, body));
            }
            out
        }));
    }
    let mut commits = Vec::new();
    for t in tasks {
        commits.extend(t.await.unwrap());
    }
    commits.sort();
    let journal = read_all(&grpc(&broker), J).await;
    let mut expect = Vec::new();
    for (begin, end, body) in &commits {
        assert_eq!(*begin as usize, expect.len(), "appends are contiguous, no gaps or overlaps");
        assert_eq!(&journal[*begin as usize..*end as usize], body.as_bytes(), "append at {begin} intact");
        expect.extend_from_slice(body.as_bytes());
    }
    assert_eq!(commits.len(), 320);
    assert_eq!(sha1_hex(&journal), sha1_hex(&expect));
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_reader_blocked_at_the_head_wakes_on_commit() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), 1).await;
    let mut stub = stub(&broker).await;
    let req = proto::ReadRequest { journal: J.into(), offset: 0, block: true, ..Default::default() };
    let mut stream = stub.read(req).await.unwrap().into_inner();
    // Nothing is committed: the blocking read answers nothing (no status frame).
    assert!(tokio::time::timeout(Duration::from_millis(200), stream.message()).await.is_err());

    grpc(&broker).append(AppendRequest::new(J, "woken\n")).await.unwrap();
    let meta = stream.message().await.unwrap().unwrap();
    assert_eq!((meta.status, meta.offset, meta.write_head), (0, 0, 6));
    let frag = meta.fragment.unwrap();
    assert_eq!((frag.begin, frag.end, frag.compression_codec), (0, 6, proto::CompressionCodec::None as i32));
    let etcd = meta.header.unwrap().etcd.unwrap();
    assert!(etcd.cluster_id != 0 && etcd.member_id != 0 && etcd.raft_term != 0 && etcd.revision > 0);
    let content = stream.message().await.unwrap().unwrap();
    assert_eq!((content.offset, &content.content[..]), (0, &b"woken\n"[..]));
    assert!(content.header.is_none() && content.fragment.is_none() && content.write_head == 0);
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn read_frames_carry_at_most_32736_bytes_and_end_with_offset_not_yet_available() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), 1).await;
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    grpc(&broker).append(AppendRequest::new(J, data.clone())).await.unwrap();

    let mut stub = stub(&broker).await;
    let req = proto::ReadRequest { journal: J.into(), offset: 10, ..Default::default() };
    let mut stream = stub.read(req).await.unwrap().into_inner();
    let first = stream.message().await.unwrap().unwrap();
    assert!(first.header.is_some() && first.fragment.is_some());
    assert_eq!((first.offset, first.write_head), (10, 100_000));
    let mut got = Vec::new();
    let mut sizes = Vec::new();
    let last = loop {
        let f = stream.message().await.unwrap().unwrap();
        if f.content.is_empty() {
            break f;
        }
        assert!(f.content.len() <= MAX_READ_CONTENT);
        assert_eq!(f.offset as usize, 10 + got.len());
        sizes.push(f.content.len());
        got.extend_from_slice(&f.content);
    };
    assert_eq!(MAX_READ_CONTENT, 32_736);
    assert_eq!(sizes[0], 32_736);
    assert_eq!(got, data[10..]);
    assert_eq!(last.status, proto::Status::OffsetNotYetAvailable as i32);
    assert_eq!((last.offset, last.write_head), (100_000, 100_000));
    assert!(stream.message().await.unwrap().is_none());
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_append_stream_ending_without_the_empty_frame_is_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), 1).await;
    let client = grpc(&broker);
    client.append(AppendRequest::new(J, "kept\n")).await.unwrap();

    let frames = vec![
        proto::AppendRequest { journal: J.into(), ..Default::default() },
        proto::AppendRequest { content: Bytes::from_static(b"never committed\n"), ..Default::default() },
    ];
    let err = stub(&broker).await.append(futures::stream::iter(frames)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Aborted, "{err:?}");
    assert!(err.message().contains("rolled back"), "{}", err.message());

    assert_eq!(client.barrier(J).await.unwrap(), 5, "the write head did not move");
    assert_eq!(read_all(&client, J).await, b"kept\n");
    let next = client.append(AppendRequest::new(J, "next\n")).await.unwrap();
    assert_eq!((next.begin, next.end), (5, 10));
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn frames_in_the_wrong_order_are_refused_with_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), 1).await;
    let first = || proto::AppendRequest { journal: J.into(), ..Default::default() };
    let content = |b: &'static [u8]| proto::AppendRequest { content: Bytes::from_static(b), ..Default::default() };
    let cases: Vec<(&str, Vec<proto::AppendRequest>)> = vec![
        ("first frame may not carry content", vec![proto::AppendRequest { journal: J.into(), content: Bytes::from_static(b"x"), ..Default::default() }]),
        ("only content", vec![first(), content(b"a"), proto::AppendRequest { journal: J.into(), content: Bytes::from_static(b"b"), ..Default::default() }]),
        ("expected EOF after the empty content chunk", vec![first(), content(b"a"), proto::AppendRequest::default(), content(b"b")]),
        ("ended before its first frame", vec![]),
        ("is not a clean relative path", vec![proto::AppendRequest { journal: "/bad//name".into(), ..Default::default() }]),
    ];
    for (want, frames) in cases {
        let err = stub(&broker).await.append(futures::stream::iter(frames)).await.unwrap_err();
        assert!(err.message().contains(want), "want {want:?}, got {:?}: {}", err.code(), err.message());
    }
    let client = grpc(&broker);
    assert_eq!(client.barrier(J).await.unwrap(), 0, "nothing was appended");
    let missing = client.append(AppendRequest::new("no/such/journal", "x")).await.unwrap_err();
    assert!(matches!(missing, JournalError::NotFound { .. }), "{missing:?}");
    assert!(!missing.is_transient());
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn register_fencing_rejects_a_stale_writer_with_register_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), 1).await;
    let log = "examples/stream-sum/recovery-logs/chunks-part-000";
    let client = grpc(&broker);
    let author = |a: &str| LabelSet::from_pairs([("author", a)]);
    let fenced = |a: &str, new: &str, body: &'static str| AppendRequest {
        check_registers: Some(LabelSelector::including(author(a))),
        union_registers: author(new),
        ..AppendRequest::new(log, body)
    };
    // Writer A claims the empty log (an empty register set matches any selector).
    let a = client.append(fenced("A", "A", "a1\n")).await.unwrap();
    assert_eq!(a.registers, author("A"));
    // B takes over, fencing on A's registration.
    let b = client.append(fenced("A", "B", "b1\n")).await.unwrap();
    assert_eq!(b.registers, author("B"));
    // A, stale, is refused and told the current registers.
    match client.append(fenced("A", "A", "a2\n")).await.unwrap_err() {
        JournalError::RegisterMismatch { registers, .. } => assert_eq!(registers, author("B")),
        other => panic!("expected REGISTER_MISMATCH, got {other:?}"),
    }
    // Raw response: REGISTER_MISMATCH carries registers; OK carries commit + registers.
    let frames = vec![
        proto::AppendRequest {
            journal: log.into(),
            check_registers: Some(proto::LabelSelector {
                include: Some(proto::LabelSet { labels: vec![proto::Label { name: "author".into(), value: "A".into(), prefix: false }] }),
                exclude: None,
            }),
            ..Default::default()
        },
        proto::AppendRequest { content: Bytes::from_static(b"a3\n"), ..Default::default() },
        proto::AppendRequest::default(),
    ];
    let resp = stub(&broker).await.append(futures::stream::iter(frames)).await.unwrap().into_inner();
    assert_eq!(resp.status, proto::Status::RegisterMismatch as i32);
    assert_eq!(resp.registers.unwrap().labels[0].value, "B");
    assert_eq!(read_all(&client, log).await, b"a1\nb1\n", "the stale write left nothing");

    // Registers persist across a restart.
    broker.shutdown().await.unwrap();
    let broker = start(dir.path(), 1).await;
    let stale = grpc(&broker).append(fenced("A", "A", "a4\n")).await.unwrap_err();
    assert!(matches!(stale, JournalError::RegisterMismatch { .. }), "{stale:?}");
    let union_without_content = AppendRequest { union_registers: author("C"), ..AppendRequest::new(log, "") };
    assert!(grpc(&broker).append(union_without_content).await.is_err());
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_read_only_journal_refuses_appends_with_not_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), 0).await;
    let client = grpc(&broker);
    let mut s = spec("tests/read-only");
    s.flags = streamsum_host::journal::flags::O_RDONLY;
    client.apply(vec![ApplyChange::Upsert { spec: s, expect_mod_revision: 0 }]).await.unwrap();
    let err = client.append(AppendRequest::new("tests/read-only", "x")).await.unwrap_err();
    assert!(matches!(err, JournalError::NotAllowed { .. }), "{err:?}");
    broker.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_share_fdatasync_rounds() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), 8).await;
    let client = broker.client();
    let before = broker.storage().sync_rounds();
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let client = client.clone();
            // Spread over all 8 partitions: group commit spans journals too.
            let journal = format!("examples/stream-sum/chunks/part-{:03}", i % 8);
            tokio::spawn(async move { client.append(AppendRequest::new(journal, format!("record {i}\n"))).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let rounds = broker.storage().sync_rounds() - before;
    assert!((1..64).contains(&rounds), "64 appends took {rounds} sync rounds");
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_unreachable_broker_is_a_transient_error_and_limits_are_enforced() {
    // Bind then drop a listener: connecting to its port is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let client = streamsum_host::service::GrpcJournalClient::new(&format!("http://127.0.0.1:{port}")).unwrap();
    let err = client.append(AppendRequest::new(J, "x")).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");

    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let opts = streamsum_host::service::EmbeddedOptions { partitions: 1, max_append_bytes: 1024, ..Default::default() };
    let broker = streamsum_host::service::EmbeddedBroker::start(dir.path(), listener, opts).await.unwrap();
    let client = grpc(&broker);
    client.append(AppendRequest::new(J, vec![b'a'; 1024])).await.unwrap();
    let err = client.append(AppendRequest::new(J, vec![b'b'; 1025])).await.unwrap_err();
    assert!(err.to_string().contains("exceeds the broker's limit of 1024 bytes"), "{err}");
    assert_eq!(client.barrier(J).await.unwrap(), 1024);
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn reads_honour_end_offset_metadata_only_meta_suffix_and_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), 1).await;
    let client = grpc(&broker);
    client.append(AppendRequest::new(J, "0123456789")).await.unwrap();
    let mut stub = stub(&broker).await;

    let req = proto::ReadRequest { journal: format!("{J};meta"), offset: 2, end_offset: 5, ..Default::default() };
    let mut s = stub.read(req).await.unwrap().into_inner();
    assert!(s.message().await.unwrap().unwrap().fragment.is_some());
    assert_eq!(&s.message().await.unwrap().unwrap().content[..], b"234");
    assert!(s.message().await.unwrap().is_none(), "the read ends at end_offset");

    let req = proto::ReadRequest { journal: J.into(), offset: 4, metadata_only: true, ..Default::default() };
    let mut s = stub.read(req).await.unwrap().into_inner();
    let meta = s.message().await.unwrap().unwrap();
    assert_eq!((meta.offset, meta.write_head, meta.fragment.unwrap().end), (4, 10, 10));
    assert!(s.message().await.unwrap().is_none());

    // Offset -1 starts at the head: a blocking read there sees only new appends. The
    // RPC's response headers come once the broker has resolved -1 to the head, so the
    // append below cannot race ahead of it.
    let req = proto::ReadRequest { journal: J.into(), offset: -1, block: true, ..Default::default() };
    let mut tail = stub.read(req).await.unwrap().into_inner();
    client.append(AppendRequest::new(J, "new")).await.unwrap();
    let meta = tail.message().await.unwrap().unwrap();
    assert_eq!((meta.offset, meta.write_head), (10, 13), "{meta:?}");
    let chunk = if meta.content.is_empty() { tail.message().await.unwrap().unwrap() } else { meta };
    assert_eq!((chunk.offset, &chunk.content[..]), (10, &b"new"[..]));
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_cancels_a_stalled_append_and_loses_nothing_committed() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let opts = streamsum_host::service::EmbeddedOptions { partitions: 1, shutdown_grace: Duration::from_millis(100), ..Default::default() };
    let broker = streamsum_host::service::EmbeddedBroker::start(dir.path(), listener, opts).await.unwrap();
    grpc(&broker).append(AppendRequest::new(J, "committed\n")).await.unwrap();
    // An appender that sends its first frame and some content, then stalls forever.
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(proto::AppendRequest { journal: J.into(), ..Default::default() }).await.unwrap();
    tx.send(proto::AppendRequest { content: Bytes::from_static(b"stalled"), ..Default::default() }).await.unwrap();
    let mut raw = stub(&broker).await;
    let stalled = tokio::spawn(async move { raw.append(tokio_stream_from(rx)).await });
    // Wait until the broker holds the append open (its content frame was received).
    while tx.capacity() < 4 {
        tokio::task::yield_now().await;
    }
    // Shutdown completes after the (short) grace period despite the stalled RPC.
    tokio::time::timeout(Duration::from_secs(10), broker.shutdown()).await.unwrap().unwrap();
    let err = stalled.await.unwrap().unwrap_err();
    assert!(err.message().contains("rolled back: the broker is shutting down"), "{err:?}");
    drop(tx);
    let broker = start(dir.path(), 1).await;
    assert_eq!(read_all(&grpc(&broker), J).await, b"committed\n");
    broker.shutdown().await.unwrap();
}

fn tokio_stream_from(mut rx: tokio::sync::mpsc::Receiver<proto::AppendRequest>) -> impl futures::Stream<Item = proto::AppendRequest> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_content_frame_is_refused_and_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), 1).await;
    let big = Bytes::from(vec![b'o'; streamsum_host::service::MAX_FRAME_BYTES + 1]);
    let frames = vec![
        proto::AppendRequest { journal: J.into(), ..Default::default() },
        proto::AppendRequest { content: big, ..Default::default() },
        proto::AppendRequest::default(),
    ];
    let err = stub(&broker).await.append(futures::stream::iter(frames)).await.unwrap_err();
    assert!(err.message().contains("rolled back") && err.message().contains("too large"), "{err:?}");
    assert_eq!(grpc(&broker).barrier(J).await.unwrap(), 0);
    broker.shutdown().await.unwrap();
}
