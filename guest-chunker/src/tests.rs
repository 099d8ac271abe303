//! Unit tests of the chunker, run under wasmtime by `streamsum-guest-test`
//! (`cargo test --target wasm32-wasip2 -p guest-chunker`).
//!
//! Two kinds: the exported `run` against the runner's in-memory journals (its native
//! summer answers `next-sum`), checked through `testing.take-chunks` and SHA-1
//! computed independently with the `sha1` crate; and the worker loop against
//! [`FakeEnv`], a simulated clock and summer, for the SLA, warning and mismatch
//! paths without waiting on real time.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use sha1::{Digest, Sha1};
use streamsum_model::{modulo_partition, parse_chunk, Message, StreamId, Sum, SumState};

use crate::env::Env;
use crate::rng::Rng;
use crate::streamsum::plugin::chunker_types::{ChunkerConfig, InputFile};
use crate::streamsum::plugin::{journals, testing};
use crate::verify::warning_point;
use crate::{worker, Component, Guest};

fn config(streams: i64, chunks: u32, chunk_size: u32, sla_ms: u64) -> ChunkerConfig {
    ChunkerConfig { worker: 0, streams, chunks, chunk_size, sla_ms, files: Vec::new() }
}

/// Published chunks grouped by stream, in publish order: (partition, seq_no, data).
fn chunks_by_stream() -> BTreeMap<StreamId, Vec<(u32, u64, Vec<u8>)>> {
    let mut streams: BTreeMap<StreamId, Vec<(u32, u64, Vec<u8>)>> = BTreeMap::new();
    for (partition, json) in testing::take_chunks() {
        let Ok(Message::Chunk(c)) = parse_chunk(&json) else { panic!("published a non-chunk") };
        let mut data = Vec::new();
        c.decode_data(&mut data).unwrap();
        streams.entry(c.id).or_default().push((partition, c.seq_no, data));
    }
    streams
}

#[test]
fn each_stream_is_chunks_plus_one_chunks_numbered_from_1_with_the_expected_sum() {
    testing::reset();
    let report = Component::run(config(4, 5, 32, 10_000)).unwrap();
    assert_eq!((report.streams, report.chunks, report.bytes), (4, 24, 4 * 5 * 32));
    assert_eq!(report.latencies_us.len(), 4);
    assert!(report.p50_us <= report.p99_us && report.p99_us <= report.max_us);

    let streams = chunks_by_stream();
    assert_eq!(streams.len(), 4);
    for (id, chunks) in &streams {
        let seqs: Vec<u64> = chunks.iter().map(|c| c.1).collect();
        assert_eq!(seqs, (1..=6).collect::<Vec<u64>>(), "stream {id}");
        assert!(chunks[..5].iter().all(|c| c.2.len() == 32));
        assert!(chunks[5].2.is_empty(), "the last chunk is the empty final chunk");
        let partition = modulo_partition(id, journals::partitions()).unwrap();
        assert!(chunks.iter().all(|c| c.0 == partition), "ModuloMapping routes the whole stream");
        // The run verified this stream's sum against the runner's native summer;
        // check the expected sum independently too.
        let mut state = SumState::new(*id);
        for (_, seq_no, data) in chunks {
            let frame = format!("{{\"ID\":\"{id}\",\"SeqNo\":{seq_no},\"Data\":{}}}", b64(data));
            let Ok(Message::Chunk(c)) = parse_chunk(frame.as_bytes()) else { panic!() };
            state.update(&c, data).unwrap();
        }
        let all: Vec<u8> = chunks.iter().flat_map(|c| c.2.clone()).collect();
        assert_eq!(state.sum().sha1, <[u8; 20]>::from(Sha1::digest(&all)));
    }
}

fn b64(data: &[u8]) -> String {
    if data.is_empty() {
        return "null".into();
    }
    let mut out = Vec::new();
    streamsum_model::encode_chunk(&StreamId::default(), 1, data, &mut out);
    let text = String::from_utf8(out).unwrap();
    text[text.find("\"Data\":").unwrap() + 7..text.len() - 1].to_string()
}

