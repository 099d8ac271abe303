//! The read-committed reader (issue 4 item 5) over the broker's Read, in process and
//! over gRPC: only committed messages, exactly once, no ACKs, replays from the
//! journal when the ring is small, resumption across a broker restart, and
//! `streamsum-host journals read --committed`.

use std::sync::Arc;

use streamsum_host::journal::{AppendRequest, JournalClient};
use streamsum_host::message::{
    AtomicClock, Clock, CommittedReader, ProducerId, Publisher, ReaderError, SequencerState,
};
use streamsum_host::service::{EmbeddedBroker, EmbeddedOptions, GrpcJournalClient};

const JOURNAL: &str = "examples/stream-sum/chunks/part-000";

async fn start(dir: &std::path::Path, listener: tokio::net::TcpListener) -> EmbeddedBroker {
    EmbeddedBroker::start(dir, listener, EmbeddedOptions { partitions: 1, ..Default::default() }).await.unwrap()
}

async fn append(client: &dyn JournalClient, bytes: Vec<u8>) {
    client.append(AppendRequest::new(JOURNAL, bytes)).await.unwrap();
}

fn publisher(id: u8, clock: &Arc<AtomicClock>) -> Publisher {
    Publisher::with_producer(ProducerId([1, 0, 0, 0, 0, id]), clock.clone(), false)
}

fn body(n: u64) -> Vec<u8> {
    format!("{{\"n\":{n}}}").into_bytes()
}

/// Writes a journal mixing committed publishes, a committed transaction (with a
/// duplicated append), a rolled-back one and a garbage line. Returns the committed `n`s
/// in the order a reader must deliver them.
async fn write_mixed(client: &dyn JournalClient) -> Vec<u64> {
    let clock = Arc::new(AtomicClock::new(Clock(1 << 30)));
    let (mut chunker, mut shard) = (publisher(1, &clock), publisher(2, &clock));

    chunker.publish_committed(JOURNAL, &body(1)).unwrap();
    shard.publish_uncommitted(JOURNAL, &body(100)).unwrap();
    let first = shard.take_appends().remove(0).bytes;
    append(client, first.clone()).await;
    append(client, chunker.take_appends().remove(0).bytes).await;
    append(client, first).await; // a retried append: duplicate
    shard.publish_uncommitted(JOURNAL, &body(101)).unwrap();
    append(client, shard.take_appends().remove(0).bytes).await;
    append(client, b"not a message\n".to_vec()).await;
    let intents = shard.build_ack_intents();
    append(client, intents[0].intent.clone()).await; // commits 100, 101

    // The next transaction crashes before its checkpoint: its message is written,
    // and the recovered shard re-sends the previous ACK, rolling it back.
    shard.publish_uncommitted(JOURNAL, &body(666)).unwrap();
    append(client, shard.take_appends().remove(0).bytes).await;
    chunker.publish_committed(JOURNAL, &body(2)).unwrap();
    append(client, chunker.take_appends().remove(0).bytes).await;
    append(client, intents[0].intent.clone()).await;
    vec![1, 100, 101, 2]
}

async fn read_all(mut reader: CommittedReader) -> (Vec<u64>, usize) {
    let (mut out, mut bad) = (Vec::new(), 0);
    loop {
        match reader.next().await {
            Ok(Some(env)) => {
                assert!(!env.is_ack());
                let v: serde_json::Value = serde_json::from_slice(&env.message).unwrap();
                assert_eq!(v["UUID"].as_str().unwrap(), env.uuid.to_string());
                out.push(v["n"].as_u64().unwrap());
            }
            Ok(None) => return (out, bad),
            Err(ReaderError::Decode(e)) => {
                assert!(e.to_string().starts_with(&format!("journal {JOURNAL} [")), "{e}");
                bad += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
}

#[tokio::test]
async fn committed_reader_delivers_committed_messages_in_process_and_over_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()).await;
    let want = write_mixed(&broker.client()).await;

    let local: Arc<dyn JournalClient> = Arc::new(broker.client());
    let grpc: Arc<dyn JournalClient> = Arc::new(GrpcJournalClient::new(&broker.url()).unwrap());
    for client in [local, grpc] {
        assert_eq!(read_all(CommittedReader::new(client.clone(), JOURNAL, 0, false)).await, (want.clone(), 1));
        // A one-envelope ring forces the committed transaction to be replayed from the journal.
        let small = CommittedReader::from_state(client.clone(), JOURNAL, SequencerState::default(), 1, false);
        assert_eq!(read_all(small).await, (want.clone(), 1));
    }
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_missing_journal_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()).await;
    let mut reader = CommittedReader::new(Arc::new(broker.client()), "no/such/journal", 0, false);
    let err = reader.next().await.unwrap_err();
    assert!(matches!(err, ReaderError::Journal { .. }), "{err}");
    assert!(err.to_string().starts_with("reading journal no/such/journal at offset 0"), "{err}");
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_blocking_committed_reader_survives_a_broker_restart() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let broker = start(dir.path(), listener).await;
    let client: Arc<dyn JournalClient> = Arc::new(GrpcJournalClient::new(&broker.url()).unwrap());

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut reader = CommittedReader::new(client, JOURNAL, 0, true);
    let task = tokio::spawn(async move {
        while let Ok(Some(env)) = reader.next().await {
            let v: serde_json::Value = serde_json::from_slice(&env.message).unwrap();
            if tx.send(v["n"].as_u64().unwrap()).is_err() {
                return;
            }
        }
    });

    let clock = Arc::new(AtomicClock::new(Clock(1 << 30)));
    let mut p = publisher(3, &clock);
    for n in 1..=3 {
        p.publish_committed(JOURNAL, &body(n)).unwrap();
    }
    append(&broker.client(), p.take_appends().remove(0).bytes).await;
    for n in 1..=3 {
        assert_eq!(rx.recv().await, Some(n));
    }

    broker.shutdown().await.unwrap();
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let broker = start(dir.path(), listener).await;
    // A transaction of another producer: its message, a committed one, then its ACK.
    let mut shard = publisher(4, &clock);
    shard.publish_uncommitted(JOURNAL, &body(4)).unwrap();
    append(&broker.client(), shard.take_appends().remove(0).bytes).await;
    p.publish_committed(JOURNAL, &body(5)).unwrap();
    append(&broker.client(), p.take_appends().remove(0).bytes).await;
    assert_eq!(rx.recv().await, Some(5));
    append(&broker.client(), shard.build_ack_intents().remove(0).intent).await;
    assert_eq!(rx.recv().await, Some(4));

    task.abort();
    broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn journals_read_committed_prints_only_committed_frames() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()).await;
    let want = write_mixed(&broker.client()).await;
    let url = broker.url();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_streamsum-host"))
            .args(["journals", "read", "--committed", "--broker", &url, JOURNAL])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let got: Vec<u64> =
        stdout.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["n"].as_u64().unwrap()).collect();
    assert_eq!(got, want);
    assert!(stdout.lines().all(|l| l.starts_with("{\"UUID\":\"")));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("skipping journal examples/stream-sum/chunks/part-000 ["), "{stderr}");
    broker.shutdown().await.unwrap();
}
