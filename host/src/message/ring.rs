//! The sequencer's ring buffer of recently queued envelopes, linked per producer.
//!
//! Mirrors the `ring`/`next`/`head` fields and `addAtHead`/`evictAtHead` of Gazette's
//! `message/sequencer.go`. Every envelope that may later be emitted (CONTINUE spans and
//! committing messages) is written at `head`; entries of one (journal, producer)
//! sequence are chained through `next`, from the sequence's `ring_start` to its
//! `ring_stop`. The ring is FIFO, so a sequence always loses its oldest entry first;
//! once an entry is evicted the sequence must be replayed from the journal.

use super::envelope::Envelope;

/// Where a sequence's entries sit in the ring (inclusive indices), if any do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RingSpan {
    /// Index of the sequence's oldest entry still in the ring.
    pub start: Option<usize>,
    /// Index of the sequence's newest entry.
    pub stop: Option<usize>,
}

/// A fixed-capacity ring of envelopes with per-sequence links.
#[derive(Debug)]
pub(crate) struct Ring {
    /// Envelope slots; `None` when never written or evicted.
    slots: Vec<Option<Envelope>>,
    /// For each slot, the next slot of the same sequence.
    next: Vec<Option<usize>>,
    /// The next slot to be written.
    head: usize,
}

impl Ring {
    /// A ring of `capacity` slots (at least one).
    pub fn new(capacity: usize) -> Ring {
        let capacity = capacity.max(1);
        Ring { slots: vec![None; capacity], next: vec![None; capacity], head: 0 }
    }

    /// The envelope in `slot`, if one is there.
    pub fn get(&self, slot: usize) -> Option<&Envelope> {
        self.slots.get(slot).and_then(Option::as_ref)
    }

    /// The slot after `slot` in its sequence.
    pub fn next(&self, slot: usize) -> Option<usize> {
        self.next.get(slot).copied().flatten()
    }

    /// Frees the slot at `head` before it is overwritten. Returns the evicted envelope
    /// so the caller can unlink it from its sequence with [`RingSpan::evict`].
    pub fn evict_at_head(&mut self) -> Option<(Envelope, usize, Option<usize>)> {
        let head = self.head;
        let env = self.slots[head].take()?;
        let next = self.next[head].take();
        Some((env, head, next))
    }

    /// Writes `env` at `head`, appends it to `span`, and advances `head`.
    pub fn add_at_head(&mut self, env: Envelope, span: &mut RingSpan) {
        let head = self.head;
        self.slots[head] = Some(env);
        self.next[head] = None;
        match span.stop {
            Some(stop) => self.next[stop] = Some(head),
            None => span.start = Some(head),
        }
        span.stop = Some(head);
        self.head = (head + 1) % self.slots.len();
    }
}

impl RingSpan {
    /// Unlinks the evicted entry `slot` (whose successor was `next`) if it is this
    /// span's oldest entry.
    pub fn evict(&mut self, slot: usize, next: Option<usize>) {
        if self.start != Some(slot) {
            return;
        }
        if self.start == self.stop || next.is_none() {
            *self = RingSpan::default();
        } else {
            self.start = next;
        }
    }
}
