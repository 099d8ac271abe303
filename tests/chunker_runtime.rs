//! The chunker world's host side (`runtime::chunker`) with the real
//! `guest_chunker.wasm` and a host written here: time the guest spends blocked in a
//! host call is not held against its call deadline, and the guest's publishes and
//! verification go through the `journals` import as the contract says.

mod support;

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use streamsum_host::runtime::chunker::{ChunkerConfig, Report};
use streamsum_host::runtime::{
    CallError, ChunkerHost, ChunkerInstance, ChunkerPlugin, ComponentCache, Limits, PluginEngine,
};
use streamsum_model::{parse_chunk, Message, StreamId, SumState};
use support::wasm;

/// A summer inside the test: sums the published chunks natively and hands each final
/// Sum out only `delay` after its stream's final chunk, honouring `next-sum`'s timeout.
struct SlowSummer {
    /// Running state per stream.
    states: HashMap<StreamId, SumState>,
    /// Final sums, each with the instant it may be handed out.
    ready: VecDeque<(Instant, Vec<u8>)>,
    /// How long a sum takes.
    delay: Duration,
    /// The longest single `next-sum` call so far.
    longest_wait: std::sync::Arc<std::sync::Mutex<Duration>>,
}

impl ChunkerHost for SlowSummer {
    fn partitions(&self) -> u32 {
        2
    }

    fn publish_chunk(&mut self, stream_id: &[u8], chunk: &[u8]) -> Result<(), String> {
        let Message::Chunk(chunk) = parse_chunk(chunk).map_err(|e| e.to_string())? else {
            return Err("an ACK where a chunk was expected".into());
        };
        assert_eq!(
            chunk.id.as_bytes(),
            stream_id,
            "the routing key is the chunk's stream id"
        );
        let mut data = Vec::new();
        chunk.decode_data(&mut data).map_err(|e| e.to_string())?;
        let state = self.states.entry(chunk.id).or_insert_with(|| SumState::new(chunk.id));
        if state.update(&chunk, &data).map_err(|e| e.to_string())? {
            self.ready
                .push_back((Instant::now() + self.delay, state.sum().to_json()));
        }
        Ok(())
    }

    fn next_sum(&mut self, timeout: Duration) -> Result<Option<Vec<u8>>, String> {
        let started = Instant::now();
        let deadline = started + timeout;
        let result = match self.ready.front() {
            Some((at, _)) if *at <= deadline => {
                std::thread::sleep(at.saturating_duration_since(Instant::now()));
                Ok(self.ready.pop_front().map(|(_, sum)| sum))
            }
            _ => {
                std::thread::sleep(timeout);
                Ok(None)
            }
        };
        let mut longest = self.longest_wait.lock().unwrap();
        *longest = (*longest).max(started.elapsed());
        result
    }

    fn read_file(&mut self, file: u32, _offset: u64, _max_len: u32) -> Result<Vec<u8>, String> {
        Err(format!("no file {file}"))
    }
}

fn plugin(dir: &std::path::Path) -> ChunkerPlugin {
    let engine = PluginEngine::new().unwrap();
    let cache = ComponentCache::new(engine, dir.join("cache"));
    let path = wasm("guest_chunker.wasm");
    ChunkerPlugin::load_blocking(&cache, &std::fs::read(&path).unwrap(), &path.display().to_string()).unwrap()
}

fn config(streams: i64, chunks: u32, sla_ms: u64) -> ChunkerConfig {
    ChunkerConfig {
        worker: 0,
        streams,
        chunks,
        chunk_size: 32,
        sla_ms,
        files: Vec::new(),
    }
}

fn run(
    plugin: &ChunkerPlugin,
    limits: Limits,
    delay: Duration,
    config: &ChunkerConfig,
) -> (Result<Report, CallError>, Duration) {
    let longest = std::sync::Arc::default();
    let host = SlowSummer {
        states: HashMap::new(),
        ready: VecDeque::new(),
        delay,
        longest_wait: std::sync::Arc::clone(&longest),
    };
    let mut instance = ChunkerInstance::instantiate(plugin, "test-worker", limits, Box::new(host)).unwrap();
    let result = instance.run(config);
    let longest = *longest.lock().unwrap();
    (result, longest)
}

#[test]
fn host_waits_longer_than_the_call_timeout_do_not_interrupt_the_guest() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = plugin(dir.path());
    // Each sum takes 600 ms; the guest may run only 200 ms at a time.
    let limits = Limits {
        call_timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let started = Instant::now();
    let (report, longest) = run(&plugin, limits, Duration::from_millis(600), &config(3, 4, 10_000));
    let report = report.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(1800),
        "three sums of 600 ms each, one after the other"
    );
    assert!(
        longest > Duration::from_millis(200),
        "a single host wait outlasted the call timeout: {longest:?}"
    );
    assert_eq!((report.streams, report.chunks, report.bytes), (3, 15, 3 * 4 * 32));
    assert!(
        report.latencies_us.iter().all(|&us| us >= 600_000),
        "{:?}",
        report.latencies_us
    );
}

#[test]
fn a_sum_past_the_sla_fails_the_run_with_the_guests_reason() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = plugin(dir.path());
    let (result, _) = run(&plugin, Limits::default(), Duration::from_secs(60), &config(1, 1, 300));
    match result {
        Err(CallError::Guest { call: "run", text }) => {
            assert!(
                text.starts_with("chunker worker 0: timeout waiting for the sum of stream "),
                "{text}"
            );
            assert!(text.ends_with("none within the SLA of 300ms"), "{text}");
        }
        other => panic!("expected the guest's SLA failure, got {other:?}"),
    }
}
