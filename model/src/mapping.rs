//! Gazette's ModuloMapping of a stream to its chunk partition.
//!
//! Mirrors `message/routines.go` (`ModuloMapping`) with stream-sum's key function
//! (the 16 raw id bytes): FNV-1a 32-bit of the key, modulo the number of partitions,
//! indexing the partitions sorted by name. The chunker's host and the runner both
//! route with this function, so a stream's chunks always reach one shard.

use crate::StreamId;

/// FNV-1a 32-bit offset basis.
const FNV_BASIS: u32 = 0x811C_9DC5;
/// FNV-1a 32-bit prime.
const FNV_PRIME: u32 = 0x0100_0193;

/// FNV-1a 32-bit hash of `bytes` (xor, then multiply, per byte).
pub fn fnv1a32(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .fold(FNV_BASIS, |h, &b| (h ^ u32::from(b)).wrapping_mul(FNV_PRIME))
}

/// Index of the partition (among `partitions`, sorted by name) that `id`'s chunks go
/// to; `None` when there are no partitions (Gazette's `ErrEmptyListResponse`).
pub fn modulo_partition(id: &StreamId, partitions: u32) -> Option<u32> {
    (partitions > 0).then(|| fnv1a32(id.as_bytes()) % partitions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a32_matches_published_vectors() {
        // Vectors from the FNV reference test suite (fnv-1a, 32 bit).
        assert_eq!(fnv1a32(b""), 0x811c9dc5);
        assert_eq!(fnv1a32(b"a"), 0xe40c292c);
        assert_eq!(fnv1a32(b"foobar"), 0xbf9cf968);
    }

    #[test]
    fn partition_is_hash_modulo_count() {
        let id = StreamId(*b"0123456789abcdef");
        let h = fnv1a32(b"0123456789abcdef");
        for n in 1..=16 {
            assert_eq!(modulo_partition(&id, n), Some(h % n));
        }
        assert_eq!(modulo_partition(&id, 0), None);
        assert_eq!(modulo_partition(&StreamId([0; 16]), 8), Some(fnv1a32(&[0; 16]) % 8));
    }
}
