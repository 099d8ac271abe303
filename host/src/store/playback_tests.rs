//! Tests of [`super`] (playback of recovery-log records into a store).

use super::*;
use crate::store::recoverylog::LogOp;

fn txn(seq_no: u64, key: &[u8], value: &[u8]) -> LogRecord {
    LogRecord {
        seq_no,
        author: 9,
        ops: vec![LogOp { key: key.to_vec(), value: Some(value.to_vec()) }],
        checkpoint: Some(format!("cp-{seq_no}").into_bytes()),
        snapshot: false,
    }
}

fn db(dir: &tempfile::TempDir, name: &str) -> ShardDb {
    ShardDb::open_blocking(&dir.path().join(name), false).unwrap()
}

fn log(records: &[LogRecord]) -> Vec<u8> {
    records.iter().flat_map(LogRecord::frame).collect()
}

#[test]
fn records_apply_in_order_duplicates_and_handoffs_are_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let db = db(&tmp, "db");
    let records = [
        LogRecord::handoff(9),
        txn(1, b"a", b"1"),
        txn(1, b"a", b"1"), // a retried append landed twice
        txn(2, b"a", b"2"),
        LogRecord::handoff(10),
    ];
    let bytes = log(&records);
    let mut player = Player::new("log", db.clone(), Start::Beginning);
    // Fed in odd-sized pieces, as reads deliver them.
    let mut at = 0;
    for piece in bytes.chunks(7) {
        player.push(at, piece).unwrap();
        at += piece.len() as i64;
    }
    player.finish(at).unwrap();
    assert_eq!((player.last_seq(), player.applied()), (2, 2));
    assert_eq!(db.get(b"a").unwrap(), Some(b"2".to_vec()));
    assert_eq!(db.load_checkpoint_blocking().unwrap(), Some(b"cp-2".to_vec()));
    let applied = db.applied_blocking().unwrap().unwrap();
    let third_end = log(&records[..4]).len() as i64;
    assert_eq!((applied.end, applied.last_seq, applied.record_seq), (third_end, 2, 2));

    // Resuming where the store stopped re-checks that record and applies only the tail.
    let mut more = bytes.clone();
    more.extend(txn(3, b"b", b"3").frame());
    let mut player = Player::new("log", db.clone(), Start::Resume(applied.clone()));
    player.push(applied.begin, &more[applied.begin as usize..]).unwrap();
    player.finish(more.len() as i64).unwrap();
    assert_eq!((player.last_seq(), player.applied()), (3, 1));
    assert_eq!(db.get(b"b").unwrap(), Some(b"3".to_vec()));
}

#[test]
fn a_gap_in_sequence_numbers_is_refused_with_its_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let bytes = log(&[txn(1, b"a", b"1"), txn(3, b"a", b"3")]);
    let mut player = Player::new("recovery-logs/x", db(&tmp, "db"), Start::Beginning);
    let err = player.push(0, &bytes).unwrap_err();
    let first = txn(1, b"a", b"1").frame().len();
    assert_eq!(
        err.to_string(),
        format!("recovery log recovery-logs/x at offset {first}: record seq_no 3 follows 1 (records are missing)")
    );
}

#[test]
fn corrupted_and_truncated_records_are_reported_with_journal_and_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let good = txn(1, b"a", b"1").frame();
    let mut bytes = log(&[txn(1, b"a", b"1"), txn(2, b"a", b"2")]);
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40; // a flipped bit in the second record's payload
    let db1 = db(&tmp, "db1");
    let mut player = Player::new("L", db1.clone(), Start::Beginning);
    let err = player.push(0, &bytes).unwrap_err();
    assert!(
        err.to_string().starts_with(&format!("recovery log L at offset {}: record checksum mismatch", good.len())),
        "{err}"
    );
    assert_eq!(db1.get(b"a").unwrap(), Some(b"1".to_vec()), "the record before the damage was applied");

    let bytes = log(&[txn(1, b"a", b"1"), txn(2, b"a", b"2")]);
    let cut = &bytes[..bytes.len() - 3];
    let mut player = Player::new("L", db(&tmp, "db2"), Start::Beginning);
    player.push(0, cut).unwrap();
    let err = player.finish(cut.len() as i64).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "recovery log L at offset {}: the log ends inside a record ({} of {} bytes present)",
            good.len(),
            cut.len() - good.len(),
            bytes.len() - good.len()
        )
    );

    let mut player = Player::new("L", db(&tmp, "db3"), Start::Beginning);
    let err = player.push(0, b"{\"not\":\"a record\"}\n").unwrap_err();
    assert!(err.to_string().starts_with("recovery log L at offset 0: no record frame here"), "{err}");
}

#[test]
fn a_store_of_another_log_is_found_foreign() {
    let tmp = tempfile::tempdir().unwrap();
    let db = db(&tmp, "db");
    let bytes = log(&[txn(1, b"a", b"1")]);
    // The store claims a record by another author at the same place.
    let claimed = AppliedState {
        journal: "L".into(),
        begin: 0,
        end: bytes.len() as i64,
        record_seq: 1,
        record_author: 77,
        last_seq: 1,
    };
    let mut player = Player::new("L", db.clone(), Start::Resume(claimed.clone()));
    assert!(matches!(player.push(0, &bytes), Err(PlaybackError::Foreign { .. })));
    // Or a record beyond the log's head.
    let beyond = AppliedState { begin: 500, end: 600, ..claimed };
    let player = Player::new("L", db, Start::Resume(beyond));
    let err = player.finish(bytes.len() as i64).unwrap_err();
    assert!(matches!(err, PlaybackError::Foreign { .. }), "{err}");
}

#[test]
fn playback_from_a_snapshot_offset_needs_a_snapshot_there() {
    let tmp = tempfile::tempdir().unwrap();
    let mut player = Player::new("L", db(&tmp, "db"), Start::Snapshot(40));
    let err = player.push(40, &txn(5, b"a", b"1").frame()).unwrap_err();
    assert_eq!(err.to_string(), "recovery log L at offset 40: expected the snapshot record its register points at");
}
