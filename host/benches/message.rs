//! Benchmark (issue 4 item 6): framing + sequencing throughput of 180-byte chunk
//! messages from 4 producers, next to a same-run baseline that only splits lines and
//! parses each one into a struct with serde_json.
//!
//! Run (the dev profile reuses the already-built dependencies; this crate is
//! optimised):
//! ```text
//! cargo bench -p streamsum-host --bench message --profile dev \
//!   --config 'profile.dev.package.streamsum-host.opt-level=3' \
//!   --config 'profile.dev.package.streamsum-host.debug-assertions=false' \
//!   --config 'profile.dev.package.streamsum-host.overflow-checks=false'
//! ```
//! Prints a table and writes `bench/results/message.json`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use serde::Deserialize;
use streamsum_host::message::{AtomicClock, Clock, FrameDecoder, ProducerId, Publisher, Sequencer};

const MESSAGES: usize = 400_000;
const PRODUCERS: usize = 4;
const TXN_SIZE: usize = 64;
const ROUNDS: usize = 5;
const JOURNAL: &str = "examples/stream-sum/chunks/part-000";

/// A stream-sum chunk, as the baseline parses it.
#[derive(Deserialize)]
#[allow(non_snake_case, dead_code)]
struct Chunk {
    UUID: String,
    ID: [u8; 16],
    SeqNo: u64,
    Data: Option<String>,
}

/// Guest payloads (no UUID yet): `{"ID":[…16…],"SeqNo":n,"Data":"<base64>"}`.
fn payloads() -> Vec<Vec<u8>> {
    let b64 = base64::engine::general_purpose::STANDARD;
    (0..MESSAGES)
        .map(|i| {
            let id: Vec<String> = (0..16).map(|k| ((i * 31 + k * 17) % 256).to_string()).collect();
            let data = b64.encode([(i % 251) as u8; 33]);
            format!("{{\"ID\":[{}],\"SeqNo\":{},\"Data\":\"{data}\"}}", id.join(","), i / PRODUCERS).into_bytes()
        })
        .collect()
}

/// Publishes every payload round-robin over 4 producers; returns the journal bytes
/// (batches of TXN_SIZE interleaved as producers would). `txn`: an ACK per batch.
fn publish(payloads: &[Vec<u8>], txn: bool) -> Vec<u8> {
    let clock = Arc::new(AtomicClock::new(Clock(1 << 40)));
    let mut pubs: Vec<Publisher> = (0..PRODUCERS)
        .map(|i| Publisher::with_producer(ProducerId([1, 0, 0, 0, 0, i as u8]), clock.clone(), false))
        .collect();
    let mut journal = Vec::with_capacity(payloads.len() * 200);
    for (i, payload) in payloads.iter().enumerate() {
        let p = &mut pubs[i % PRODUCERS];
        if txn {
            p.publish_uncommitted(JOURNAL, payload).unwrap();
        } else {
            p.publish_committed(JOURNAL, payload).unwrap();
        }
        // Each producer appends batches of TXN_SIZE messages, as a chunker or shard does.
        if (i / PRODUCERS) % TXN_SIZE == TXN_SIZE - 1 {
            for a in p.take_appends() {
                journal.extend_from_slice(&a.bytes);
            }
        }
        if txn && (i / PRODUCERS) % TXN_SIZE == TXN_SIZE - 1 {
            for intent in p.build_ack_intents() {
                journal.extend_from_slice(&intent.intent);
            }
        }
    }
    for p in &mut pubs {
        for a in p.take_appends() {
            journal.extend_from_slice(&a.bytes);
        }
        for intent in p.build_ack_intents() {
            journal.extend_from_slice(&intent.intent);
        }
    }
    journal
}

/// Decodes and sequences the journal, pushed in 64 KiB reads; returns deliveries.
fn decode_and_sequence(journal: &[u8]) -> usize {
    let mut decoder = FrameDecoder::new(JOURNAL, 0);
    let mut seq = Sequencer::new([], [], 0);
    let mut delivered = 0;
    for chunk in journal.chunks(64 * 1024) {
        decoder.push(chunk);
        while let Some(frame) = decoder.next_frame() {
            if seq.queue_uncommitted(frame.unwrap()).unwrap().commits() {
                while let Some(env) = seq.step().unwrap() {
                    black_box(&env.message);
                    delivered += 1;
                }
            }
        }
    }
    delivered
}

