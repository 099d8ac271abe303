//! Gazette message UUIDs: RFC 4122 version-1 UUIDs that carry a producer id, a
//! producer clock and transaction flags.
//!
//! Mirrors Gazette's `message/uuid.go` (`BuildUUID`, `GetProducerID`, `GetClock`,
//! `GetFlags`, `NewProducerID`), byte for byte:
//!
//! | bytes  | v1 field            | content                                            |
//! |--------|---------------------|----------------------------------------------------|
//! | 0..4   | time_low            | timestamp bits 0..32 (`clock >> 4`)                 |
//! | 4..6   | time_mid            | timestamp bits 32..48                               |
//! | 6..8   | time_hi_and_version | timestamp bits 48..60, version 1                    |
//! | 8..10  | clock_seq           | variant `10`, 4-bit counter, 10 flag bits           |
//! | 10..16 | node                | [`ProducerId`]                                      |
//!
//! The text form is the canonical lowercase 36-character string (the `uuid` crate
//! formats and parses it).

use std::fmt;

use uuid::Uuid;

use super::clock::Clock;

/// The 6-byte id of one publisher; the v1 UUID "node" field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProducerId(pub [u8; 6]);

impl ProducerId {
    /// A fresh random producer id with the multicast bit (low bit of byte 0) set, so
    /// it can never collide with a real MAC address.
    ///
    /// Randomness comes from the OS (`/dev/urandom`); if that is unavailable it falls
    /// back to the std library's randomly keyed SipHash over the time and a counter.
    pub fn random() -> ProducerId {
        let mut id = [0u8; 6];
        if !fill_from_urandom(&mut id) {
            fill_from_hasher(&mut id);
        }
        id[0] |= 0x01;
        ProducerId(id)
    }
}

fn fill_from_urandom(buf: &mut [u8]) -> bool {
    use std::io::Read;
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(buf)).is_ok()
}

fn fill_from_hasher(buf: &mut [u8]) {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    buf.copy_from_slice(&h.finish().to_be_bytes()[..buf.len()]);
}

impl fmt::Display for ProducerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5])
    }
}

/// The 10 flag bits of a message UUID.
///
/// Only [`Flags::OUTSIDE_TXN`], [`Flags::CONTINUE_TXN`] and [`Flags::ACK_TXN`] are
/// defined; a reader treats any other value as OUTSIDE_TXN and logs an error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Flags(u16);

impl Flags {
    /// A self-committing message, processed as soon as it is read.
    pub const OUTSIDE_TXN: Flags = Flags(0x0);
    /// Part of an open transaction: held until an ACK of the same producer commits it.
    pub const CONTINUE_TXN: Flags = Flags(0x1);
    /// Commits the producer's pending messages with clocks up to its own; an ACK at or
    /// below the last acknowledged clock rolls them back.
    pub const ACK_TXN: Flags = Flags(0x2);
    /// The largest value 10 bits can hold.
    pub const MAX: u16 = 0x3FF;

    /// Flags from raw bits, or `None` if they do not fit in 10 bits.
    pub fn new(bits: u16) -> Option<Flags> {
        (bits <= Self::MAX).then_some(Flags(bits))
    }

    /// The raw 10 bits.
    pub fn bits(self) -> u16 {
        self.0
    }
}

impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Flags::OUTSIDE_TXN => f.write_str("OUTSIDE_TXN"),
            Flags::CONTINUE_TXN => f.write_str("CONTINUE_TXN"),
            Flags::ACK_TXN => f.write_str("ACK_TXN"),
            Flags(other) => write!(f, "unknown flags {other:#x}"),
        }
    }
}

/// Builds the v1 UUID of a message from its producer, clock and flags.
pub fn build_uuid(producer: ProducerId, clock: Clock, flags: Flags) -> Uuid {
    let c = clock.0;
    let ts = c >> 4;
    let mut b = [0u8; 16];
    b[0..4].copy_from_slice(&((ts & 0xFFFF_FFFF) as u32).to_be_bytes());
    b[4..6].copy_from_slice(&(((ts >> 32) & 0xFFFF) as u16).to_be_bytes());
    b[6..8].copy_from_slice(&((((ts >> 48) & 0x0FFF) as u16) | 0x1000).to_be_bytes());
    let seq = 0x8000 | (((c & 0xF) as u16) << 10) | flags.0;
    b[8..10].copy_from_slice(&seq.to_be_bytes());
    b[10..16].copy_from_slice(&producer.0);
    Uuid::from_bytes(b)
}

/// The producer id of a message UUID (its node field).
pub fn producer_of(uuid: &Uuid) -> ProducerId {
    let mut id = [0u8; 6];
    id.copy_from_slice(&uuid.as_bytes()[10..16]);
    ProducerId(id)
}

