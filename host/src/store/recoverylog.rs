//! The recovery-log record: one committed transaction's write batch, framed and
//! checksummed, as appended to a shard's recovery-log journal.
//!
//! Gazette's recovery log (`consumer/recoverylog/recorded_op.proto`, `recorder.go`)
//! records RocksDB's *file* operations. Ours (DESIGN §7) records the transaction's
//! logical write batch instead — guest puts and deletes plus the checkpoint — which any
//! process can re-apply to an empty RocksDB. Three kinds of record exist:
//!
//! - a **transaction**: `ops` + `checkpoint`, with the next `seq_no`;
//! - a **snapshot**: `snapshot = true`, `ops` hold the shard's whole state and
//!   `checkpoint` its checkpoint; applying it first clears the store;
//! - a **hand-off** no-op (no ops, no checkpoint, `seq_no = 0`): appended by a new
//!   owner with `union_registers {author: <id>}` to fence the previous one.
//!
//! Framing keeps Gazette's fixed-frame magic `66 33 93 36` and u32 LE length, and adds
//! a u32 LE CRC-32 of the payload, so a corrupted or torn record is detected where it
//! is read instead of being applied.

use prost::Message;

/// Magic word opening every frame (Gazette's fixed framing).
pub const MAGIC: [u8; 4] = [0x66, 0x33, 0x93, 0x36];
/// Bytes of a frame header: magic, payload length, payload CRC-32.
pub const HEADER_LEN: usize = 12;
/// Largest payload a frame may announce; a larger length is taken as corruption.
pub const MAX_PAYLOAD: usize = 1 << 30;
/// Name of the register that names a recovery log's owner.
pub const AUTHOR_REGISTER: &str = "author";
/// Name of the register holding the offset of the log's newest snapshot record.
pub const SNAPSHOT_REGISTER: &str = "snapshot";

/// One guest write of a transaction.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct LogOp {
    /// The guest key (without the store's namespace prefix).
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    /// The new value; absent for a delete.
    #[prost(bytes = "vec", optional, tag = "2")]
    pub value: Option<Vec<u8>>,
}

/// One record of a recovery log.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct LogRecord {
    /// Strictly increasing (+1) over transaction and snapshot records; 0 for a
    /// hand-off no-op.
    #[prost(uint64, tag = "1")]
    pub seq_no: u64,
    /// Random id of the writing owner (its fencing register value).
    #[prost(fixed64, tag = "2")]
    pub author: u64,
    /// Guest writes, in key order.
    #[prost(message, repeated, tag = "3")]
    pub ops: Vec<LogOp>,
    /// The encoded checkpoint committed with the writes.
    #[prost(bytes = "vec", optional, tag = "4")]
    pub checkpoint: Option<Vec<u8>>,
    /// Whether this record is a snapshot of the whole state.
    #[prost(bool, tag = "5")]
    pub snapshot: bool,
}

impl LogRecord {
    /// A hand-off no-op by `author`.
    pub fn handoff(author: u64) -> Self {
        LogRecord { author, ..Default::default() }
    }

    /// Whether this is a hand-off no-op.
    pub fn is_handoff(&self) -> bool {
        self.seq_no == 0 && self.ops.is_empty() && self.checkpoint.is_none() && !self.snapshot
    }

    /// The framed bytes of this record.
    pub fn frame(&self) -> Vec<u8> {
        let payload = self.encode_to_vec();
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        out.extend_from_slice(&payload);
        out
    }
}

/// Why bytes of a recovery log are not a valid record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The frame does not start with the magic word.
    #[error("no record frame here (found {found:02x?} instead of the magic 66 33 93 36)")]
    BadMagic {
        /// The four bytes found.
        found: [u8; 4],
    },
    /// The announced payload length is beyond [`MAX_PAYLOAD`].
    #[error("record announces {len} payload bytes (more than {MAX_PAYLOAD})")]
    TooLong {
        /// The announced length.
        len: usize,
    },
    /// The payload's CRC-32 does not match the header's.
    #[error("record checksum mismatch (header says {want:08x}, payload hashes to {got:08x})")]
    Checksum {
        /// CRC in the header.
        want: u32,
        /// CRC of the payload read.
        got: u32,
    },
    /// The checksum matched but the payload is not a record.
    #[error("record payload does not decode: {0}")]
    Decode(String),
    /// The log ends in the middle of a record.
    #[error("the log ends inside a record ({have} of {need} bytes present)")]
    Truncated {
        /// Bytes present from the record's start.
        have: usize,
        /// Bytes the record needs.
        need: usize,
    },
}

