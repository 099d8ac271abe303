//! The Sum message: `{"UUID":"…","ID":"<32 hex>","SeqNo":n,"SHA1":"<40 hex>"}`.
//!
//! Gazette's `Sum` (`examples/stream-sum/stream_sum.go`) with SHA-1 in place of the
//! CRC-64 `Value`. A summer publishes one per stream, when the stream's final (empty)
//! chunk arrives: `SeqNo` is that final chunk's number and `SHA1` is the digest of
//! the stream's whole content. The chunker parses them to verify its streams.

use serde::Deserialize;

use crate::text::Text;
use crate::{hex, MessageError, StreamId};

/// A stream's final sum.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Sum {
    /// The stream.
    pub id: StreamId,
    /// Sequence number of the stream's final chunk (data chunks + 1).
    pub seq_no: u64,
    /// SHA-1 of the concatenated data of all the stream's chunks.
    pub sha1: [u8; 20],
}

/// The JSON shape; unknown fields (the host's `UUID`) are ignored.
#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(rename = "ID")]
    id: Option<StreamId>,
    #[serde(rename = "SeqNo")]
    seq_no: Option<u64>,
    #[serde(rename = "SHA1", borrow)]
    sha1: Option<Text<'a>>,
}

impl Sum {
    /// Parses a Sum message (a JSON object; a trailing newline is fine).
    ///
    /// # Errors
    /// [`MessageError::Json`] for a frame of the wrong shape or a malformed `ID`,
    /// [`MessageError::MissingField`] for an absent field,
    /// [`MessageError::Sha1Hex`] for a `SHA1` that is not 40 hex characters.
    pub fn parse(frame: &[u8]) -> Result<Sum, MessageError> {
        let wire: Wire<'_> = serde_json::from_slice(frame)
            .map_err(|e| MessageError::Json { kind: "sum", reason: e.to_string() })?;
        let missing = |field| MessageError::MissingField { kind: "sum", field };
        let id = wire.id.ok_or(missing("ID"))?;
        let seq_no = wire.seq_no.ok_or(missing("SeqNo"))?;
        let text = wire.sha1.ok_or(missing("SHA1"))?;
        let sha1 = hex::decode::<20>(text.0.as_bytes())
            .ok_or_else(|| MessageError::Sha1Hex { id, value: text.0.to_string() })?;
        Ok(Sum { id, seq_no, sha1 })
    }

    /// Appends the JSON of this sum (without `UUID`: the host stamps it) to `out`:
    /// `{"ID":"…","SeqNo":n,"SHA1":"…"}`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"ID\":\"");
        out.extend_from_slice(&self.id.hex());
        out.extend_from_slice(b"\",\"SeqNo\":");
        out.extend_from_slice(self.seq_no.to_string().as_bytes());
        out.extend_from_slice(b",\"SHA1\":\"");
        hex::push_hex(&self.sha1, out);
        out.extend_from_slice(b"\"}");
    }

    /// The JSON of this sum as a new buffer (see [`Sum::encode`]).
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(112);
        self.encode(&mut out);
        out
    }

    /// The 40 lowercase hex characters of the digest, as `sha1sum` prints it.
    pub fn sha1_hex(&self) -> String {
        hex::to_string(&self.sha1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "00112233445566778899aabbccddeeff";
    const HORSE: &str = "4b177dc1bb6960eddba2d012b9e29ef727b1d593";

    #[test]
    fn encodes_and_parses_the_wire_form() {
        let sum = Sum {
            id: StreamId::from_hex(ID).unwrap(),
            seq_no: 3,
            sha1: hex::decode::<20>(HORSE.as_bytes()).unwrap(),
        };
        let json = sum.to_json();
        assert_eq!(
            std::str::from_utf8(&json).unwrap(),
            format!("{{\"ID\":\"{ID}\",\"SeqNo\":3,\"SHA1\":\"{HORSE}\"}}")
        );
        assert_eq!(Sum::parse(&json).unwrap(), sum);
        let stamped = format!("{{\"UUID\":\"a747c01e-2c29-11ea-8000-010203040506\",\"ID\":\"{ID}\",\"SeqNo\":3,\"SHA1\":\"{HORSE}\"}}\n");
        assert_eq!(Sum::parse(stamped.as_bytes()).unwrap(), sum);
        assert_eq!(sum.sha1_hex(), HORSE);
    }

    #[test]
    fn malformed_sums_are_errors() {
        let cases = [
            ("{".to_string(), "invalid sum JSON"),
            (format!("{{\"ID\":\"{ID}\",\"SeqNo\":3}}"), "sum has no SHA1 field"),
            (format!("{{\"SeqNo\":3,\"SHA1\":\"{HORSE}\"}}"), "sum has no ID field"),
            (format!("{{\"ID\":\"{ID}\",\"SHA1\":\"{HORSE}\"}}"), "sum has no SeqNo field"),
            (format!("{{\"ID\":\"{ID}\",\"SeqNo\":3,\"SHA1\":\"abc\"}}"), "is not 40 hex characters"),
            (format!("{{\"ID\":\"x\",\"SeqNo\":3,\"SHA1\":\"{HORSE}\"}}"), "malformed stream id"),
        ];
        for (frame, want) in cases {
            let err = Sum::parse(frame.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(want), "{frame}: {err}");
        }
    }
}
