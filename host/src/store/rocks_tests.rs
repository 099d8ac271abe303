//! Tests of `rocks.rs`: commits are atomic, checkpoints round-trip, and an aborted
//! [`TxnOverlay`] leaves nothing behind. (A separate file: `overlay.rs` uses
//! `rocks.rs`, so tests that use both may not live in either.)

use super::*;
use crate::store::TxnOverlay;

fn writes(pairs: &[(&[u8], Option<&[u8]>)]) -> WriteSet {
    let mut set = WriteSet::default();
    for (k, v) in pairs {
        match v {
            Some(v) => set.put(k.to_vec(), v.to_vec()),
            None => set.delete(k.to_vec()),
        }
    }
    set
}

#[tokio::test]
async fn reopening_sees_committed_state_and_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("shards/chunks-part-000");
    {
        let db = ShardDb::open(&dir).await.unwrap();
        assert_eq!(
            db.load_checkpoint().await.unwrap(),
            None,
            "a new store has no checkpoint"
        );
        db.commit(writes(&[(b"a", Some(b"1")), (b"b", Some(b"2"))]), b"cp-1".to_vec())
            .await
            .unwrap();
        db.commit(writes(&[(b"a", None), (b"c", Some(b"3"))]), b"cp-2".to_vec())
            .await
            .unwrap();
    }
    let db = ShardDb::open(&dir).await.unwrap();
    assert_eq!(db.load_checkpoint().await.unwrap(), Some(b"cp-2".to_vec()));
    assert_eq!(db.get(b"a").unwrap(), None, "the delete of the second commit persisted");
    assert_eq!(db.get(b"b").unwrap(), Some(b"2".to_vec()));
    assert_eq!(db.get(b"c").unwrap(), Some(b"3".to_vec()));
}

#[tokio::test]
async fn an_aborted_transaction_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let db = ShardDb::open(tmp.path().join("db")).await.unwrap();
    db.commit(writes(&[(b"kept", Some(b"v1"))]), b"cp-1".to_vec())
        .await
        .unwrap();

    let mut txn = TxnOverlay::new();
    txn.put(b"kept".to_vec(), b"v2".to_vec());
    txn.put(b"new".to_vec(), b"x".to_vec());
    assert_eq!(txn.get(&db, b"kept").unwrap(), Some(b"v2".to_vec()));
    drop(txn); // abort

    assert_eq!(db.get(b"kept").unwrap(), Some(b"v1".to_vec()));
    assert_eq!(db.get(b"new").unwrap(), None);
    assert_eq!(db.load_checkpoint().await.unwrap(), Some(b"cp-1".to_vec()));
}

#[tokio::test]
async fn the_overlay_reads_its_own_writes_over_committed_state() {
    let tmp = tempfile::tempdir().unwrap();
    let db = ShardDb::open(tmp.path().join("db")).await.unwrap();
    db.commit(writes(&[(b"x", Some(b"old")), (b"y", Some(b"keep"))]), b"cp".to_vec())
        .await
        .unwrap();

    let mut txn = TxnOverlay::new();
    assert_eq!(txn.get(&db, b"x").unwrap(), Some(b"old".to_vec()));
    txn.put(b"x".to_vec(), b"new".to_vec());
    txn.delete(b"y".to_vec());
    assert_eq!(txn.get(&db, b"x").unwrap(), Some(b"new".to_vec()));
    assert_eq!(txn.get(&db, b"y").unwrap(), None);
    // Nothing reached the database yet.
    assert_eq!(db.get(b"x").unwrap(), Some(b"old".to_vec()));

    db.commit(txn.into_writes(), b"cp-2".to_vec()).await.unwrap();
    assert_eq!(db.get(b"x").unwrap(), Some(b"new".to_vec()));
    assert_eq!(db.get(b"y").unwrap(), None);
}

#[test]
fn state_and_checkpoint_become_visible_atomically() {
    // A reader taking RocksDB snapshots while commits run must never see a state
    // key from one commit next to the checkpoint of another.
    let tmp = tempfile::tempdir().unwrap();
    let db = ShardDb::open_blocking(&tmp.path().join("db"), false).unwrap();
    let reader_db = db.clone();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader_done = done.clone();
    let reader = std::thread::spawn(move || {
        let mut observed = 0;
        while !reader_done.load(std::sync::atomic::Ordering::Acquire) {
            let snap = reader_db.db.snapshot();
            let cp = snap.get(CHECKPOINT_KEY).unwrap();
            let state: Vec<_> = (0..8u8).map(|i| snap.get(guest_key(&[i])).unwrap()).collect();
            if let Some(cp) = cp {
                assert!(state.iter().all(|v| v.as_deref() == Some(cp.as_slice())));
                observed += 1;
            } else {
                assert!(state.iter().all(Option::is_none));
            }
        }
        observed
    });
    for n in 0..2000u32 {
        let value = n.to_be_bytes();
        let mut set = WriteSet::default();
        for i in 0..8u8 {
            set.put(vec![i], value.to_vec());
        }
        db.commit_blocking(&set, &value).unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::Release);
    assert!(reader.join().unwrap() > 0, "the reader saw committed snapshots");
}

#[tokio::test]
async fn opening_under_a_file_names_the_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let err = ShardDb::open(file.join("db")).await.unwrap_err();
    assert!(err.to_string().contains("not-a-dir"), "{err}");
}
