//! The sandbox's command line: a flag (and environment variable) for every guest
//! limit, fuel metering, how often a shard may fail before it stops retrying, and
//! which shards run another plugin (`--app-for SHARD=PATH`, for hostile-guest tests
//! and canaries).
//!
//! Issue 8, DESIGN §9. Gazette has no counterpart (a Go application is trusted); the
//! failure threshold plays the part of a replica's FAILED status in
//! `consumer/replica.go`. Every value is checked against its allowed range here, so a
//! bad flag is refused at start with its name instead of failing inside a shard.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::Args;

use crate::flags::parse_duration;
use crate::runtime::Limits;

/// Guest limits and sandbox policy of the main service.
#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// Wall time one guest call (consume, finalize-txn) may take (10ms to 10m).
    #[arg(long, env = "STREAMSUM_GUEST_CALL_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub guest_call_timeout: Duration,
    /// Bytes of one guest linear memory (e.g. 256MiB; 1MiB to 4GiB).
    #[arg(long, env = "STREAMSUM_GUEST_MEMORY", default_value = "256MiB", value_parser = parse_size)]
    pub guest_memory: u64,
    /// Elements of one guest table (100 to 10000000).
    #[arg(long, env = "STREAMSUM_GUEST_TABLE_ELEMENTS", default_value_t = 100_000)]
    pub guest_table_elements: u64,
    /// Core instances one guest component may create (1 to 10000).
    #[arg(long, env = "STREAMSUM_GUEST_INSTANCES", default_value_t = 64)]
    pub guest_instances: u64,
    /// Bytes of one store key (1 to 1MiB).
    #[arg(long, env = "STREAMSUM_GUEST_KEY_BYTES", default_value = "4KiB", value_parser = parse_size)]
    pub guest_key_bytes: u64,
    /// Bytes of one store value (1 to 256MiB).
    #[arg(long, env = "STREAMSUM_GUEST_VALUE_BYTES", default_value = "1MiB", value_parser = parse_size)]
    pub guest_value_bytes: u64,
    /// Bytes of one published message (16 to 64MiB).
    #[arg(long, env = "STREAMSUM_GUEST_MESSAGE_BYTES", default_value = "1MiB", value_parser = parse_size)]
    pub guest_message_bytes: u64,
    /// Messages published in one transaction (1 to 100000000).
    #[arg(long, env = "STREAMSUM_GUEST_TXN_MESSAGES", default_value_t = 100_000)]
    pub guest_txn_messages: u64,
    /// Bytes published in one transaction (1KiB to 4GiB).
    #[arg(long, env = "STREAMSUM_GUEST_TXN_PUBLISH_BYTES", default_value = "64MiB", value_parser = parse_size)]
    pub guest_txn_publish_bytes: u64,
    /// Bytes of one guest log line; longer lines are truncated (16 to 1MiB).
    #[arg(long, env = "STREAMSUM_GUEST_LOG_LINE_BYTES", default_value = "1KiB", value_parser = parse_size)]
    pub guest_log_line_bytes: u64,
    /// Bytes of guest log lines per transaction; lines past it are dropped (0 to 1GiB).
    #[arg(long, env = "STREAMSUM_GUEST_TXN_LOG_BYTES", default_value = "256KiB", value_parser = parse_size)]
    pub guest_txn_log_bytes: u64,
    /// Fuel (wasm operations) one guest call may burn: deterministic limits for tests.
    /// Off by default (metering costs throughput; see the sandbox benchmark).
    #[arg(long, env = "STREAMSUM_GUEST_FUEL")]
    pub guest_fuel: Option<u64>,
    /// Consecutive failures after which a shard stays FAILED and stops retrying
    /// (0: retry forever).
    #[arg(long, env = "STREAMSUM_MAX_SHARD_FAILURES", default_value_t = 5)]
    pub max_shard_failures: u32,
    /// Run another plugin on one shard: SHARD=PATH (e.g. chunks-part-003=canary.wasm).
    /// Repeatable; the other shards run --app.
    #[arg(long = "app-for", env = "STREAMSUM_APP_FOR", value_parser = parse_app_for, value_delimiter = ',')]
    pub app_for: Vec<(String, PathBuf)>,
}

impl SandboxArgs {
    /// The [`Limits`] the flags describe.
    ///
    /// # Errors
    /// A value out of its allowed range, naming the flag, the value and the range.
    pub fn limits(&self) -> anyhow::Result<Limits> {
        let timeout = self.guest_call_timeout;
        if timeout < Duration::from_millis(10) || timeout > Duration::from_secs(600) {
            bail!("--guest-call-timeout {timeout:?} is out of range (10ms to 10m)");
        }
        if self.guest_fuel == Some(0) {
            bail!("--guest-fuel 0 would stop every call at once (omit the flag to turn metering off)");
        }
        Ok(Limits {
            call_timeout: timeout,
            memory_bytes: ranged("--guest-memory", self.guest_memory, 1 << 20..=4 << 30)?,
            table_elements: ranged("--guest-table-elements", self.guest_table_elements, 100..=10_000_000)?,
            instances: ranged("--guest-instances", self.guest_instances, 1..=10_000)?,
            key_bytes: ranged("--guest-key-bytes", self.guest_key_bytes, 1..=1 << 20)?,
            value_bytes: ranged("--guest-value-bytes", self.guest_value_bytes, 1..=256 << 20)?,
            message_bytes: ranged("--guest-message-bytes", self.guest_message_bytes, 16..=64 << 20)?,
            txn_messages: ranged("--guest-txn-messages", self.guest_txn_messages, 1..=100_000_000)?,
            txn_publish_bytes: ranged(
                "--guest-txn-publish-bytes",
                self.guest_txn_publish_bytes,
                1 << 10..=4 << 30,
            )?,
            log_line_bytes: ranged("--guest-log-line-bytes", self.guest_log_line_bytes, 16..=1 << 20)?,
            txn_log_bytes: ranged("--guest-txn-log-bytes", self.guest_txn_log_bytes, 0..=1 << 30)?,
            fuel: self.guest_fuel,
        })
    }

