//! The stream-sum pipeline in one process: the embedded broker, the real
//! `guest_summer.wasm` in every shard, chunks appended through the journal client, and
//! the sums journal read back raw and read-committed.
//!
//! Needs the guest built: `scripts/build-guests.sh` (the test command does it).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use sha1::{Digest, Sha1};
use streamsum_host::app::{AppArgs, Service};
use streamsum_host::journal::{AppendRequest, JournalClient, ReadRequest};
use streamsum_host::message::{Envelope, Flags, FrameDecoder, ModuloMapping, Publisher, Sequencer};
use streamsum_model::{encode_chunk, StreamId, Sum, SUMS_JOURNAL};

/// How long a test waits for sums before failing.
const PATIENCE: Duration = Duration::from_secs(30);

fn guest_summer() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let target = exe.ancestors().nth(3).expect("target directory").to_path_buf();
    let candidates = [target.join("wasm/guest_summer.wasm"), target.join("wasm32-wasip2/release/guest_summer.wasm")];
    candidates
        .iter()
        .find(|p| p.exists())
        .cloned()
        .unwrap_or_else(|| panic!("guest_summer.wasm not found in {candidates:?}: run scripts/build-guests.sh"))
}

/// The service's arguments as the command line would give them (so every other flag
/// keeps its default).
fn args(data_dir: &std::path::Path) -> AppArgs {
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        app: AppArgs,
    }
    let app = guest_summer();
    let argv: Vec<&std::ffi::OsStr> = vec![
        "streamsum-host".as_ref(),
        "--app".as_ref(),
        app.as_os_str(),
        "--data-dir".as_ref(),
        data_dir.as_os_str(),
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--metrics-listen".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--partitions".as_ref(),
        "2".as_ref(),
    ];
    <Cli as clap::Parser>::parse_from(argv).app
}

/// Publishes chunks the way the chunker does: committed, mapped by stream id.
struct Chunks {
    client: Arc<dyn JournalClient>,
    publisher: Publisher,
    mapping: ModuloMapping,
}

impl Chunks {
    fn new(client: Arc<dyn JournalClient>, partitions: usize) -> Self {
        let names = (0..partitions).map(|i| format!("examples/stream-sum/chunks/part-{i:03}"));
        Chunks { client, publisher: Publisher::with_own_clock(), mapping: ModuloMapping::new(names).unwrap() }
    }

    /// Frames chunk `seq_no` of `id` (committed) and returns (journal, framed bytes).
    fn frame(&mut self, id: &StreamId, seq_no: u64, data: &[u8]) -> (String, Vec<u8>) {
        let mut json = Vec::new();
        encode_chunk(id, seq_no, data, &mut json);
        let journal = self.mapping.map(id.as_bytes()).to_owned();
        self.publisher.publish_committed(&journal, &json).unwrap();
        let mut appends = self.publisher.take_appends();
        (journal, appends.remove(0).bytes)
    }

    async fn append(&self, journal: &str, bytes: Vec<u8>) {
        self.client.append(AppendRequest::new(journal, bytes)).await.unwrap();
    }

    /// Publishes a whole stream: data chunks then the final empty chunk.
    async fn stream(&mut self, id: &StreamId, parts: &[&[u8]]) {
        for (i, part) in parts.iter().enumerate() {
            let (journal, bytes) = self.frame(id, i as u64 + 1, part);
            self.append(&journal, bytes).await;
        }
        let (journal, bytes) = self.frame(id, parts.len() as u64 + 1, b"");
        self.append(&journal, bytes).await;
    }
}

fn stream_id(n: u8) -> StreamId {
    StreamId([n; 16])
}

