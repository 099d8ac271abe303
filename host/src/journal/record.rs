//! The per-journal commit index: one framed, checksummed record per append.
//!
//! Gazette keeps a journal's committed extent in its replicated spool and fragment
//! index (`broker/fragment/spool.go`, `index.go`); on one disk we keep it in
//! `index.log`, a sequence of [`IndexRecord`]s appended (and synced) together with the
//! fragment bytes they describe. A record says "bytes `[begin, end)` with CRC-32
//! `content_crc` were appended, after which the registers were …", so registers are
//! persisted atomically with their append.
//!
//! On open, the records are scanned: a record that is cut short or fails its own
//! checksum ends the log (a torn index tail). Every record carries `durable`, the
//! committed head when it was written, which is known to be synced; records beyond the
//! greatest `durable` seen are re-verified against the fragment bytes before they are
//! trusted, so content lost in a crash (a torn data tail) is never served.
//!
//! Layout (little-endian): `magic u32 | body_len u32 | body | crc32(body) u32`, body =
//! `begin u64 | end u64 | durable u64 | content_crc u32 | has_registers u8 |
//! registers_len u32 | registers (JSON LabelSet)`.

use super::labels::LabelSet;

/// Name of the commit index file in a journal directory.
pub const INDEX_FILE: &str = "index.log";

/// Name of a compacted index (`prune.rs`) before it replaces [`INDEX_FILE`]; a leftover
/// one is a crash mid-prune, removed on open (`recover.rs`).
pub const COMPACTED_TMP: &str = ".index.log.tmp";

/// Marks the start of every record ("JRNL").
const MAGIC: u32 = 0x4A52_4E4C;
/// Fixed part of a body before the registers.
const FIXED_BODY: usize = 8 + 8 + 8 + 4 + 1 + 4;
/// Largest accepted body, guarding against a corrupt length.
const MAX_BODY: usize = 1 << 20;

/// One committed append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexRecord {
    /// First journal offset of the append.
    pub begin: u64,
    /// End (exclusive) journal offset of the append.
    pub end: u64,
    /// The journal's synced head when this record was written.
    pub durable: u64,
    /// CRC-32 of the appended bytes.
    pub content_crc: u32,
    /// The registers after this append, when it changed them.
    pub registers: Option<LabelSet>,
}

impl IndexRecord {
    /// Encodes the record into its framed form.
    pub fn encode(&self) -> Vec<u8> {
        let regs = self.registers.as_ref().map(|r| serde_json::to_vec(r).expect("label sets serialize"));
        let reg_bytes = regs.as_deref().unwrap_or(&[]);
        let mut body = Vec::with_capacity(FIXED_BODY + reg_bytes.len());
        body.extend_from_slice(&self.begin.to_le_bytes());
        body.extend_from_slice(&self.end.to_le_bytes());
        body.extend_from_slice(&self.durable.to_le_bytes());
        body.extend_from_slice(&self.content_crc.to_le_bytes());
        body.push(u8::from(regs.is_some()));
        body.extend_from_slice(&(reg_bytes.len() as u32).to_le_bytes());
        body.extend_from_slice(reg_bytes);

        let mut out = Vec::with_capacity(body.len() + 12);
        out.extend_from_slice(&MAGIC.to_le_bytes());
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        out
    }

    /// Decodes one record from the front of `buf`, returning it and its framed length,
    /// or `None` when `buf` does not start with a complete, intact record.
    pub fn decode(buf: &[u8]) -> Option<(IndexRecord, usize)> {
        let u32_at = |b: &[u8], i: usize| b.get(i..i + 4).map(|s| u32::from_le_bytes(s.try_into().unwrap()));
        let u64_at = |b: &[u8], i: usize| b.get(i..i + 8).map(|s| u64::from_le_bytes(s.try_into().unwrap()));
        if u32_at(buf, 0)? != MAGIC {
            return None;
        }
        let body_len = u32_at(buf, 4)? as usize;
        if !(FIXED_BODY..=MAX_BODY).contains(&body_len) {
            return None;
        }
        let body = buf.get(8..8 + body_len)?;
        if u32_at(buf, 8 + body_len)? != crc32fast::hash(body) {
            return None;
        }
        let reg_len = u32_at(body, 29)? as usize;
        if FIXED_BODY + reg_len != body_len {
            return None;
        }
        let registers = match body[28] {
            0 => None,
            1 => Some(serde_json::from_slice(&body[FIXED_BODY..]).ok()?),
            _ => return None,
        };
        let rec = IndexRecord {
            begin: u64_at(body, 0)?,
            end: u64_at(body, 8)?,
            durable: u64_at(body, 16)?,
            content_crc: u32_at(body, 24)?,
            registers,
        };
        (rec.begin <= rec.end).then_some((rec, body_len + 12))
    }

    /// Decodes the longest intact prefix of an index file: its records and the byte
    /// length they occupy (anything after is a torn tail).
    pub fn decode_all(mut buf: &[u8]) -> (Vec<IndexRecord>, usize) {
        let (mut out, mut used) = (Vec::new(), 0);
        while let Some((rec, n)) = Self::decode(buf) {
            if out.last().is_some_and(|prev: &IndexRecord| prev.end != rec.begin) {
                break;
            }
            out.push(rec);
            used += n;
            buf = &buf[n..];
        }
        (out, used)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(begin: u64, end: u64, regs: Option<LabelSet>) -> IndexRecord {
        IndexRecord { begin, end, durable: begin, content_crc: crc32fast::hash(b"x"), registers: regs }
    }

    #[test]
    fn records_round_trip_with_and_without_registers() {
        let regs = LabelSet::from_pairs([("author", "shard-1")]);
        for r in [rec(0, 10, None), rec(10, 20, Some(regs.clone())), rec(20, 20, Some(LabelSet::default()))] {
            let bytes = r.encode();
            assert_eq!(IndexRecord::decode(&bytes), Some((r.clone(), bytes.len())));
        }
    }

    #[test]
    fn a_torn_or_corrupt_tail_ends_the_log() {
        let mut log = Vec::new();
        log.extend(rec(0, 10, None).encode());
        log.extend(rec(10, 25, None).encode());
        let full = log.len();
        log.extend(&rec(25, 30, None).encode()[..17]); // cut mid-record
        let (recs, used) = IndexRecord::decode_all(&log);
        assert_eq!((recs.len(), used), (2, full));

        let mut flipped = rec(25, 30, None).encode();
        flipped[12] ^= 0xff; // corrupt the body: checksum fails
        let mut log2 = log[..full].to_vec();
        log2.extend(flipped);
        assert_eq!(IndexRecord::decode_all(&log2).0.len(), 2);

        let mut gap = log[..full].to_vec();
        gap.extend(rec(26, 30, None).encode()); // not contiguous with the previous record
        assert_eq!(IndexRecord::decode_all(&gap).0.len(), 2);
    }
}
