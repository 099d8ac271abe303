//! Range checks of flag values, run by clap at start for the command line, the
//! environment and configuration files alike (clap prefixes the message with the
//! flag's name: `invalid value '0' for '--partitions <PARTITIONS>': must be in
//! 1..=1024`).
//!
//! Gazette validates its specs' fields with named ranges the same way
//! (`broker/protocol/journal_spec_extensions.go`); these are the host's own flags.

use std::time::Duration;

/// Most chunk partitions (and thus shards) one host creates.
pub const MAX_PARTITIONS: usize = 1024;
/// Longest transaction duration accepted.
pub const MAX_TXN_DURATION: Duration = Duration::from_secs(600);

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
    let d = crate::app::parse_duration(s)?;
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
