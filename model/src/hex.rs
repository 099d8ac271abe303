//! Lowercase hex encoding and strict decoding for stream ids and SHA-1 digests.
//!
//! Hand-rolled because both directions sit on the summer's hot path (one id per
//! chunk) and the inputs are tiny and fixed-size.

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Writes the lowercase hex form of `bytes` into `out`, which must be exactly twice
/// as long as `bytes` (callers use fixed-size arrays, so this always holds).
pub(crate) fn encode_into(bytes: &[u8], out: &mut [u8]) {
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0x0f)];
    }
}

/// Appends the lowercase hex form of `bytes` to `out`.
pub(crate) fn push_hex(bytes: &[u8], out: &mut Vec<u8>) {
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 0x0f)]);
    }
}

/// The lowercase hex form of `bytes` as a `String`.
pub(crate) fn to_string(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len() * 2);
    push_hex(bytes, &mut out);
    // Only ASCII hex digits were pushed.
    String::from_utf8(out).unwrap_or_default()
}

/// Decodes exactly `N` bytes from `2 * N` hex digits (either case); `None` on any
/// other length or a non-hex character.
pub(crate) fn decode<const N: usize>(text: &[u8]) -> Option<[u8; N]> {
    if text.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    let mut bad = 0u8;
    for (o, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let (hi, lo) = (NIBBLES[usize::from(pair[0])], NIBBLES[usize::from(pair[1])]);
        bad |= hi | lo;
        *o = (hi << 4) | (lo & 0x0f);
    }
    // One branch per id instead of two per digit (ids are on every chunk's path).
    (bad & INVALID == 0).then_some(out)
}

/// Marks a byte that is not a hex digit in [`NIBBLES`].
const INVALID: u8 = 0x80;

/// The value of each hex digit (either case); [`INVALID`] for every other byte.
const NIBBLES: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_byte_value() {
        let bytes: Vec<u8> = (0..=255).collect();
        let text = to_string(&bytes);
        assert_eq!(&text[..8], "00010203");
        assert_eq!(&text[text.len() - 4..], "feff");
        for chunk in bytes.chunks(4).zip(text.as_bytes().chunks(8)) {
            assert_eq!(decode::<4>(chunk.1).unwrap(), chunk.0);
        }
    }

    #[test]
    fn decode_accepts_upper_case_and_rejects_bad_input() {
        assert_eq!(decode::<2>(b"ABcd"), Some([0xab, 0xcd]));
        assert_eq!(decode::<2>(b"abc"), None);
        assert_eq!(decode::<2>(b"abcde"), None);
        assert_eq!(decode::<2>(b"abcg"), None);
        assert_eq!(decode::<2>(b"ab c"), None);
        assert_eq!(decode::<1>("é".as_bytes()), None);
    }
}
