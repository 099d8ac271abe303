//! gazctl's `journals apply` file format: a tree of journal specs whose children
//! inherit what they do not set.
//!
//! Gazette's `broker/journalspace/node.go`. A node is a partial `JournalSpec` with a
//! `name`; a name ending in `/` is a *directory* node, which must have `children`
//! whose names extend it, and any other name is a journal, which may not. Every
//! field a node leaves out comes from its parent (`fragment` field by field; labels
//! merge by name, the child's winning), and `delete: true` deletes the node's
//! journals. For files written before the tree format, a plain list of specs (each
//! perhaps with `delete: true`) is read too.
//!
//! ```yaml
//! name: examples/stream-sum/
//! replication: 1
//! labels: [{name: app.gazette.dev/message-type, value: stream_sum.Chunk}]
//! fragment: {length: 67108864}
//! children:
//!   - name: examples/stream-sum/chunks/part-000
//!   - name: examples/stream-sum/chunks/part-001
//!     delete: true
//! ```

use serde_json::{Map, Value};

use super::labels::{Label, LabelSet};
use super::spec::JournalSpec;

/// One change of a `journals apply` file: the spec, or the name with `delete: true`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JournalChange {
    /// Create or update this journal.
    Upsert(JournalSpec),
    /// Delete the journal of this name.
    Delete(String),
}

impl JournalChange {
    /// The journal the change is about.
    pub fn name(&self) -> &str {
        match self {
            JournalChange::Upsert(spec) => &spec.name,
            JournalChange::Delete(name) => name,
        }
    }
}

/// Flattens a journal tree (or a list of specs), already parsed from YAML or JSON,
/// into one change per journal, in file order. Specs are validated.
///
/// # Errors
/// A message naming the node (by its path of names) and field at fault.
pub fn parse_journal_tree(doc: &Value) -> Result<Vec<JournalChange>, String> {
    let mut out = Vec::new();
    match doc {
        Value::Array(list) => {
            for (i, entry) in list.iter().enumerate() {
                let Value::Object(fields) = entry else { return Err(format!("[{i}]: expected a journal spec mapping")) };
                leaf(fields.clone(), false, &format!("[{i}]"), &mut out)?;
            }
        }
        Value::Object(root) => node(root, &Map::new(), false, "", &mut out)?,
        _ => return Err("expected a journal tree (a mapping with `name:`) or a list of journal specs".into()),
    }
    if out.is_empty() {
        return Err("no journals".into());
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(dup) = out.iter().find(|c| !seen.insert(c.name().to_string())) {
        return Err(format!("journal {:?} is given twice", dup.name()));
    }
    Ok(out)
}

/// Appends the journals of `fields` (a node inheriting `parent`).
fn node(fields: &Map<String, Value>, parent: &Map<String, Value>, deleted: bool, path: &str, out: &mut Vec<JournalChange>) -> Result<(), String> {
    let name = match fields.get("name") {
        Some(Value::String(n)) if !n.is_empty() => n.clone(),
        _ => return Err(format!("{}: `name:` is required", where_(path))),
    };
    let here = if path.is_empty() { name.clone() } else { format!("{path} > {name}") };
    if let Some(parent_name) = parent.get("name").and_then(Value::as_str) {
        if !name.starts_with(parent_name) || name == parent_name {
            return Err(format!("{here}: a child's name must extend its parent's ({parent_name:?})"));
        }
    }
    let mut fields = fields.clone();
    fields.remove("comment");
    fields.remove("revision");
    let deleted = take_delete(&mut fields, &here)? || deleted;
    let children = fields.remove("children");
    let merged = inherit(fields, parent);
    let is_dir = name.ends_with('/');
    match (is_dir, children) {
        (true, Some(Value::Array(children))) if !children.is_empty() => {
            for (i, child) in children.iter().enumerate() {
                let Value::Object(child) = child else { return Err(format!("{here}: children[{i}]: expected a mapping")) };
                node(child, &merged, deleted, &here, out)?;
            }
            Ok(())
        }
        (true, _) => Err(format!("{here}: a directory node (name ending in '/') needs a non-empty `children:` list")),
        (false, None) => leaf(merged, deleted, &here, out),
        (false, Some(_)) => Err(format!("{here}: a journal (name not ending in '/') cannot have children")),
    }
}

/// Appends the journal `fields` describe (all inherited fields merged in).
fn leaf(mut fields: Map<String, Value>, deleted: bool, here: &str, out: &mut Vec<JournalChange>) -> Result<(), String> {
    let deleted = take_delete(&mut fields, here)? || deleted;
    if deleted {
        let Some(Value::String(name)) = fields.get("name") else { return Err(format!("{here}: `name:` is required")) };
        super::spec::validate_journal_name(name).map_err(|e| format!("{here}: {e}"))?;
        out.push(JournalChange::Delete(name.clone()));
        return Ok(());
    }
    let spec: JournalSpec = serde_json::from_value(Value::Object(fields)).map_err(|e| format!("{here}: {e}"))?;
    spec.validate().map_err(|e| format!("{here}: {e}"))?;
    out.push(JournalChange::Upsert(spec));
    Ok(())
}

/// Removes `delete:` from a node or entry (`here` names it in the error): whether it
/// is set. Shard sets (`consumer::shardspace`) read theirs with this too.
pub fn take_delete(fields: &mut Map<String, Value>, here: &str) -> Result<bool, String> {
    match fields.remove("delete") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(b),
        Some(_) => Err(format!("{here}: `delete:` must be true or false")),
    }
}

fn where_(path: &str) -> &str {
    if path.is_empty() {
        "the root node"
    } else {
        path
    }
}

/// `fields` with what it lacks of `parent`: objects (`fragment`) merge field by
/// field, `labels` by name (Gazette's `UnionJournalSpecs`).
fn inherit(mut fields: Map<String, Value>, parent: &Map<String, Value>) -> Map<String, Value> {
    for (k, inherited) in parent {
        if k == "name" {
            continue;
        }
        match fields.get_mut(k) {
            None => {
                fields.insert(k.clone(), inherited.clone());
            }
            Some(own) if k == "labels" => *own = union_labels(own, inherited),
            Some(Value::Object(own)) => {
                if let Value::Object(inherited) = inherited {
                    for (fk, fv) in inherited {
                        own.entry(fk.clone()).or_insert_with(|| fv.clone());
                    }
                }
            }
            Some(_) => {}
        }
    }
    fields
}

/// Gazette's `UnionLabelSets` over label lists as written in a file: every label of
/// `own`, and those of `inherited` whose name `own` lacks. Values that are not label
/// lists are returned as they are, for serde to reject with its message.
pub fn union_labels(own: &Value, inherited: &Value) -> Value {
    let (Ok(mine), Ok(theirs)) =
        (serde_json::from_value::<Vec<Label>>(own.clone()), serde_json::from_value::<Vec<Label>>(inherited.clone()))
    else {
        return own.clone();
    };
    let mut all = mine.clone();
    all.extend(theirs.into_iter().filter(|l| !mine.iter().any(|m| m.name == l.name)));
    serde_json::to_value(LabelSet::from_labels(all).0).unwrap_or_else(|_| own.clone())
}

#[cfg(test)]
#[path = "journalspace_tests.rs"]
mod tests;
