//! Declared shards: Gazette's `ShardSpec`, as operators write it and etcd stores it,
//! and gazctl's `shards apply` file format.
//!
//! Gazette's `consumer/protocol/shard_spec_extensions.go` (`Validate`, `RecoveryLog`,
//! `DesiredReplication`) and `consumer/shardspace/shardspace.go` (a `Set`: a `common`
//! spec whose fields every shard without its own inherits, and `shards`, each a
//! partial spec or `delete: true`). A [`DeclaredShard`] is what the cluster assigns;
//! [`DeclaredShard::runtime`] turns it into the [`ShardSpec`] a shard runs with.
//!
//! ```yaml
//! common:
//!   recovery_log_prefix: examples/stream-sum/recovery-logs
//!   max_txn_duration: 1s
//!   hot_standbys: 1
//! shards:
//!   - id: chunks-part-000
//!     sources: [journal: examples/stream-sum/chunks/part-000]
//!   - id: chunks-part-001
//!     delete: true
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::spec::ShardSpec;
use crate::journal::journalspace::{take_delete, union_labels};
use crate::journal::{duration, validate_journal_name, LabelSet};

/// Longest shard id (Gazette's `ShardID.Validate`: a token of 4..512 characters).
const SHARD_ID_LEN: (usize, usize) = (4, 512);
/// Most hot standbys a shard may ask for.
pub const MAX_HOT_STANDBYS: u32 = 64;

/// One journal a shard reads (`ShardSpec.Source`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Source {
    /// The journal.
    pub journal: String,
    /// Offset to begin reading at when the shard has no checkpoint for it.
    #[serde(skip_serializing_if = "is_zero")]
    pub min_offset: i64,
}

/// A shard as declared (Gazette's `ShardSpec`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeclaredShard {
    /// The shard id, e.g. `chunks-part-003`.
    pub id: String,
    /// Journals it reads; the stream-sum summer reads exactly one.
    pub sources: Vec<Source>,
    /// Its recovery log is `<recovery_log_prefix>/<id>`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub recovery_log_prefix: String,
    /// Etcd prefix of recovery-log hints (kept; this host's logs need none).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hint_prefix: String,
    /// Backup hints to keep (kept, unused).
    #[serde(skip_serializing_if = "is_zero")]
    pub hint_backups: i32,
    /// A transaction stops consuming after this long.
    #[serde(with = "duration")]
    pub max_txn_duration: Duration,
    /// A transaction consumes at least this long once it has a message.
    #[serde(with = "duration")]
    pub min_txn_duration: Duration,
    /// A disabled shard is assigned nowhere.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub disable: bool,
    /// Hosts tailing the recovery log, ready to take over.
    #[serde(skip_serializing_if = "is_zero")]
    pub hot_standbys: u32,
    /// User labels.
    #[serde(skip_serializing_if = "LabelSet::is_empty")]
    pub labels: LabelSet,
    /// Kept for Gazette compatibility; every transaction here waits for its ACKs.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub disable_wait_for_ack: bool,
    /// Sequencer ring size (0: Gazette's default).
    #[serde(skip_serializing_if = "is_zero")]
    pub ring_buffer_size: u32,
    /// Read channel size (kept; the host's is fixed).
    #[serde(skip_serializing_if = "is_zero")]
    pub read_channel_size: u32,
}

fn is_zero<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

impl DeclaredShard {
    /// Checks the spec as Gazette's `ShardSpec.Validate` does, plus what this host
    /// needs (one source, a recovery log), naming the shard and field at fault.
    ///
    /// # Errors
    /// The first problem found.
    pub fn validate(&self) -> Result<(), String> {
        let id = &self.id;
        validate_shard_id(id)?;
        let field = |name: &str, e: &dyn std::fmt::Display| format!("shard {id:?}: {name}: {e}");
        if self.sources.len() != 1 {
            return Err(format!(
                "shard {id:?}: sources: the stream-sum summer reads exactly one journal per shard (got {})",
                self.sources.len()
            ));
        }
        for (i, s) in self.sources.iter().enumerate() {
            validate_journal_name(&s.journal).map_err(|e| field(&format!("sources[{i}].journal"), &e))?;
            if s.min_offset < 0 {
                return Err(format!("shard {id:?}: sources[{i}].min_offset is {} (expected >= 0)", s.min_offset));
            }
        }
        if self.recovery_log_prefix.is_empty() {
            return Err(format!("shard {id:?}: recovery_log_prefix is required (its store is recovered from <prefix>/{id})"));
        }
        validate_journal_name(&self.recovery_log()).map_err(|e| field("recovery_log_prefix", &e))?;
        if !self.hint_prefix.is_empty() && !is_absolute_clean_file_path(&self.hint_prefix) {
            return Err(format!("shard {id:?}: hint_prefix {:?} is not an absolute, clean, non-directory path", self.hint_prefix));
        }
        if self.hint_backups < 0 {
            return Err(format!("shard {id:?}: hint_backups is {} (expected >= 0)", self.hint_backups));
        }
        if self.max_txn_duration.is_zero() {
            return Err(format!("shard {id:?}: max_txn_duration must be > 0"));
        }
        if self.min_txn_duration > self.max_txn_duration {
            return Err(format!(
                "shard {id:?}: min_txn_duration {:?} exceeds max_txn_duration {:?}",
                self.min_txn_duration, self.max_txn_duration
            ));
        }
        if self.hot_standbys > MAX_HOT_STANDBYS {
            return Err(format!("shard {id:?}: hot_standbys is {} (at most {MAX_HOT_STANDBYS})", self.hot_standbys));
        }
        self.labels.validate(false).map_err(|e| field("labels", &e))?;
        if self.labels.values_of("id").next().is_some() {
            return Err(format!("shard {id:?}: labels cannot include label \"id\""));
        }
        Ok(())
    }

