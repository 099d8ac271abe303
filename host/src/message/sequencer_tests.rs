//! Table-driven tests of the sequencer: every worked sequence of reference §2.5 and
//! the edge cases around it (replay, checkpoints mid-drain, bad flags, zero clocks).

use super::*;
use crate::message::framing::frame_ack;
use crate::message::uuid::build_uuid;
use std::time::Duration;
use QueueOutcome::*;

const J: &str = "examples/stream-sum/chunks/part-000";
const A: ProducerId = ProducerId([0xA1, 0, 0, 0, 0, 0xA]);
const B: ProducerId = ProducerId([0xB1, 0, 0, 0, 0, 0xB]);

/// A message written to the test journal: producer, clock, flag bits.
#[derive(Clone, Copy, Debug)]
struct M(ProducerId, u64, u16);

fn c(p: ProducerId, clock: u64) -> M {
    M(p, clock, 1)
}
fn o(p: ProducerId, clock: u64) -> M {
    M(p, clock, 0)
}
fn ack(p: ProducerId, clock: u64) -> M {
    M(p, clock, 2)
}

/// A journal being written and a sequencer reading it, with replay served from the
/// journal as a real reader would.
struct Harness {
    journal: Vec<Envelope>,
    seq: Sequencer,
    read: usize,
}

impl Harness {
    fn new(ring: usize) -> Harness {
        Harness { journal: Vec::new(), seq: Sequencer::new([], [], ring), read: 0 }
    }

    fn write(&mut self, m: M) {
        let begin = self.journal.last().map_or(0, |e| e.end);
        self.journal.push(envelope(J, begin, m));
    }

    /// Reads the next written envelope; returns the outcome and what was emitted as
    /// `(producer, clock, is_ack)` via `step_any`.
    fn read_next(&mut self) -> (QueueOutcome, Vec<(ProducerId, u64, bool)>) {
        let env = self.journal[self.read].clone();
        self.read += 1;
        let outcome = self.seq.queue_uncommitted(env).unwrap();
        (outcome, self.drain())
    }

    fn drain(&mut self) -> Vec<(ProducerId, u64, bool)> {
        if let Some((journal, begin, end)) = self.seq.replay_range() {
            assert_eq!(&*journal, J);
            let range: Vec<Envelope> =
                self.journal.iter().filter(|e| e.begin >= begin && e.end <= end).cloned().collect();
            self.seq.start_replay(range).unwrap();
        }
        let mut out = Vec::new();
        while let Some(e) = self.seq.step_any().unwrap() {
            out.push((e.producer(), e.clock().0, e.is_ack()));
        }
        out
    }

    fn run(&mut self, m: M) -> (QueueOutcome, Vec<(ProducerId, u64, bool)>) {
        self.write(m);
        self.read_next()
    }
}

fn envelope(journal: &str, begin: Offset, M(p, clock, flags): M) -> Envelope {
    let uuid = build_uuid(p, Clock(clock), Flags::new(flags).unwrap());
    let message = bytes::Bytes::from(frame_ack(&uuid));
    Envelope { journal: journal.into(), begin, end: begin + message.len() as Offset, uuid, message }
}

fn msg(p: ProducerId, clock: u64) -> (ProducerId, u64, bool) {
    (p, clock, false)
}
fn acked(p: ProducerId, clock: u64) -> (ProducerId, u64, bool) {
    (p, clock, true)
}

type Step = (M, QueueOutcome, Vec<(ProducerId, u64, bool)>);

fn run_table(name: &str, ring: usize, steps: Vec<Step>) -> Harness {
    let mut h = Harness::new(ring);
    for (i, (m, outcome, emitted)) in steps.into_iter().enumerate() {
        let got = h.run(m);
        assert_eq!(got, (outcome, emitted), "{name}: step {i} ({m:?})");
    }
    h
}