#[test]
fn files_mode_streams_each_file_and_reports_the_published_sum() {
    testing::reset();
    let big: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
    testing::set_files(&[b"battery horse".to_vec(), big.clone(), Vec::new()]);
    let mut cfg = config(99, 99, 4, 10_000);
    cfg.files = ["a.txt", "big.bin", "empty"]
        .iter()
        .zip([13u64, 1000, 0])
        .map(|(p, size)| InputFile { path: p.to_string(), size })
        .collect();
    let report = Component::run(cfg).unwrap();

    let hex = |d: &[u8]| Sum { id: StreamId::default(), seq_no: 0, sha1: Sha1::digest(d).into() }.sha1_hex();
    let got: Vec<(String, String)> = report.files.iter().map(|f| (f.path.clone(), f.sha1.clone())).collect();
    assert_eq!(
        got,
        vec![
            ("a.txt".into(), "4b177dc1bb6960eddba2d012b9e29ef727b1d593".into()),
            ("big.bin".into(), hex(&big)),
            ("empty".into(), "da39a3ee5e6b4b0d3255bfef95601890afd80709".into()),
        ]
    );
    assert_eq!(report.streams, 3, "streams and chunks settings are ignored in files mode");
    assert_eq!(report.bytes, 1013);
    // ceil(13/4) + 1, ceil(1000/4) + 1, 0 + 1 chunks.
    assert_eq!(report.chunks, 5 + 251 + 1);
    let mut sizes: Vec<usize> = chunks_by_stream().values().map(Vec::len).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, vec![1, 5, 251]);
}

#[test]
fn a_file_that_changed_size_fails_the_run() {
    testing::reset();
    testing::set_files(&[b"short".to_vec()]);
    let mut cfg = config(1, 1, 4, 10_000);
    cfg.files = vec![InputFile { path: "f".into(), size: 9 }];
    let err = Component::run(cfg).unwrap_err();
    assert_eq!(
        err,
        "chunker worker 0: input file f ended at 5 bytes but had 9 when the job started: it changed while being streamed"
    );
}

#[test]
fn no_sum_within_the_sla_fails_the_run_and_foreign_sums_are_skipped() {
    testing::reset();
    testing::set_auto_sum(false);
    let foreign = Sum { id: StreamId([9; 16]), seq_no: 2, sha1: [1; 20] };
    testing::push_sum(&foreign.to_json());
    let err = Component::run(config(1, 1, 8, 150)).unwrap_err();
    assert!(err.starts_with("chunker worker 0: timeout waiting for the sum of stream "), "{err}");
    assert!(err.contains("(seq_no 2): none within the SLA of 150ms"), "{err}");
}

#[test]
fn a_zero_chunk_size_is_refused() {
    testing::reset();
    let err = Component::run(config(1, 1, 0, 1000)).unwrap_err();
    assert_eq!(err, "chunker worker 0: chunk-size must be at least 1 byte");
}

#[test]
fn warnings_follow_gazettes_schedule() {
    let ms: Vec<u128> = (0..14).map(|n| warning_point(n).as_millis()).collect();
    assert_eq!(
        ms,
        vec![100, 250, 500, 1000, 2000, 4000, 6000, 8000, 10_000, 15_000, 20_000, 25_000, 30_000, 35_000]
    );
}

/// A simulated host: a clock that only moves when the worker waits, and a summer
/// whose sums become readable `delay` after a stream's final chunk.
struct FakeEnv {
    /// Simulated time.
    now: Cell<Duration>,
    /// How long after its final chunk a stream's Sum becomes readable.
    delay: Duration,
    /// Per-stream states of the simulated summer.
    states: HashMap<StreamId, SumState>,
    /// Sums and the time they become readable, in order.
    sums: Vec<(Duration, Sum)>,
    /// Changes a computed Sum before it is published (to simulate a faulty summer).
    tamper: fn(&mut Sum),
    /// Extra Sums to publish together with each computed one.
    also: fn(&Sum) -> Vec<Sum>,
    /// Warnings logged, with the simulated time.
    warnings: Vec<(Duration, String)>,
    /// Ids handed out so far.
    ids: u8,
}

impl FakeEnv {
    fn new(delay_ms: u64) -> Self {
        FakeEnv {
            now: Cell::new(Duration::ZERO),
            delay: Duration::from_millis(delay_ms),
            states: HashMap::new(),
            sums: Vec::new(),
            tamper: |_| {},
            also: |_| Vec::new(),
            warnings: Vec::new(),
            ids: 0,
        }
    }
}

impl Env for FakeEnv {
    fn publish_chunk(&mut self, id: &StreamId, chunk: &[u8]) -> Result<(), String> {
        let Ok(Message::Chunk(c)) = parse_chunk(chunk) else { return Err("not a chunk".into()) };
        assert_eq!(c.id, *id);
        let mut data = Vec::new();
        c.decode_data(&mut data).map_err(|e| e.to_string())?;
        let state = self.states.entry(c.id).or_insert_with(|| SumState::new(c.id));
        if state.update(&c, &data).map_err(|e| e.to_string())? {
            let at = self.now.get() + self.delay;
            let mut sum = state.sum();
            for extra in (self.also)(&sum) {
                self.sums.push((at, extra));
            }
            (self.tamper)(&mut sum);
            self.sums.push((at, sum));
        }
        Ok(())
    }