    /// The recovery-log journal: `<recovery_log_prefix>/<id>`.
    pub fn recovery_log(&self) -> String {
        format!("{}/{}", self.recovery_log_prefix, self.id)
    }

    /// How many hosts should hold the shard: 0 when disabled, else 1 + hot standbys
    /// (Gazette's `DesiredReplication`).
    pub fn desired_replication(&self) -> u32 {
        if self.disable {
            0
        } else {
            1 + self.hot_standbys
        }
    }

    /// The spec a shard of this declaration runs with; `max_failures` is the host's
    /// `--max-shard-failures`.
    pub fn runtime(&self, max_failures: u32) -> ShardSpec {
        ShardSpec {
            id: self.id.clone(),
            source: self.sources.first().map(|s| s.journal.clone()).unwrap_or_default(),
            min_txn_duration: self.min_txn_duration,
            max_txn_duration: self.max_txn_duration,
            ring_size: self.ring_buffer_size as usize,
            max_failures,
        }
    }
}

/// A shard id: 4..512 letters, digits and `-_+/.=%`.
///
/// # Errors
/// What is wrong with it.
pub fn validate_shard_id(id: &str) -> Result<(), String> {
    let n = id.chars().count();
    if n < SHARD_ID_LEN.0 || n > SHARD_ID_LEN.1 {
        return Err(format!("shard id {id:?} has length {n}, expected {}..={}", SHARD_ID_LEN.0, SHARD_ID_LEN.1));
    }
    match id.chars().find(|&c| !(c.is_alphanumeric() || "-_+/.=%".contains(c))) {
        Some(c) => Err(format!("shard id {id:?} has invalid character {c:?}")),
        None => Ok(()),
    }
}

fn is_absolute_clean_file_path(p: &str) -> bool {
    p.starts_with('/') && !p.ends_with('/') && !p.contains("//") && !p.split('/').any(|s| s == "." || s == "..")
}

/// One change of a `shards apply` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShardChange {
    /// Create or update this shard.
    Upsert(DeclaredShard),
    /// Delete the shard with this id.
    Delete(String),
}

impl ShardChange {
    /// The shard the change is about.
    pub fn id(&self) -> &str {
        match self {
            ShardChange::Upsert(s) => &s.id,
            ShardChange::Delete(id) => id,
        }
    }
}

/// Reads a gazctl shard set — `{common: {...}, shards: [{id: ..., ...}, ...]}` —
/// already parsed from YAML or JSON: every shard inherits the common fields it does
/// not set (labels merge by name, the shard's winning), and `delete: true` deletes
/// it. Each resulting spec is validated; ids must be unique.
///
/// # Errors
/// A message naming the shard (by index and id) and field at fault.
pub fn parse_shard_set(doc: &Value) -> Result<Vec<ShardChange>, String> {
    let Value::Object(top) = doc else {
        return Err("expected a mapping with `shards:` (and optionally `common:`)".into());
    };
    if let Some(k) = top.keys().find(|k| !["common", "shards"].contains(&k.as_str())) {
        return Err(format!("unknown top-level key {k:?} (expected `common:` and `shards:`)"));
    }
    let common = match top.get("common") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err("`common:` must be a mapping of ShardSpec fields".into()),
    };
    if common.contains_key("id") {
        return Err("`common:` cannot set `id`".into());
    }
    let shards = match top.get("shards") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        _ => return Err("`shards:` must be a non-empty list".into()),
    };
    let mut changes = Vec::with_capacity(shards.len());
    let mut seen = std::collections::BTreeSet::new();
    for (i, entry) in shards.iter().enumerate() {
        let Value::Object(fields) = entry else {
            return Err(format!("shards[{i}]: expected a mapping"));
        };
        let id = match fields.get("id") {
            Some(Value::String(id)) => id.clone(),
            _ => return Err(format!("shards[{i}]: `id:` is required")),
        };
        let here = format!("shards[{i}] ({id})");
        let at = |e: &dyn std::fmt::Display| format!("{here}: {e}");
        if !seen.insert(id.clone()) {
            return Err(at(&"the id is given twice"));
        }
        let mut fields = fields.clone();
        fields.remove("comment");
        if take_delete(&mut fields, &here)? {
            validate_shard_id(&id).map_err(|e| at(&e))?;
            changes.push(ShardChange::Delete(id));
            continue;
        }
        let merged = inherit(fields, &common);
        let spec: DeclaredShard = serde_json::from_value(Value::Object(merged)).map_err(|e| at(&e))?;
        spec.validate()?;
        changes.push(ShardChange::Upsert(spec));
    }
    Ok(changes)
}

/// `fields` with every field of `common` it lacks; `labels` are merged by name.
fn inherit(mut fields: Map<String, Value>, common: &Map<String, Value>) -> Map<String, Value> {
    for (k, v) in common {
        match (k.as_str(), fields.get_mut(k)) {
            ("labels", Some(own)) => *own = union_labels(own, v),
            (_, Some(_)) => {}
            (_, None) => {
                fields.insert(k.clone(), v.clone());
            }
        }
    }
    fields
}

#[cfg(test)]
#[path = "shardspace_tests.rs"]
mod tests;
