//! Values of flags: the parsers and range checks that clap runs for the command line,
//! the environment and configuration files alike (`--config`, `ops/config.rs`), so
//! every subcommand and the config file share one definition of a duration or a
//! partition count. Clap prefixes a refusal with the flag's name: `invalid value '0'
//! for '--partitions <PARTITIONS>': must be in 1..=1024`.
//!
//! Gazette validates its specs' fields with named ranges the same way
//! (`broker/protocol/journal_spec_extensions.go`); these are the host's own flags.

use std::time::Duration;

/// Most chunk partitions (and thus shards) one host creates.
pub const MAX_PARTITIONS: usize = 1024;
/// Longest transaction duration accepted.
pub const MAX_TXN_DURATION: Duration = Duration::from_secs(600);

/// Parses `1s`, `250ms`, `2m`, `1.5s` or a plain number of seconds.
///
/// # Errors
/// A text naming what was expected.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num.parse().map_err(|_| format!("{s:?} is not a duration such as 500ms, 1s or 2m"))?;
    let secs = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1e3,
        "us" | "µs" => value / 1e6,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => return Err(format!("unknown unit {other:?} in {s:?} (use ms, s, m or h)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{s:?}: {e}"))
}

/// A partition count in `1..=1024`.
///
/// # Errors
/// Not a number, or out of range.
pub fn partitions(s: &str) -> Result<usize, String> {
    let n: usize = s.trim().parse().map_err(|_| format!("not a whole number; must be in 1..={MAX_PARTITIONS}"))?;
    if (1..=MAX_PARTITIONS).contains(&n) {
        Ok(n)
    } else {
        Err(format!("must be in 1..={MAX_PARTITIONS}, got {n}"))
    }
}

/// A transaction duration in `0s..=10m`.
///
/// # Errors
/// Not a duration, or out of range.
pub fn txn_duration(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d <= MAX_TXN_DURATION {
        Ok(d)
    } else {
        Err(format!("must be in 0s..={}s, got {s}", MAX_TXN_DURATION.as_secs()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        let ok = [("0", 0.0), ("0s", 0.0), ("1s", 1.0), ("250ms", 0.25), ("1.5s", 1.5), ("2m", 120.0), ("1h", 3600.0)];
        for (text, secs) in ok {
            assert_eq!(parse_duration(text), Ok(Duration::from_secs_f64(secs)), "{text}");
        }
        for bad in ["", "s", "1x", "-1s", "abc"] {
            assert!(parse_duration(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn partitions_must_be_between_one_and_1024() {
        assert_eq!(partitions("1"), Ok(1));
        assert_eq!(partitions("1024"), Ok(1024));
        assert_eq!(partitions("0"), Err("must be in 1..=1024, got 0".into()));
        assert_eq!(partitions("1025"), Err("must be in 1..=1024, got 1025".into()));
        assert!(partitions("-1").unwrap_err().contains("1..=1024"));
    }

    #[test]
    fn transaction_durations_must_be_at_most_ten_minutes() {
        assert_eq!(txn_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(txn_duration("601s"), Err("must be in 0s..=600s, got 601s".into()));
        assert!(txn_duration("soon").is_err());
    }
}