    fn next_sum(&mut self, timeout: Duration) -> Result<Option<Vec<u8>>, String> {
        let limit = self.now.get() + timeout;
        match self.sums.first() {
            Some((at, _)) if *at <= limit => {
                let (at, sum) = self.sums.remove(0);
                self.now.set(self.now.get().max(at));
                Ok(Some(sum.to_json()))
            }
            _ => {
                self.now.set(limit);
                Ok(None)
            }
        }
    }

    fn read_file(&mut self, file: u32, _offset: u64, _max_len: u32) -> Result<Vec<u8>, String> {
        Err(format!("no file {file}"))
    }

    fn now(&self) -> Duration {
        self.now.get()
    }

    fn warn(&mut self, message: &str) {
        self.warnings.push((self.now.get(), message.to_string()));
    }

    fn new_stream_id(&mut self) -> Result<StreamId, String> {
        self.ids += 1;
        Ok(StreamId([self.ids; 16]))
    }
}

#[test]
fn a_sum_within_the_sla_is_verified_after_the_warnings_it_crossed() {
    let mut env = FakeEnv::new(300);
    let report = worker::run(&mut env, &mut Rng::from_seed(1), &config(2, 3, 16, 1000)).unwrap();
    assert_eq!((report.streams, report.chunks), (2, 8));
    assert_eq!(report.latencies_us, vec![300_000, 300_000]);
    let at: Vec<u128> = env.warnings.iter().map(|w| w.0.as_millis()).collect();
    assert_eq!(at, vec![100, 250, 400, 550], "two warnings per wait, at 100 and 250 ms into it");
    assert!(env.warnings[0].1.starts_with(&format!("still waiting for the sum of stream {}", StreamId([1; 16]))));
}

#[test]
fn a_late_sum_fails_the_run_at_the_sla_after_every_warning() {
    let mut env = FakeEnv::new(10_000);
    let err = worker::run(&mut env, &mut Rng::from_seed(1), &config(1, 1, 16, 3_000)).unwrap_err();
    assert_eq!(
        err,
        format!("timeout waiting for the sum of stream {} (seq_no 2): none within the SLA of 3s", StreamId([1; 16]))
    );
    let at: Vec<u128> = env.warnings.iter().map(|w| w.0.as_millis()).collect();
    assert_eq!(at, vec![100, 250, 500, 1000, 2000]);
    assert_eq!(env.now().as_millis(), 3000, "fails exactly at the SLA");
}

#[test]
fn a_mismatched_sum_fails_the_run_naming_both_sums() {
    let mut env = FakeEnv::new(5);
    env.tamper = |s| s.sha1[0] ^= 0xff;
    let err = worker::run(&mut env, &mut Rng::from_seed(1), &config(1, 2, 16, 1000)).unwrap_err();
    let id = StreamId([1; 16]);
    let want = env.states[&id].sum();
    let mut bad = want;
    bad.sha1[0] ^= 0xff;
    assert_eq!(
        err,
        format!("mis-matched sum for stream {id}: expected seq_no 3 sha1 {}, got seq_no 3 sha1 {}", want.sha1_hex(), bad.sha1_hex())
    );
    let mut env = FakeEnv::new(5);
    env.tamper = |s| s.seq_no += 1;
    let err = worker::run(&mut env, &mut Rng::from_seed(1), &config(1, 2, 16, 1000)).unwrap_err();
    assert!(err.contains("got seq_no 4 sha1"), "{err}");
}

#[test]
fn a_duplicated_sum_fails_the_run() {
    let mut env = FakeEnv::new(5);
    // Every sum is published twice: the second copy shows up while waiting for the
    // next stream.
    env.also = |s| vec![*s];
    let err = worker::run(&mut env, &mut Rng::from_seed(1), &config(2, 1, 8, 1000)).unwrap_err();
    assert!(err.starts_with("duplicated sum for stream "), "{err}");
}

#[test]
fn sums_of_other_workers_streams_are_skipped() {
    let mut env = FakeEnv::new(5);
    env.also = |s| vec![Sum { id: StreamId([0xee; 16]), seq_no: 7, sha1: s.sha1 }];
    let report = worker::run(&mut env, &mut Rng::from_seed(1), &config(3, 2, 8, 1000)).unwrap();
    assert_eq!(report.streams, 3);
}