#[test]
fn worked_sequences_of_the_reference() {
    // a1 a2 a1dup a2dup ACK3 ⇒ a1, a2, ACK3.
    run_table(
        "dedup within span",
        16,
        vec![
            (c(A, 1), ContinueBeginSpan, vec![]),
            (c(A, 2), ContinueExtendSpan, vec![]),
            (c(A, 1), ContinueTxnClockLarger, vec![]),
            (c(A, 2), ContinueTxnClockLarger, vec![]),
            (ack(A, 3), AckCommitRing, vec![msg(A, 1), msg(A, 2), acked(A, 3)]),
        ],
    );
    // a5 a7 ACK6 ⇒ a5, ACK6 (a7 is above the ACK's clock and dropped).
    // Then a7 a8 ACK6 ⇒ rollback: nothing, the producer stays at 6; a9 ACK10 commits a9 only.
    run_table(
        "partial commit then rollback",
        16,
        vec![
            (c(A, 5), ContinueBeginSpan, vec![]),
            (c(A, 7), ContinueExtendSpan, vec![]),
            (ack(A, 6), AckCommitRing, vec![msg(A, 5), acked(A, 6)]),
            (c(A, 7), ContinueBeginSpan, vec![]),
            (c(A, 8), ContinueExtendSpan, vec![]),
            (ack(A, 6), AckRollback, vec![]),
            (c(A, 6), ContinueAlreadyAcked, vec![]),
            (c(A, 9), ContinueBeginSpan, vec![]),
            (ack(A, 10), AckCommitRing, vec![msg(A, 9), acked(A, 10)]),
        ],
    );
    // After progress to 13, ACK8 rolls back to 8 (logged), and 9, 10 are accepted again.
    run_table(
        "rollback to an older checkpoint",
        16,
        vec![
            (c(A, 11), ContinueBeginSpan, vec![]),
            (ack(A, 13), AckCommitRing, vec![msg(A, 11), acked(A, 13)]),
            (ack(A, 8), AckRollback, vec![]),
            (c(A, 9), ContinueBeginSpan, vec![]),
            (c(A, 10), ContinueExtendSpan, vec![]),
            (ack(A, 11), AckCommitRing, vec![msg(A, 9), msg(A, 10), acked(A, 11)]),
        ],
    );
}

#[test]
fn outside_txn_messages_commit_alone_and_duplicates_are_dropped() {
    run_table(
        "outside",
        4,
        vec![
            (o(A, 10), OutsideCommit, vec![msg(A, 10)]),
            (o(A, 10), OutsideAlreadyAcked, vec![]),
            (o(A, 9), OutsideAlreadyAcked, vec![]),
            (o(B, 3), OutsideCommit, vec![msg(B, 3)]),
            (o(A, 11), OutsideCommit, vec![msg(A, 11)]),
            // Mixed modes: an OUTSIDE message clobbers an open span (logged).
            (c(A, 12), ContinueBeginSpan, vec![]),
            (o(A, 13), OutsideCommit, vec![msg(A, 13)]),
            (ack(A, 14), AckEmpty, vec![acked(A, 14)]),
            (ack(A, 14), AckRollback, vec![]),
            (c(A, 12), ContinueAlreadyAcked, vec![]),
        ],
    );
}

#[test]
fn interleaved_producers_commit_independently() {
    run_table(
        "interleaved",
        16,
        vec![
            (c(A, 1), ContinueBeginSpan, vec![]),
            (c(B, 100), ContinueBeginSpan, vec![]),
            (c(A, 2), ContinueExtendSpan, vec![]),
            (ack(B, 101), AckCommitRing, vec![msg(B, 100), acked(B, 101)]),
            (c(B, 102), ContinueBeginSpan, vec![]),
            (ack(A, 3), AckCommitRing, vec![msg(A, 1), msg(A, 2), acked(A, 3)]),
            (ack(B, 101), AckRollback, vec![]),
            (ack(B, 103), AckEmpty, vec![acked(B, 103)]),
        ],
    );
}

