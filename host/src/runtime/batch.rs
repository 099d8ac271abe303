//! The packed batch of messages handed to a guest's `consume`.
//!
//! DESIGN §8: one buffer per batch (the frames back to back) plus one envelope per
//! message; one copy and one guest allocation per batch. The builder keeps the
//! invariant the WIT documents (message `i` is `end - begin` bytes that start where
//! message `i - 1` ended) by computing `end` from the frame it is given. Corresponds to
//! the envelopes Gazette's consumer hands `Application.ConsumeMessage` one at a time.

use super::bindings::{Batch, Envelope};

/// A batch of committed messages from one source journal, in journal order.
/// Reusable: [`MessageBatch::reset`] keeps the allocations.
#[derive(Debug, Clone)]
pub struct MessageBatch {
    /// The WIT record, built in place.
    pub(crate) wit: Batch,
}

impl MessageBatch {
    /// An empty batch of messages from `journal`.
    pub fn new(journal: &str) -> Self {
        Self { wit: Batch { journal: journal.to_owned(), envelopes: Vec::new(), frames: Vec::new() } }
    }

    /// Empties the batch for messages of `journal`, keeping its buffers.
    pub fn reset(&mut self, journal: &str) {
        self.wit.journal.clear();
        self.wit.journal.push_str(journal);
        self.wit.envelopes.clear();
        self.wit.frames.clear();
    }

    /// Appends the message whose frame (its JSON line, newline included) starts at
    /// journal offset `begin`.
    pub fn push(&mut self, begin: u64, frame: &[u8]) {
        let end = begin + frame.len() as u64;
        self.wit.envelopes.push(Envelope { begin, end });
        self.wit.frames.extend_from_slice(frame);
    }

    /// The source journal.
    pub fn journal(&self) -> &str {
        &self.wit.journal
    }

    /// Number of messages.
    pub fn len(&self) -> usize {
        self.wit.envelopes.len()
    }

    /// Whether the batch holds no message.
    pub fn is_empty(&self) -> bool {
        self.wit.envelopes.is_empty()
    }

    /// Total bytes of the frames.
    pub fn frame_bytes(&self) -> usize {
        self.wit.frames.len()
    }

    /// The messages as `(begin offset, frame)` pairs, in journal order.
    pub fn messages(&self) -> impl Iterator<Item = (u64, &[u8])> {
        let mut rest: &[u8] = &self.wit.frames;
        self.wit.envelopes.iter().map(move |e| {
            let len = usize::try_from(e.end - e.begin).unwrap_or(usize::MAX).min(rest.len());
            let (frame, tail) = rest.split_at(len);
            rest = tail;
            (e.begin, frame)
        })
    }

    /// The journal offset of the first message, if any (for error reports).
    pub fn first_offset(&self) -> Option<u64> {
        self.wit.envelopes.first().map(|e| e.begin)
    }

    /// The journal offset just past the last message, if any: where reading resumes.
    pub fn end_offset(&self) -> Option<u64> {
        self.wit.envelopes.last().map(|e| e.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_packed_and_envelopes_follow_them() {
        let mut batch = MessageBatch::new("chunks/part-000");
        batch.push(100, b"{\"a\":1}\n");
        batch.push(300, b"{}\n"); // not contiguous: the sequencer dropped something
        assert_eq!(batch.len(), 2);
        assert_eq!(batch.wit.frames, b"{\"a\":1}\n{}\n");
        assert_eq!(batch.wit.envelopes, vec![Envelope { begin: 100, end: 108 }, Envelope { begin: 300, end: 303 }]);
        assert_eq!(batch.end_offset(), Some(303));

        batch.reset("chunks/part-001");
        assert!(batch.is_empty());
        assert_eq!(batch.journal(), "chunks/part-001");
        assert_eq!(batch.frame_bytes(), 0);
    }
}