/// What validating each guest payload costs alone (serde_json into `IgnoredAny`).
fn validate_only(payloads: &[Vec<u8>]) -> usize {
    payloads.iter().filter(|p| serde_json::from_slice::<serde::de::IgnoredAny>(p).is_ok()).count()
}

/// Decoding alone (line split + UUID extraction), to attribute the cost.
fn decode_only(journal: &[u8]) -> usize {
    let mut decoder = FrameDecoder::new(JOURNAL, 0);
    let mut n = 0;
    for chunk in journal.chunks(64 * 1024) {
        decoder.push(chunk);
        while let Some(frame) = decoder.next_frame() {
            black_box(frame.unwrap());
            n += 1;
        }
    }
    n
}

/// The baseline: split lines and parse each into a `Chunk` (ACK lines are skipped).
fn split_and_parse(journal: &[u8]) -> usize {
    let mut parsed = 0;
    for line in journal.split_inclusive(|&b| b == b'\n') {
        if line.len() > 60 {
            let chunk: Chunk = serde_json::from_slice(line).unwrap();
            black_box(&chunk);
            parsed += 1;
        }
    }
    parsed
}

fn best<T>(mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut out = None;
    let mut best = Duration::MAX;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let v = f();
        best = best.min(start.elapsed());
        out = Some(v);
    }
    (best, out.unwrap())
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn main() {
    let payloads = payloads();
    let mut results = Vec::new();
    for (mode, txn) in [("committed (OUTSIDE_TXN)", false), ("transactional (CONTINUE_TXN + ACK every 64)", true)] {
        let (t_pub, journal) = best(|| publish(&payloads, txn));
        let lines = journal.iter().filter(|&&b| b == b'\n').count();
        let frame_bytes = (journal.len() - if txn { (lines - MESSAGES) * 47 } else { 0 }) as f64 / MESSAGES as f64;
        let (t_seq, delivered) = best(|| decode_and_sequence(&journal));
        assert_eq!(delivered, MESSAGES);
        let (t_val, validated) = best(|| validate_only(&payloads));
        assert_eq!(validated, MESSAGES);
        let (t_dec, decoded) = best(|| decode_only(&journal));
        assert_eq!(decoded, lines);
        let (t_base, parsed) = best(|| split_and_parse(&journal));
        assert_eq!(parsed, MESSAGES);

        let ours = rate(MESSAGES, t_pub + t_seq);
        let baseline = rate(MESSAGES, t_base);
        println!("{mode}: {MESSAGES} messages of {frame_bytes:.0} bytes from {PRODUCERS} producers");
        println!("  publish (stamp + frame)         {:>12.0} msg/s", rate(MESSAGES, t_pub));
        println!("    of which JSON validation      {:>12.0} msg/s", rate(MESSAGES, t_val));
        println!("  decode + sequence               {:>12.0} msg/s", rate(MESSAGES, t_seq));
        println!("    of which decode alone         {:>12.0} msg/s", rate(MESSAGES, t_dec));
        println!("  framing + sequencing (both)     {:>12.0} msg/s", ours);
        println!("  baseline split + serde parse    {:>12.0} msg/s", baseline);
        println!("  ratio ours / baseline           {:>12.2}", ours / baseline);
        results.push(serde_json::json!({
            "mode": mode,
            "messages": MESSAGES,
            "producers": PRODUCERS,
            "avg_frame_bytes": frame_bytes,
            "publish_msgs_per_s": rate(MESSAGES, t_pub),
            "decode_sequence_msgs_per_s": rate(MESSAGES, t_seq),
            "validate_only_msgs_per_s": rate(MESSAGES, t_val),
            "decode_only_msgs_per_s": rate(MESSAGES, t_dec),
            "framing_sequencing_msgs_per_s": ours,
            "baseline_split_parse_msgs_per_s": baseline,
            "ratio": ours / baseline,
        }));
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/results");
    std::fs::create_dir_all(&dir).unwrap();
    // The machine is shared: record its load so noisy figures can be recognised.
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let report = serde_json::json!({
        "benchmark": "message framing + sequencing",
        "rounds_best_of": ROUNDS,
        "loadavg": load.trim(),
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "results": results,
    });
    std::fs::write(dir.join("message.json"), serde_json::to_vec_pretty(&report).unwrap()).unwrap();
    println!("wrote {}", dir.join("message.json").display());
}
