//! Property tests of the whole read-committed path: publishers (committed and
//! transactional, with crashes and re-sent ACK intents) write journals with
//! duplicated appends and garbage lines; a reader decodes them, sequences them with a
//! small ring (forcing replays), and checkpoints and crashes at random points,
//! restarting from the encoded checkpoint. Every committed message must be delivered
//! exactly once, and no rolled-back message ever.
//!
//! It lives with the consumer because the checkpoint it restarts from is the
//! consumer's [`Checkpoint`]; the message layer's own tests are in `sequencer_tests.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;

use super::checkpoint::Checkpoint;
use crate::message::{AckIntent, AtomicClock, Clock, Envelope, FrameDecoder, Publisher, Sequencer};

const JOURNALS: [&str; 2] = ["chunks/part-000", "chunks/part-001"];

/// How a transaction of a transactional producer ends.
#[derive(Clone, Debug)]
enum Fate {
    /// Checkpoint commits, the ACK is written.
    Commit,
    /// As `Commit`, and the ACK append is retried (written twice).
    CommitDupAck,
    /// Crash before the checkpoint: only the first `n` messages were written; the next
    /// incarnation re-sends the previous checkpoint's intents (a rollback).
    CrashBefore(usize),
    /// Crash after the checkpoint, before the ACK: the next incarnation re-sends it.
    CrashAfter,
}

/// One message: which journal it goes to, and whether its append is retried.
type Msg = (usize, bool);

#[derive(Clone, Debug)]
enum Producer {
    /// OUTSIDE_TXN publishes (a chunker).
    Committed(Vec<Msg>),
    /// Transactions of a shard (a summer publishing sums).
    Transactional(Vec<(Vec<Msg>, Fate)>),
    /// Lines that are not messages.
    Noise(usize),
}

fn msg() -> impl Strategy<Value = Msg> {
    (0..JOURNALS.len(), prop::bool::weighted(0.2))
}

fn producer() -> impl Strategy<Value = Producer> {
    let fate = prop_oneof![
        3 => Just(Fate::Commit),
        1 => Just(Fate::CommitDupAck),
        2 => (0usize..4).prop_map(Fate::CrashBefore),
        2 => Just(Fate::CrashAfter),
    ];
    prop_oneof![
        2 => prop::collection::vec(msg(), 0..12).prop_map(Producer::Committed),
        4 => prop::collection::vec((prop::collection::vec(msg(), 1..5), fate), 0..6).prop_map(Producer::Transactional),
        1 => (0usize..3).prop_map(Producer::Noise),
    ]
}

/// A tiny deterministic generator for schedules and reader events.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// The appends of every producer per journal (each producer's own order kept), and
/// the ids of messages that are committed.
struct Written {
    appends: Vec<[Vec<Vec<u8>>; 2]>,
    committed: BTreeSet<u64>,
}

fn write_all(producers: &[Producer]) -> Written {
    let clock = Arc::new(AtomicClock::new(Clock(1 << 20)));
    let mut next_id = 0u64;
    let mut written = Written { appends: Vec::new(), committed: BTreeSet::new() };
    for producer in producers {
        let mut out: [Vec<Vec<u8>>; 2] = Default::default();
        let mut publish = |p: &mut Publisher, (journal, dup): Msg, committed: bool, out: &mut [Vec<Vec<u8>>; 2]| {
            next_id += 1;
            let body = format!("{{\"id\":{next_id}}}");
            if committed {
                p.publish_committed(JOURNALS[journal], body.as_bytes()).unwrap();
            } else {
                p.publish_uncommitted(JOURNALS[journal], body.as_bytes()).unwrap();
            }
            let append = p.take_appends().pop().unwrap().bytes;
            if dup {
                out[journal].push(append.clone());
            }
            out[journal].push(append);
            next_id
        };
        match producer {
            Producer::Noise(n) => {
                for i in 0..*n {
                    out[i % 2].push(b"this is not a message\n".to_vec());
                }
            }
            Producer::Committed(msgs) => {
                let mut p = Publisher::with_producer(crate::message::ProducerId::random(), clock.clone(), false);
                for &m in msgs {
                    written.committed.insert(publish(&mut p, m, true, &mut out));
                }
            }
            Producer::Transactional(txns) => {
                let write_intents = |intents: &[AckIntent], out: &mut [Vec<Vec<u8>>; 2]| {
                    for i in intents {
                        let j = JOURNALS.iter().position(|j| **j == *i.journal).unwrap();
                        out[j].push(i.intent.clone());
                    }
                };
                let mut p = Publisher::with_producer(crate::message::ProducerId::random(), clock.clone(), false);
                let mut stored: Vec<AckIntent> = Vec::new();
                for (msgs, fate) in txns {
                    let limit = match fate {
                        Fate::CrashBefore(n) => (*n).min(msgs.len()),
                        _ => msgs.len(),
                    };
                    let mut ids = Vec::new();
                    for &m in &msgs[..limit] {
                        ids.push(publish(&mut p, m, false, &mut out));
                    }
                    for &(journal, _) in &msgs[limit..] {
                        // Published but never written before the crash.
                        p.publish_uncommitted(JOURNALS[journal], b"{}").unwrap();
                    }
                    let _ = p.take_appends();
                    let intents = p.build_ack_intents();
                    match fate {
                        Fate::Commit | Fate::CommitDupAck => {
                            write_intents(&intents, &mut out);
                            if matches!(fate, Fate::CommitDupAck) {
                                write_intents(&intents, &mut out);
                            }
                            written.committed.extend(ids);
                            stored = intents;
                        }
                        Fate::CrashAfter => {
                            written.committed.extend(ids);
                            stored = intents;
                            p = Publisher::with_producer(crate::message::ProducerId::random(), clock.clone(), false);
                            write_intents(&stored, &mut out);
                        }
                        Fate::CrashBefore(_) => {
                            p = Publisher::with_producer(crate::message::ProducerId::random(), clock.clone(), false);
                            write_intents(&stored, &mut out);
                        }
                    }
                }
            }
        }
        written.appends.push(out);
    }
    written
}

