//! Journal specs and their validation.
//!
//! Mirrors `JournalSpec` and `JournalSpec.Validate` of
//! `broker/protocol/journal_spec_extensions.go`. The spec is persisted as JSON next to
//! the journal's fragments and is what `journals apply FILE` reads; durations are
//! written in Go's notation (`1m0s`, `720h`) as gazctl does.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration;
use super::error::JournalError;
use super::labels::LabelSet;

/// Shortest and longest allowed journal name.
pub const JOURNAL_NAME_LEN: (usize, usize) = (4, 512);
/// Smallest and largest allowed target fragment length.
pub const FRAGMENT_LENGTH: (i64, i64) = (1 << 10, 1 << 34);
/// Labels whose single value is enforced.
const SINGLE_VALUED: [&str; 6] = [
    "content-type",
    "app.gazette.dev/instance",
    "app.gazette.dev/managed-by",
    "app.gazette.dev/message-subtype",
    "app.gazette.dev/message-type",
    "app.gazette.dev/region",
];

/// Compression codec of a journal's fragments (Gazette's `CompressionCodec`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Codec {
    /// Uncompressed (`.raw`); our local fragments are always stored this way.
    #[default]
    None,
    /// Gzip (`.gz`).
    Gzip,
    /// Zstandard (`.zst`).
    Zstandard,
    /// Snappy (`.sz`).
    Snappy,
    /// Gzip decompressed by the store.
    GzipOffloadDecompression,
}

impl Codec {
    /// The protobuf enum number.
    pub fn to_i32(self) -> i32 {
        match self {
            Codec::None => 1,
            Codec::Gzip => 2,
            Codec::Zstandard => 3,
            Codec::Snappy => 4,
            Codec::GzipOffloadDecompression => 5,
        }
    }

    /// From a protobuf enum number; 0 (INVALID) and unknown numbers are refused.
    pub fn from_i32(v: i32) -> Result<Self, JournalError> {
        Ok(match v {
            1 => Codec::None,
            2 => Codec::Gzip,
            3 => Codec::Zstandard,
            4 => Codec::Snappy,
            5 => Codec::GzipOffloadDecompression,
            _ => return Err(JournalError::invalid(format!("invalid compression codec {v}"))),
        })
    }
}

/// Fragment settings of a journal (`JournalSpec.Fragment`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FragmentSpec {
    /// Target content length of each fragment: a local fragment file is closed and a
    /// new one begun once it reaches this length.
    pub length: i64,
    /// Codec of persisted fragments.
    pub compression_codec: Codec,
    /// Fragment store URLs (kept and validated; this broker keeps fragments locally).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stores: Vec<String>,
    /// Period of remote fragment listing.
    #[serde(with = "duration")]
    pub refresh_interval: Duration,
    /// Retention of persisted fragments (zero: forever).
    #[serde(with = "duration")]
    pub retention: Duration,
    /// Forced fragment flush interval (zero: none).
    #[serde(with = "duration")]
    pub flush_interval: Duration,
    /// Go template of the persisted path postfix.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub path_postfix_template: String,
}

impl Default for FragmentSpec {
    fn default() -> Self {
        FragmentSpec {
            length: 64 << 20,
            compression_codec: Codec::None,
            stores: Vec::new(),
            refresh_interval: Duration::from_secs(60),
            retention: Duration::ZERO,
            flush_interval: Duration::ZERO,
            path_postfix_template: String::new(),
        }
    }
}

/// Gazette's journal flags: only one of these values is allowed.
pub mod flags {
    /// Unset: read and write.
    pub const NOT_SPECIFIED: u32 = 0;
    /// Reads only.
    pub const O_RDONLY: u32 = 1;
    /// Writes only.
    pub const O_WRONLY: u32 = 2;
    /// Reads and writes.
    pub const O_RDWR: u32 = 4;
}

/// A journal's spec (`JournalSpec`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JournalSpec {
    /// Path-like journal name.
    pub name: String,
    /// Desired replication (1..=5; this single-node broker keeps one copy).
    pub replication: i32,
    /// User labels (not `name` or `prefix`).
    pub labels: LabelSet,
    /// Fragment settings.
    pub fragment: FragmentSpec,
    /// One of [`flags`].
    pub flags: u32,
    /// Append rate limit in bytes/s (0: unlimited; recorded, not enforced).
    pub max_append_rate: i64,
}

impl Default for JournalSpec {
    fn default() -> Self {
        JournalSpec {
            name: String::new(),
            replication: 1,
            labels: LabelSet::default(),
            fragment: FragmentSpec::default(),
            flags: flags::NOT_SPECIFIED,
            max_append_rate: 0,
        }
    }
}

