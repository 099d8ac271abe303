//! The Chunk message: `{"UUID":"…","ID":"<32 hex>","SeqNo":n,"Data":"<base64>"}`.
//!
//! Gazette's `Chunk` (`examples/stream-sum/stream_sum.go`). `Data` is standard base64
//! with padding; the final chunk of a stream has no data (`null`, absent, or `""`).
//! Parsing is on the summer's hot path (one 100–180 byte frame per chunk), so
//! [`parse_chunk`] borrows `Data` from the frame and leaves decoding to the caller's
//! reused buffer ([`ChunkRef::decode_data`]); the compact shape every writer produces
//! is read by a one-pass scanner (`chunk_scan.rs`), anything else by serde_json.
//!
//! Acknowledgements: the host never hands ACKs to a consumer, but a defensive reader
//! skips them. A message is an ACK ([`Message::Ack`]) when it carries no stream
//! content: no `ID` (absent, null, or the all-zero id of Gazette's empty Chunk), no
//! `SeqNo` (absent, null or 0) and no `Data`. The host's ACKs are `{"UUID":"…"}`.
//! Anything else must be a complete chunk.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;

use crate::text::Text;
use crate::{MessageError, StreamId};

/// A parsed chunk, borrowing its still-encoded `Data` from the frame.
#[derive(Debug)]
pub struct ChunkRef<'a> {
    /// The stream the chunk belongs to.
    pub id: StreamId,
    /// Position of the chunk in its stream, from 1.
    pub seq_no: u64,
    /// The base64 text of `Data`; `None` when it was absent or null.
    data: Option<Text<'a>>,
}

/// What a frame on a chunk journal holds.
#[derive(Debug)]
pub enum Message<'a> {
    /// An acknowledgement (or Gazette's empty Chunk): no stream content, skip it.
    Ack,
    /// A chunk of a stream.
    Chunk(ChunkRef<'a>),
}

/// The JSON shape; unknown fields (the host's `UUID`) are ignored.
#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(rename = "ID", default, borrow)]
    id: Option<Text<'a>>,
    #[serde(rename = "SeqNo", default)]
    seq_no: Option<u64>,
    #[serde(rename = "Data", default, borrow)]
    data: Option<Text<'a>>,
}

/// Parses one chunk frame (a JSON object; a trailing newline is fine).
///
/// # Errors
/// [`MessageError::Json`] if the frame is not a JSON object of the chunk's shape
/// (including a malformed `ID` or a negative `SeqNo`), [`MessageError::MissingField`]
/// if a chunk with content lacks `ID` or `SeqNo`.
pub fn parse_chunk(frame: &[u8]) -> Result<Message<'_>, MessageError> {
    // The common compact shape is scanned directly; anything else goes to serde_json.
    let wire = match crate::chunk_scan::scan(frame) {
        Some((id, seq_no, data)) => Wire { id, seq_no, data },
        None => serde_json::from_slice(frame).map_err(|e| MessageError::Json { kind: "chunk", reason: e.to_string() })?,
    };
    let id = match &wire.id {
        Some(text) => Some(StreamId::from_hex(&text.0).ok_or_else(|| MessageError::Json {
            kind: "chunk",
            reason: format!("malformed stream id {:?}: expected 32 hex characters", text.0),
        })?),
        None => None,
    };
    let no_id = id.is_none_or(|id| id.is_zero());
    let no_seq = wire.seq_no.is_none_or(|s| s == 0);
    if no_id && no_seq && wire.data.is_none() {
        return Ok(Message::Ack);
    }
    let id = id.ok_or(MessageError::MissingField { kind: "chunk", field: "ID" })?;
    let seq_no = wire.seq_no.ok_or(MessageError::MissingField { kind: "chunk", field: "SeqNo" })?;
    Ok(Message::Chunk(ChunkRef { id, seq_no, data: wire.data }))
}

impl ChunkRef<'_> {
    /// Whether the chunk carries no data, i.e. ends its stream.
    pub fn is_final(&self) -> bool {
        self.data.as_ref().is_none_or(|t| t.0.is_empty())
    }

    /// Decodes `Data` into `buf` (cleared first; its capacity is reused).
    ///
    /// # Errors
    /// [`MessageError::Base64`] naming the stream and sequence number.
    pub fn decode_data(&self, buf: &mut Vec<u8>) -> Result<(), MessageError> {
        buf.clear();
        let Some(text) = &self.data else { return Ok(()) };
        STANDARD.decode_vec(text.0.as_bytes(), buf).map_err(|e| MessageError::Base64 {
            id: self.id,
            seq_no: self.seq_no,
            reason: e.to_string(),
        })
    }
}

