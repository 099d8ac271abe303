//! Exactly-once messaging on top of at-least-once journals (Gazette's `message/`).
//!
//! Data path: a guest's JSON object → [`framing`] (the host stamps a [`uuid`] built
//! from the producer's [`clock`]) → [`publisher`] append buffers per journal (chosen by
//! a [`mapping`]) → journal bytes → [`decode`] into [`envelope`]s → [`sequencer`]
//! (read-committed: duplicates dropped, transactions held until acknowledged, rolled
//! back ones dropped) → committed envelopes for the application.
//!
//! Everything here is pure and synchronous; the async shells that move bytes to and
//! from journals live with the journal client and the consumer loop.

pub mod append;
pub mod clock;
pub mod decode;
pub mod envelope;
pub mod framing;
mod journal_ids;
pub mod mapping;
pub mod publisher;
pub mod reader;
mod ring;
pub mod sequencer;
pub mod uuid;

pub use self::clock::{AtomicClock, Clock};
pub use self::decode::{extract_uuid, DecodeError, DecodeErrorKind, FrameDecoder};
pub use self::envelope::{Envelope, Offset};
pub use self::framing::{frame_ack, frame_message, FrameError};
pub use self::mapping::{fnv1a32, ModuloMapping};
pub use self::publisher::{AckIntent, PendingAppend, Publisher};
pub use self::reader::{Backoff, CommittedReader, ReaderError, UncommittedReader};
pub use self::sequencer::{ProducerState, QueueOutcome, Sequencer, SequencerError, SequencerState, PRUNE_HORIZON};
pub use self::uuid::{build_uuid, Flags, ProducerId};
