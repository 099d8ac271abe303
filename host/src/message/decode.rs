//! Reading JSON-lines frames: splitting journal bytes into lines and extracting each
//! line's message UUID.
//!
//! Mirrors the read half of Gazette's `message/framing_json.go` plus the envelope
//! bookkeeping of `ReadUncommittedIter` (`message/reader.go`): each frame is one
//! `\n`-terminated line, and its envelope records the `[begin, end)` journal offsets.
//!
//! The UUID is found by a prefix scan when it is the first member (as every frame
//! this host writes has it), so the rest of the message is only checked for UTF-8
//! and a closing `}`; otherwise the line is fully parsed. A line that is not a JSON
//! object or has no valid UUID is a [`DecodeError`] naming the journal and offsets,
//! and decoding resumes at the next line. A final line without its `\n` is
//! incomplete, not an error: it is kept until more bytes arrive.

use std::sync::Arc;

use bytes::BytesMut;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use thiserror::Error;
use uuid::Uuid;

use super::envelope::{Envelope, Offset};
use super::framing::{trim_json_whitespace, KeyIsUuid, UUID_PREFIX, UUID_TEXT_LEN};
use super::uuid::is_message_uuid;

/// Why one line could not be decoded.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// The line is not valid UTF-8.
    #[error("not valid UTF-8 (first bad byte at line offset {0})")]
    NotUtf8(usize),
    /// The line is not one JSON object.
    #[error("not a JSON object: {0}")]
    NotAnObject(String),
    /// The object has no top-level `UUID` member.
    #[error("no \"UUID\" field")]
    MissingUuid,
    /// The `UUID` member is not a version-1 (or nil) UUID string.
    #[error("invalid \"UUID\" field: {0}")]
    InvalidUuid(String),
    /// The line is longer than the decoder's limit; the rest of it is skipped.
    #[error("line longer than {0} bytes; skipped to the next line")]
    TooLong(usize),
}

/// A line of a journal that is not a valid message frame.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("journal {journal} [{begin}, {end}): {kind}")]
pub struct DecodeError {
    /// The journal the line was read from.
    pub journal: Arc<str>,
    /// Offset of the line's first byte.
    pub begin: Offset,
    /// Offset just past the line's `\n`.
    pub end: Offset,
    /// What is wrong with it.
    pub kind: DecodeErrorKind,
}

/// Extracts the message UUID of one line (with or without its trailing `\n`).
///
/// # Errors
/// A [`DecodeErrorKind`] if the line is not a JSON object carrying a valid UUID.
pub fn extract_uuid(line: &[u8]) -> Result<Uuid, DecodeErrorKind> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    if let Err(e) = std::str::from_utf8(line) {
        return Err(DecodeErrorKind::NotUtf8(e.valid_up_to()));
    }
    let end = UUID_PREFIX.len() + UUID_TEXT_LEN;
    if line.starts_with(UUID_PREFIX)
        && line.len() > end + 1
        && line[end] == b'"'
        && matches!(line[end + 1], b',' | b'}')
    {
        // Fast path: `{"UUID":"<36 chars>"` then `,` or `}`.
        if trim_json_whitespace(line).last() != Some(&b'}') {
            return Err(DecodeErrorKind::NotAnObject("line does not end with '}'".into()));
        }
        return parse_message_uuid(&line[UUID_PREFIX.len()..end]);
    }
    full_parse(line)
}

fn parse_message_uuid(text: &[u8]) -> Result<Uuid, DecodeErrorKind> {
    let uuid = Uuid::try_parse_ascii(text)
        .map_err(|e| DecodeErrorKind::InvalidUuid(format!("{:?}: {e}", String::from_utf8_lossy(text))))?;
    if !is_message_uuid(&uuid) {
        return Err(DecodeErrorKind::InvalidUuid(format!("{uuid} is not a version-1 UUID")));
    }
    Ok(uuid)
}

fn full_parse(line: &[u8]) -> Result<Uuid, DecodeErrorKind> {
    let mut de = serde_json::Deserializer::from_slice(line);
    let found = (&mut de).deserialize_map(UuidVisitor).and_then(|v| de.end().map(|()| v));
    match found {
        Err(e) => Err(DecodeErrorKind::NotAnObject(e.to_string())),
        Ok(None) => Err(DecodeErrorKind::MissingUuid),
        Ok(Some(Err(kind))) => Err(kind),
        Ok(Some(Ok(text))) => parse_message_uuid(text.as_bytes()),
    }
}

