//! Mapping a message to the partition journal it is published to.
//!
//! Mirrors Gazette's `message/routines.go` `ModuloMapping`: FNV-1a 32-bit of the key
//! bytes (stream-sum: the 16 raw bytes of the stream id), modulo the number of
//! partitions, indexing the partitions sorted by name (the order a broker lists them
//! in). Matching Go keeps mixed Go/Rust deployments routing streams identically.

use thiserror::Error;

/// FNV-1a 32-bit hash, shared with the guests through the model crate (one
/// definition, so host and guests always route a stream alike).
pub use streamsum_model::fnv1a32;

/// A mapping cannot be built from an empty partition list.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("no partition journals to map messages onto (empty listing)")]
pub struct EmptyPartitions;

/// Gazette's ModuloMapping over a fixed set of partition journals.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuloMapping {
    /// Partition journal names, sorted and deduplicated.
    partitions: Vec<String>,
}

impl ModuloMapping {
    /// A mapping over `partitions`, which are sorted by name (as a List response is).
    ///
    /// # Errors
    /// [`EmptyPartitions`] if there are none.
    pub fn new(partitions: impl IntoIterator<Item = impl Into<String>>) -> Result<Self, EmptyPartitions> {
        let mut partitions: Vec<String> = partitions.into_iter().map(Into::into).collect();
        partitions.sort();
        partitions.dedup();
        if partitions.is_empty() {
            return Err(EmptyPartitions);
        }
        Ok(ModuloMapping { partitions })
    }

    /// The journal for a message whose key bytes are `key`.
    pub fn map(&self, key: &[u8]) -> &str {
        let index = fnv1a32(key) as usize % self.partitions.len();
        &self.partitions[index]
    }

    /// The partitions in name order.
    pub fn partitions(&self) -> &[String] {
        &self.partitions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a32_matches_published_test_vectors() {
        // The first three are the FNV reference vectors; the last is computed independently (Python).
        let cases: [(&[u8], u32); 4] =
            [(b"", 0x811c9dc5), (b"a", 0xe40c292c), (b"foobar", 0xbf9cf968), (&[0u8; 16], 0x69691905)];
        for (input, want) in cases {
            assert_eq!(fnv1a32(input), want, "{input:?}");
        }
    }

    #[test]
    fn partitions_are_indexed_in_name_order_regardless_of_input_order() {
        let names = [
            "examples/stream-sum/chunks/part-002",
            "examples/stream-sum/chunks/part-000",
            "examples/stream-sum/chunks/part-001",
        ];
        let m = ModuloMapping::new(names).unwrap();
        assert_eq!(m.partitions()[0], "examples/stream-sum/chunks/part-000");
        for id in 0u8..64 {
            let key = [id; 16];
            let want = format!("examples/stream-sum/chunks/part-{:03}", fnv1a32(&key) % 3);
            assert_eq!(m.map(&key), want);
        }
    }

    #[test]
    fn an_empty_partition_list_is_an_error() {
        assert_eq!(ModuloMapping::new(Vec::<String>::new()), Err(EmptyPartitions));
    }
}
