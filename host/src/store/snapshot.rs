//! Snapshots: a shard's whole state as one recovery-log record.
//!
//! Gazette bounds playback with hints and `gazctl shards prune`; DESIGN §7 asks for
//! snapshots instead: a record holding every guest key and the checkpoint, taken from
//! one consistent RocksDB snapshot. It is appended to the recovery log like any
//! record (so it is fenced and sequenced the same way), and the log's `snapshot`
//! register is set to its offset in the same append. Playback then starts at that
//! offset instead of 0, and the log before it is no longer needed: its owner prunes
//! it (`consumer/recovery.rs`).

use rocksdb::{Direction, IteratorMode, ReadOptions};

use super::crash::crash_point;
use super::keys::{guest_key_of, CHECKPOINT_KEY, GUEST_PREFIX};
use super::recoverylog::{LogOp, LogRecord};
use super::rocks::{ShardDb, StoreError};

impl ShardDb {
    /// A snapshot record of the committed state (every guest key and the
    /// checkpoint), with `seq_no` and `author` set.
    ///
    /// # Errors
    /// [`StoreError::Read`].
    pub fn snapshot_record_blocking(&self, seq_no: u64, author: u64) -> Result<LogRecord, StoreError> {
        let read_err = |source| StoreError::Read { dir: self.dir.to_path_buf(), source };
        let snap = self.db.snapshot();
        let checkpoint = snap.get(CHECKPOINT_KEY).map_err(read_err)?;
        let mut opts = ReadOptions::default();
        opts.set_iterate_upper_bound(vec![GUEST_PREFIX + 1]);
        let mut ops = Vec::new();
        for item in snap.iterator_opt(IteratorMode::From(&[GUEST_PREFIX], Direction::Forward), opts) {
            let (key, value) = item.map_err(read_err)?;
            let Some(guest) = guest_key_of(&key) else { continue };
            ops.push(LogOp { key: guest.to_vec(), value: Some(value.to_vec()) });
        }
        if ops.len() >= 2 {
            crash_point("mid-snapshot");
        }
        Ok(LogRecord { seq_no, author, ops, checkpoint, snapshot: true })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::playback::{AppliedState, Player, Start};
    use crate::store::WriteSet;

    #[test]
    fn a_snapshot_replaces_the_whole_state_when_played() {
        let tmp = tempfile::tempdir().unwrap();
        let src = ShardDb::open_blocking(&tmp.path().join("src"), false).unwrap();
        let mut w = WriteSet::default();
        w.put(b"k1".to_vec(), b"v1".to_vec());
        w.put(b"k2".to_vec(), b"v2".to_vec());
        src.commit_blocking(&w, b"cp-7").unwrap();
        let snap = src.snapshot_record_blocking(7, 42).unwrap();
        assert!(snap.snapshot);
        assert_eq!(snap.checkpoint.as_deref(), Some(&b"cp-7"[..]));
        assert_eq!(snap.ops.len(), 2, "host keys are not part of the guest state");

        // A store holding stale keys becomes exactly the snapshot's state.
        let dst = ShardDb::open_blocking(&tmp.path().join("dst"), false).unwrap();
        let mut stale = WriteSet::default();
        stale.put(b"gone".to_vec(), b"x".to_vec());
        dst.commit_blocking(&stale, b"old").unwrap();
        let frame = snap.frame();
        let mut player = Player::new("log", dst.clone(), Start::Snapshot(100));
        player.push(100, &frame).unwrap();
        player.finish(100 + frame.len() as i64).unwrap();
        assert_eq!(player.last_seq(), 7);
        assert_eq!(dst.get(b"gone").unwrap(), None);
        assert_eq!(dst.get(b"k2").unwrap(), Some(b"v2".to_vec()));
        assert_eq!(dst.load_checkpoint_blocking().unwrap(), Some(b"cp-7".to_vec()));
        let applied = dst.applied_blocking().unwrap().unwrap();
        assert_eq!(
            applied,
            AppliedState {
                journal: "log".into(),
                begin: 100,
                end: 100 + frame.len() as i64,
                record_seq: 7,
                record_author: 42,
                last_seq: 7
            }
        );
    }
}
