//! What a journal client asks and what it gets back: appends, reads, listings and
//! spec changes, independent of where the journals are (Gazette's `protocol.AppendRequest`,
//! `ReadRequest`, `ListResponse.Journal` and `ApplyRequest.Change`, in the host's terms).

use bytes::Bytes;

use super::labels::{LabelSelector, LabelSet};
use super::spec::JournalSpec;

/// A journal as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalInfo {
    /// The journal's spec (name, labels, fragment settings).
    pub spec: JournalSpec,
    /// Revision of the spec's creation.
    pub create_revision: i64,
    /// Revision of the spec's last change.
    pub mod_revision: i64,
    /// Committed write head when listed.
    pub write_head: i64,
    /// The brokers serving it, as listed (empty where the lister does not route).
    pub route: super::route::Route,
}

/// One atomic append.
#[derive(Clone, Debug, Default)]
pub struct AppendRequest {
    /// Journal to append to.
    pub journal: String,
    /// The bytes; empty makes the append a write barrier.
    pub content: Bytes,
    /// 0 to append at the head, else the offset the head must equal.
    pub offset: i64,
    /// Precondition on the journal's registers (an empty register set matches any).
    pub check_registers: Option<LabelSelector>,
    /// Labels replacing same-named registers (needs content).
    pub union_registers: LabelSet,
    /// Registers to remove (needs content).
    pub subtract_registers: LabelSet,
}

impl AppendRequest {
    /// A plain append of `content` to `journal`.
    pub fn new(journal: impl Into<String>, content: impl Into<Bytes>) -> Self {
        AppendRequest { journal: journal.into(), content: content.into(), ..Default::default() }
    }
}

/// A committed append: where its bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendResult {
    /// The journal.
    pub journal: String,
    /// Offset of the append's first byte.
    pub begin: i64,
    /// Offset just past its last byte (`begin == end` for a barrier: the head).
    pub end: i64,
    /// SHA-1 of the appended bytes.
    pub sha1: [u8; 20],
    /// The journal's registers after the append.
    pub registers: LabelSet,
}

/// A read from an offset.
#[derive(Clone, Debug, Default)]
pub struct ReadRequest {
    /// Journal to read.
    pub journal: String,
    /// First offset (-1: the write head).
    pub offset: i64,
    /// Wait for content at the head instead of ending with `OffsetNotYetAvailable`.
    pub block: bool,
    /// Stop at this offset (0: no end).
    pub end_offset: i64,
}

/// Committed bytes of a journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadChunk {
    /// Offset of `content[0]`.
    pub offset: i64,
    /// The journal's committed head as last reported.
    pub write_head: i64,
    /// Non-empty content.
    pub content: Bytes,
}

/// A change applied by [`JournalClient::apply`].
#[derive(Clone, Debug)]
pub enum ApplyChange {
    /// Create (`expect_mod_revision == 0`) or update (`> 0` must equal the current
    /// revision; -1 skips the check) a journal.
    Upsert {
        /// The spec.
        spec: JournalSpec,
        /// Expected current mod revision.
        expect_mod_revision: i64,
    },
    /// Delete a journal (`expect_mod_revision` must not be 0).
    Delete {
        /// The journal.
        journal: String,
        /// Expected current mod revision (-1: any).
        expect_mod_revision: i64,
    },
}
