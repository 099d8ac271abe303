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
#[path = "playback_tests.rs"]
mod tests;