/// Appends the JSON of a chunk (without `UUID`: the host stamps it) to `out`:
/// `{"ID":"…","SeqNo":n,"Data":"…"}`, with `"Data":null` when `data` is empty.
pub fn encode_chunk(id: &StreamId, seq_no: u64, data: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"ID\":\"");
    out.extend_from_slice(&id.hex());
    out.extend_from_slice(b"\",\"SeqNo\":");
    out.extend_from_slice(seq_no.to_string().as_bytes());
    if data.is_empty() {
        out.extend_from_slice(b",\"Data\":null}");
    } else {
        out.extend_from_slice(b",\"Data\":\"");
        let start = out.len();
        out.resize(start + base64::encoded_len(data.len(), true).unwrap_or(0), 0);
        let written = STANDARD.encode_slice(data, &mut out[start..]).unwrap_or(0);
        out.truncate(start + written);
        out.extend_from_slice(b"\"}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "00112233445566778899aabbccddeeff";

    fn chunk(frame: &str) -> ChunkRef<'_> {
        match parse_chunk(frame.as_bytes()).unwrap() {
            Message::Chunk(c) => c,
            Message::Ack => panic!("{frame} parsed as an ACK"),
        }
    }

    #[test]
    fn parses_a_data_chunk_borrowing_and_decoding_data() {
        let frame = format!(
            "{{\"UUID\":\"a747c01e-2c29-11ea-8000-010203040506\",\"ID\":\"{ID}\",\"SeqNo\":3,\"Data\":\"YmF0dGVyeQ==\"}}\n"
        );
        let c = chunk(&frame);
        assert_eq!(c.id.to_string(), ID);
        assert_eq!(c.seq_no, 3);
        assert!(!c.is_final());
        let mut buf = b"leftover".to_vec();
        c.decode_data(&mut buf).unwrap();
        assert_eq!(buf, b"battery");
    }

    #[test]
    fn final_chunk_has_null_absent_or_empty_data() {
        for frame in [
            format!("{{\"ID\":\"{ID}\",\"SeqNo\":9,\"Data\":null}}"),
            format!("{{\"ID\":\"{ID}\",\"SeqNo\":9}}"),
            format!("{{\"ID\":\"{ID}\",\"SeqNo\":9,\"Data\":\"\"}}"),
        ] {
            let c = chunk(&frame);
            assert!(c.is_final(), "{frame}");
            let mut buf = vec![1, 2, 3];
            c.decode_data(&mut buf).unwrap();
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn acknowledgements_are_recognised() {
        for frame in [
            "{\"UUID\":\"a747c01e-2c29-11ea-9402-010203040506\"}".to_string(),
            "{}".to_string(),
            "{\"ID\":null,\"SeqNo\":null,\"Data\":null}".to_string(),
            format!("{{\"ID\":\"{}\",\"SeqNo\":0,\"Data\":null}}", "0".repeat(32)),
        ] {
            assert!(matches!(parse_chunk(frame.as_bytes()), Ok(Message::Ack)), "{frame}");
        }
    }

    #[test]
    fn malformed_chunks_are_errors_not_panics() {
        let cases: Vec<(String, &str)> = vec![
            ("not json".into(), "invalid chunk JSON"),
            ("[1,2]".into(), "invalid chunk JSON"),
            ("{\"ID\":\"abc\",\"SeqNo\":1}".into(), "malformed stream id \"abc\""),
            (format!("{{\"ID\":\"{ID}\",\"SeqNo\":-1}}"), "invalid chunk JSON"),
            (format!("{{\"ID\":\"{ID}\",\"SeqNo\":\"1\"}}"), "invalid chunk JSON"),
            (format!("{{\"ID\":\"{ID}\",\"ID\":\"{ID}\",\"SeqNo\":1}}"), "duplicate field"),
            (format!("{{\"ID\":\"{ID}\",\"Data\":\"AA==\"}}"), "chunk has no SeqNo field"),
            ("{\"SeqNo\":4,\"Data\":\"AA==\"}".into(), "chunk has no ID field"),
            (format!("{{\"ID\":\"{ID}\",\"SeqNo\":1}} trailing"), "invalid chunk JSON"),
            ("\u{0}\u{ff}".into(), "invalid chunk JSON"),
        ];
        for (frame, want) in cases {
            let err = parse_chunk(frame.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(want), "{frame}: {err}");
        }
        let bad64 = format!("{{\"ID\":\"{ID}\",\"SeqNo\":2,\"Data\":\"b@d!\"}}");
        let err = chunk(&bad64).decode_data(&mut Vec::new()).unwrap_err();
        assert!(err.to_string().starts_with(&format!("stream {ID} seq_no 2: Data is not valid base64")), "{err}");
        let unpadded = format!("{{\"ID\":\"{ID}\",\"SeqNo\":2,\"Data\":\"AA\"}}");
        assert!(chunk(&unpadded).decode_data(&mut Vec::new()).is_err());
    }

    #[test]
    fn parse_never_panics_on_truncated_or_mutated_frames() {
        let frame = format!("{{\"ID\":\"{ID}\",\"SeqNo\":3,\"Data\":\"YmF0dGVyeQ==\"}}");
        let bytes = frame.as_bytes();
        let mut buf = Vec::new();
        for cut in 0..bytes.len() {
            if let Ok(Message::Chunk(c)) = parse_chunk(&bytes[..cut]) {
                let _ = c.decode_data(&mut buf);
            }
        }
        for i in 0..bytes.len() {
            for b in [0u8, b'"', b'{', b'\\', 0xff, b'9'] {
                let mut m = bytes.to_vec();
                m[i] = b;
                if let Ok(Message::Chunk(c)) = parse_chunk(&m) {
                    let _ = c.decode_data(&mut buf);
                }
            }
        }
    }

    #[test]
    fn encode_chunk_round_trips_through_parse() {
        let id = StreamId::from_hex(ID).unwrap();
        let mut out = Vec::new();
        encode_chunk(&id, 7, b"battery horse", &mut out);
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            format!("{{\"ID\":\"{ID}\",\"SeqNo\":7,\"Data\":\"YmF0dGVyeSBob3JzZQ==\"}}")
        );
        let c = chunk(std::str::from_utf8(&out).unwrap());
        let mut data = Vec::new();
        c.decode_data(&mut data).unwrap();
        assert_eq!((c.id, c.seq_no, data.as_slice()), (id, 7, &b"battery horse"[..]));

        out.clear();
        encode_chunk(&id, 8, b"", &mut out);
        assert_eq!(std::str::from_utf8(&out).unwrap(), format!("{{\"ID\":\"{ID}\",\"SeqNo\":8,\"Data\":null}}"));
        assert!(chunk(std::str::from_utf8(&out).unwrap()).is_final());
    }
}
