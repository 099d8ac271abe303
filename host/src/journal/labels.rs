//! Labels, label sets and selectors, with Gazette's validation and matching rules.
//!
//! Mirrors `broker/protocol/label_extensions.go`. A [`LabelSet`] is kept sorted by
//! (name, value) and unique; journals carry one as their labels and one as their
//! registers. A [`LabelSelector`] matches a set when every `include` name is matched
//! and no `exclude` label is: an empty selector value matches any value of that name,
//! and a `prefix` label matches by string prefix.

use serde::{Deserialize, Serialize};


/// Shortest and longest allowed label name.
pub const LABEL_NAME_LEN: (usize, usize) = (2, 64);
/// Longest allowed label value (the empty value is allowed).
pub const LABEL_VALUE_MAX_LEN: usize = 1024;

/// One `name=value` label.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Label {
    /// Token of letters, digits and `-_+/.`.
    pub name: String,
    /// Letters, digits and `-_+/.=%`; may be empty.
    #[serde(default)]
    pub value: String,
    /// Prefix-match the value; only meaningful inside a selector.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prefix: bool,
}

impl Label {
    /// A plain (non-prefix) label.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Label { name: name.into(), value: value.into(), prefix: false }
    }
}

/// Sorted, unique labels: journal labels or registers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LabelSet(pub Vec<Label>);

/// Include/exclude filter over label sets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelSelector {
    /// Labels that must all be matched (empty: match all).
    #[serde(default)]
    pub include: LabelSet,
    /// Labels of which none may be matched.
    #[serde(default)]
    pub exclude: LabelSet,
}

fn is_token_char(c: char, extra: &str) -> bool {
    c.is_alphanumeric() || "-_+/.".contains(c) || extra.contains(c)
}

/// A label, label set or selector that breaks Gazette's rules. It becomes a
/// [`JournalError::Invalid`](super::JournalError) with the same text (`error.rs`), so
/// that this file does not depend on the journal layer's error type.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid request: {0}")]
pub struct LabelError(pub String);

/// Checks a label name: 2..64 token characters.
pub fn validate_label_name(name: &str) -> Result<(), LabelError> {
    let n = name.chars().count();
    if n < LABEL_NAME_LEN.0 || n > LABEL_NAME_LEN.1 {
        return Err(LabelError(format!(
            "label name {name:?} has length {n}, expected {}..={}",
            LABEL_NAME_LEN.0, LABEL_NAME_LEN.1
        )));
    }
    if let Some(c) = name.chars().find(|&c| !is_token_char(c, "")) {
        return Err(LabelError(format!("label name {name:?} has invalid character {c:?}")));
    }
    Ok(())
}

/// Checks a label value: at most 1024 characters of letters, digits and `-_+/.=%`.
pub fn validate_label_value(name: &str, value: &str) -> Result<(), LabelError> {
    let n = value.chars().count();
    if n > LABEL_VALUE_MAX_LEN {
        return Err(LabelError(format!(
            "label {name:?} value has length {n}, expected at most {LABEL_VALUE_MAX_LEN}"
        )));
    }
    if let Some(c) = value.chars().find(|&c| !is_token_char(c, "=%")) {
        return Err(LabelError(format!("label {name:?} value {value:?} has invalid character {c:?}")));
    }
    Ok(())
}

impl LabelSet {
    /// Builds a set from labels in any order, sorting and de-duplicating them.
    pub fn from_labels(labels: impl IntoIterator<Item = Label>) -> Self {
        let mut v: Vec<Label> = labels.into_iter().collect();
        v.sort();
        v.dedup();
        LabelSet(v)
    }

    /// Builds a set from `(name, value)` pairs.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self::from_labels(pairs.into_iter().map(|(n, v)| Label::new(n, v)))
    }

    /// True when the set has no labels.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Values of label `name`, in order.
    pub fn values_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |l| l.name == name).map(|l| l.value.as_str())
    }

    /// The single value of `name`, if present.
    pub fn value_of<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        self.values_of(name).next()
    }

    /// Validates as a set: names and values valid, sorted and unique, no prefix labels,
    /// and a name with an empty value has no other values. `allow_prefix` permits
    /// `prefix` labels (selectors only).
    pub fn validate(&self, allow_prefix: bool) -> Result<(), LabelError> {
        for (i, l) in self.0.iter().enumerate() {
            validate_label_name(&l.name)?;
            validate_label_value(&l.name, &l.value)?;
            if l.prefix && !allow_prefix {
                return Err(LabelError(format!("label {:?} may not be a prefix match here", l.name)));
            }
            if let Some(prev) = i.checked_sub(1).map(|p| &self.0[p]) {
                if (&prev.name, &prev.value) >= (&l.name, &l.value) {
                    return Err(LabelError(format!(
                        "labels not sorted and unique at {}={} (after {}={})",
                        l.name, l.value, prev.name, prev.value
                    )));
                }
                if prev.name == l.name && prev.value.is_empty() {
                    return Err(LabelError(format!(
                        "label {:?} has both an empty and a non-empty value",
                        l.name
                    )));
                }
            }
        }
        Ok(())
    }

    /// Union: for every name in `other`, its values replace this set's values.
    pub fn union(&self, other: &LabelSet) -> LabelSet {
        let kept = self.0.iter().filter(|l| !other.0.iter().any(|o| o.name == l.name));
        LabelSet::from_labels(kept.chain(other.0.iter()).cloned())
    }

    /// Subtraction: removes labels matching `other` (an empty value removes the name).
    pub fn subtract(&self, other: &LabelSet) -> LabelSet {
        let kept = self.0.iter().filter(|l| {
            !other.0.iter().any(|o| o.name == l.name && (o.value.is_empty() || o.value == l.value))
        });
        LabelSet(kept.cloned().collect())
    }

    /// Whether selector label `sel` is matched by some label of this set.
    fn matches_label(&self, sel: &Label) -> bool {
        self.values_of(&sel.name).any(|v| {
            sel.value.is_empty() || if sel.prefix { v.starts_with(&sel.value) } else { v == sel.value }
        })
    }
}

impl LabelSelector {
    /// A selector including every label of `include`.
    pub fn including(include: LabelSet) -> Self {
        LabelSelector { include, exclude: LabelSet::default() }
    }

    /// True when the selector selects everything.
    pub fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    /// Validates both sides (prefix labels allowed).
    pub fn validate(&self) -> Result<(), LabelError> {
        self.include.validate(true)?;
        self.exclude.validate(true)
    }

    /// Gazette's `LabelSelector.Matches`.
    pub fn matches(&self, set: &LabelSet) -> bool {
        // Include labels sharing a name are alternatives (`name in (a, b)`).
        let included = self.include.0.iter().all(|l| {
            self.include.0.iter().filter(|o| o.name == l.name).any(|o| set.matches_label(o))
        });
        included && !self.exclude.0.iter().any(|l| set.matches_label(l))
    }
}

#[cfg(test)]
#[path = "labels_tests.rs"]
mod tests;
