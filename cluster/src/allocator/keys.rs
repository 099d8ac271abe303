//! The allocator's etcd key shapes, formatted and parsed.
//!
//! Gazette's `allocator/allocator_key_space.go` (`MemberKey`, `ItemKey`,
//! `AssignmentKey`, `ItemAssignmentsPrefix` and the decoder in
//! `NewAllocatorKeyValueDecoder`):
//!
//! ```text
//! <root>/members/<zone>#<suffix>
//! <root>/items/<item>
//! <root>/assign/<item>#<zone>#<suffix>#<slot>
//! ```
//!
//! `#` separates the parts because it is the lowest visible ASCII character a shell
//! does not interpret; Gazette therefore reserves every character at or below `#`
//! (space, `!`, `"`, control characters) in names, which also makes the lexicographic
//! order of keys agree with the natural order of members and assignments. Everything
//! above it is allowed, including `/` and UTF-8: `examples/stream-sum/chunks` is a
//! fine item name. Unlike Gazette (which panics on a reserved character and accepts
//! `Atoi` slots such as `+1` or `01`), names must also be non-empty and slots
//! canonical decimals, so that every key parses back to the assignment it came from.

use thiserror::Error;

use super::model::{Assignment, MemberId};

/// Follows the root in member keys.
pub const MEMBERS_PREFIX: &str = "/members/";
/// Follows the root in item keys.
pub const ITEMS_PREFIX: &str = "/items/";
/// Follows the root in assignment keys.
pub const ASSIGNMENTS_PREFIX: &str = "/assign/";
/// Separates the parts of member and assignment keys.
pub const SEPARATOR: char = '#';

