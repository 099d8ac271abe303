//! Dequeuing committed sequences, replay, and checkpoints: the second half of the
//! sequencer (Gazette's `Sequencer.Step`, `ReplayRange`, `StartReplay`, `HasPending`,
//! `Checkpoint`), split from `sequencer.rs` to keep each file to one concern.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use super::{log_error, Partial, ProducerState, Sequencer, SequencerError, SequencerState};
use crate::message::clock::Clock;
use crate::message::envelope::{Envelope, Offset};

impl Sequencer {
    /// A sequencer resuming from `state` (see [`Sequencer::new`]).
    pub fn from_state(state: SequencerState, ring_size: usize) -> Sequencer {
        Sequencer::new(state.read_through, state.producers, ring_size)
    }

    /// Marks the envelope returned by the previous call as processed, and returns the
    /// next committed application envelope of the sequence being dequeued, or `None`
    /// when it is exhausted (then `queue_uncommitted` may be called again).
    /// Acknowledgements are processed here and never returned.
    ///
    /// # Errors
    /// [`SequencerError::ReplayRequired`] if the sequence must be replayed first;
    /// [`SequencerError::ReplayOutOfRange`] if a replayed envelope is inconsistent.
    pub fn step(&mut self) -> Result<Option<Envelope>, SequencerError> {
        loop {
            match self.step_any()? {
                Some(env) if env.is_ack() => continue,
                other => return Ok(other),
            }
        }
    }

    /// Like [`step`](Self::step) but also returns ACK envelopes (Gazette's `Step`), for
    /// tests and bookkeeping; never hand its output to an application as is.
    pub fn step_any(&mut self) -> Result<Option<Envelope>, SequencerError> {
        let Some(emit) = &self.emit else { return Ok(None) };
        let jp = emit.jp;
        let journal = self.journals.name(jp.journal).clone();
        let mut p = self.emit_partial()?;
        if self.dequeued.is_none() && self.replay.is_none() {
            if let Some((journal, begin, end)) = self.needed_replay(&p) {
                return Err(SequencerError::ReplayRequired { journal, begin, end });
            }
        }
        if let Some(done) = &self.dequeued {
            // The caller processed `dequeued`: tighten the lower bound to it.
            p.min_clock = done.clock();
        }
        while let Some(start) = p.ring.start {
            let ring_first_begin = self.ring.get(start).map(|e| e.begin);
            let replaying = self.replay.is_some();
            let env = if let Some(replay) = &mut self.replay {
                let Some(env) = replay.pop_front() else {
                    self.replay = None; // Replay finished: continue from the ring.
                    continue;
                };
                let want_end = ring_first_begin.unwrap_or(Offset::MAX);
                if *env.journal != *journal || env.begin < p.begin || env.end > want_end {
                    self.store_emit_partial(p);
                    return Err(SequencerError::ReplayOutOfRange {
                        journal: env.journal.clone(),
                        begin: env.begin,
                        end: env.end,
                        want_journal: journal.clone(),
                        want_begin: p.begin,
                        want_end,
                    });
                }
                if env.producer() != jp.producer {
                    continue; // Other producers' messages are interleaved in the range.
                }
                env
            } else {
                let Some(env) = self.ring.get(start).cloned() else {
                    self.store_emit_partial(p);
                    return Err(SequencerError::Invariant(format!("ring slot {start} of journal {journal} is empty")));
                };
                p.ring.start = self.ring.next(start);
                env
            };
            let clock = env.clock();
            if clock != Clock::ZERO && clock <= p.min_clock {
                if !replaying {
                    log_error(&env, &p, "ring entry at or below the processed clock; skipped");
                }
                continue; // Duplicates are expected within replays.
            } else if clock > p.max_clock {
                continue; // Not covered by the acknowledgement.
            }
            p.begin = env.begin;
            self.dequeued = Some(env.clone());
            self.store_emit_partial(p);
            return Ok(Some(env));
        }

        // Exhausted. Only now advance the journal offset past the committing message.
        if let Some(last) = self.dequeued.take() {
            self.set_offset(&journal, last.end);
        }
        let done = Partial::at(p.min_clock, -1);
        self.store_emit_partial(done);
        self.emit = None;
        self.replay = None;
        Ok(None)
    }