/// Finds the (last) top-level `UUID` member; `Some(Err)` if it is not a string.
struct UuidVisitor;

impl<'de> Visitor<'de> for UuidVisitor {
    type Value = Option<Result<String, DecodeErrorKind>>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(KeyIsUuid(is_uuid)) = map.next_key()? {
            if is_uuid {
                let value: serde_json::Value = map.next_value()?;
                found = Some(match value {
                    serde_json::Value::String(s) => Ok(s),
                    other => Err(DecodeErrorKind::InvalidUuid(format!("not a string: {other}"))),
                });
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// Longest frame a decoder buffers (16 MiB): a journal without newlines cannot make a
/// reader grow without bound.
pub const MAX_FRAME_BYTES: usize = 16 << 20;

/// Splits a journal's bytes into frames and decodes each into an [`Envelope`].
///
/// Feed it bytes in journal order with [`push`](Self::push); take frames with
/// [`next_frame`](Self::next_frame). Frames are zero-copy slices of the pushed bytes.
#[derive(Debug)]
pub struct FrameDecoder {
    /// The journal being decoded, named in envelopes and errors.
    journal: Arc<str>,
    /// Journal offset of `buf[0]`.
    offset: Offset,
    /// Bytes pushed but not yet returned as frames.
    buf: BytesMut,
    /// How far into `buf` the newline search has already looked.
    scanned: usize,
    /// Longest line accepted.
    max_frame: usize,
    /// Whether the rest of an over-long line is being discarded.
    skipping: bool,
}

impl FrameDecoder {
    /// A decoder whose first pushed byte is at `offset` of `journal`.
    pub fn new(journal: impl Into<Arc<str>>, offset: Offset) -> FrameDecoder {
        FrameDecoder {
            journal: journal.into(),
            offset,
            buf: BytesMut::new(),
            scanned: 0,
            max_frame: MAX_FRAME_BYTES,
            skipping: false,
        }
    }

    /// Uses `max` instead of [`MAX_FRAME_BYTES`] as the longest line accepted.
    pub fn with_max_frame(mut self, max: usize) -> FrameDecoder {
        self.max_frame = max;
        self
    }

    /// Appends the next bytes of the journal.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The journal offset of the next frame (the first byte not yet returned).
    pub fn offset(&self) -> Offset {
        self.offset
    }

    /// Bytes of an incomplete final line, waiting for the rest of it.
    pub fn incomplete_len(&self) -> usize {
        self.buf.len()
    }

    /// The journal this decoder reads.
    pub fn journal(&self) -> &Arc<str> {
        &self.journal
    }

    /// The next complete frame, `None` if no complete line is buffered (an
    /// incomplete final line is not an error). A bad line yields `Some(Err)` and is
    /// skipped: the following call continues at the next line.
    ///
    /// A line longer than the limit yields one [`DecodeErrorKind::TooLong`] error as
    /// soon as the limit is passed (its range ends where the decoder had read to), and
    /// the rest of it is discarded without buffering.
    pub fn next_frame(&mut self) -> Option<Result<Envelope, DecodeError>> {
        let newline = find_newline(&self.buf[self.scanned..]);
        let Some(i) = newline else {
            self.scanned = self.buf.len();
            if self.skipping || self.buf.len() > self.max_frame {
                let begin = self.offset;
                self.discard(self.buf.len());
                if !std::mem::replace(&mut self.skipping, true) {
                    return Some(Err(self.error(begin, DecodeErrorKind::TooLong(self.max_frame))));
                }
            }
            return None;
        };
        if std::mem::take(&mut self.skipping) {
            self.discard(self.scanned + i + 1); // The tail of an over-long line.
            return self.next_frame();
        }
        let begin = self.offset;
        if self.scanned + i + 1 > self.max_frame {
            self.discard(self.scanned + i + 1);
            return Some(Err(self.error(begin, DecodeErrorKind::TooLong(self.max_frame))));
        }
        let line = self.buf.split_to(self.scanned + i + 1).freeze();
        self.scanned = 0;
        let end = begin + line.len() as Offset;
        self.offset = end;
        Some(match extract_uuid(&line) {
            Ok(uuid) => Ok(Envelope { journal: self.journal.clone(), begin, end, uuid, message: line }),
            Err(kind) => Err(DecodeError { journal: self.journal.clone(), begin, end, kind }),
        })
    }

    fn discard(&mut self, n: usize) {
        let _ = self.buf.split_to(n);
        self.scanned = 0;
        self.offset += n as Offset;
    }

    fn error(&self, begin: Offset, kind: DecodeErrorKind) -> DecodeError {
        DecodeError { journal: self.journal.clone(), begin, end: self.offset, kind }
    }
}

/// Index of the first `\n` in `bytes`, eight bytes per step (SWAR): the byte loop this
/// replaces was most of `next_frame` in profiles (frames are ~150 bytes).
fn find_newline(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut words = bytes.chunks_exact(8);
    for (n, word) in (&mut words).enumerate() {
        let mut le = [0u8; 8];
        le.copy_from_slice(word);
        let x = u64::from_le_bytes(le) ^ (ONES * u64::from(b'\n'));
        // High bit of each zero byte of `x`; the lowest one is exact.
        let zeros = x.wrapping_sub(ONES) & !x & HIGH;
        if zeros != 0 {
            return Some(n * 8 + (zeros.trailing_zeros() / 8) as usize);
        }
    }
    let tail = words.remainder();
    tail.iter().position(|&b| b == b'\n').map(|i| bytes.len() - tail.len() + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_newline_finds_the_first_one_at_every_position() {
        for len in 0..40 {
            let mut bytes: Vec<u8> = (0..len).map(|i| [b'a', 0x0b, 0x09, 0x8a, 0xff][i % 5]).collect();
            assert_eq!(find_newline(&bytes), None, "len {len}");
            for at in 0..len {
                bytes[at] = b'\n';
                if at + 1 < len {
                    bytes[at + 1] = b'\n';
                }
                assert_eq!(find_newline(&bytes), Some(at), "len {len} at {at}");
                bytes[at] = b'a';
                if at + 1 < len {
                    bytes[at + 1] = b'a';
                }
            }
        }
    }

    const UUID: &str = "a747c01e-2c29-11ea-9402-010203040506";

    #[test]
    fn uuid_is_extracted_by_prefix_scan_or_full_parse() {
        let cases = [
            format!(r#"{{"UUID":"{UUID}","a":1}}"#),
            format!(r#"{{"UUID":"{UUID}"}}"#),
            format!(r#"{{"UUID":"{UUID}"}}  "#),
            format!("{{\"a\":1,\"UUID\":\"{UUID}\"}}\n"),
            format!(r#" {{ "UUID" : "{UUID}" }}"#),
            format!(r#"{{"\u0055UID":"{}"}}"#, UUID.to_uppercase()),
            format!(r#"{{"UUID":"{}"}}"#, UUID.replace('-', "")),
            r#"{"UUID":"00000000-0000-0000-0000-000000000000"}"#.to_string(),
        ];
        for line in cases {
            let got = extract_uuid(line.as_bytes()).map(|u| u.to_string());
            let want = if line.contains("00000000-") { Uuid::nil().to_string() } else { UUID.to_string() };
            assert_eq!(got, Ok(want), "{line}");
        }
    }

    #[test]
    fn bad_lines_are_classified() {
        use DecodeErrorKind::*;
        let v4 = "9b2e5f1c-3d4a-4b6c-8d7e-0f1a2b3c4d5e";
        type Check = fn(&DecodeErrorKind) -> bool;
        let cases: Vec<(Vec<u8>, Check)> = vec![
            (b"".to_vec(), |k| matches!(k, NotAnObject(_))),
            (b"[1,2]".to_vec(), |k| matches!(k, NotAnObject(_))),
            (b"not json".to_vec(), |k| matches!(k, NotAnObject(_))),
            (b"{\"a\":1}".to_vec(), |k| *k == MissingUuid),
            (b"{\"UUID\":7}".to_vec(), |k| matches!(k, InvalidUuid(_))),
            (b"{\"UUID\":\"nope\"}".to_vec(), |k| matches!(k, InvalidUuid(_))),
            (format!("{{\"UUID\":\"{v4}\"}}").into_bytes(), |k| matches!(k, InvalidUuid(_))),
            (b"{\"UUID\":\"a747c01e-2c29-11ea-9402-01020304050z\"}".to_vec(), |k| matches!(k, InvalidUuid(_))),
            (format!("{{\"UUID\":\"{UUID}\",\"a\":1").into_bytes(), |k| matches!(k, NotAnObject(_))),
            ([format!("{{\"UUID\":\"{UUID}\",\"a\":\"\u{e9}").as_bytes(), b"\xff\"}"].concat(), |k| {
                matches!(k, NotUtf8(_))
            }),
            (b"\xff\xfe\xfd".to_vec(), |k| *k == NotUtf8(0)),
        ];
        for (line, check) in cases {
            let err = extract_uuid(&line).unwrap_err();
            assert!(check(&err), "{:?}: {err}", String::from_utf8_lossy(&line));
        }
    }

    #[test]
    fn decoder_yields_envelopes_with_offsets_and_resumes_after_bad_lines() {
        let good = format!("{{\"UUID\":\"{UUID}\",\"n\":1}}\n");
        let mut d = FrameDecoder::new("a/journal", 100);
        d.push(good.as_bytes());
        d.push(b"garbage\n");
        d.push(b"\n");
        d.push(good.as_bytes());

        let first = d.next_frame().unwrap().unwrap();
        let n = good.len() as i64;
        assert_eq!((first.begin, first.end), (100, 100 + n));
        assert_eq!(&first.message[..], good.as_bytes());
        assert_eq!(first.uuid.to_string(), UUID);

        let err = d.next_frame().unwrap().unwrap_err();
        assert_eq!((err.begin, err.end), (100 + n, 108 + n));
        assert!(
            err.to_string().starts_with(&format!("journal a/journal [{}, {}): not a JSON object", 100 + n, 108 + n)),
            "{err}"
        );
        let err = d.next_frame().unwrap().unwrap_err();
        assert_eq!((err.begin, err.end), (108 + n, 109 + n));

        let last = d.next_frame().unwrap().unwrap();
        assert_eq!((last.begin, last.end), (109 + n, 109 + 2 * n));
        assert!(d.next_frame().is_none());
        assert_eq!(d.offset(), 109 + 2 * n);
    }

    #[test]
    fn a_truncated_final_line_is_incomplete_until_the_rest_arrives() {
        let good = format!("{{\"UUID\":\"{UUID}\"}}\n");
        let (head, tail) = good.as_bytes().split_at(20);
        let mut d = FrameDecoder::new("j", 0);
        d.push(head);
        assert!(d.next_frame().is_none());
        assert!(d.next_frame().is_none());
        assert_eq!(d.incomplete_len(), 20);
        assert_eq!(d.offset(), 0);
        d.push(tail);
        let env = d.next_frame().unwrap().unwrap();
        assert_eq!((env.begin, env.end), (0, good.len() as i64));
        assert_eq!(d.incomplete_len(), 0);
    }

    #[test]
    fn over_long_lines_are_reported_once_and_skipped_without_buffering() {
        let good = format!("{{\"UUID\":\"{UUID}\"}}\n");
        let mut d = FrameDecoder::new("j", 0).with_max_frame(good.len());
        d.push(good.as_bytes());
        d.push(&[b'x'; 30]);
        assert!(d.next_frame().unwrap().is_ok());
        assert!(d.next_frame().is_none(), "30 bytes are within the limit");
        d.push(&[b'x'; 30]);
        let err = d.next_frame().unwrap().unwrap_err();
        let n = good.len() as i64;
        assert_eq!((err.begin, err.end, err.kind.clone()), (n, n + 60, DecodeErrorKind::TooLong(good.len())));
        assert_eq!(d.incomplete_len(), 0);
        d.push(&[b'x'; 100]);
        assert!(d.next_frame().is_none(), "reported once");
        assert_eq!(d.incomplete_len(), 0);
        d.push(b"xx\n");
        d.push(good.as_bytes());
        let env = d.next_frame().unwrap().unwrap();
        assert_eq!((env.begin, env.end), (n + 163, 2 * n + 163));

        // A complete line over the limit is one error for exactly its range.
        d.push(format!("{}\n", "y".repeat(good.len())).as_bytes());
        let err = d.next_frame().unwrap().unwrap_err();
        assert_eq!((err.begin, err.end), (2 * n + 163, 3 * n + 164));
        assert_eq!(MAX_FRAME_BYTES, 16 * 1024 * 1024);
    }

    #[test]
    fn non_utf8_lines_are_errors_not_panics() {
        let mut d = FrameDecoder::new("j", 0);
        d.push(b"{\"UUID\":\"\xff\xff\"}\n\xc3\x28\n");
        assert!(matches!(d.next_frame(), Some(Err(DecodeError { kind: DecodeErrorKind::NotUtf8(9), .. }))));
        assert!(matches!(d.next_frame(), Some(Err(DecodeError { begin: 14, end: 17, .. }))));
        assert!(d.next_frame().is_none());
    }
}
