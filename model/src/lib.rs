//! The stream-sum model, shared by the summer and chunker guests and by the host's
//! native summer baseline.
//!
//! Mirrors Gazette's `examples/stream-sum/stream_sum.go` with two documented changes:
//! the running sum is SHA-1 of the stream's content (so a file's final sum equals what
//! `sha1sum` prints) instead of CRC-64, and a stream `ID` travels as 32 lowercase hex
//! characters instead of an array of 16 numbers.
//!
//! - [`StreamId`]: the 16 random bytes naming a stream;
//! - [`parse_chunk`] / [`encode_chunk`]: the Chunk message
//!   `{"UUID","ID","SeqNo","Data"}`, parsed borrowing from the frame;
//! - [`Sum`]: the final Sum message `{"UUID","ID","SeqNo","SHA1"}`;
//! - [`RunningSha1`]: a SHA-1 that can be stored mid-stream and resumed;
//! - [`SumState`]: the per-stream state a summer keeps in its store, with
//!   [`SumState::update`] enforcing Gazette's ordering rules;
//! - [`modulo_partition`]: Gazette's ModuloMapping of stream ids to chunk partitions.
//!
//! Messages handed to the host carry no `UUID`: the host owns framing and stamps it.
//! Nothing here panics on any input; every failure is a typed error.

mod chunk;
mod chunk_scan;
mod error;
mod hex;
mod mapping;
mod sha1_state;
mod state;
mod stream_id;
mod sum;
mod text;

pub use chunk::{encode_chunk, parse_chunk, ChunkRef, Message};
pub use error::{DecodeError, MessageError, UpdateError};
pub use mapping::{fnv1a32, modulo_partition};
pub use sha1_state::RunningSha1;
pub use state::SumState;
pub use stream_id::StreamId;
pub use sum::Sum;

/// The journal that summers publish final sums to (Gazette's `FinalSumsJournal`).
pub const SUMS_JOURNAL: &str = "examples/stream-sum/sums";