/// Validates a journal name: 4..512 characters of letters, digits and `-_+/.=%`,
/// no leading `/`, and equal to its own cleaned path (no `//`, `./`, `..`, trailing `/`).
pub fn validate_journal_name(name: &str) -> Result<(), JournalError> {
    let n = name.chars().count();
    if n < JOURNAL_NAME_LEN.0 || n > JOURNAL_NAME_LEN.1 {
        return Err(JournalError::invalid(format!(
            "journal name {name:?} has length {n}, expected {}..={}",
            JOURNAL_NAME_LEN.0, JOURNAL_NAME_LEN.1
        )));
    }
    if let Some(c) = name.chars().find(|&c| !(c.is_alphanumeric() || "-_+/.=%".contains(c))) {
        return Err(JournalError::invalid(format!("journal name {name:?} has invalid character {c:?}")));
    }
    if name.starts_with('/') || name.ends_with('/') || name.split('/').any(|seg| seg.is_empty() || seg == "." || seg == "..") {
        return Err(JournalError::invalid(format!("journal name {name:?} is not a clean relative path")));
    }
    Ok(())
}

impl JournalSpec {
    /// Whether reads are allowed by the flags.
    pub fn may_read(&self) -> bool {
        self.flags != flags::O_WRONLY
    }

    /// Whether appends are allowed by the flags.
    pub fn may_write(&self) -> bool {
        self.flags != flags::O_RDONLY
    }

    /// Gazette's `JournalSpec.Validate`.
    pub fn validate(&self) -> Result<(), JournalError> {
        validate_journal_name(&self.name)?;
        let ctx = |e: JournalError| match e {
            JournalError::Invalid(m) => JournalError::invalid(format!("journal {:?}: {m}", self.name)),
            other => other,
        };
        if !(1..=5).contains(&self.replication) {
            return Err(ctx(JournalError::invalid(format!("replication {} not in 1..=5", self.replication))));
        }
        self.validate_labels().map_err(ctx)?;
        self.validate_fragment().map_err(ctx)?;
        if ![flags::NOT_SPECIFIED, flags::O_RDONLY, flags::O_WRONLY, flags::O_RDWR].contains(&self.flags) {
            return Err(ctx(JournalError::invalid(format!("invalid flags {:#x}", self.flags))));
        }
        if self.max_append_rate < 0 {
            return Err(ctx(JournalError::invalid(format!("max_append_rate {} is negative", self.max_append_rate))));
        }
        Ok(())
    }

    fn validate_labels(&self) -> Result<(), JournalError> {
        self.labels.validate(false)?;
        for reserved in ["name", "prefix"] {
            if self.labels.value_of(reserved).is_some() {
                return Err(JournalError::invalid(format!("label {reserved:?} is reserved")));
            }
        }
        for name in SINGLE_VALUED {
            if self.labels.values_of(name).count() > 1 {
                return Err(JournalError::invalid(format!("label {name:?} may have only one value")));
            }
        }
        match self.labels.value_of("content-type") {
            Some(ct) if !is_mime_type(ct) => {
                return Err(JournalError::invalid(format!("content-type {ct:?} is not a MIME type")))
            }
            None if self.labels.value_of("app.gazette.dev/message-type").is_some() => {
                return Err(JournalError::invalid("message-type label requires a content-type label"))
            }
            _ => {}
        }
        Ok(())
    }

    fn validate_fragment(&self) -> Result<(), JournalError> {
        let f = &self.fragment;
        if f.length < FRAGMENT_LENGTH.0 || f.length > FRAGMENT_LENGTH.1 {
            return Err(JournalError::invalid(format!(
                "fragment length {} not in {}..={}",
                f.length, FRAGMENT_LENGTH.0, FRAGMENT_LENGTH.1
            )));
        }
        for store in &f.stores {
            // As Gazette's: the URL's path ends in '/', query parameters may follow.
            let path = store.split('?').next().unwrap_or(store);
            let ok = (path.starts_with("s3://") && path.len() > "s3://".len() + 1 || path.starts_with("file:///")) && path.ends_with('/');
            if !ok {
                return Err(JournalError::invalid(format!(
                    "fragment store {store:?} is not a supported URL (file:///dir/ or s3://bucket/prefix/, ending in '/')"
                )));
            }
        }
        if f.refresh_interval < Duration::from_secs(1) || f.refresh_interval > Duration::from_secs(24 * 3600) {
            return Err(JournalError::invalid(format!(
                "refresh_interval {:?} not in 1s..=24h",
                f.refresh_interval
            )));
        }
        if !f.flush_interval.is_zero() && f.flush_interval < Duration::from_secs(60) {
            return Err(JournalError::invalid(format!("flush_interval {:?} must be 0 or at least 1m", f.flush_interval)));
        }
        Ok(())
    }
}

/// A minimal `type/subtype` check (parameters after `;` allowed).
fn is_mime_type(s: &str) -> bool {
    let essence = s.split(';').next().unwrap_or("").trim();
    let mut parts = essence.split('/');
    let ok = |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || "!#$&^_.+-".contains(c)));
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;
