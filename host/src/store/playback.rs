//! Playback: applying recovery-log records to a shard's RocksDB, in log order.
//!
//! Gazette's `consumer/recoverylog/playback.go` and `fsm.go`, for logical records: a
//! [`Player`] is fed the log's bytes from some offset, splits them into records
//! ([`parse_frame`]), checks their sequence (`seq_no` +1 per record; an earlier
//! `seq_no` is a duplicate left by a retried append and is skipped; a later one is a
//! gap and refused) and applies each to the store in ONE write batch together with the
//! log position it reached ([`AppliedState`]). So the store always knows which prefix
//! of the log it holds, and a restart replays only the log's tail.
//!
//! A player that starts where the store says it stopped first re-reads that last
//! record and checks it is the one the store applied (same offsets, `seq_no` and
//! author); anything else means the store is not a replica of this log ("foreign") and
//! the caller rebuilds it.

use prost::Message;
use rocksdb::{WriteBatch, WriteOptions};

use super::crash::crash_point;
use super::keys::{guest_key, CHECKPOINT_KEY};
use super::recoverylog::{needed_len, parse_frame, FrameError, LogRecord};
use super::rocks::{ShardDb, StoreError};

/// Host key holding the store's [`AppliedState`].
pub const APPLIED_KEY: &[u8] = b"\x00recovery-log";

/// Which prefix of which recovery log a store holds.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AppliedState {
    /// The recovery-log journal.
    #[prost(string, tag = "1")]
    pub journal: String,
    /// Offset of the last record applied.
    #[prost(int64, tag = "2")]
    pub begin: i64,
    /// Offset just past it: where playback resumes.
    #[prost(int64, tag = "3")]
    pub end: i64,
    /// `seq_no` of that record (0 for a hand-off).
    #[prost(uint64, tag = "4")]
    pub record_seq: u64,
    /// Author of that record.
    #[prost(fixed64, tag = "5")]
    pub record_author: u64,
    /// Highest `seq_no` applied so far.
    #[prost(uint64, tag = "6")]
    pub last_seq: u64,
}

/// Why playback stopped.
#[derive(Debug, thiserror::Error)]
pub enum PlaybackError {
    /// Bytes at `offset` are not a valid record.
    #[error("recovery log {journal} at offset {offset}: {source}")]
    Frame {
        /// The log.
        journal: String,
        /// Offset of the bad record.
        offset: i64,
        /// What is wrong.
        source: FrameError,
    },
    /// A record skips sequence numbers.
    #[error("recovery log {journal} at offset {offset}: record seq_no {got} follows {last} (records are missing)")]
    Gap {
        /// The log.
        journal: String,
        /// Offset of the record.
        offset: i64,
        /// Its seq_no.
        got: u64,
        /// The last applied seq_no.
        last: u64,
    },
    /// Playback started at the newest snapshot's offset, but no snapshot is there.
    #[error("recovery log {journal} at offset {offset}: expected the snapshot record its register points at")]
    NotSnapshot {
        /// The log.
        journal: String,
        /// The offset.
        offset: i64,
    },
    /// The store's last applied record is not in this log (another log's store, or a
    /// log that was reset).
    #[error("store {dir} is not a replica of recovery log {journal}: {why}")]
    Foreign {
        /// The store's directory.
        dir: String,
        /// The log.
        journal: String,
        /// What did not match.
        why: String,
    },
    /// The log's content does not continue at the offset playback needs.
    #[error("recovery log {journal}: content from offset {want} is missing (the next available is at {got})")]
    Missing {
        /// The log.
        journal: String,
        /// The offset needed.
        want: i64,
        /// The offset the broker had.
        got: i64,
    },
    /// The log could not be read.
    #[error("reading recovery log {journal}: {source}")]
    Read {
        /// The log.
        journal: String,
        /// The read's error.
        source: crate::journal::JournalError,
    },
    /// A playback task panicked or was cancelled.
    #[error("playback task did not complete: {0}")]
    Task(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ShardDb {
    /// The log position this store holds, or `None` for a store never written from a
    /// log.
    ///
    /// # Errors
    /// [`StoreError::Read`] (also for an undecodable value, naming the key).
    pub fn applied_blocking(&self) -> Result<Option<AppliedState>, StoreError> {
        let read_err = |source| StoreError::Read { dir: self.dir.to_path_buf(), source };
        let Some(bytes) = self.db.get(APPLIED_KEY).map_err(read_err)? else { return Ok(None) };
        Ok(AppliedState::decode(bytes.as_slice()).ok())
    }

    /// Applies `record` and records `applied`, in one write batch. A snapshot record
    /// first clears the guest keys and the checkpoint.
    ///
    /// # Errors
    /// [`StoreError::Commit`]; then nothing of the record was applied.
    pub fn apply_record_blocking(&self, record: &LogRecord, applied: &AppliedState) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        if record.snapshot {
            batch.delete_range(&[super::keys::GUEST_PREFIX][..], &[super::keys::GUEST_PREFIX + 1][..]);
            batch.delete(CHECKPOINT_KEY);
        }
        for op in &record.ops {
            match &op.value {
                Some(value) => batch.put(guest_key(&op.key), value),
                None => batch.delete(guest_key(&op.key)),
            }
        }
        if let Some(cp) = &record.checkpoint {
            batch.put(CHECKPOINT_KEY, cp);
        }
        batch.put(APPLIED_KEY, applied.encode_to_vec());
        let mut opts = WriteOptions::default();
        opts.set_sync(self.sync);
        self.db.write_opt(batch, &opts).map_err(|source| StoreError::Commit { dir: self.dir.to_path_buf(), source })
    }

    /// Removes everything: guest keys, the checkpoint and the applied position.
    ///
    /// # Errors
    /// [`StoreError::Commit`].
    pub fn clear_blocking(&self) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        batch.delete_range(&[0x00u8][..], &[0xffu8, 0xff, 0xff, 0xff][..]);
        self.db.write(batch).map_err(|source| StoreError::Commit { dir: self.dir.to_path_buf(), source })
    }
}

