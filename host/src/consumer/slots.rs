//! Who holds a shard: the primary's lease and N standby slots, kept in the recovery
//! log's registers.
//!
//! Gazette assigns a shard's primary and `hot_standbys` standbys through Etcd (the
//! allocator, `allocator/`, with member leases). Until assignment between processes
//! exists (a later issue), the recovery log's registers stand in for Etcd, as issue 6
//! allows ("a simple lease through the broker's registers"):
//!
//! - `author` names the primary (its fence, `recovery.rs`), and `lease` holds the
//!   unix-millisecond time until which it claims to be alive; it renews both with a
//!   fenced no-op every `lease / 4` (`standby.rs`). A log with no `author`, or whose
//!   lease expired more than a lease ago (so its standbys did not take over), has no
//!   live primary: a starting process takes over at once. Primaries started without
//!   standbys write no lease; processes of one deployment share `--hot-standbys`.
//! - `standby-0` … `standby-(N-1)` are the standby slots: `<holder id>.<expiry ms>`.
//!   A process stands by for a shard only in a slot it holds; it claims a free or
//!   expired one with a compare-and-set append (`check_registers` on the slot's
//!   current value, or on its absence) and renews it the same way. With every slot
//!   held by live others, the process stays IDLE for that shard and says so.
//!
//! The registers are changed by appending a *marker* record (author 0, see
//! [`marker_frame`]), which playback skips and which standbys do not count as a sign
//! of life of the primary. Times are wall-clock milliseconds of the processes
//! involved: on one host they share a clock; across hosts, the lease must exceed
//! their clock skew.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::journal::{LabelSelector, LabelSet};
use crate::store::recoverylog::AUTHOR_REGISTER;
use crate::store::LogRecord;

/// Register holding the primary's lease expiry (unix milliseconds).
pub const LEASE_REGISTER: &str = "lease";

/// The register of standby slot `k`.
pub fn slot_register(k: usize) -> String {
    format!("standby-{k}")
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The frame of a register-changing marker record: a hand-off-shaped no-op by author
/// 0, which no owner ever is (`random_author` is nonzero).
pub fn marker_frame() -> Vec<u8> {
    LogRecord::handoff(0).frame()
}

/// Whether the registers show a primary that is live, or whose lease expired less
/// than `grace` ms before `now` (its standbys, which notice its silence after a
/// lease, are taking over: a process that is not its standby leaves it to them).
/// False for a log no one owned and for an owner whose lease is long expired.
pub fn primary_live(registers: &LabelSet, now: u64, grace: u64) -> bool {
    registers.value_of(AUTHOR_REGISTER).is_some()
        && registers
            .value_of(LEASE_REGISTER)
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|until| until.saturating_add(grace) > now)
}

/// The `lease` register value of a primary renewing at `now` for `lease`.
pub fn lease_value(now: u64, lease: Duration) -> String {
    (now + lease.as_millis() as u64).to_string()
}

/// A slot register's value: holder and expiry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotValue {
    /// The holding process's id for this shard.
    pub holder: u64,
    /// Unix milliseconds when the hold lapses unless renewed.
    pub expires: u64,
}

impl SlotValue {
    /// Parses `<holder hex>.<expiry ms>`.
    pub fn parse(text: &str) -> Option<SlotValue> {
        let (holder, expires) = text.split_once('.')?;
        Some(SlotValue { holder: u64::from_str_radix(holder, 16).ok()?, expires: expires.parse().ok()? })
    }

    /// The register value.
    pub fn render(&self) -> String {
        format!("{:016x}.{}", self.holder, self.expires)
    }
}

/// A slot this process may claim: its index and the value it replaces (`None` if free).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// The slot.
    pub slot: usize,
    /// Its current register value, for the compare-and-set.
    pub current: Option<String>,
}

impl Claim {
    /// The `check_registers` of the compare-and-set: the slot still holds `current`
    /// (or is still absent).
    pub fn check(&self) -> LabelSelector {
        let name = slot_register(self.slot);
        match &self.current {
            Some(v) => LabelSelector::including(LabelSet::from_pairs([(name.as_str(), v.as_str())])),
            None => LabelSelector { include: LabelSet::default(), exclude: LabelSet::from_pairs([(name.as_str(), "")]) },
        }
    }
}

