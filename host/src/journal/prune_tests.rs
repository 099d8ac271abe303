//! Tests of `prune.rs` through a whole [`Storage`]: exactly the whole fragments before
//! the offset go, the index is compacted, and reads jump to the new low-water mark.
//! (A separate file: `storage.rs` uses `prune.rs`, so its tests may not live there.)

use super::super::request::AppendRequest;
use super::super::labels::LabelSet;
use super::super::spec::JournalSpec;
use super::super::storage::Storage;
use super::*;

const J: &str = "a/journal";

/// A storage with journal J rolling fragments at 1 KiB, holding `appends`
/// appends of 600 bytes (so every two appends fill one fragment).
async fn journal_with(dir: &Path, appends: usize) -> (Arc<Storage>, Arc<Journal>, Vec<u8>) {
    let storage = Storage::open(dir).unwrap();
    let mut spec = JournalSpec { name: J.into(), ..JournalSpec::default() };
    spec.labels = LabelSet::from_pairs([("content-type", "application/octet-stream")]);
    spec.fragment.length = 1024;
    storage.create_missing(vec![spec]).unwrap();
    let mut all = Vec::new();
    for i in 0..appends {
        let content: Vec<u8> = (0..600).map(|j| (i * 7 + j) as u8).collect();
        let mut req = AppendRequest::new(J, content.clone());
        if i == 1 {
            req.union_registers = LabelSet::from_pairs([("owner", "one")]);
        }
        storage.append(&req).await.unwrap();
        all.extend(content);
    }
    let journal = storage.journal(J).unwrap();
    (storage, journal, all)
}

#[tokio::test]
async fn whole_fragments_before_the_offset_go_and_the_rest_stays() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, journal, _) = journal_with(dir.path(), 6).await;
    assert_eq!(journal.fragments(), vec![(0, 1200), (1200, 2400), (2400, 3600)]);
    // 2399 is inside the second fragment: only the first ends at or before it.
    let r = journal.prune(2399).unwrap();
    assert_eq!((r.removed, r.low, r.write_head), (vec![(0, 1200)], 1200, 3600));
    assert_eq!(journal.fragments(), vec![(1200, 2400), (2400, 3600)]);
    assert!(!journal.dir().join(super::super::fragment::FragmentFile::file_name(0)).exists());
    // Nothing more qualifies below 2399; the registers survive the compaction.
    assert!(journal.prune(2399).unwrap().removed.is_empty());
    assert_eq!(journal.registers().value_of("owner"), Some("one"));
    storage.shutdown();
}

#[tokio::test]
async fn offsets_outside_the_journal_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let (storage, journal, _) = journal_with(dir.path(), 2).await;
    assert_eq!(
        journal.prune(1201).unwrap_err().to_string(),
        "invalid request: journal \"a/journal\": prune offset 1201 is not within [0, write head 1200]"
    );
    assert!(journal.prune(-1).is_err());
    storage.shutdown();
}
