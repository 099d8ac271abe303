//! Snapshots built by hand for the pure steps' tests.

use super::alloc_state::AllocatorValues;
use super::snapshot::{RawKeyValue, Snapshot};
use crate::allocator::Assignment;

/// The root the fixtures live under.
pub(crate) const ROOT: &str = "/t";

/// Values are text: a member's is its item limit, an item's its replication, and an
/// assignment is consistent when its value is `ready`.
pub(crate) struct TextValues;

impl AllocatorValues<String> for TextValues {
    fn item_limit(&self, member: &String) -> u32 {
        member.parse().unwrap_or(0)
    }
    fn desired_replication(&self, item: &String) -> u32 {
        item.parse().unwrap_or(0)
    }
    fn is_consistent(&self, _: &Assignment, value: &String, _: &[(&Assignment, &String)]) -> bool {
        value == "ready"
    }
}

/// A key under [`ROOT`] (`tail` without the root) created at `create`, changed at
/// `modified`, under `lease`.
pub(crate) fn kv(tail: &str, value: &str, create: i64, modified: i64, lease: i64) -> RawKeyValue {
    RawKeyValue { key: format!("{ROOT}{tail}"), value: value.into(), create_revision: create, mod_revision: modified, version: 1, lease }
}

/// A snapshot of `kvs` at `revision`, values decoded as UTF-8.
pub(crate) fn snapshot(revision: i64, kvs: Vec<RawKeyValue>) -> Snapshot<String> {
    Snapshot::load(revision, kvs, &|_: &str, v: &[u8]| String::from_utf8(v.to_vec()).map_err(|e| e.to_string()))
}