/// The slot `me` should take among `n`: the one it holds already, else the first free
/// or expired one; `None` if live others hold all `n`.
pub fn choose_slot(registers: &LabelSet, n: usize, me: u64, now: u64) -> Option<Claim> {
    let value = |k: usize| registers.value_of(&slot_register(k)).map(str::to_owned);
    let held = |k: usize| value(k).as_deref().and_then(SlotValue::parse);
    if let Some(k) = (0..n).find(|&k| held(k).is_some_and(|v| v.holder == me)) {
        return Some(Claim { slot: k, current: value(k) });
    }
    (0..n).find(|&k| held(k).is_none_or(|v| v.expires <= now)).map(|k| Claim { slot: k, current: value(k) })
}

/// The holders of live slots, for status messages.
pub fn live_holders(registers: &LabelSet, n: usize, now: u64) -> Vec<String> {
    (0..n)
        .filter_map(|k| registers.value_of(&slot_register(k)).and_then(SlotValue::parse))
        .filter(|v| v.expires > now)
        .map(|v| format!("{:016x}", v.holder))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regs(pairs: &[(&str, &str)]) -> LabelSet {
        LabelSet::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn a_primary_is_live_only_with_an_author_and_an_unexpired_lease() {
        let owned = regs(&[("author", "00000000000000aa"), ("lease", "100")]);
        assert!(!primary_live(&regs(&[]), 100, 0), "a log nobody owned");
        assert!(!primary_live(&regs(&[("author", "00000000000000aa")]), 100, 50), "an owner without a lease");
        assert!(primary_live(&owned, 99, 0));
        assert!(!primary_live(&owned, 100, 0), "expired");
        assert!(primary_live(&owned, 149, 50), "expired, but its standbys may be taking over");
        assert!(!primary_live(&owned, 150, 50), "long expired");
        assert_eq!(lease_value(1000, Duration::from_secs(2)), "3000");
    }

    #[test]
    fn slots_go_to_their_holder_then_to_the_first_free_or_expired_one() {
        let a = SlotValue { holder: 0xa, expires: 500 }.render();
        let b = SlotValue { holder: 0xb, expires: 500 }.render();
        assert_eq!(SlotValue::parse(&a), Some(SlotValue { holder: 0xa, expires: 500 }));
        assert_eq!(SlotValue::parse("junk"), None);
        let r = regs(&[("standby-0", &a), ("standby-1", &b)]);
        // Each holder keeps its own slot.
        assert_eq!(choose_slot(&r, 2, 0xb, 100), Some(Claim { slot: 1, current: Some(b.clone()) }));
        // A third process finds no slot while both are live, N=2 …
        assert_eq!(choose_slot(&r, 2, 0xc, 100), None);
        assert_eq!(live_holders(&r, 2, 100), vec!["000000000000000a", "000000000000000b"]);
        // … gets slot 2 with N=3, and an expired slot otherwise.
        assert_eq!(choose_slot(&r, 3, 0xc, 100), Some(Claim { slot: 2, current: None }));
        assert_eq!(choose_slot(&r, 2, 0xc, 500), Some(Claim { slot: 0, current: Some(a.clone()) }));
        // N=1 with slot 0 held: nothing for anyone else.
        assert_eq!(choose_slot(&r, 1, 0xb, 100), None);
    }

    #[test]
    fn a_claim_checks_the_slot_it_replaces_or_its_absence() {
        let free = Claim { slot: 1, current: None };
        let held = Claim { slot: 0, current: Some("000000000000000a.5".into()) };
        let with = |pairs: &[(&str, &str)]| regs(pairs);
        assert!(free.check().matches(&with(&[("author", "x")])));
        assert!(!free.check().matches(&with(&[("author", "x"), ("standby-1", "000000000000000b.9")])));
        assert!(held.check().matches(&with(&[("standby-0", "000000000000000a.5")])));
        assert!(!held.check().matches(&with(&[("standby-0", "000000000000000c.7")])));
    }
}