#[test]
fn unknown_flags_are_treated_as_outside_txn() {
    run_table(
        "bad flags",
        4,
        vec![
            (M(A, 5, 0x3), OutsideCommit, vec![msg(A, 5)]),
            (M(A, 5, 0x3FF), OutsideAlreadyAcked, vec![]),
            (M(A, 6, 0x100), OutsideCommit, vec![msg(A, 6)]),
        ],
    );
}

#[test]
fn zero_clock_messages_are_always_delivered_and_never_indexed() {
    let mut h = run_table(
        "zero clock",
        2,
        vec![
            (o(A, 0), OutsideCommit, vec![msg(A, 0)]),
            (o(A, 0), OutsideCommit, vec![msg(A, 0)]),
            (ack(A, 0), OutsideCommit, vec![(A, 0, true)]),
            (o(A, 1), OutsideCommit, vec![msg(A, 1)]),
        ],
    );
    let state = h.seq.checkpoint(Duration::ZERO);
    assert_eq!(state.producers.len(), 1);
    assert_eq!(state.producers[0].last_ack, Clock(1));
}

#[test]
fn clocks_going_backwards_are_duplicates_or_rollbacks_never_panics() {
    run_table(
        "backwards",
        4,
        vec![
            (c(A, u64::MAX), ContinueBeginSpan, vec![]),
            (c(A, 1), ContinueAlreadyAcked, vec![]),
            (ack(A, 1), AckRollback, vec![]),
            (c(A, 2), ContinueBeginSpan, vec![]),
            (o(A, 1), OutsideAlreadyAcked, vec![]),
            // An ACK reusing its message's clock (no real producer does that; Gazette
            // panics) commits the message; the ACK itself is then a logged duplicate.
            (ack(A, 2), AckCommitRing, vec![msg(A, 2)]),
            (c(A, 2), ContinueAlreadyAcked, vec![]),
        ],
    );
}

#[test]
fn a_span_evicted_from_the_ring_is_replayed_from_the_journal() {
    let mut h = run_table(
        "replay",
        2,
        vec![
            (c(A, 1), ContinueBeginSpan, vec![]),
            (o(B, 50), OutsideCommit, vec![msg(B, 50)]),
            (c(A, 2), ContinueExtendSpan, vec![]),
            (o(B, 51), OutsideCommit, vec![msg(B, 51)]),
            (c(A, 3), ContinueExtendSpan, vec![]),
            (c(A, 2), ContinueTxnClockLarger, vec![]),
            (ack(A, 4), AckCommitReplay, vec![msg(A, 1), msg(A, 2), msg(A, 3), acked(A, 4)]),
        ],
    );
    let end = h.journal.last().unwrap().end;
    assert_eq!(h.seq.checkpoint(Duration::ZERO).read_through[J], end);
}

#[test]
fn stepping_without_the_required_replay_is_an_error() {
    let mut h = Harness::new(1);
    h.write(c(A, 1));
    h.write(c(A, 2));
    h.write(ack(A, 3));
    for _ in 0..2 {
        let e = h.journal[h.read].clone();
        h.read += 1;
        h.seq.queue_uncommitted(e).unwrap();
    }
    assert_eq!(h.seq.queue_uncommitted(h.journal[2].clone()), Ok(AckCommitReplay));
    let (j, begin, end) = h.seq.replay_range().unwrap();
    assert_eq!((&*j, begin, end), (J, 0, h.journal[2].begin));
    let err = h.seq.step().unwrap_err();
    assert!(matches!(err, SequencerError::ReplayRequired { .. }), "{err}");
    assert!(matches!(h.seq.queue_uncommitted(h.journal[0].clone()), Err(SequencerError::DequeueInProgress(_))));
    // A replay of the wrong range is refused.
    h.seq.start_replay(vec![h.journal[2].clone()]).unwrap();
    assert!(matches!(h.seq.step(), Err(SequencerError::ReplayOutOfRange { .. })));
}

