//! Which journals exist: the specs a broker lists and applies.
//!
//! Gazette keeps every `JournalSpec` in etcd (`broker/list_apply_api.go`): any broker
//! lists all of them, with their routes, and applies changes as one etcd transaction
//! guarded by each change's expected mod revision. A [`JournalCatalog`] is that view:
//! the embedded default's is its local [`Storage`](super::Storage) (specs in the data
//! directory, revisions its own), a cluster broker's is the etcd keyspace — where a
//! journal exists and where its content lives are then different things. The checks
//! both share are here: selector resolution ([`select`]) and the rules of an apply
//! ([`check_changes`]).

use futures::future::BoxFuture;
use tokio::sync::watch;

use super::error::JournalError;
use super::labels::{Label, LabelSelector, LabelSet};
use super::request::{ApplyChange, JournalInfo};
use super::spec::validate_journal_name;

/// Where journal specs are listed and applied.
pub trait JournalCatalog: Send + Sync + 'static {
    /// The catalog's current revision (response headers carry it).
    fn revision(&self) -> i64;
    /// A receiver of revision changes (List watches follow it).
    fn subscribe_revision(&self) -> watch::Receiver<i64>;
    /// Journals matching `selector` in name order, with the revision listed at.
    ///
    /// # Errors
    /// `Invalid` for a malformed selector.
    fn list(&self, selector: &LabelSelector) -> Result<(i64, Vec<JournalInfo>), JournalError>;
    /// Applies `changes` all or nothing; returns the new revision.
    ///
    /// # Errors
    /// `Invalid` (see [`check_changes`]), `EtcdTransactionFailed` for an expected
    /// revision that does not match, `Unavailable` when the catalog cannot be reached.
    fn apply_changes(&self, changes: Vec<ApplyChange>) -> BoxFuture<'static, Result<i64, JournalError>>;
}

/// The journals of `all` that `selector` matches (its `prefix` meta-label is a name
/// prefix, and every journal has its `name` as a label), in their order.
///
/// # Errors
/// `Invalid` for a malformed selector (a `prefix` value must end in `/`).
pub fn select(selector: &LabelSelector, all: impl IntoIterator<Item = JournalInfo>) -> Result<Vec<JournalInfo>, JournalError> {
    let selector = resolve_meta_labels(selector)?;
    Ok(all
        .into_iter()
        .filter(|j| selector.matches(&j.spec.labels.union(&LabelSet::from_pairs([("name", j.spec.name.as_str())]))))
        .collect())
}

/// Rewrites the selector's `prefix` meta-label into a `name` prefix match.
fn resolve_meta_labels(selector: &LabelSelector) -> Result<LabelSelector, JournalError> {
    selector.validate()?;
    let fix = |set: &LabelSet| -> Result<LabelSet, JournalError> {
        let mut out = Vec::new();
        for l in &set.0 {
            if l.name == "prefix" {
                if !l.value.ends_with('/') {
                    return Err(JournalError::invalid(format!("selector prefix {:?} must end in '/'", l.value)));
                }
                out.push(Label { name: "name".into(), value: l.value.clone(), prefix: true });
            } else {
                out.push(l.clone());
            }
        }
        Ok(LabelSet::from_labels(out))
    };
    Ok(LabelSelector { include: fix(&selector.include)?, exclude: fix(&selector.exclude)? })
}

/// Checks an apply against the current mod revisions (`current(name)`, `None` for a
/// journal that does not exist): every spec valid, no journal changed twice, a delete
/// names its revision, and each expected revision matches (0: must not exist; -1: any).
///
/// # Errors
/// `Invalid` or `EtcdTransactionFailed`, naming the journal.
pub fn check_changes(changes: &[ApplyChange], current: impl Fn(&str) -> Option<i64>) -> Result<(), JournalError> {
    let mut seen = std::collections::HashSet::new();
    for change in changes {
        let (name, expect) = match change {
            ApplyChange::Upsert { spec, expect_mod_revision } => {
                spec.validate()?;
                (spec.name.as_str(), *expect_mod_revision)
            }
            ApplyChange::Delete { journal, expect_mod_revision } => {
                validate_journal_name(journal)?;
                if *expect_mod_revision == 0 {
                    return Err(JournalError::invalid(format!("delete of {journal:?} needs expect_mod_revision ≠ 0")));
                }
                (journal.as_str(), *expect_mod_revision)
            }
        };
        if !seen.insert(name.to_string()) {
            return Err(JournalError::invalid(format!("journal {name:?} changed twice in one apply")));
        }
        let current = current(name);
        let ok = match (expect, current, change) {
            (-1, Some(_), _) | (-1, None, ApplyChange::Upsert { .. }) | (0, None, _) => true,
            (e, Some(cur), _) => e == cur,
            _ => false,
        };
        if !ok {
            return Err(JournalError::EtcdTransactionFailed(format!(
                "journal {name:?}: expected mod revision {expect}, current {}",
                current.map_or("none (not found)".to_string(), |c| c.to_string())
            )));
        }
    }
    Ok(())
}
