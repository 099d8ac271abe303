//! The envelope: one framed message and where it sits in its journal.
//!
//! Mirrors Gazette's `message.Envelope` (`message/interfaces.go`), with the message
//! kept as its raw frame bytes: the host never needs the decoded payload, it only
//! routes frames to guests, so decoding stops at the UUID.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use uuid::Uuid;

use super::clock::Clock;
use super::uuid::{clock_of, flags_of, producer_of, Flags, ProducerId};

/// A journal byte offset. Signed as in Gazette's protocol (`-1` means "none").
pub type Offset = i64;

/// One message read from a journal.
#[derive(Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The journal the message was read from.
    pub journal: Arc<str>,
    /// Offset of the frame's first byte.
    pub begin: Offset,
    /// Offset just past the frame's terminating newline.
    pub end: Offset,
    /// The message UUID, as extracted from the frame's `UUID` field.
    pub uuid: Uuid,
    /// The whole frame: the JSON object and its terminating `\n`.
    pub message: Bytes,
}

impl Envelope {
    /// The producer that published this message.
    pub fn producer(&self) -> ProducerId {
        producer_of(&self.uuid)
    }

    /// The producer clock of this message.
    pub fn clock(&self) -> Clock {
        clock_of(&self.uuid)
    }

    /// The raw flags of this message (possibly an undefined value).
    pub fn flags(&self) -> Flags {
        flags_of(&self.uuid)
    }

    /// Whether this is a transaction acknowledgement (which applications never see).
    pub fn is_ack(&self) -> bool {
        self.flags() == Flags::ACK_TXN
    }
}

impl fmt::Debug for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Envelope")
            .field("journal", &self.journal)
            .field("range", &(self.begin..self.end))
            .field("producer", &self.producer().to_string())
            .field("clock", &self.clock().0)
            .field("flags", &self.flags().to_string())
            .field("message", &String::from_utf8_lossy(&self.message))
            .finish()
    }
}
