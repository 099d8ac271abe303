//! A scanner for the one JSON shape that chunk frames have in practice.
//!
//! Every chunk the chunker (and Gazette's) writes is compact JSON with plain ASCII
//! strings: `{"UUID":"…","ID":"…","SeqNo":n,"Data":"…"}` (or `"Data":null`). Parsing it
//! with serde_json was the largest single cost of a summer in profiles (UTF-8
//! validation, escape scanning and field matching per string; wasm makes each step
//! dearer). [`scan`] reads exactly that family of objects in one pass and gives up —
//! returning `None` — on anything else: invalid UTF-8, whitespace, escapes or control
//! bytes in strings, other or repeated keys, numbers that are not plain `u64`
//! literals, trailing bytes other than one `\n`. The caller then parses the frame with
//! serde_json, so every frame gets serde_json's verdict, and the scanner only decides
//! how fast a well-formed frame is read. Whatever the scanner accepts is valid JSON that
//! serde_json reads to the same fields (a test checks this on mutated frames).

use std::borrow::Cow;

use crate::text::Text;

/// The chunk fields of a frame: `ID`, `SeqNo`, `Data` (each absent or null as `None`).
pub(crate) type Fields<'a> = (Option<Text<'a>>, Option<u64>, Option<Text<'a>>);

/// The fields of `frame` if it is a compact chunk object; `None` to use serde_json.
pub(crate) fn scan(frame: &[u8]) -> Option<Fields<'_>> {
    let body = frame.strip_suffix(b"\n").unwrap_or(frame);
    // One UTF-8 check for the whole frame (cheaper than one per string); every split
    // below is at an ASCII byte, so each piece is UTF-8 too.
    let body = std::str::from_utf8(body).ok()?;
    let inner = body.strip_prefix('{')?.strip_suffix('}')?;
    let (mut id, mut seq_no, mut data) = (None, None, None);
    let mut seen = [false; 4];
    let mut rest = inner;
    while !rest.is_empty() {
        let (key, after) = string(rest.strip_prefix('"')?)?;
        let value = after.strip_prefix(':')?;
        let slot = match key {
            "UUID" => 0,
            "ID" => 1,
            "SeqNo" => 2,
            "Data" => 3,
            _ => return None,
        };
        if std::mem::replace(&mut seen[slot], true) {
            return None; // serde_json reports the duplicate.
        }
        rest = match slot {
            2 => {
                let (n, after) = number_or_null(value)?;
                seq_no = n;
                after
            }
            _ => {
                let (text, after) = string_or_null(value)?;
                match slot {
                    1 => id = text,
                    3 => data = text,
                    _ => {} // The UUID is the host's business.
                }
                after
            }
        };
        rest = match rest.strip_prefix(',') {
            Some(more) if !more.is_empty() => more,
            Some(_) => return None,
            None if rest.is_empty() => rest,
            None => return None,
        };
    }
    Some((id, seq_no, data))
}