fn sha1_of(parts: &[&[u8]]) -> [u8; 20] {
    let mut h = Sha1::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// Reads the sums journal read-committed from offset 0 until `want` sums arrived;
/// returns every committed sum seen by then and the raw envelopes.
async fn committed_sums(client: &dyn JournalClient, want: usize) -> (Vec<Sum>, Vec<Envelope>) {
    let read = async {
        let mut seq = Sequencer::new([], [], 0);
        let mut decoder = FrameDecoder::new(SUMS_JOURNAL, 0);
        let mut stream = client.read(ReadRequest { journal: SUMS_JOURNAL.into(), offset: 0, block: true, end_offset: 0 });
        let (mut sums, mut raw) = (Vec::new(), Vec::new());
        while sums.len() < want {
            let chunk = stream.next().await.expect("read ended").expect("read failed");
            decoder.push(&chunk.content);
            while let Some(frame) = decoder.next_frame() {
                let env = frame.expect("sums journal holds only messages");
                raw.push(env.clone());
                if seq.queue_uncommitted(env).unwrap().commits() {
                    while let Some(env) = seq.step().unwrap() {
                        sums.push(Sum::parse(&env.message).unwrap());
                    }
                }
            }
        }
        (sums, raw)
    };
    tokio::time::timeout(PATIENCE, read).await.expect("sums did not arrive in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_stream_gets_one_sum_equal_to_the_sha1_of_its_content() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::start(&args(dir.path())).await.unwrap();
    let mut chunks = Chunks::new(service.client(), 2);

    let streams: Vec<(StreamId, Vec<&[u8]>)> = vec![
        (stream_id(1), vec![b"battery", b" horse"]),
        (stream_id(2), vec![b"battery horse"]),
        (stream_id(3), vec![]),
        (stream_id(4), vec![b"a"; 50]),
    ];
    for (id, parts) in &streams {
        chunks.stream(id, parts).await;
    }
    let (sums, raw) = committed_sums(&*service.client(), streams.len()).await;
    for (id, parts) in &streams {
        let got: Vec<&Sum> = sums.iter().filter(|s| s.id == *id).collect();
        assert_eq!(got.len(), 1, "stream {id:?} must have exactly one sum: {got:?}");
        assert_eq!(got[0].sha1, sha1_of(parts), "sum of stream {id:?}");
        assert_eq!(got[0].seq_no, parts.len() as u64 + 1);
    }
    // On the wire: sums are CONTINUE_TXN messages, committed by ACK_TXN messages.
    assert!(raw.iter().any(|e| e.flags() == Flags::CONTINUE_TXN));
    assert!(raw.iter().any(|e| e.flags() == Flags::ACK_TXN));
    assert!(raw.iter().all(|e| e.flags() == Flags::CONTINUE_TXN || e.flags() == Flags::ACK_TXN), "{raw:?}");
    service.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_appended_twice_is_consumed_once() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::start(&args(dir.path())).await.unwrap();
    let mut chunks = Chunks::new(service.client(), 2);
    let id = stream_id(7);
    let (journal, first) = chunks.frame(&id, 1, b"battery");
    chunks.append(&journal, first.clone()).await;
    chunks.append(&journal, first).await; // Same UUID: a duplicate delivery.
    let (journal, second) = chunks.frame(&id, 2, b" horse");
    chunks.append(&journal, second).await;
    let (journal, end) = chunks.frame(&id, 3, b"");
    chunks.append(&journal, end).await;

    let (sums, _) = committed_sums(&*service.client(), 1).await;
    assert_eq!(sums[0].sha1, sha1_of(&[b"battery horse"]));
    assert!(service.shards().iter().all(|s| s.last_error.is_none()), "{:?}", service.shards());
    service.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_line_is_skipped_and_other_streams_continue() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::start(&args(dir.path())).await.unwrap();
    let mut chunks = Chunks::new(service.client(), 2);
    let (a, b) = (stream_id(1), stream_id(2));
    let (journal, bytes) = chunks.frame(&a, 1, b"first");
    chunks.append(&journal, bytes).await;
    // Garbage in both partitions, between chunks of live streams.
    for p in 0..2 {
        chunks.append(&format!("examples/stream-sum/chunks/part-{p:03}"), b"this is not json\n".to_vec()).await;
        chunks.append(&format!("examples/stream-sum/chunks/part-{p:03}"), b"{\"no\":\"uuid\"}\n".to_vec()).await;
    }
    chunks.stream(&b, &[b"other"]).await;
    let (journal, bytes) = chunks.frame(&a, 2, b"");
    chunks.append(&journal, bytes).await;

    let (sums, _) = committed_sums(&*service.client(), 2).await;
    let sum_of = |id| sums.iter().find(|s| s.id == id).unwrap().sha1;
    assert_eq!(sum_of(a), sha1_of(&[b"first"]));
    assert_eq!(sum_of(b), sha1_of(&[b"other"]));
    service.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_service_continues_every_stream_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<StreamId> = (1..=6).map(stream_id).collect();
    let data = |id: &StreamId, seq: u64| format!("{}-{seq};", id.0[0]).into_bytes();

    // First life: chunks 1..=3 of every stream, then stop at once (the last
    // transaction may or may not have committed).
    let service = Service::start(&args(dir.path())).await.unwrap();
    let mut chunks = Chunks::new(service.client(), 2);
    for seq in 1..=3 {
        for id in &ids {
            let (journal, bytes) = chunks.frame(id, seq, &data(id, seq));
            chunks.append(&journal, bytes).await;
        }
    }
    service.stop().await.unwrap();

    // Second life: the rest, and the final chunks.
    let service = Service::start(&args(dir.path())).await.unwrap();
    let mut chunks = Chunks::new(service.client(), 2);
    for seq in 4..=6 {
        for id in &ids {
            let (journal, bytes) = chunks.frame(id, seq, &data(id, seq));
            chunks.append(&journal, bytes).await;
        }
    }
    for id in &ids {
        let (journal, bytes) = chunks.frame(id, 7, b"");
        chunks.append(&journal, bytes).await;
    }
    let (sums, _) = committed_sums(&*service.client(), ids.len()).await;
    for id in &ids {
        let parts: Vec<Vec<u8>> = (1..=6).map(|s| data(id, s)).collect();
        let parts: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
        let got: Vec<&Sum> = sums.iter().filter(|s| s.id == *id).collect();
        assert_eq!(got.len(), 1, "one sum for {id:?}");
        assert_eq!(got[0].sha1, sha1_of(&parts), "sum of {id:?}");
    }
    assert!(service.shards().iter().all(|s| s.last_error.is_none()), "{:?}", service.shards());
    service.stop().await.unwrap();
}
