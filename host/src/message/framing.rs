//! Writing JSON-lines frames: the host stamps a message UUID into a guest's JSON object.
//!
//! Mirrors the JSON framing of Gazette's `message/framing_json.go` (one compact JSON
//! value per `\n`-terminated line), with one difference in ownership: in Gazette the
//! message type sets its own UUID field; here the host owns UUIDs, so it splices
//! `"UUID":"<canonical>"` in as the **first** top-level member of the object the guest
//! handed over. The rest of the object is kept byte for byte (no re-serialization),
//! which also lets readers find the UUID with a prefix scan (see `decode`).
//!
//! Rules, each tested below:
//! - the input must be exactly one JSON object (leading/trailing whitespace allowed);
//!   anything else is a [`FrameError`];
//! - a raw `\n` inside valid JSON can only be insignificant whitespace (JSON strings
//!   cannot contain control characters), so each one is replaced by a space and the
//!   frame stays one line;
//! - if the object already has a top-level `"UUID"` member (a guest serializing a
//!   struct with a placeholder field), that member is **replaced**: the host's UUID is
//!   authoritative, and a guest cannot forge or duplicate message identities.

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use thiserror::Error;
use uuid::Uuid;

/// The top-level field that carries a message's UUID.
pub const UUID_FIELD: &str = "UUID";

/// What every frame written by this host starts with.
pub(crate) const UUID_PREFIX: &[u8] = b"{\"UUID\":\"";

/// Length of a canonical hyphenated UUID.
pub(crate) const UUID_TEXT_LEN: usize = 36;

/// A message the host was asked to publish cannot be framed.
#[derive(Debug, Error)]
pub enum FrameError {
    /// The bytes are not valid JSON, or are JSON but not a single object.
    #[error("message is not a single JSON object: {0}")]
    NotAnObject(#[source] serde_json::Error),
    /// The bytes are not UTF-8 (serde_json skips unread strings without checking).
    #[error("message is not a single JSON object: not valid UTF-8 (first bad byte at {0})")]
    NotUtf8(usize),
}

/// Appends the frame of `message` stamped with `uuid` to `out`: the object with
/// `"UUID":"<uuid>"` as its first member, then `\n`.
///
/// # Errors
/// [`FrameError`] if `message` is not one UTF-8 JSON object; `out` is then
/// left unchanged.
pub fn frame_message(message: &[u8], uuid: &Uuid, out: &mut Vec<u8>) -> Result<(), FrameError> {
    let probe = probe_object(message)?;
    let body = trim_json_whitespace(message);
    let start = out.len();
    write_uuid_prefix(uuid, out);
    if probe.has_uuid_member {
        // Rare path: rebuild the member list without the guest's UUID member(s).
        for member in top_level_members(body) {
            if !member_is_uuid(&body[member.clone()]) {
                out.push(b',');
                out.extend_from_slice(&body[member]);
            }
        }
        out.push(b'}');
    } else {
        // `body` is `{ ... }`; splice after the `{`.
        let inner = &body[1..];
        if trim_json_whitespace(inner) != b"}" {
            out.push(b',');
        }
        out.extend_from_slice(inner);
    }
    for b in &mut out[start..] {
        if *b == b'\n' {
            *b = b' ';
        }
    }
    out.push(b'\n');
    Ok(())
}

/// The frame of an acknowledgement: `{"UUID":"<uuid>"}\n`.
pub fn frame_ack(uuid: &Uuid) -> Vec<u8> {
    let mut out = Vec::with_capacity(UUID_PREFIX.len() + UUID_TEXT_LEN + 3);
    write_uuid_prefix(uuid, &mut out);
    out.extend_from_slice(b"}\n");
    out
}

fn write_uuid_prefix(uuid: &Uuid, out: &mut Vec<u8>) {
    let mut text = [0u8; UUID_TEXT_LEN];
    uuid.hyphenated().encode_lower(&mut text);
    out.extend_from_slice(UUID_PREFIX);
    out.extend_from_slice(&text);
    out.push(b'"');
}

pub(crate) fn trim_json_whitespace(b: &[u8]) -> &[u8] {
    let is_ws = |c: &u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r');
    let start = b.iter().position(|c| !is_ws(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !is_ws(c)).map_or(start, |i| i + 1);
    &b[start..end]
}

/// The result of validating a JSON object in one serde pass.
struct ObjectProbe {
    /// Whether a top-level member is named `UUID` (after unescaping).
    has_uuid_member: bool,
}

fn probe_object(message: &[u8]) -> Result<ObjectProbe, FrameError> {
    let text = std::str::from_utf8(message).map_err(|e| FrameError::NotUtf8(e.valid_up_to()))?;
    let mut de = serde_json::Deserializer::from_str(text);
    let probe = (&mut de).deserialize_map(ProbeVisitor).map_err(FrameError::NotAnObject)?;
    de.end().map_err(FrameError::NotAnObject)?;
    Ok(probe)
}

struct ProbeVisitor;

impl<'de> Visitor<'de> for ProbeVisitor {
    type Value = ObjectProbe;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ObjectProbe, A::Error> {
        let mut has_uuid_member = false;
        while let Some(is_uuid) = map.next_key::<KeyIsUuid>()? {
            has_uuid_member |= is_uuid.0;
            map.next_value::<IgnoredAny>()?;
        }
        Ok(ObjectProbe { has_uuid_member })
    }
}

/// A map key, reduced to "is it `UUID`?" without allocating.
pub(crate) struct KeyIsUuid(pub(crate) bool);

impl<'de> serde::Deserialize<'de> for KeyIsUuid {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeyIsUuid;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string key")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<KeyIsUuid, E> {
                Ok(KeyIsUuid(v == UUID_FIELD))
            }
        }
        d.deserialize_str(V)
    }
}