    /// The per-shard plugins of `--app-for`, by shard id.
    ///
    /// # Errors
    /// A shard named twice.
    pub fn app_for(&self) -> anyhow::Result<BTreeMap<String, PathBuf>> {
        let mut map = BTreeMap::new();
        for (shard, path) in &self.app_for {
            if map.insert(shard.clone(), path.clone()).is_some() {
                bail!("--app-for names shard {shard} twice");
            }
        }
        Ok(map)
    }
}

/// `value` if it lies in `range`, as a `usize`; else an error naming `flag`.
fn ranged(flag: &str, value: u64, range: RangeInclusive<u64>) -> anyhow::Result<usize> {
    if !range.contains(&value) {
        bail!("{flag} {value} is out of range ({} to {})", range.start(), range.end());
    }
    usize::try_from(value).map_err(|_| anyhow::anyhow!("{flag} {value} does not fit this platform's address size"))
}

/// Parses a byte size: `4096`, `4KiB`, `256MiB`, `1GiB` (also `K`, `M`, `G`, `KB`, …,
/// all binary multiples).
///
/// # Errors
/// A text naming what was expected.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size such as 4096, 64KiB or 256MiB"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        other => return Err(format!("unknown unit {other:?} in {s:?} (use KiB, MiB or GiB)")),
    };
    value
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("{s:?} is too large"))
}

/// Parses `SHARD=PATH` of `--app-for`.
///
/// # Errors
/// No `=`, or an empty shard or path.
pub fn parse_app_for(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((shard, path)) if !shard.trim().is_empty() && !path.trim().is_empty() => {
            Ok((shard.trim().to_owned(), PathBuf::from(path.trim())))
        }
        _ => Err(format!("{s:?} is not SHARD=PATH (e.g. chunks-part-003=canary.wasm)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sandbox: SandboxArgs,
    }

    fn parse(args: &[&str]) -> Result<SandboxArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("t").chain(args.iter().copied())).map(|c| c.sandbox)
    }

    #[test]
    fn the_default_flags_are_the_default_limits() {
        let args = parse(&[]).unwrap();
        assert_eq!(args.limits().unwrap(), Limits::default());
        assert_eq!(args.max_shard_failures, 5);
        assert!(args.app_for().unwrap().is_empty());
    }

    #[test]
    fn every_flag_sets_its_limit() {
        let args = parse(&[
            "--guest-call-timeout=250ms",
            "--guest-memory=8MiB",
            "--guest-table-elements=500",
            "--guest-instances=7",
            "--guest-key-bytes=100",
            "--guest-value-bytes=2KiB",
            "--guest-message-bytes=300",
            "--guest-txn-messages=9",
            "--guest-txn-publish-bytes=4KiB",
            "--guest-log-line-bytes=64",
            "--guest-txn-log-bytes=0",
            "--guest-fuel=1000000",
            "--max-shard-failures=2",
            "--app-for=chunks-part-001=a.wasm",
            "--app-for=chunks-part-002=b.wasm",
        ])
        .unwrap();
        let want = Limits {
            call_timeout: Duration::from_millis(250),
            memory_bytes: 8 << 20,
            table_elements: 500,
            instances: 7,
            key_bytes: 100,
            value_bytes: 2048,
            message_bytes: 300,
            txn_messages: 9,
            txn_publish_bytes: 4096,
            log_line_bytes: 64,
            txn_log_bytes: 0,
            fuel: Some(1_000_000),
        };
        assert_eq!(args.limits().unwrap(), want);
        assert_eq!(args.max_shard_failures, 2);
        let apps = args.app_for().unwrap();
        assert_eq!(apps.get("chunks-part-001"), Some(&PathBuf::from("a.wasm")));
        assert_eq!(apps.get("chunks-part-002"), Some(&PathBuf::from("b.wasm")));
    }

    #[test]
    fn out_of_range_values_are_refused_naming_the_flag() {
        let cases = [
            ("--guest-call-timeout=1ms", "--guest-call-timeout"),
            ("--guest-call-timeout=11m", "--guest-call-timeout"),
            (
                "--guest-memory=1KiB",
                "--guest-memory 1024 is out of range (1048576 to 4294967296)",
            ),
            ("--guest-key-bytes=0", "--guest-key-bytes 0 is out of range"),
            ("--guest-message-bytes=8", "--guest-message-bytes"),
            ("--guest-fuel=0", "--guest-fuel 0"),
        ];
        for (flag, want) in cases {
            let err = parse(&[flag]).unwrap().limits().unwrap_err().to_string();
            assert!(err.contains(want), "{flag}: {err}");
        }
        let twice = parse(&["--app-for=s=a.wasm", "--app-for=s=b.wasm"]).unwrap();
        assert!(twice.app_for().unwrap_err().to_string().contains("names shard s twice"));
    }

    #[test]
    fn sizes_and_app_for_parse_or_say_why_not() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("256MiB"), Ok(256 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        for bad in ["", "MiB", "1.5MiB", "-1", "3TB", "99999999999999999999"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_app_for("a=b.wasm"), Ok(("a".into(), PathBuf::from("b.wasm"))));
        for bad in ["a", "=b", "a=", ""] {
            assert!(parse_app_for(bad).unwrap_err().contains("SHARD=PATH"), "{bad}");
        }
        assert!(parse(&["--guest-memory=lots"]).is_err());
    }
}