/// Where a player starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// At offset 0 of the log, into an empty store.
    Beginning,
    /// At the snapshot record at this offset, into an empty store.
    Snapshot(i64),
    /// Where the store stopped: re-read and check its last record, then continue.
    Resume(AppliedState),
}

/// Applies a recovery log's records to a store as its bytes arrive.
pub struct Player {
    /// The log.
    journal: String,
    /// The store.
    db: ShardDb,
    /// Offset of `buf[0]`.
    offset: i64,
    /// Bytes of a record not complete yet.
    buf: Vec<u8>,
    /// The last record's check, while pending (a resumed player).
    verify: Option<AppliedState>,
    /// Whether the next record must be a snapshot.
    expect_snapshot: bool,
    /// Highest seq_no applied.
    last_seq: u64,
    /// Records applied by this player.
    applied: u64,
    /// Records read (applied or skipped) whose author is an owner, i.e. not a
    /// register marker (author 0): a standby's sign that the primary lives.
    owner_records: u64,
}

impl Player {
    /// A player of `journal` into `db` from `start`; the store must already be empty
    /// for [`Start::Beginning`] and [`Start::Snapshot`].
    pub fn new(journal: &str, db: ShardDb, start: Start) -> Self {
        let (offset, verify, expect_snapshot, last_seq) = match start {
            Start::Beginning => (0, None, false, 0),
            Start::Snapshot(at) => (at, None, true, 0),
            Start::Resume(applied) => (applied.begin, Some(applied.clone()), false, applied.last_seq),
        };
        Player {
            journal: journal.to_owned(),
            db,
            offset,
            buf: Vec::new(),
            verify,
            expect_snapshot,
            last_seq,
            applied: 0,
            owner_records: 0,
        }
    }

    /// The offset of the next byte this player needs.
    pub fn next_offset(&self) -> i64 {
        self.offset + self.buf.len() as i64
    }

    /// Offset just past the last whole record.
    pub fn record_offset(&self) -> i64 {
        self.offset
    }

