//! Splitting a packed batch (`types.batch` in the WIT) into its messages.
//!
//! The host sends one buffer of frames back to back plus one envelope per message
//! (DESIGN §8: one copy and one guest allocation per batch). Message `i` is the next
//! `end - begin` bytes of `frames`. The whole layout is validated before any message
//! is consumed, so an inconsistent batch has no effect at all.

use crate::streamsum::plugin::types::{Batch, Envelope};

/// Checks that the envelopes describe `frames` exactly: every `end >= begin`, offsets
/// increase, and the lengths add up to `frames.len()`.
///
/// # Errors
/// A message naming the journal and the offset of the first offending envelope.
pub fn validate(batch: &Batch) -> Result<(), String> {
    let mut total: u64 = 0;
    let mut last_end = 0;
    for (i, e) in batch.envelopes.iter().enumerate() {
        if e.end < e.begin || (i > 0 && e.begin < last_end) {
            return Err(format!(
                "journal {} offset {}: malformed batch: envelope {i} spans [{}, {}) after a message ending at {last_end}",
                batch.journal, e.begin, e.begin, e.end
            ));
        }
        last_end = e.end;
        total = total.saturating_add(e.end - e.begin);
    }
    if total != batch.frames.len() as u64 {
        let at = batch.envelopes.first().map_or(0, |e| e.begin);
        return Err(format!(
            "journal {} offset {at}: malformed batch: envelopes cover {total} bytes but {} bytes of frames were sent",
            batch.journal,
            batch.frames.len()
        ));
    }
    Ok(())
}

/// The messages of a validated batch: `(envelope, frame bytes)` in journal order.
pub fn messages(batch: &Batch) -> impl Iterator<Item = (&Envelope, &[u8])> {
    let mut rest: &[u8] = &batch.frames;
    batch.envelopes.iter().map(move |e| {
        let len = usize::try_from(e.end - e.begin).unwrap_or(usize::MAX).min(rest.len());
        let (frame, tail) = rest.split_at(len);
        rest = tail;
        (e, frame)
    })
}
