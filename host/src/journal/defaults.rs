//! The stream-sum journals the embedded broker creates on first start.
//!
//! Mirrors the journal specs of Gazette's `examples/stream-sum` deployment
//! (`kustomize/bases/example-stream-sum/journalspace.yaml`): chunk partitions carrying
//! `stream_sum.Chunk` messages, the `sums` journal carrying `stream_sum.Sum`, and one
//! recovery log per summer shard (`chunks-part-NNN`).

use super::labels::LabelSet;
use super::spec::JournalSpec;

/// Prefix of every stream-sum journal.
pub const PREFIX: &str = "examples/stream-sum/";
/// Default number of chunk partitions.
pub const DEFAULT_PARTITIONS: usize = 8;
/// Message-type label name.
pub const MESSAGE_TYPE: &str = "app.gazette.dev/message-type";
/// Content-type label name.
pub const CONTENT_TYPE: &str = "content-type";
/// Content type of JSON-lines message journals.
pub const NDJSON: &str = "application/x-ndjson";
/// Content type of recovery logs.
pub const RECOVERY_LOG: &str = "application/x-gazette-recoverylog";
/// Fragment length of recovery logs: half of the shards' default snapshot interval
/// (`--snapshot-every-bytes`, 8 MiB), so that each snapshot lets the fragments
/// before it be pruned and a log keeps about two intervals on disk, instead of the
/// 64 MiB default under which nothing could be pruned before 64 MiB were written.
pub const RECOVERY_LOG_FRAGMENT_LENGTH: i64 = 4 << 20;

/// Name of chunk partition `i` (`examples/stream-sum/chunks/part-000`).
pub fn chunk_partition(i: usize) -> String {
    format!("{PREFIX}chunks/part-{i:03}")
}

/// Name of the sums journal.
pub fn sums_journal() -> String {
    format!("{PREFIX}sums")
}

/// Name of the recovery log of the shard consuming partition `i`.
pub fn recovery_log(i: usize) -> String {
    format!("{PREFIX}recovery-logs/chunks-part-{i:03}")
}

fn spec(name: String, labels: LabelSet) -> JournalSpec {
    JournalSpec { name, labels, ..JournalSpec::default() }
}

/// All stream-sum journal specs for `partitions` chunk partitions.
pub fn stream_sum_specs(partitions: usize) -> Vec<JournalSpec> {
    let chunk = LabelSet::from_pairs([(MESSAGE_TYPE, "stream_sum.Chunk"), (CONTENT_TYPE, NDJSON)]);
    let sum = LabelSet::from_pairs([(MESSAGE_TYPE, "stream_sum.Sum"), (CONTENT_TYPE, NDJSON)]);
    let log = LabelSet::from_pairs([(CONTENT_TYPE, RECOVERY_LOG)]);
    let mut out: Vec<JournalSpec> = (0..partitions).map(|i| spec(chunk_partition(i), chunk.clone())).collect();
    out.push(spec(sums_journal(), sum));
    out.extend((0..partitions).map(|i| {
        let mut s = spec(recovery_log(i), log.clone());
        s.fragment.length = RECOVERY_LOG_FRAGMENT_LENGTH;
        s
    }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_sum_specs_are_valid_and_named_like_gazettes() {
        let specs = stream_sum_specs(DEFAULT_PARTITIONS);
        assert_eq!(specs.len(), 17);
        assert_eq!(specs[0].name, "examples/stream-sum/chunks/part-000");
        assert_eq!(specs[7].name, "examples/stream-sum/chunks/part-007");
        assert_eq!(specs[8].name, "examples/stream-sum/sums");
        assert_eq!(specs[16].name, "examples/stream-sum/recovery-logs/chunks-part-007");
        assert_eq!(specs[0].labels.value_of(MESSAGE_TYPE), Some("stream_sum.Chunk"));
        assert_eq!(specs[8].labels.value_of(MESSAGE_TYPE), Some("stream_sum.Sum"));
        assert_eq!(specs[9].labels.value_of(CONTENT_TYPE), Some(RECOVERY_LOG));
        assert_eq!(specs[16].fragment.length, 4 << 20, "recovery logs roll at 4 MiB");
        assert_eq!(specs[0].fragment.length, 64 << 20, "other journals keep Gazette's default");
        for s in &specs {
            s.validate().unwrap();
        }
        assert_eq!(stream_sum_specs(3).len(), 7);
    }
}