/// Byte ranges of the top-level members (`"key": value`) of a JSON object that has
/// already been validated. Only structure is tracked: strings (with escapes) and
/// nesting depth.
fn top_level_members(obj: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut members = Vec::new();
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let mut start: Option<usize> = None;
    let mut last_significant = 0;
    for (i, &c) in obj.iter().enumerate() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            last_significant = i;
            continue;
        }
        match c {
            b'"' => {
                in_string = true;
                if depth == 1 && start.is_none() {
                    start = Some(i);
                }
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    if let Some(s) = start.take() {
                        members.push(s..last_significant + 1);
                    }
                    break;
                }
            }
            b',' if depth == 1 => {
                if let Some(s) = start.take() {
                    members.push(s..last_significant + 1);
                }
            }
            b' ' | b'\t' | b'\n' | b'\r' => continue,
            _ => {}
        }
        last_significant = i;
    }
    members
}

fn member_is_uuid(member: &[u8]) -> bool {
    let mut de = serde_json::Deserializer::from_slice(member);
    matches!(serde::Deserialize::deserialize(&mut de), Ok(KeyIsUuid(true)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uuid() -> Uuid {
        Uuid::parse_str("a747c01e-2c29-11ea-9402-010203040506").unwrap()
    }

    fn frame(message: &str) -> Result<String, FrameError> {
        let mut out = b"previous".to_vec();
        frame_message(message.as_bytes(), &uuid(), &mut out)?;
        assert!(out.starts_with(b"previous"));
        Ok(String::from_utf8(out[8..].to_vec()).unwrap())
    }

    const U: &str = r#"{"UUID":"a747c01e-2c29-11ea-9402-010203040506""#;

    #[test]
    fn uuid_is_spliced_as_the_first_member_keeping_the_rest_verbatim() {
        let cases = [
            (r#"{"ID":[1,2],"SeqNo":3,"Data":"aGk="}"#, r#","ID":[1,2],"SeqNo":3,"Data":"aGk="}"#),
            ("{}", "}"),
            ("{ }", " }"),
            ("  {\"a\" : 1 }  \n", ",\"a\" : 1 }"),
            ("{\n  \"a\": 1,\n  \"b\": {\"c\": []}\n}\n", ",   \"a\": 1,   \"b\": {\"c\": []} }"),
            (r#"{"s":"<&>\u00e9 \"UUID\""}"#, r#","s":"<&>\u00e9 \"UUID\""}"#),
        ];
        for (input, rest) in cases {
            assert_eq!(frame(input).unwrap(), format!("{U}{rest}\n"), "{input:?}");
        }
    }

    #[test]
    fn framed_output_is_valid_json_with_the_uuid_and_original_members() {
        let out = frame("{\n\"a\": \"x\",\n\"n\": [1,\n2]}").unwrap();
        assert_eq!(out.matches('\n').count(), 1);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v, serde_json::json!({"UUID": uuid().to_string(), "a": "x", "n": [1, 2]}));
    }

    #[test]
    fn an_existing_uuid_member_is_replaced_wherever_it_is() {
        let cases = [
            (r#"{"UUID":"00000000-0000-0000-0000-000000000000","a":1}"#, r#","a":1}"#),
            (r#"{"a":1, "UUID" : null}"#, r#","a":1}"#),
            (r#"{"a":{"UUID":1},"\u0055UID":"x","b":"},{"}"#, r#","a":{"UUID":1},"b":"},{"}"#),
            (r#"{"UUID":[1,{"x":"]"}]}"#, "}"),
            (r#"{"UUID":1,"UUID":2}"#, "}"),
        ];
        for (input, rest) in cases {
            assert_eq!(frame(input).unwrap(), format!("{U}{rest}\n"), "{input:?}");
        }
    }

    #[test]
    fn anything_but_one_json_object_is_refused_and_output_untouched() {
        for input in
            ["", "   ", "[]", "1", "\"s\"", "null", "{", "{\"a\":1", "{} {}", "{}x", "{\"a\":\"\n\"}", "{'a':1}"]
        {
            let mut out = b"keep".to_vec();
            let err = frame_message(input.as_bytes(), &uuid(), &mut out).unwrap_err();
            assert!(err.to_string().starts_with("message is not a single JSON object"), "{input:?}: {err}");
            assert_eq!(out, b"keep");
        }
    }

    #[test]
    fn non_utf8_bytes_are_refused_without_panicking() {
        let mut out = Vec::new();
        assert!(frame_message(b"{\"a\":\"\xff\xfe\"}", &uuid(), &mut out).is_err());
        assert!(frame_message(b"\xc3\x28", &uuid(), &mut out).is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn ack_frames_hold_only_the_uuid() {
        assert_eq!(frame_ack(&uuid()), format!("{U}}}\n").into_bytes());
    }
}
