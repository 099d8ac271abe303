//! A JSON string field that borrows from the frame when it can.
//!
//! serde's `#[serde(borrow)]` special case only covers a bare `Cow<str>` field, not an
//! `Option<Cow<str>>`, so chunk parsing would allocate for every `Data` and `ID`.
//! `Text` borrows unescaped strings (the normal case: hex and base64 never need
//! escapes) and falls back to an owned copy when the producer escaped something.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// A string deserialized from JSON, borrowed from the input when possible.
pub(crate) struct Text<'a>(pub(crate) Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(TextVisitor(std::marker::PhantomData))
    }
}

impl fmt::Debug for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// Visitor producing a `Text<'a>` from a deserializer that lives at least as long.
struct TextVisitor<'a>(std::marker::PhantomData<&'a str>);

impl<'de: 'a, 'a> Visitor<'de> for TextVisitor<'a> {
    type Value = Text<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Text(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Text(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Text(Cow::Owned(v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrows_plain_strings_and_owns_escaped_ones() {
        let plain: Text<'_> = serde_json::from_str("\"q83v\"").unwrap();
        assert!(matches!(plain.0, Cow::Borrowed("q83v")));
        let escaped: Text<'_> = serde_json::from_str("\"a\\/b\"").unwrap();
        assert_eq!(escaped.0, "a/b");
        assert!(matches!(escaped.0, Cow::Owned(_)));
        assert!(serde_json::from_str::<Text<'_>>("12").is_err());
    }
}
