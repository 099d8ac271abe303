//! The id of one stream: 16 random bytes chosen by the chunker.
//!
//! Gazette's `StreamID [16]byte` (`examples/stream-sum/stream_sum.go`). On the wire it
//! is 32 lowercase hex characters; in the summer's store the key is the raw 16 bytes,
//! and the partition mapping hashes the raw bytes too.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::hex;

/// The 16 raw bytes that name a stream.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct StreamId(pub [u8; 16]);

impl StreamId {
    /// Length of an id in bytes.
    pub const LEN: usize = 16;

    /// Parses the 32-hex-character wire form (either case is accepted; ids are
    /// always written lowercase). `None` if `text` is anything else.
    pub fn from_hex(text: &str) -> Option<Self> {
        hex::decode::<16>(text.as_bytes()).map(StreamId)
    }

    /// The id from exactly 16 raw bytes (a store key, a WIT `list<u8>`).
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        <[u8; 16]>::try_from(bytes).ok().map(StreamId)
    }

    /// The raw bytes, as used for store keys and the partition mapping.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The 32 lowercase hex characters of the wire form, without allocating.
    pub fn hex(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        hex::encode_into(&self.0, &mut out);
        out
    }

    /// Whether this is the all-zero id, which only Gazette-style empty
    /// acknowledgement messages carry.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 16]
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = self.hex();
        // `hex` holds only ASCII hex digits.
        f.write_str(std::str::from_utf8(&hex).unwrap_or("?"))
    }
}

impl fmt::Debug for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StreamId({self})")
    }
}

impl Serialize for StreamId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for StreamId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = crate::text::Text::deserialize(deserializer)?;
        StreamId::from_hex(&text.0).ok_or_else(|| {
            serde::de::Error::custom(format_args!(
                "malformed stream id {:?}: expected 32 hex characters",
                text.0
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_form_is_32_lowercase_characters_and_round_trips() {
        let id = StreamId([
            0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc,
            0xdd, 0xee, 0xff,
        ]);
        assert_eq!(id.to_string(), "00112233445566778899aabbccddeeff");
        assert_eq!(StreamId::from_hex("00112233445566778899AABBCCDDEEFF"), Some(id));
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"00112233445566778899aabbccddeeff\"");
        let back: StreamId = serde_json::from_str("\"00112233445566778899aabbccddeeff\"").unwrap();
        assert_eq!(back, id);
    }

    #[test]
    fn malformed_ids_are_rejected() {
        for bad in ["", "0011", "00112233445566778899aabbccddeeff00", "zz112233445566778899aabbccddeeff"] {
            assert_eq!(StreamId::from_hex(bad), None, "{bad:?}");
        }
        let err = serde_json::from_str::<StreamId>("\"abc\"").unwrap_err();
        assert!(err.to_string().contains("malformed stream id \"abc\""), "{err}");
        assert!(StreamId::from_bytes(&[1; 15]).is_none());
        assert_eq!(StreamId::from_bytes(&[1; 16]), Some(StreamId([1; 16])));
    }
}
