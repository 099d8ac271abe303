//! The key layout of a shard's RocksDB database.
//!
//! Gazette's RocksDB store keeps its checkpoint under a key in cockroach "ascending"
//! encoding (`00 12 "checkpoint" 00 01`) in the same key space as the application's keys,
//! trusting the Go application not to collide with it. A wasm guest is not trusted, so
//! here every guest key is stored under [`GUEST_PREFIX`] and host keys under
//! [`HOST_PREFIX`]: whatever bytes a guest chooses, it can neither read nor overwrite the
//! checkpoint.

/// First byte of every host-owned key (the checkpoint and anything the host adds later).
pub const HOST_PREFIX: u8 = 0x00;

/// First byte of every guest key; the guest's own key bytes follow it unchanged.
pub const GUEST_PREFIX: u8 = 0x01;

/// The key under which the transaction checkpoint is stored.
pub const CHECKPOINT_KEY: &[u8] = b"\x00checkpoint";

/// The database key under which the guest key `key` is stored.
pub fn guest_key(key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 1);
    out.push(GUEST_PREFIX);
    out.extend_from_slice(key);
    out
}

/// The guest key stored under database key `db_key`, or `None` for a host key.
pub fn guest_key_of(db_key: &[u8]) -> Option<&[u8]> {
    match db_key.split_first() {
        Some((&GUEST_PREFIX, rest)) => Some(rest),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_keys_never_collide_with_the_checkpoint_key() {
        // Even a guest that names the checkpoint key's exact bytes lands elsewhere.
        for key in [CHECKPOINT_KEY, b"", b"\x00", b"checkpoint"] {
            let db_key = guest_key(key);
            assert_ne!(db_key.as_slice(), CHECKPOINT_KEY);
            assert_eq!(db_key[0], GUEST_PREFIX);
            assert_eq!(guest_key_of(&db_key), Some(key));
        }
        assert_eq!(CHECKPOINT_KEY[0], HOST_PREFIX);
        assert_eq!(guest_key_of(CHECKPOINT_KEY), None);
    }
}