    /// The highest seq_no applied (the next transaction's is one more).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Records applied by this player so far.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// Records read so far that an owner wrote (transactions, snapshots, hand-offs
    /// and lease renewals; not author-0 register markers).
    pub fn owner_records(&self) -> u64 {
        self.owner_records
    }

    /// Feeds the log bytes `content` read at `offset`, applying every record they
    /// complete.
    ///
    /// # Errors
    /// [`PlaybackError`]; the store holds the records applied before the error.
    pub fn push(&mut self, offset: i64, content: &[u8]) -> Result<(), PlaybackError> {
        if offset != self.next_offset() {
            return Err(PlaybackError::Missing {
                journal: self.journal.clone(),
                want: self.next_offset(),
                got: offset,
            });
        }
        self.buf.extend_from_slice(content);
        let mut at = 0;
        let result = loop {
            match parse_frame(&self.buf[at..]) {
                Ok(None) => break Ok(()),
                Ok(Some((record, len))) => {
                    let begin = self.offset + at as i64;
                    self.owner_records += u64::from(record.author != 0);
                    if let Err(e) = self.apply(&record, begin, begin + len as i64) {
                        break Err(e);
                    }
                    at += len;
                }
                Err(source) => {
                    break Err(PlaybackError::Frame {
                        journal: self.journal.clone(),
                        offset: self.offset + at as i64,
                        source,
                    })
                }
            }
        };
        self.buf.drain(..at);
        self.offset += at as i64;
        result
    }

    /// Checks that playback ended on a record boundary at `head` and that a resumed
    /// player found the store's last record.
    ///
    /// # Errors
    /// A truncated last record, or an unverified resume.
    pub fn finish(&self, head: i64) -> Result<(), PlaybackError> {
        if !self.buf.is_empty() {
            let source = FrameError::Truncated { have: self.buf.len(), need: needed_len(&self.buf) };
            return Err(PlaybackError::Frame { journal: self.journal.clone(), offset: self.offset, source });
        }
        if let Some(v) = &self.verify {
            return Err(
                self.foreign(format!("its last record [{}, {}) is beyond the log's head {head}", v.begin, v.end))
            );
        }
        if self.expect_snapshot {
            return Err(PlaybackError::NotSnapshot { journal: self.journal.clone(), offset: self.offset });
        }
        Ok(())
    }

    fn foreign(&self, why: String) -> PlaybackError {
        PlaybackError::Foreign { dir: self.db.dir().display().to_string(), journal: self.journal.clone(), why }
    }

    fn apply(&mut self, record: &LogRecord, begin: i64, end: i64) -> Result<(), PlaybackError> {
        if let Some(v) = self.verify.take() {
            if (v.begin, v.end, v.record_seq, v.record_author) != (begin, end, record.seq_no, record.author) {
                return Err(self.foreign(format!(
                    "it last applied seq_no {} by {:x} at [{}, {}), the log has seq_no {} by {:x} at [{begin}, {end})",
                    v.record_seq, v.record_author, v.begin, v.end, record.seq_no, record.author
                )));
            }
            return Ok(());
        }
        if self.expect_snapshot {
            if !record.snapshot {
                return Err(PlaybackError::NotSnapshot { journal: self.journal.clone(), offset: begin });
            }
            self.expect_snapshot = false;
            self.last_seq = record.seq_no.saturating_sub(1);
        }
        if record.is_handoff() || record.seq_no <= self.last_seq {
            // A hand-off, or a duplicate of an applied record (a retried append):
            // nothing to apply. The position advances with the next real record.
            return Ok(());
        }
        if record.seq_no != self.last_seq + 1 {
            return Err(PlaybackError::Gap {
                journal: self.journal.clone(),
                offset: begin,
                got: record.seq_no,
                last: self.last_seq,
            });
        }
        let applied = AppliedState {
            journal: self.journal.clone(),
            begin,
            end,
            record_seq: record.seq_no,
            record_author: record.author,
            last_seq: record.seq_no,
        };
        self.db.apply_record_blocking(record, &applied)?;
        self.last_seq = record.seq_no;
        self.applied += 1;
        crash_point("mid-playback");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
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
}