/// Parses the frame at the start of `buf`: `Ok(None)` if `buf` holds only part of it,
/// else the record and its framed length.
///
/// # Errors
/// [`FrameError`] for bytes that can never become a valid record.
pub fn parse_frame(buf: &[u8]) -> Result<Option<(LogRecord, usize)>, FrameError> {
    if buf.len() < 4 {
        return if MAGIC.starts_with(buf) { Ok(None) } else { Err(bad_magic(buf)) };
    }
    if buf[..4] != MAGIC {
        return Err(bad_magic(buf));
    }
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let len = u32::from_le_bytes(buf[4..8].try_into().expect("4 bytes")) as usize;
    if len > MAX_PAYLOAD {
        return Err(FrameError::TooLong { len });
    }
    let want = u32::from_le_bytes(buf[8..12].try_into().expect("4 bytes"));
    let Some(payload) = buf.get(HEADER_LEN..HEADER_LEN + len) else { return Ok(None) };
    let got = crc32fast::hash(payload);
    if got != want {
        return Err(FrameError::Checksum { want, got });
    }
    let record = LogRecord::decode(payload).map_err(|e| FrameError::Decode(e.to_string()))?;
    Ok(Some((record, HEADER_LEN + len)))
}

/// The bytes a partial frame at the start of `buf` still needs in total (for
/// reporting a truncated log).
pub fn needed_len(buf: &[u8]) -> usize {
    match buf.get(4..8) {
        Some(len) => HEADER_LEN + u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize,
        None => HEADER_LEN,
    }
}

fn bad_magic(buf: &[u8]) -> FrameError {
    let mut found = [0u8; 4];
    let n = buf.len().min(4);
    found[..n].copy_from_slice(&buf[..n]);
    FrameError::BadMagic { found }
}

/// The register value naming `author` (lowercase hex, a valid label value).
pub fn author_value(author: u64) -> String {
    format!("{author:016x}")
}

/// A fresh random nonzero owner id.
pub fn random_author() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    h.write_u32(std::process::id());
    h.finish().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(seq_no: u64) -> LogRecord {
        LogRecord {
            seq_no,
            author: 0xfeed,
            ops: vec![
                LogOp { key: b"a".to_vec(), value: Some(b"1".to_vec()) },
                LogOp { key: b"b".to_vec(), value: None },
            ],
            checkpoint: Some(b"cp".to_vec()),
            snapshot: false,
        }
    }

    #[test]
    fn frames_round_trip_and_split_anywhere() {
        let mut log = txn(1).frame();
        log.extend(LogRecord::handoff(7).frame());
        assert_eq!(&log[..4], &MAGIC);
        let (first, n) = parse_frame(&log).unwrap().unwrap();
        assert_eq!(first, txn(1));
        let (second, m) = parse_frame(&log[n..]).unwrap().unwrap();
        assert!(second.is_handoff());
        assert_eq!(second.author, 7);
        assert_eq!(n + m, log.len());
        for cut in 0..n {
            assert_eq!(parse_frame(&log[..cut]), Ok(None), "a prefix of {cut} bytes is incomplete");
        }
        assert_eq!(needed_len(&log[..10]), n);
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let frame = txn(3).frame();
        for i in 0..frame.len() * 8 {
            let mut bad = frame.clone();
            bad[i / 8] ^= 1 << (i % 8);
            match parse_frame(&bad) {
                Ok(Some((rec, _))) => panic!("bit {i} flipped went unnoticed: {rec:?}"),
                Ok(None) => assert!((32..64).contains(&i), "only a larger length may look incomplete (bit {i})"),
                Err(_) => {}
            }
        }
    }

    #[test]
    fn garbage_is_reported_as_such() {
        assert_eq!(parse_frame(b"{\"ID\"").unwrap_err(), FrameError::BadMagic { found: *b"{\"ID" });
        assert!(matches!(parse_frame(b"\x66\x00"), Err(FrameError::BadMagic { .. })));
        let mut frame = txn(1).frame();
        frame[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(parse_frame(&frame), Err(FrameError::TooLong { .. })));
    }

    #[test]
    fn authors_are_nonzero_and_differ() {
        let a = random_author();
        let b = random_author();
        assert!(a != 0 && b != 0 && a != b);
        assert_eq!(author_value(0xab), "00000000000000ab");
        crate::journal::validate_label_value(AUTHOR_REGISTER, &author_value(a)).unwrap();
    }
}
