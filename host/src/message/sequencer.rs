//! The read-committed sequencer: turns read-uncommitted envelopes into committed ones,
//! exactly once.
//!
//! Mirrors Gazette's `message/sequencer.go` rule for rule (reference §2.5). One state
//! per (journal, producer), a "partial sequence" bounded by `min_clock` (exclusive:
//! the last acknowledged or processed clock) and `max_clock` (inclusive: the newest
//! clock of the open span), with `begin` the offset where the open span starts.
//!
//! Protocol for callers:
//! 1. [`Sequencer::queue_uncommitted`] each envelope in journal order;
//! 2. if the outcome commits ([`QueueOutcome::commits`]) and is
//!    [`QueueOutcome::AckCommitReplay`], re-read [`Sequencer::replay_range`] from the
//!    journal and hand the envelopes to [`Sequencer::start_replay`];
//! 3. call [`Sequencer::step`] until it returns `None`. Each returned envelope is
//!    committed; it counts as processed when `step` is called again (so a checkpoint
//!    taken while an envelope is dequeued will deliver it again after a restart).
//!
//! ACK envelopes are never returned by `step` (they are processed internally); unlike
//! Gazette, applications do not need to filter them. Bad input never panics: unknown
//! flags are treated as OUTSIDE_TXN and logged, clocks going backwards are duplicates
//! or rollbacks, and misuse of the protocol is a [`SequencerError`].

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::Arc;

use thiserror::Error;

use super::clock::Clock;
use super::envelope::{Envelope, Offset};
use super::journal_ids::{FastMap, JournalIds, JournalProducer};
use super::ring::{Ring, RingSpan};
use super::uuid::{Flags, ProducerId};

/// How old a producer may get before a checkpoint forgets it (consumers use 24 h,
/// relative to the newest acknowledged clock of the same journal).
pub const PRUNE_HORIZON: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Gazette's default ring size (`ShardSpec.ring_buffer_size` of 0).
pub const DEFAULT_RING_SIZE: usize = 8192;

/// A producer's state within one journal, as stored in a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ProducerState {
    /// The journal the producer writes to.
    pub journal: Arc<str>,
    /// The producer.
    pub producer: ProducerId,
    /// Clock of the last acknowledged (or processed) message.
    pub last_ack: Clock,
    /// Offset where the producer's open, unacknowledged span begins; -1 if none.
    pub begin: Offset,
}

/// What queueing one envelope decided (Gazette's `QueueOutcome`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueueOutcome {
    /// An OUTSIDE_TXN duplicate at or below the last acknowledged clock: ignored.
    OutsideAlreadyAcked,
    /// An OUTSIDE_TXN message that commits itself: step to dequeue it.
    OutsideCommit,
    /// A CONTINUE_TXN duplicate at or below the last acknowledged clock: ignored.
    ContinueAlreadyAcked,
    /// A CONTINUE_TXN duplicate within the open span: ignored.
    ContinueTxnClockLarger,
    /// A CONTINUE_TXN message that opens a span: held.
    ContinueBeginSpan,
    /// A CONTINUE_TXN message that extends the open span: held.
    ContinueExtendSpan,
    /// An ACK at or below the last acknowledged clock: the open span is discarded.
    AckRollback,
    /// An ACK with nothing pending: step (it yields nothing to applications).
    AckEmpty,
    /// An ACK committing a span wholly in the ring: step to dequeue it.
    AckCommitRing,
    /// An ACK committing a span partly evicted from the ring: replay, then step.
    AckCommitReplay,
}

impl QueueOutcome {
    /// Whether the caller must now drain a committed sequence with `step`.
    pub fn commits(self) -> bool {
        matches!(self, Self::OutsideCommit | Self::AckEmpty | Self::AckCommitRing | Self::AckCommitReplay)
    }
}

impl fmt::Display for QueueOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Misuse of the sequencer protocol or an inconsistent replay.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SequencerError {
    /// `queue_uncommitted` was called while a committed sequence remains to dequeue.
    #[error("committed messages of journal {0} remain to dequeue; step until it returns None before queueing")]
    DequeueInProgress(Arc<str>),
    /// `step` needs a replay that `start_replay` has not supplied.
    #[error("journal {journal} [{begin}, {end}) must be replayed (start_replay) before stepping")]
    ReplayRequired {
        /// The journal to re-read.
        journal: Arc<str>,
        /// First offset of the range.
        begin: Offset,
        /// End offset of the range (exclusive).
        end: Offset,
    },
    /// `start_replay` or `replay_range` was called with nothing to dequeue.
    #[error("no committed sequence is being dequeued")]
    NotDequeuing,
    /// A replayed envelope lies outside the requested journal range.
    #[error("replay of journal {journal}: envelope [{begin}, {end}) is outside [{want_begin}, {want_end}) of journal {want_journal}")]
    ReplayOutOfRange {
        /// The replayed envelope's journal.
        journal: Arc<str>,
        /// The replayed envelope's first offset.
        begin: Offset,
        /// The replayed envelope's end offset.
        end: Offset,
        /// The journal being replayed.
        want_journal: Arc<str>,
        /// First offset of the replay range.
        want_begin: Offset,
        /// End offset of the replay range.
        want_end: Offset,
    },
    /// An internal invariant does not hold (a bug, reported instead of panicking).
    #[error("sequencer invariant violated: {0}")]
    Invariant(String),
}

