//! The sandbox's limits on one guest instance, and the resource limiter enforcing the
//! memory and table parts.
//!
//! Gazette has no counterpart: a Go application is trusted code. A wasm guest is not, so
//! every resource it can consume through the host is capped here, and a guest that
//! exceeds a cap gets a trap carrying [`LimitExceeded`], which names the limit. All caps
//! live in one [`Limits`] value so that the command line (issue 8) can set each one.

use std::time::Duration;

/// Every cap the host puts on a guest instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Wall time one guest call (`consume`, `finalize-txn`) may take before it is
    /// interrupted (epoch deadline).
    pub call_timeout: Duration,
    /// Bytes of one linear memory of the guest.
    pub memory_bytes: usize,
    /// Elements of one table of the guest.
    pub table_elements: usize,
    /// Core instances a guest component may create (a Rust component uses a handful).
    pub instances: usize,
    /// Bytes of one store key.
    pub key_bytes: usize,
    /// Bytes of one store value.
    pub value_bytes: usize,
    /// Bytes of one published message.
    pub message_bytes: usize,
    /// Messages published in one transaction.
    pub txn_messages: usize,
    /// Bytes published in one transaction (all messages together).
    pub txn_publish_bytes: usize,
    /// Bytes of one log line (from `log.log` or a line of stdout/stderr); longer lines
    /// are truncated, not refused.
    pub log_line_bytes: usize,
    /// Bytes of log lines one instance may emit per transaction; lines past it are
    /// dropped (and counted), so a chatty guest cannot flood the host log.
    pub txn_log_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            call_timeout: Duration::from_secs(5),
            memory_bytes: 256 << 20,
            table_elements: 100_000,
            instances: 64,
            key_bytes: 4 << 10,
            value_bytes: 1 << 20,
            message_bytes: 1 << 20,
            txn_messages: 100_000,
            txn_publish_bytes: 64 << 20,
            log_line_bytes: 1024,
            txn_log_bytes: 256 << 10,
        }
    }
}

/// A guest exceeded one of its [`Limits`]: the trap payload that names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("guest exceeded the {name} limit: {actual} > {limit}")]
pub struct LimitExceeded {
    /// The limit's name, as the [`Limits`] field (e.g. `key_bytes`).
    pub name: &'static str,
    /// The configured cap.
    pub limit: u64,
    /// What the guest asked for.
    pub actual: u64,
}

impl LimitExceeded {
    /// `Err(LimitExceeded)` if `actual > limit`.
    pub fn check(name: &'static str, limit: usize, actual: usize) -> Result<(), LimitExceeded> {
        if actual > limit {
            Err(LimitExceeded {
                name,
                limit: limit as u64,
                actual: actual as u64,
            })
        } else {
            Ok(())
        }
    }
}

/// The `wasmtime::ResourceLimiter` of a guest's store: caps memories, tables and
/// instances, trapping with a [`LimitExceeded`] instead of failing the growth silently,
/// so the host can say which limit the guest hit.
#[derive(Debug, Clone)]
pub struct GuestLimiter {
    /// Bytes of one linear memory.
    memory_bytes: usize,
    /// Elements of one table.
    table_elements: usize,
    /// Core instances.
    instances: usize,
}

impl GuestLimiter {
    /// The limiter for `limits`.
    pub fn new(limits: &Limits) -> Self {
        Self {
            memory_bytes: limits.memory_bytes,
            table_elements: limits.table_elements,
            instances: limits.instances,
        }
    }
}

impl wasmtime::ResourceLimiter for GuestLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        LimitExceeded::check("memory_bytes", self.memory_bytes, desired)?;
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        LimitExceeded::check("table_elements", self.table_elements, desired)?;
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.instances
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::ResourceLimiter;

    #[test]
    fn defaults_are_the_documented_sizes() {
        let l = Limits::default();
        assert_eq!(l.call_timeout, Duration::from_secs(5));
        assert_eq!(l.memory_bytes, 256 * 1024 * 1024);
        assert_eq!(l.key_bytes, 4096);
        assert_eq!(l.value_bytes, 1024 * 1024);
        assert_eq!(l.message_bytes, 1024 * 1024);
        assert_eq!(l.txn_publish_bytes, 64 * 1024 * 1024);
        assert_eq!(l.txn_messages, 100_000);
        assert_eq!(l.table_elements, 100_000);
        assert_eq!(l.instances, 64);
        assert_eq!(l.log_line_bytes, 1024);
        assert_eq!(l.txn_log_bytes, 256 * 1024);
    }

    #[test]
    fn the_limiter_allows_up_to_the_cap_and_names_the_limit_past_it() {
        let limits = Limits {
            memory_bytes: 1 << 20,
            table_elements: 10,
            ..Limits::default()
        };
        let mut limiter = GuestLimiter::new(&limits);
        assert!(limiter.memory_growing(0, 1 << 20, None).unwrap());
        let err = limiter.memory_growing(1 << 20, (1 << 20) + 65536, None).unwrap_err();
        let exceeded = err.downcast_ref::<LimitExceeded>().unwrap();
        assert_eq!(exceeded.name, "memory_bytes");
        assert_eq!(exceeded.actual, (1 << 20) + 65536);

        assert!(limiter.table_growing(0, 10, None).unwrap());
        let err = limiter.table_growing(10, 11, None).unwrap_err();
        assert_eq!(err.downcast_ref::<LimitExceeded>().unwrap().name, "table_elements");
        assert_eq!(limiter.instances(), limits.instances);
    }

    #[test]
    fn check_is_inclusive_of_the_limit() {
        assert!(LimitExceeded::check("key_bytes", 4, 4).is_ok());
        let err = LimitExceeded::check("key_bytes", 4, 5).unwrap_err();
        assert_eq!(err.to_string(), "guest exceeded the key_bytes limit: 5 > 4");
    }
}