/// A string's content up to its closing quote (which `s` starts after), and what
/// follows the quote. No `\\` and no control characters (serde_json's business).
///
/// Eight bytes per step (SWAR): a byte loop costs a bounds check and, in a guest, an
/// epoch check per byte, and ids, base64 data and UUIDs are 32 to 44 bytes long.
fn string(s: &str) -> Option<(&str, &str)> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while let Some(word) = bytes.get(i..i + 8) {
        let mut le = [0u8; 8];
        le.copy_from_slice(word);
        let special = special_bytes(u64::from_le_bytes(le));
        if special != 0 {
            return end_at(s, i + (special.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    let rest = bytes.get(i..)?;
    let at = rest.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
    end_at(s, i + at)
}

/// The string ends at `s[at]` if that byte is its closing quote.
fn end_at(s: &str, at: usize) -> Option<(&str, &str)> {
    (s.as_bytes().get(at) == Some(&b'"')).then_some(())?;
    Some((s.get(..at)?, s.get(at + 1..)?))
}

/// High bit set in each byte of `w` that may be `"`, `\\` or below 0x20; the lowest
/// such byte is exact (borrows only run towards higher bytes).
fn special_bytes(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_in = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    zero_in(w ^ (ONES * u64::from(b'"'))) | zero_in(w ^ (ONES * u64::from(b'\\'))) | (w.wrapping_sub(ONES * 0x20) & !w & HIGH)
}

fn string_or_null(s: &str) -> Option<(Option<Text<'_>>, &str)> {
    if let Some(after) = s.strip_prefix("null") {
        return Some((None, after));
    }
    let (text, after) = string(s.strip_prefix('"')?)?;
    Some((Some(Text(Cow::Borrowed(text))), after))
}

/// A JSON integer literal that fits a `u64` (no sign, no leading zero, no fraction or
/// exponent), or `null`.
fn number_or_null(s: &str) -> Option<(Option<u64>, &str)> {
    if let Some(after) = s.strip_prefix("null") {
        return Some((None, after));
    }
    let bytes = s.as_bytes();
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || (digits > 1 && bytes[0] == b'0') {
        return None;
    }
    let mut n: u64 = 0;
    for &d in &bytes[..digits] {
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some((Some(n), s.get(digits..)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "00112233445566778899aabbccddeeff";
    const UUID: &str = "a747c01e-2c29-11ea-8000-010203040506";

    fn fields(frame: &str) -> Option<(Option<String>, Option<u64>, Option<String>)> {
        scan(frame.as_bytes()).map(|(i, s, d)| (i.map(|t| t.0.into_owned()), s, d.map(|t| t.0.into_owned())))
    }

    #[test]
    fn reads_the_frames_writers_produce() {
        let frame = format!("{{\"UUID\":\"{UUID}\",\"ID\":\"{ID}\",\"SeqNo\":3,\"Data\":\"YmF0dGVyeQ==\"}}\n");
        assert_eq!(fields(&frame), Some((Some(ID.into()), Some(3), Some("YmF0dGVyeQ==".into()))));
        let last = format!("{{\"UUID\":\"{UUID}\",\"ID\":\"{ID}\",\"SeqNo\":18446744073709551615,\"Data\":null}}");
        assert_eq!(fields(&last), Some((Some(ID.into()), Some(u64::MAX), None)));
        assert_eq!(fields(&format!("{{\"UUID\":\"{UUID}\"}}\n")), Some((None, None, None)));
        assert_eq!(fields("{}"), Some((None, None, None)));
        assert_eq!(fields(&format!("{{\"SeqNo\":0,\"ID\":\"{ID}\"}}")), Some((Some(ID.into()), Some(0), None)));
    }

    #[test]
    fn strings_end_at_the_first_quote_and_refuse_escapes_and_controls_at_any_position() {
        for len in 0..40 {
            let body: String = (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect();
            let s = format!("{body}\"tail");
            assert_eq!(string(&s), Some((body.as_str(), "tail")), "len {len}");
            for at in 0..len {
                for bad in ['\\', '\u{1f}', '\n', '\u{0}'] {
                    let mut b: Vec<char> = body.chars().collect();
                    b[at] = bad;
                    let s: String = b.into_iter().collect::<String>() + "\"";
                    assert_eq!(string(&s), None, "len {len} at {at} {bad:?}");
                }
                let mut b: Vec<char> = body.chars().collect();
                b[at] = '\u{e9}';
                let s: String = b.iter().collect::<String>() + "\"x";
                assert_eq!(string(&s).map(|(t, r)| (t.chars().count(), r)), Some((len, "x")));
            }
            assert_eq!(string(&body), None, "unterminated, len {len}");
        }
    }

    #[test]
    fn leaves_everything_else_to_serde_json() {
        let cases = [
            format!("{{ \"ID\":\"{ID}\",\"SeqNo\":1}}"),
            format!("{{\"ID\":\"{ID}\",\"SeqNo\":1}}\n\n"),
            format!("{{\"ID\":\"{ID}\",\"SeqNo\":1}} "),
            format!("{{\"ID\":\"{ID}\",\"SeqNo\":01}}"),
            format!("{{\"ID\":\"{ID}\",\"SeqNo\":-1}}"),
            format!("{{\"ID\":\"{ID}\",\"SeqNo\":1.0}}"),
            format!("{{\"ID\":\"{ID}\",\"SeqNo\":1e3}}"),
            format!("{{\"ID\":\"{ID}\",\"SeqNo\":18446744073709551616}}"),
            format!("{{\"ID\":\"{ID}\",\"SeqNo\":\"1\"}}"),
            format!("{{\"ID\":\"{ID}\",\"ID\":\"{ID}\",\"SeqNo\":1}}"),
            format!("{{\"ID\":\"{ID}\",\"SeqNo\":1,}}"),
            format!("{{,\"ID\":\"{ID}\"}}"),
            format!("{{\"ID\":\"{ID}\",\"Other\":1}}"),
            format!("{{\"ID\":\"a\\u0062\",\"SeqNo\":1}}"),
            "{\"ID\":\"\u{e9}\",\"SeqNo\":1}\u{ff}".to_string(),
            "{\"ID\":\"a\tb\",\"SeqNo\":1}".to_string(),
            "{\"UUID\":7}".to_string(),
            "{\"Data\":true}".to_string(),
            "{\"Data\":nul}".to_string(),
            "[1]".to_string(),
            "{".to_string(),
            String::new(),
        ];
        for frame in cases {
            assert_eq!(fields(&frame), None, "{frame}");
        }
    }

    #[test]
    fn whatever_it_accepts_serde_json_reads_the_same() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        #[serde(deny_unknown_fields)]
        struct Wire {
            #[serde(rename = "UUID")]
            _uuid: Option<String>,
            #[serde(rename = "ID")]
            id: Option<String>,
            #[serde(rename = "SeqNo")]
            seq_no: Option<u64>,
            #[serde(rename = "Data")]
            data: Option<String>,
        }
        let frame = format!("{{\"UUID\":\"{UUID}\",\"ID\":\"{ID}\",\"SeqNo\":30,\"Data\":\"YmF0dGVyeQ==\"}}\n");
        let bytes = frame.as_bytes();
        let mut accepted = 0;
        let mut check = |m: &[u8]| {
            if let Some((id, seq_no, data)) = scan(m) {
                accepted += 1;
                let wire: Wire = serde_json::from_slice(m).unwrap_or_else(|e| panic!("{}: {e}", String::from_utf8_lossy(m)));
                assert_eq!((wire.id.as_deref(), wire.seq_no, wire.data.as_deref()), (id.as_ref().map(|t| &*t.0), seq_no, data.as_ref().map(|t| &*t.0)));
            }
        };
        for cut in 0..=bytes.len() {
            check(&bytes[..cut]);
        }
        for i in 0..bytes.len() {
            for b in [0u8, b' ', b'"', b'{', b'}', b',', b':', b'\\', 0xff, b'0', b'9', b'n', b'-'] {
                let mut m = bytes.to_vec();
                m[i] = b;
                check(&m);
                m.insert(i, b);
                check(&m);
            }
            let mut m = bytes.to_vec();
            m.remove(i);
            check(&m);
        }
        assert!(accepted > 100, "only {accepted} variants were accepted");
    }
}