/// Interleaves producers' appends per journal and decodes them (pushed in random
/// chunk sizes); returns the envelopes and the number of decode errors.
fn build_journals(written: &Written, rng: &mut Rng) -> (Vec<Vec<Envelope>>, usize) {
    let mut journals = Vec::new();
    let mut errors = 0;
    for (j, name) in JOURNALS.iter().enumerate() {
        let mut queues: Vec<std::collections::VecDeque<&Vec<u8>>> =
            written.appends.iter().map(|a| a[j].iter().collect()).collect();
        let mut bytes = Vec::new();
        while queues.iter().any(|q| !q.is_empty()) {
            let live: Vec<usize> = (0..queues.len()).filter(|&i| !queues[i].is_empty()).collect();
            let pick = live[rng.below(live.len())];
            bytes.extend_from_slice(queues[pick].pop_front().unwrap());
        }
        let mut decoder = FrameDecoder::new(*name, 0);
        let mut envelopes = Vec::new();
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let n = 1 + rng.below(rest.len().min(200));
            decoder.push(&rest[..n]);
            rest = &rest[n..];
            while let Some(frame) = decoder.next_frame() {
                match frame {
                    Ok(env) => envelopes.push(env),
                    Err(_) => errors += 1,
                }
            }
        }
        assert_eq!(decoder.incomplete_len(), 0);
        journals.push(envelopes);
    }
    (journals, errors)
}

fn id_of(env: &Envelope) -> u64 {
    let v: serde_json::Value = serde_json::from_slice(&env.message).unwrap();
    v["id"].as_u64().unwrap()
}

/// A reader that checkpoints and crashes at random; returns every delivery that
/// survived (was covered by a checkpoint or by the final commit).
fn read_committed(journals: &[Vec<Envelope>], ring: usize, rng: &mut Rng) -> Vec<u64> {
    let mut checkpoint = Checkpoint::default().encode();
    let mut seq = Sequencer::new([], [], ring);
    let mut pos = vec![0usize; journals.len()];
    let (mut durable, mut txn) = (Vec::new(), Vec::new());
    let mut crashes = 0;

    // One random event: maybe commit a checkpoint, maybe crash and restart from it.
    let mut event = |seq: &mut Sequencer,
                     pos: &mut Vec<usize>,
                     durable: &mut Vec<u64>,
                     txn: &mut Vec<u64>,
                     rng: &mut Rng|
     -> bool {
        match rng.below(100) {
            0..=9 => {
                let cp = Checkpoint { sequencer: seq.checkpoint(Duration::ZERO), ack_intents: BTreeMap::new() };
                checkpoint = cp.encode();
                durable.append(txn);
                false
            }
            10..=13 if crashes < 20 => {
                crashes += 1;
                txn.clear();
                let cp = Checkpoint::decode(&checkpoint).unwrap();
                for (j, envs) in journals.iter().enumerate() {
                    let offset = cp.sequencer.read_through.get(JOURNALS[j]).copied().unwrap_or(0);
                    pos[j] = envs.iter().position(|e| e.begin >= offset).unwrap_or(envs.len());
                }
                *seq = Sequencer::from_state(cp.sequencer, ring);
                true
            }
            _ => false,
        }
    };

    'reading: loop {
        let live: Vec<usize> = (0..journals.len()).filter(|&j| pos[j] < journals[j].len()).collect();
        if live.is_empty() {
            break;
        }
        let j = live[rng.below(live.len())];
        let env = journals[j][pos[j]].clone();
        pos[j] += 1;
        if seq.queue_uncommitted(env).unwrap().commits() {
            if let Some((journal, begin, end)) = seq.replay_range() {
                let jj = JOURNALS.iter().position(|n| **n == *journal).unwrap();
                let range = journals[jj].iter().filter(|e| e.begin >= begin && e.end <= end).cloned();
                seq.start_replay(range).unwrap();
            }
            let mut next = seq.step().unwrap();
            loop {
                if event(&mut seq, &mut pos, &mut durable, &mut txn, rng) {
                    continue 'reading;
                }
                let Some(env) = next else { break };
                assert!(!env.is_ack());
                txn.push(id_of(&env));
                next = seq.step().unwrap();
            }
        }
        if event(&mut seq, &mut pos, &mut durable, &mut txn, rng) {
            continue;
        }
    }
    durable.append(&mut txn);
    durable
}

proptest! {
    #[test]
    fn every_committed_message_is_delivered_exactly_once_and_no_rolled_back_one(
        producers in prop::collection::vec(producer(), 1..5),
        ring in 1usize..8,
        seed in 1u64..u64::MAX,
    ) {
        let mut rng = Rng(seed);
        let written = write_all(&producers);
        let (journals, errors) = build_journals(&written, &mut rng);
        let noise: usize = producers.iter().map(|p| if let Producer::Noise(n) = p { *n } else { 0 }).sum();
        prop_assert_eq!(errors, noise);

        let delivered = read_committed(&journals, ring, &mut rng);
        let mut sorted = delivered.clone();
        sorted.sort_unstable();
        let unique: BTreeSet<u64> = sorted.iter().copied().collect();
        prop_assert_eq!(unique.len(), sorted.len(), "duplicate deliveries: {:?}", delivered);
        prop_assert_eq!(unique, written.committed);
    }
}