/// One (journal, producer) sequence (Gazette's `partialSeq`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Partial {
    /// Exclusive lower bound: the last acknowledged or processed clock.
    min_clock: Clock,
    /// Inclusive upper bound of the current sequence.
    max_clock: Clock,
    /// Offset where the open sequence begins (-1: none).
    begin: Offset,
    /// The sequence's entries in the ring.
    ring: RingSpan,
}

impl Partial {
    fn at(clock: Clock, begin: Offset) -> Partial {
        Partial { min_clock: clock, max_clock: clock, begin, ring: RingSpan::default() }
    }
}

/// The sequence being dequeued: an indexed partial, or a zero-clock message's
/// throw-away partial (never indexed, never deduplicated).
#[derive(Debug)]
struct Emit {
    /// Whose sequence it is.
    jp: JournalProducer,
    /// The throw-away partial of a zero-clock message; `None` for indexed partials.
    unindexed: Option<Partial>,
}

/// Read-committed sequencing of envelopes from any number of journals.
#[derive(Debug)]
pub struct Sequencer {
    /// Interned names of every journal seen.
    journals: JournalIds,
    /// Per journal id, the offset to resume reading from after a restart.
    offsets: Vec<Option<Offset>>,
    /// `offsets` as of the last checkpoint (for `has_pending`).
    last_offsets: Vec<Option<Offset>>,
    /// Per (journal, producer) sequence state.
    partials: FastMap<JournalProducer, Partial>,
    /// The committed sequence being dequeued, if any.
    emit: Option<Emit>,
    /// The envelope last returned by `step`, not yet processed.
    dequeued: Option<Envelope>,
    /// Envelopes supplied by `start_replay`, not yet stepped through.
    replay: Option<VecDeque<Envelope>>,
    /// Recently queued envelopes.
    ring: Ring,
}

impl Sequencer {
    /// A sequencer resuming from checkpointed read-through `offsets` and producer
    /// `states`, with a ring of `ring_size` envelopes (0 means [`DEFAULT_RING_SIZE`]).
    pub fn new(
        offsets: impl IntoIterator<Item = (Arc<str>, Offset)>,
        states: impl IntoIterator<Item = ProducerState>,
        ring_size: usize,
    ) -> Sequencer {
        let ring_size = if ring_size == 0 { DEFAULT_RING_SIZE } else { ring_size };
        let mut seq = Sequencer {
            journals: JournalIds::default(),
            offsets: Vec::new(),
            last_offsets: Vec::new(),
            partials: FastMap::default(),
            emit: None,
            dequeued: None,
            replay: None,
            ring: Ring::new(ring_size),
        };
        for (journal, offset) in offsets {
            seq.set_offset(&journal, offset);
        }
        for s in states {
            let jp = JournalProducer { journal: seq.journals.id(&s.journal), producer: s.producer };
            seq.partials.insert(jp, Partial::at(s.last_ack, s.begin));
        }
        seq.last_offsets.clone_from(&seq.offsets);
        seq
    }

    /// Applies the next read-uncommitted envelope of its journal.
    ///
    /// # Errors
    /// [`SequencerError::DequeueInProgress`] if a committed sequence is not fully
    /// stepped through yet; the envelope is then not queued.
    pub fn queue_uncommitted(&mut self, env: Envelope) -> Result<QueueOutcome, SequencerError> {
        if let Some(emit) = &self.emit {
            return Err(SequencerError::DequeueInProgress(self.journals.name(emit.jp.journal).clone()));
        }
        self.evict_at_head();

        let jp = JournalProducer { journal: self.journals.id(&env.journal), producer: env.producer() };
        let (mut clock, mut flags) = (env.clock(), env.flags());
        let indexed = clock != Clock::ZERO;
        let mut p = if !indexed {
            // Zero clocks (e.g. the nil UUID) commit immediately and are never indexed.
            flags = Flags::OUTSIDE_TXN;
            clock = Clock(1);
            Partial::at(Clock::ZERO, -1)
        } else {
            let prev = Clock(clock.0 - 1);
            *self.partials.entry(jp).or_insert_with(|| Partial::at(prev, -1))
        };

        let outcome = self.decide(&env, &p, clock, flags);
        match outcome {
            QueueOutcome::OutsideAlreadyAcked
            | QueueOutcome::ContinueAlreadyAcked
            | QueueOutcome::ContinueTxnClockLarger => {
                self.set_offset(&env.journal, env.end);
            }
            QueueOutcome::ContinueBeginSpan | QueueOutcome::ContinueExtendSpan => {
                if outcome == QueueOutcome::ContinueBeginSpan {
                    p.begin = env.begin;
                }
                self.set_offset(&env.journal, env.end);
                self.ring.add_at_head(env, &mut p.ring);
                p.max_clock = clock;
            }
            QueueOutcome::AckRollback => {
                self.set_offset(&env.journal, env.end);
                p = Partial::at(clock, -1);
            }
            QueueOutcome::AckEmpty
            | QueueOutcome::AckCommitRing
            | QueueOutcome::AckCommitReplay
            | QueueOutcome::OutsideCommit => {
                // The journal offset is deliberately not advanced until the sequence
                // is fully dequeued, so a restart mid-drain re-reads this message.
                let begin = env.begin;
                self.ring.add_at_head(env, &mut p.ring);
                if outcome == QueueOutcome::AckEmpty {
                    p.begin = begin;
                } else if outcome == QueueOutcome::OutsideCommit {
                    // Any open span is clobbered (an effective rollback): emit this alone.
                    p.begin = begin;
                    p.ring.start = p.ring.stop;
                }
                // Commit through `clock`: span entries above it are dropped on dequeue.
                p.max_clock = clock;
                self.emit = Some(Emit { jp, unindexed: (!indexed).then_some(p) });
            }
        }
        if indexed {
            self.partials.insert(jp, p);
        }
        Ok(outcome)
    }