#[test]
fn step_never_yields_acks_to_applications() {
    let mut h = Harness::new(8);
    for m in [c(A, 1), ack(A, 2), ack(A, 3), o(A, 4)] {
        h.write(m);
    }
    let mut delivered = Vec::new();
    for env in h.journal.clone() {
        if h.seq.queue_uncommitted(env).unwrap().commits() {
            while let Some(e) = h.seq.step().unwrap() {
                delivered.push((e.clock().0, e.is_ack()));
            }
        }
    }
    assert_eq!(delivered, vec![(1, false), (4, false)]);
}

#[test]
fn a_checkpoint_mid_drain_resumes_with_the_unprocessed_rest() {
    let mut h = Harness::new(16);
    for m in [c(A, 1), c(A, 2), c(A, 3), ack(A, 4)] {
        h.write(m);
    }
    for env in h.journal[..3].iter().cloned() {
        h.seq.queue_uncommitted(env).unwrap();
    }
    assert!(h.seq.has_pending());
    assert_eq!(h.seq.queue_uncommitted(h.journal[3].clone()), Ok(AckCommitRing));
    assert_eq!(h.seq.step().unwrap().unwrap().clock(), Clock(1));
    assert_eq!(h.seq.step().unwrap().unwrap().clock(), Clock(2));
    // Message 2 is dequeued but not processed when the checkpoint is taken.
    let state = h.seq.checkpoint(Duration::ZERO);
    assert!(!h.seq.has_pending());
    assert_eq!(state.read_through[J], h.journal[2].end);
    assert_eq!(
        state.producers,
        vec![ProducerState { journal: J.into(), producer: A, last_ack: Clock(1), begin: h.journal[1].begin }]
    );

    // A new sequencer re-reads from the checkpoint and replays the rest.
    let mut h2 = Harness { journal: h.journal.clone(), seq: Sequencer::from_state(state, 16), read: 3 };
    assert_eq!(h2.read_next(), (AckCommitReplay, vec![msg(A, 2), msg(A, 3), acked(A, 4)]));
    assert_eq!(h2.seq.checkpoint(Duration::ZERO).producers[0].begin, -1);
}

#[test]
fn checkpoints_prune_producers_older_than_the_horizon() {
    let hour = 36_000_000_000u64 << 4; // One hour of 100 ns ticks, shifted past the counter.
    let mut h = run_table(
        "prune",
        8,
        vec![
            (o(A, 10), OutsideCommit, vec![msg(A, 10)]),
            (o(B, 10 + 25 * hour), OutsideCommit, vec![msg(B, 10 + 25 * hour)]),
        ],
    );
    assert_eq!(h.seq.checkpoint(Duration::ZERO).producers.len(), 2);
    assert_eq!(PRUNE_HORIZON, Duration::from_secs(24 * 3600));
    let kept = h.seq.checkpoint(PRUNE_HORIZON).producers;
    assert_eq!(kept.iter().map(|s| s.producer).collect::<Vec<_>>(), vec![B]);
    // A forgotten producer's old duplicate is accepted again (at-least-once beyond the horizon).
    assert_eq!(h.run(o(A, 10)).0, OutsideCommit);
}

#[test]
fn read_through_offsets_persist_per_journal() {
    let mut seq = Sequencer::new([(Arc::from("other/journal"), 77)], [], 4);
    let e = envelope(J, 5, o(A, 1));
    let end = e.end;
    seq.queue_uncommitted(e).unwrap();
    assert_eq!(seq.step().unwrap().unwrap().clock(), Clock(1));
    assert!(seq.step().unwrap().is_none());
    let state = seq.checkpoint(Duration::ZERO);
    assert_eq!(
        state.read_through.into_iter().collect::<Vec<_>>(),
        vec![(Arc::from(J), end), (Arc::from("other/journal"), 77)]
    );
}