    fn emit_partial(&self) -> Result<Partial, SequencerError> {
        let emit = self.emit.as_ref().ok_or(SequencerError::NotDequeuing)?;
        match emit.unindexed {
            Some(p) => Ok(p),
            None => self.partials.get(&emit.jp).copied().ok_or_else(|| {
                SequencerError::Invariant(format!(
                    "no state for the dequeuing producer {} of journal {}",
                    emit.jp.producer,
                    self.journals.name(emit.jp.journal)
                ))
            }),
        }
    }

    fn store_emit_partial(&mut self, p: Partial) {
        if let Some(emit) = &mut self.emit {
            match &mut emit.unindexed {
                Some(u) => *u = p,
                None => {
                    self.partials.insert(emit.jp, p);
                }
            }
        }
    }

    fn needed_replay(&self, p: &Partial) -> Option<(Arc<str>, Offset, Offset)> {
        let emit = self.emit.as_ref()?;
        let first = self.ring.get(p.ring.start?)?;
        (first.begin != p.begin).then(|| (self.journals.name(emit.jp.journal).clone(), p.begin, first.begin))
    }

    /// The journal range `[begin, end)` the caller must re-read and pass to
    /// [`start_replay`](Self::start_replay), when queueing returned
    /// [`AckCommitReplay`](super::QueueOutcome::AckCommitReplay). `None` if no replay
    /// is needed now.
    pub fn replay_range(&self) -> Option<(Arc<str>, Offset, Offset)> {
        if self.replay.is_some() || self.dequeued.is_some() {
            return None;
        }
        self.needed_replay(&self.emit_partial().ok()?)
    }

    /// Supplies the envelopes of [`replay_range`](Self::replay_range), in journal
    /// order (all producers; others are skipped).
    ///
    /// # Errors
    /// [`SequencerError::NotDequeuing`] if no committed sequence is being dequeued.
    pub fn start_replay(&mut self, envelopes: impl IntoIterator<Item = Envelope>) -> Result<(), SequencerError> {
        if self.emit.is_none() {
            return Err(SequencerError::NotDequeuing);
        }
        self.replay = Some(envelopes.into_iter().collect::<VecDeque<_>>());
        Ok(())
    }

    /// Whether a producer began or extended an open span since the last checkpoint
    /// (a hint that its ACK is coming and worth waiting for).
    pub fn has_pending(&self) -> bool {
        self.partials
            .iter()
            .any(|(jp, p)| p.begin >= self.last_offsets.get(jp.journal as usize).copied().flatten().unwrap_or(0))
    }

    /// Read-through offsets and producer states to persist. Producers whose newest
    /// clock is more than `prune_horizon` older than the newest acknowledged clock of
    /// their journal are forgotten (`Duration::ZERO`: never; consumers use 24 h).
    pub fn checkpoint(&mut self, prune_horizon: Duration) -> SequencerState {
        let mut newest = vec![Clock::ZERO; self.journals.len()];
        for (jp, p) in &self.partials {
            let n = &mut newest[jp.journal as usize];
            *n = (*n).max(p.min_clock);
        }
        let horizon = ((prune_horizon.as_nanos() / 100) as u64).saturating_mul(16);
        let emitting = self.emit.as_ref().filter(|e| e.unindexed.is_none()).map(|e| e.jp);
        self.partials.retain(|jp, p| {
            let floor = if horizon == 0 { 0 } else { newest[jp.journal as usize].0.saturating_sub(horizon) };
            p.max_clock.0 >= floor || emitting.as_ref() == Some(jp)
        });
        let mut producers: Vec<ProducerState> = self
            .partials
            .iter()
            .map(|(jp, p)| ProducerState {
                journal: self.journals.name(jp.journal).clone(),
                producer: jp.producer,
                last_ack: p.min_clock,
                begin: p.begin,
            })
            .collect();
        producers.sort();
        self.last_offsets.clone_from(&self.offsets);
        let read_through = self
            .offsets
            .iter()
            .enumerate()
            .filter_map(|(id, o)| Some((self.journals.name(id as u32).clone(), (*o)?)))
            .collect();
        SequencerState { read_through, producers }
    }
}