    /// Classifies an envelope against its producer's state (no mutation).
    fn decide(&self, env: &Envelope, p: &Partial, clock: Clock, flags: Flags) -> QueueOutcome {
        let flags = if matches!(flags, Flags::OUTSIDE_TXN | Flags::CONTINUE_TXN | Flags::ACK_TXN) {
            flags
        } else {
            log_error(env, p, "unexpected UUID flags; treating the message as OUTSIDE_TXN");
            Flags::OUTSIDE_TXN
        };
        match flags {
            Flags::CONTINUE_TXN if clock <= p.min_clock => QueueOutcome::ContinueAlreadyAcked,
            Flags::CONTINUE_TXN if clock <= p.max_clock => QueueOutcome::ContinueTxnClockLarger,
            Flags::CONTINUE_TXN if p.begin == -1 => QueueOutcome::ContinueBeginSpan,
            Flags::CONTINUE_TXN => QueueOutcome::ContinueExtendSpan,
            Flags::ACK_TXN if clock < p.min_clock => {
                log_error(env, p, "ACK_TXN below the last acknowledged clock: an upstream producer recovered an older checkpoint (exactly-once degrades to at-least-once)");
                QueueOutcome::AckRollback
            }
            Flags::ACK_TXN if clock == p.min_clock => QueueOutcome::AckRollback,
            Flags::ACK_TXN if p.begin == -1 => QueueOutcome::AckEmpty,
            Flags::ACK_TXN => match p.ring.start.and_then(|s| self.ring.get(s)) {
                Some(first) if first.begin == p.begin => QueueOutcome::AckCommitRing,
                _ => QueueOutcome::AckCommitReplay,
            },
            _ if clock <= p.min_clock => QueueOutcome::OutsideAlreadyAcked,
            _ => {
                if p.begin != -1 {
                    log_error(env, p, "OUTSIDE_TXN after an open CONTINUE_TXN span (mixed committed and uncommitted publishes?); the span is discarded");
                }
                QueueOutcome::OutsideCommit
            }
        }
    }

    fn set_offset(&mut self, journal: &Arc<str>, end: Offset) {
        let id = self.journals.id(journal) as usize;
        if self.offsets.len() <= id {
            self.offsets.resize(id + 1, None);
        }
        self.offsets[id] = Some(end);
    }

    fn evict_at_head(&mut self) {
        if let Some((env, slot, next)) = self.ring.evict_at_head() {
            let jp = JournalProducer { journal: self.journals.id(&env.journal), producer: env.producer() };
            if let Some(p) = self.partials.get_mut(&jp) {
                p.ring.evict(slot, next);
            }
        }
    }

    /// The envelope returned by the last `step`, until `step` is called again.
    pub fn dequeued(&self) -> Option<&Envelope> {
        self.dequeued.as_ref()
    }

    /// Whether a committed sequence is being dequeued (`step` until `None`).
    pub fn is_dequeuing(&self) -> bool {
        self.emit.is_some()
    }
}

/// What a sequencer checkpoints: where to resume reading each journal, and each
/// producer's state. A new sequencer built from it continues exactly once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SequencerState {
    /// Per journal, the offset to resume reading from.
    pub read_through: BTreeMap<Arc<str>, Offset>,
    /// Per (journal, producer) state, sorted.
    pub producers: Vec<ProducerState>,
}

pub(crate) fn log_error(env: &Envelope, p_min_max_begin: &impl fmt::Debug, msg: &str) {
    tracing::error!(
        journal = %env.journal, begin = env.begin, end = env.end, producer = %env.producer(),
        clock = env.clock().0, flags = env.flags().bits(), partial = ?p_min_max_begin, "{msg}"
    );
}

#[path = "sequencer_step.rs"]
mod step;

#[cfg(test)]
#[path = "sequencer_tests.rs"]
mod tests;

