//! `publisher`: records publishes for `testing.take-published`, with the real host's
//! checks (the journal exists; the message is a JSON object).

use streamsum_model::SUMS_JOURNAL;

use crate::bindings::publisher::Host;

use super::{is_json_object, TestHost, PARTITIONS};

impl Host for TestHost {
    fn publish(&mut self, journal: String, message: Vec<u8>) -> Result<(), String> {
        if !journal_exists(&journal) {
            return Err(format!("journal {journal} does not exist"));
        }
        if !is_json_object(&message) {
            return Err(format!("message to {journal} is not a JSON object"));
        }
        self.published.push((journal, message));
        Ok(())
    }
}

/// The runner's journals: the sums journal and the chunk partitions.
fn journal_exists(name: &str) -> bool {
    name == SUMS_JOURNAL
        || name
            .strip_prefix("examples/stream-sum/chunks/part-")
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| n < PARTITIONS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_sums_journal_and_the_chunk_partitions_exist() {
        assert!(journal_exists(SUMS_JOURNAL));
        assert!(journal_exists("examples/stream-sum/chunks/part-000"));
        assert!(journal_exists("examples/stream-sum/chunks/part-007"));
        assert!(!journal_exists("examples/stream-sum/chunks/part-008"));
        assert!(!journal_exists("examples/stream-sum/nope"));
    }
}
