//! The spool of a replicated journal and the rules by which a replica answers a
//! proposal, as pure functions (no I/O): Gazette's `broker/fragment/spool.go`
//! `Spool.Apply`, with the two steps `replica.rs` describes.

use sha1::{Digest, Sha1};

use super::labels::LabelSet;

/// The SHA-1 of nothing, as Gazette sends it for an empty fragment: all zeros.
pub const EMPTY_SUM: [u8; 20] = [0; 20];

/// A spool as a proposal carries it: the fragment being written, its SHA-1 and the
/// registers after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spool {
    /// First offset of the fragment.
    pub begin: i64,
    /// Offset just past its last byte.
    pub end: i64,
    /// SHA-1 of `[begin, end)` ([`EMPTY_SUM`] when empty).
    pub sum: [u8; 20],
    /// The journal's registers after `end`.
    pub registers: LabelSet,
}

impl Spool {
    /// An empty spool at `at`: a roll.
    pub fn empty(at: i64, registers: LabelSet) -> Self {
        Spool { begin: at, end: at, sum: EMPTY_SUM, registers }
    }
}

/// The replication state of a journal (`State::repl`).
pub(super) struct ReplState {
    /// Where the spool begins (it ends at the write end).
    pub(super) spool_begin: i64,
    /// SHA-1 over `[spool_begin, write end)`.
    pub(super) hasher: Sha1,
    /// The readable head may not pass this.
    pub(super) gate: i64,
}

impl ReplState {
    /// Starts a new spool at `at`.
    pub(super) fn roll(&mut self, at: i64) {
        self.spool_begin = at;
        self.hasher = Sha1::new();
    }

    /// The primary's side of a write at `write_end`: rolls the spool once it reached
    /// `roll_at` bytes; true if the write starts a new fragment file (the spool is new).
    pub(super) fn roll_if_longer(&mut self, write_end: i64, roll_at: i64) -> bool {
        if write_end - self.spool_begin >= roll_at {
            self.roll(write_end);
        }
        self.spool_begin == write_end
    }

    /// Bytes were written at the spool's end.
    pub(super) fn extend(&mut self, content: &[u8]) {
        self.hasher.update(content);
    }

    /// The spool, ending at `end` with `registers`.
    pub(super) fn spool(&self, end: i64, registers: &LabelSet) -> Spool {
        let sum = if self.spool_begin == end { EMPTY_SUM } else { self.hasher.clone().finalize().into() };
        Spool { begin: self.spool_begin, end, sum, registers: registers.clone() }
    }

    /// What a replica at `end` with `registers` does with proposal `p` preceded by
    /// `content`.
    pub(super) fn decide(&self, end: i64, registers: &LabelSet, p: &Spool, content: &[u8]) -> Step {
        if !content.is_empty() {
            if p.end != end + content.len() as i64 {
                return Step::Mismatch;
            }
            if p.begin == self.spool_begin {
                let mut h = self.hasher.clone();
                h.update(content);
                if <[u8; 20]>::from(h.finalize()) == p.sum {
                    return Step::Extend { roll: false };
                }
            }
            if p.begin == end && <[u8; 20]>::from(Sha1::digest(content)) == p.sum {
                return Step::Extend { roll: true };
            }
            return Step::Mismatch;
        }
        if *p == self.spool(end, registers) {
            return Step::Ack;
        }
        if p.begin == p.end {
            return if p.end == end { Step::Roll } else { Step::Reset };
        }
        if p.begin < p.end && p.end <= end {
            return Step::Verify;
        }
        Step::Mismatch
    }
}

/// A replica's answer to a proposal, before any I/O.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// The proposal is the spool already: nothing to do.
    Ack,
    /// Start a new spool at the write end.
    Roll,
    /// Write the content, continuing the spool or starting a new one at the write end.
    Extend { roll: bool },
    /// Cut back (or wipe) to the proposal's offset, then roll there.
    Reset,
    /// Accept the proposal as the spool if the local bytes it covers match its sum.
    Verify,
    /// Answer with the spool.
    Mismatch,
}

/// What a replica answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// The proposal is now the replica's spool.
    Ok,
    /// It is not; this is the replica's spool.
    Mismatch(Spool),
}

#[cfg(test)]
#[path = "spool_tests.rs"]
mod tests;