/// The clock of a message UUID: its 60-bit timestamp and 4-bit counter.
pub fn clock_of(uuid: &Uuid) -> Clock {
    let b = uuid.as_bytes();
    let low = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as u64;
    let mid = u16::from_be_bytes([b[4], b[5]]) as u64;
    let hi = (u16::from_be_bytes([b[6], b[7]]) & 0x0FFF) as u64;
    let counter = ((b[8] >> 2) & 0xF) as u64;
    Clock((low << 4) | (mid << 36) | (hi << 52) | counter)
}

/// The raw 10 flag bits of a message UUID. Values other than the three defined
/// [`Flags`] are possible on the wire; see [`Flags`].
pub fn flags_of(uuid: &Uuid) -> Flags {
    let b = uuid.as_bytes();
    Flags(u16::from_be_bytes([b[8], b[9]]) & Flags::MAX)
}

/// Whether `uuid` can be a message UUID: a version-1 RFC 4122 UUID, or the nil UUID
/// (Gazette's opt-out for messages that cannot carry one: always delivered, never
/// deduplicated).
pub fn is_message_uuid(uuid: &Uuid) -> bool {
    uuid.is_nil() || (uuid.get_version_num() == 1 && uuid.get_variant() == uuid::Variant::RFC4122)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRODUCER: ProducerId = ProducerId([1, 2, 3, 4, 5, 6]);

    #[test]
    fn worked_example_from_the_reference_builds_byte_for_byte() {
        let uuid = build_uuid(PRODUCER, Clock(0x1ea2c29a747c01e5), Flags::ACK_TXN);
        assert_eq!(uuid.to_string(), "a747c01e-2c29-11ea-9402-010203040506");
        assert_eq!(uuid.as_bytes(), &[0xa7, 0x47, 0xc0, 0x1e, 0x2c, 0x29, 0x11, 0xea, 0x94, 0x02, 1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn worked_example_parses_back_into_its_parts() {
        let uuid = Uuid::parse_str("a747c01e-2c29-11ea-9402-010203040506").unwrap();
        assert_eq!(producer_of(&uuid), PRODUCER);
        assert_eq!(clock_of(&uuid), Clock(0x1ea2c29a747c01e5));
        assert_eq!(flags_of(&uuid), Flags::ACK_TXN);
        assert!(is_message_uuid(&uuid));
    }

    #[test]
    fn build_and_parse_round_trip_across_fields() {
        let cases = [
            (Clock(0), Flags::OUTSIDE_TXN),
            (Clock(1), Flags::CONTINUE_TXN),
            (Clock(0xF), Flags::ACK_TXN),
            (Clock(u64::MAX), Flags::new(Flags::MAX).unwrap()),
            (Clock(0x0123_4567_89ab_cdef), Flags::new(0x155).unwrap()),
        ];
        for (clock, flags) in cases {
            let uuid = build_uuid(PRODUCER, clock, flags);
            assert_eq!(clock_of(&uuid), clock, "{uuid}");
            assert_eq!(flags_of(&uuid), flags, "{uuid}");
            assert_eq!(producer_of(&uuid), PRODUCER);
            assert_eq!(uuid.get_version_num(), 1);
            assert_eq!(uuid.get_variant(), uuid::Variant::RFC4122);
        }
    }

    #[test]
    fn flags_beyond_ten_bits_are_refused() {
        assert_eq!(Flags::new(0x3FF).map(Flags::bits), Some(0x3FF));
        assert_eq!(Flags::new(0x400), None);
        assert_eq!(Flags::new(u16::MAX), None);
    }

    #[test]
    fn non_v1_uuids_are_not_message_uuids_but_nil_is() {
        assert!(is_message_uuid(&Uuid::nil()));
        let v4 = Uuid::parse_str("9b2e5f1c-3d4a-4b6c-8d7e-0f1a2b3c4d5e").unwrap();
        assert!(!is_message_uuid(&v4));
        assert_eq!(clock_of(&Uuid::nil()), Clock::ZERO);
    }

    #[test]
    fn random_producer_ids_have_the_multicast_bit_and_differ() {
        let ids: Vec<ProducerId> = (0..16).map(|_| ProducerId::random()).collect();
        assert!(ids.iter().all(|id| id.0[0] & 1 == 1));
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len());
        let mut b = [0u8; 6];
        fill_from_hasher(&mut b);
        assert_ne!(b, [0u8; 6]);
    }

    #[test]
    fn producer_id_displays_as_colon_hex() {
        assert_eq!(PRODUCER.to_string(), "01:02:03:04:05:06");
    }
}
