//! Exactly-once messaging on top of at-least-once journals (Gazette's `message/`).
//!
//! Data path: a guest's JSON object → [`framing`] (the host stamps a [`uuid`] built
//! from the producer's [`clock`]) → [`publisher`] append buffers per journal (chosen by
//! a [`mapping`]) → journal bytes → [`decode`] into [`envelope`]s → [`sequencer`]
//! (read-committed: duplicates dropped, transactions held until acknowledged, rolled
//! back ones dropped) → committed envelopes for the application.
//!
//! Everything here is pure and synchronous except [`reader`] and [`append`], the thin
//! async shells that move bytes between journals (through a `JournalClient`) and the
//! pure steps.
//!
//! How a shard transaction uses it (Gazette's `consumer/transaction.go`):
//! - start: `Checkpoint::decode` → `Sequencer::from_state(cp.sequencer, ring)`,
//!   [`append::append_intents`] of `cp.ack_intents` verbatim, readers from the
//!   checkpointed offsets, a new [`Publisher`] (fresh producer id);
//! - read: `queue_uncommitted(env)`; on a committing outcome, replay
//!   `replay_range()` if any, then take envelopes with `step()`. An envelope returned
//!   by `step()` counts as processed when `step()` is called again, so batch like
//!   this (every envelope in `batch` is then covered by the next checkpoint, and
//!   `next` carries over to the next batch or transaction):
//!   `while batch.len() < max { let Some(env) = next.take() else { break }; batch.push(env); next = seq.step()?; }`
//! - commit: `publisher.take_appends()` → [`append::append_pending`] (durable before
//!   the commit), `seq.checkpoint(PRUNE_HORIZON)` + `publisher.build_ack_intents()`
//!   into a `consumer::checkpoint::Checkpoint` committed with the store, then
//!   `append_intents` — before any later append to those journals.

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