/// A name or key the allocator's key shapes cannot hold.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    /// The key is not under the expected `<root><prefix>`.
    #[error("key {key:?} does not start with {prefix:?}")]
    WrongPrefix { key: String, prefix: String },
    /// The key's tail does not split into the expected number of `#` parts.
    #[error("key {key:?}: expected {expected} '#'-separated parts ({shape}), found {found}")]
    WrongParts { key: String, shape: &'static str, expected: usize, found: usize },
    /// A zone, suffix or item name is empty.
    #[error("{what} must not be empty")]
    Empty { what: &'static str },
    /// A name holds a character at or below `#`.
    #[error("{what} {name:?}: character {ch:?} at byte {index} is reserved (nothing at or below '#' is allowed)")]
    ReservedChar { what: &'static str, name: String, index: usize, ch: char },
    /// The slot is not a canonical decimal `u32` (`0`, `1`, … without sign or leading zeros).
    #[error("key {key:?}: slot {slot:?} is not a canonical decimal number")]
    BadSlot { key: String, slot: String },
}

/// Checks that `name` (a zone, suffix or item id, called `what` in errors) can be a
/// key part: non-empty, no character at or below `#`.
///
/// # Errors
/// [`KeyError::Empty`] or [`KeyError::ReservedChar`].
pub fn validate_name(what: &'static str, name: &str) -> Result<(), KeyError> {
    if name.is_empty() {
        return Err(KeyError::Empty { what });
    }
    match name.char_indices().find(|&(_, ch)| ch <= SEPARATOR) {
        Some((index, ch)) => Err(KeyError::ReservedChar { what, name: name.to_string(), index, ch }),
        None => Ok(()),
    }
}

/// `<root>/members/<zone>#<suffix>`.
///
/// # Errors
/// The zone or suffix is not a valid name ([`validate_name`]).
pub fn member_key(root: &str, member: &MemberId) -> Result<String, KeyError> {
    validate_name("zone", &member.zone)?;
    validate_name("member suffix", &member.suffix)?;
    Ok(format!("{root}{MEMBERS_PREFIX}{}{SEPARATOR}{}", member.zone, member.suffix))
}

/// `<root>/items/<item>`.
///
/// # Errors
/// The item id is not a valid name.
pub fn item_key(root: &str, item_id: &str) -> Result<String, KeyError> {
    validate_name("item id", item_id)?;
    Ok(format!("{root}{ITEMS_PREFIX}{item_id}"))
}

/// `<root>/assign/<item>#`: the prefix of all of an item's assignment keys.
///
/// # Errors
/// The item id is not a valid name.
pub fn item_assignments_prefix(root: &str, item_id: &str) -> Result<String, KeyError> {
    validate_name("item id", item_id)?;
    Ok(format!("{root}{ASSIGNMENTS_PREFIX}{item_id}{SEPARATOR}"))
}

/// `<root>/assign/<item>#<zone>#<suffix>#<slot>`.
///
/// # Errors
/// The item id, zone or suffix is not a valid name.
pub fn assignment_key(root: &str, a: &Assignment) -> Result<String, KeyError> {
    let prefix = item_assignments_prefix(root, &a.item_id)?;
    validate_name("zone", &a.member_zone)?;
    validate_name("member suffix", &a.member_suffix)?;
    Ok(format!("{prefix}{}{SEPARATOR}{}{SEPARATOR}{}", a.member_zone, a.member_suffix, a.slot))
}

/// The member a `<root>/members/<zone>#<suffix>` key names.
///
/// # Errors
/// The key is under another prefix, has other than two parts, or a part is not a
/// valid name.
pub fn parse_member_key(root: &str, key: &str) -> Result<MemberId, KeyError> {
    let parts = split(root, MEMBERS_PREFIX, key, "zone#suffix", 2)?;
    validate_name("zone", parts[0])?;
    validate_name("member suffix", parts[1])?;
    Ok(MemberId::new(parts[0], parts[1]))
}

/// The item id a `<root>/items/<item>` key names.
///
/// # Errors
/// The key is under another prefix or the id is not a valid name.
pub fn parse_item_key(root: &str, key: &str) -> Result<String, KeyError> {
    let parts = split(root, ITEMS_PREFIX, key, "item", 1)?;
    validate_name("item id", parts[0])?;
    Ok(parts[0].to_string())
}

/// The assignment a `<root>/assign/<item>#<zone>#<suffix>#<slot>` key names, with
/// `consistent: false` (the key does not say; the caller decodes the value).
///
/// # Errors
/// The key is under another prefix, has other than four parts, a name is invalid, or
/// the slot is not a canonical decimal `u32`.
pub fn parse_assignment_key(root: &str, key: &str) -> Result<Assignment, KeyError> {
    let parts = split(root, ASSIGNMENTS_PREFIX, key, "item#zone#suffix#slot", 4)?;
    validate_name("item id", parts[0])?;
    validate_name("zone", parts[1])?;
    validate_name("member suffix", parts[2])?;
    let slot = parse_slot(parts[3]).ok_or_else(|| KeyError::BadSlot { key: key.to_string(), slot: parts[3].to_string() })?;
    Ok(Assignment {
        item_id: parts[0].to_string(),
        member_zone: parts[1].to_string(),
        member_suffix: parts[2].to_string(),
        slot,
        consistent: false,
    })
}

/// Strips `<root><prefix>` from `key` and splits the rest into exactly `expected`
/// `#`-separated parts (`shape` names them in the error).
fn split<'k>(root: &str, prefix: &str, key: &'k str, shape: &'static str, expected: usize) -> Result<Vec<&'k str>, KeyError> {
    let tail = key
        .strip_prefix(root)
        .and_then(|rest| rest.strip_prefix(prefix))
        .ok_or_else(|| KeyError::WrongPrefix { key: key.to_string(), prefix: format!("{root}{prefix}") })?;
    let parts: Vec<&str> = tail.split(SEPARATOR).collect();
    if parts.len() != expected {
        return Err(KeyError::WrongParts { key: key.to_string(), shape, expected, found: parts.len() });
    }
    Ok(parts)
}

/// A canonical decimal `u32`: digits only, no leading zero unless it is `0`.
fn parse_slot(s: &str) -> Option<u32> {
    let canonical = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    canonical.then(|| s.parse().ok()).flatten()
}

#[cfg(test)]
#[path = "keys_tests.rs"]
mod tests;
