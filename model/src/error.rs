//! Errors of the model, one enum per thing a caller branches on.
//!
//! None of them names a journal or offset: the model does not know them. Callers (the
//! summer's `consume`, the host's native summer) wrap them with that context.

use thiserror::Error;

use crate::StreamId;

/// A message that is not a well-formed Chunk or Sum.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum MessageError {
    /// The bytes are not a JSON object of the expected shape (includes syntax errors,
    /// wrong field types, duplicate fields and a malformed `ID`).
    #[error("invalid {kind} JSON: {reason}")]
    Json {
        /// "chunk" or "sum".
        kind: &'static str,
        /// serde_json's description, with line and column.
        reason: String,
    },
    /// A required field is absent or null.
    #[error("{kind} has no {field} field")]
    MissingField {
        /// "chunk" or "sum".
        kind: &'static str,
        /// The JSON field name.
        field: &'static str,
    },
    /// `Data` is not standard base64 with padding.
    #[error("stream {id} seq_no {seq_no}: Data is not valid base64: {reason}")]
    Base64 {
        /// The chunk's stream.
        id: StreamId,
        /// The chunk's sequence number.
        seq_no: u64,
        /// The decoder's description.
        reason: String,
    },
    /// `SHA1` is not 40 hex characters.
    #[error("sum of stream {id}: SHA1 {value:?} is not 40 hex characters")]
    Sha1Hex {
        /// The sum's stream.
        id: StreamId,
        /// The offending value.
        value: String,
    },
}

/// A chunk that a stream's state refuses (Gazette's `Sum.Update` errors).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum UpdateError {
    /// The chunk belongs to another stream.
    #[error("chunk of stream {got} applied to the state of stream {expected}")]
    WrongId {
        /// The state's stream.
        expected: StreamId,
        /// The chunk's stream.
        got: StreamId,
    },
    /// The chunk's sequence number is not the previous one plus one (a duplicate, a
    /// gap, or a reordering).
    #[error("stream {id}: chunk seq_no {got} is out of order: last applied seq_no is {last}, expected {}", last + 1)]
    OutOfOrder {
        /// The stream.
        id: StreamId,
        /// The last sequence number applied to the stream (0 for a new stream).
        last: u64,
        /// The chunk's sequence number.
        got: u64,
    },
    /// The stream already ended with an empty chunk; nothing may follow it.
    #[error("stream {id}: chunk seq_no {got} arrived after the stream ended at seq_no {ended_at}")]
    AfterEnd {
        /// The stream.
        id: StreamId,
        /// The sequence number of the stream's final (empty) chunk.
        ended_at: u64,
        /// The chunk's sequence number.
        got: u64,
    },
}

/// A stored stream state that cannot be decoded.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The value's format version is not one this build reads.
    #[error("stored state of stream {id} has unknown format version {version}")]
    Version {
        /// The stream (from the store key).
        id: StreamId,
        /// The version byte found.
        version: u8,
    },
    /// The value is truncated or has trailing or inconsistent bytes.
    #[error("stored state of stream {id} is corrupt: {reason}")]
    Corrupt {
        /// The stream (from the store key).
        id: StreamId,
        /// What is wrong with it.
        reason: &'static str,
    },
}
