//! A journal replicated between a cluster's brokers: its spool, its read gate, and how
//! a replica answers the primary's proposals.
//!
//! Gazette's `broker/fragment/spool.go` on our storage. Every replica of a replicated
//! journal keeps a *spool*: the fragment currently being written, `[begin, end)` with
//! the SHA-1 of its bytes and the registers after them. The primary proposes each
//! commit as the spool it will have after it (`Fragment{journal, begin, end, sum}` plus
//! registers), preceded by the content; a replica applies a proposal only if it
//! extends its own spool exactly (same begin and a matching sum over the old bytes and
//! the new, or a new spool starting at its end), so two replicas that accepted the
//! same proposals hold the same bytes. Anything else is answered with
//! `PROPOSAL_MISMATCH` and the replica's spool, from which the primary decides how to
//! bring the replica in line (`service/pipeline.rs`).
//!
//! The primary's bytes are the journal's history: it was a consistent member of the
//! route before it became primary, so it holds every acknowledged append. Two steps
//! go beyond Gazette's spool, and both only ever discard bytes no client was told are
//! committed:
//!
//! - a proposal of an empty spool *below* the replica's end (a roll to an offset it
//!   has passed) cuts the replica back to that offset, discarding an unacknowledged
//!   tail (an append the old primary sent to some replicas before it died), or, if the
//!   offset is not where one of its appends ends, wipes the replica's content and
//!   starts it there for the primary to fill in again;
//! - a non-empty proposal that is not the replica's spool, but whose bytes the replica
//!   holds with the same SHA-1, is accepted as the replica's new spool (cutting any
//!   tail beyond it): the replica was ahead of a new primary.
//!
//! The *gate* is the readable head of a replicated journal: bytes become readable at
//! the primary only once every replica acknowledged them, so a reader never sees
//! bytes that a new primary's history might not contain. A journal whose replication
//! was just enabled (a broker that restarted) serves reads only up to its low-water
//! mark until it is primary with its replicas in sync.

use std::sync::Arc;

use bytes::Bytes;
use sha1::{Digest, Sha1};

use super::error::JournalError;
use super::fragment::{sync_dir, FragmentFile};
use super::labels::LabelSet;
use super::log::{lock, Journal, State};
use super::record::{IndexRecord, COMPACTED_TMP, INDEX_FILE};
use super::recover::truncate_fragments;
use super::spool::{ReplState, Reply, Spool, Step};

/// Largest span read into memory at once to hash or copy local bytes.
pub const COPY_CHUNK: usize = 1 << 20;

impl Journal {
    /// Makes this a replicated journal (idempotent): a spool over its last fragment
    /// file, and a read gate at its low-water mark until [`Journal::advance_gate`].
    ///
    /// # Errors
    /// `Io` reading the last fragment file to hash it.
    pub fn enable_replication(&self) -> Result<(), JournalError> {
        let mut st = lock(&self.state);
        if st.repl.is_some() {
            return Ok(());
        }
        let low = st.fragments.first().map_or(st.synced, |f| f.begin.min(st.synced));
        let begin = st.fragments.last().map_or(st.write_end, |f| f.begin.max(low));
        let mut hasher = Sha1::new();
        hash_range(&st, begin, st.write_end, &mut hasher, self.name())?;
        st.repl = Some(ReplState { spool_begin: begin, hasher, gate: low });
        st.publish(&self.commit_tx);
        Ok(())
    }

    /// Whether this journal is replicated (a cluster broker serves it).
    pub fn is_replicated(&self) -> bool {
        lock(&self.state).repl.is_some()
    }

    /// The spool of a replicated journal (None for one that is not).
    pub fn spool(&self) -> Option<Spool> {
        let st = lock(&self.state);
        st.repl.as_ref().map(|r| r.spool(st.write_end, &st.registers))
    }

    /// Lets readers see bytes up to `to` (once durable here): every replica has them.
    pub fn advance_gate(&self, to: i64) {
        let mut st = lock(&self.state);
        if let Some(repl) = &mut st.repl {
            if to > repl.gate {
                repl.gate = to;
                st.publish(&self.commit_tx);
            }
        }
    }

    /// The primary's side of a sync: starts a new spool at the write end. Returns it.
    pub fn roll_spool(&self) -> Option<Spool> {
        let mut st = lock(&self.state);
        let end = st.write_end;
        let repl = st.repl.as_mut()?;
        repl.roll(end);
        Some(Spool::empty(end, st.registers.clone()))
    }

    /// The first offset this journal holds bytes of (durable or not).
    pub fn local_low(&self) -> i64 {
        let st = lock(&self.state);
        st.fragments.first().map_or(st.write_end, |f| f.begin)
    }

    /// The SHA-1 of local bytes `[begin, end)`, if this journal holds all of them.
    ///
    /// # Errors
    /// `Io` reading a fragment file.
    pub fn sum_of(&self, begin: i64, end: i64) -> Result<Option<[u8; 20]>, JournalError> {
        let st = lock(&self.state);
        let low = st.fragments.first().map_or(st.write_end, |f| f.begin);
        if begin < low || end > st.write_end || begin > end {
            return Ok(None);
        }
        let mut h = Sha1::new();
        hash_range(&st, begin, end, &mut h, self.name())?;
        Ok(Some(h.finalize().into()))
    }

    /// Local bytes `[begin, end)` (at most [`COPY_CHUNK`] of them from `begin`), durable
    /// or not, for the primary to send to a replica that lacks them.
    ///
    /// # Errors
    /// `Invalid` if the journal does not hold `begin`; `Io`.
    pub fn local_bytes(&self, begin: i64, end: i64) -> Result<Bytes, JournalError> {
        let st = lock(&self.state);
        let end = end.min(st.write_end).min(begin + COPY_CHUNK as i64);
        let low = st.fragments.first().map_or(st.write_end, |f| f.begin);
        if begin < low || begin >= end {
            return Err(JournalError::invalid(format!(
                "journal {:?}: holds [{low}, {}), not offset {begin}",
                self.name(),
                st.write_end
            )));
        }
        let mut out = Vec::with_capacity((end - begin) as usize);
        visit_range(&st, begin, end, self.name(), |b| out.extend_from_slice(b))?;
        Ok(out.into())
    }

    /// A replica applies proposal `p`, preceded by `content`, and answers once what it
    /// wrote is durable.
    ///
    /// # Errors
    /// As [`Journal::apply_proposal`].
    pub async fn replicate(self: &Arc<Self>, p: &Spool, content: &[u8]) -> Result<Reply, JournalError> {
        let (reply, durable_at) = self.apply_proposal(p, content)?;
        self.wait_synced(durable_at).await?;
        Ok(reply)
    }

    /// The replica's side of a proposal without waiting: applies `p` (writing
    /// `content` if it extends the spool) and returns the answer with the offset the
    /// journal must be durable to before the answer is sent. A replica answers in
    /// order while the syncer makes many proposals durable at once
    /// (`service/replicate_api.rs`).
    ///
    /// # Errors
    /// `Unavailable` for a journal that is not replicated here or was closed; `Io`
    /// (the journal is then closed).
    pub fn apply_proposal(self: &Arc<Self>, p: &Spool, content: &[u8]) -> Result<(Reply, i64), JournalError> {
        let outcome = {
            let mut st = lock(&self.state);
            if let Some(why) = &st.closed {
                return Err(JournalError::Unavailable(format!("journal {:?}: {why}", self.name())));
            }
            let Some(repl) = &st.repl else {
                return Err(JournalError::Unavailable(format!("journal {:?} is not replicated by this broker", self.name())));
            };
            let step = repl.decide(st.write_end, &st.registers, p, content);
            self.apply_step(&mut st, step, p, content).map(|end| match end {
                Some(end) => (Reply::Ok, end),
                None => (Reply::Mismatch(st.repl.as_ref().map(|r| r.spool(st.write_end, &st.registers)).expect("replicated")), 0),
            })
        };
        if let Err(e @ JournalError::Io { .. }) = &outcome {
            self.close(&format!("failed by {e}"));
        }
        outcome
    }

    /// Carries out `step`; the offset to wait for durability at, or None to answer
    /// with a mismatch.
    fn apply_step(self: &Arc<Self>, st: &mut State, step: Step, p: &Spool, content: &[u8]) -> Result<Option<i64>, JournalError> {
        let repl = st.repl.as_mut().expect("replicated");
        match step {
            Step::Mismatch => Ok(None),
            Step::Ack => Ok(Some(st.write_end)),
            Step::Roll => {
                repl.roll(p.end);
                st.registers = p.registers.clone();
                Ok(Some(st.write_end))
            }
            Step::Extend { roll } => {
                if roll {
                    repl.roll(st.write_end);
                }
                let new_file = repl.spool_begin == st.write_end;
                let (_, end, _) = self.write_locked(st, content, p.registers.clone(), new_file)?;
                Ok(Some(end))
            }
            Step::Reset => {
                self.reset_to(st, p.end, &p.registers)?;
                Ok(Some(st.write_end))
            }
            Step::Verify => {
                let low = st.fragments.first().map_or(st.write_end, |f| f.begin);
                if p.begin < low || !ends_a_record(st, p.end, self.name())? {
                    return Ok(None);
                }
                let mut h = Sha1::new();
                hash_range(st, p.begin, p.end, &mut h, self.name())?;
                if <[u8; 20]>::from(h.clone().finalize()) != p.sum {
                    return Ok(None);
                }
                if p.end < st.write_end {
                    self.cut_to(st, p.end)?;
                }
                let repl = st.repl.as_mut().expect("replicated");
                repl.spool_begin = p.begin;
                repl.hasher = h;
                st.registers = p.registers.clone();
                Ok(Some(st.write_end))
            }
        }
    }

    /// Brings the journal to `at` with nothing written past it: cut back to `at` if
    /// an append of this journal ends there, else wipe every byte and start at `at`;
    /// then an empty spool at `at` with `registers`.
    fn reset_to(self: &Arc<Self>, st: &mut State, at: i64, registers: &LabelSet) -> Result<(), JournalError> {
        if at != st.write_end {
            let low = st.fragments.first().map_or(st.write_end, |f| f.begin);
            if at >= low && at < st.write_end && ends_a_record(st, at, self.name())? {
                self.cut_to(st, at)?;
            } else {
                self.wipe_to(st, at, registers)?;
            }
        }
        st.repl.as_mut().expect("replicated").roll(at);
        st.registers = registers.clone();
        Ok(())
    }

    /// Discards every byte at and after `at`, which ends an index record. Only bytes
    /// no reader may see go: the gate and the readable head are lowered with them.
    fn cut_to(self: &Arc<Self>, st: &mut State, at: i64) -> Result<(), JournalError> {
        let path = self.dir().join(INDEX_FILE);
        let io = |what: &'static str| {
            let p = path.display().to_string();
            move |e| JournalError::io(format!("{what} {p}"), e)
        };
        let raw = read_index(st, self.name())?;
        let (records, _) = IndexRecord::decode_all(&raw);
        let keep: Vec<&IndexRecord> = records.iter().take_while(|r| r.end as i64 <= at).collect();
        let len: u64 = keep.iter().map(|r| r.encode().len() as u64).sum();
        st.index.set_len(len).map_err(io("truncating"))?;
        st.index.sync_data().map_err(io("syncing"))?;
        st.index_len = len;
        let discarded = st.write_end - at;
        let mut changed = false;
        st.fragments = truncate_fragments(std::mem::take(&mut st.fragments), at, &mut changed)?;
        sync_dir(self.dir())?;
        st.registers = keep.iter().filter_map(|r| r.registers.clone()).last().unwrap_or_default();
        self.lower_heads(st, at);
        tracing::warn!(journal = %self.name(), at, bytes = discarded, "discarded an unacknowledged tail the primary does not have");
        Ok(())
    }

    /// Discards every byte and starts the journal at `at`: its index holds one empty
    /// record there (as a pruned journal's does, `prune.rs`) and no fragment file.
    pub(super) fn wipe_to(self: &Arc<Self>, st: &mut State, at: i64, registers: &LabelSet) -> Result<(), JournalError> {
        let path = self.dir().join(INDEX_FILE);
        let tmp = self.dir().join(COMPACTED_TMP);
        let io = |what: &'static str| {
            let p = path.display().to_string();
            move |e| JournalError::io(format!("{what} {p}"), e)
        };
        let rec = IndexRecord { begin: at as u64, end: at as u64, durable: at as u64, content_crc: 0, registers: Some(registers.clone()) };
        let bytes = rec.encode();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(io("creating a fresh index for"))?;
        std::os::unix::fs::FileExt::write_all_at(&file, &bytes, 0).map_err(io("writing a fresh index for"))?;
        file.sync_all().map_err(io("syncing a fresh index for"))?;
        std::fs::rename(&tmp, &path).map_err(io("replacing"))?;
        sync_dir(self.dir())?;
        let (low, end) = (st.fragments.first().map_or(st.write_end, |f| f.begin), st.write_end);
        for frag in std::mem::take(&mut st.fragments) {
            std::fs::remove_file(&frag.path).map_err(|e| JournalError::io(format!("removing {}", frag.path.display()), e))?;
        }
        sync_dir(self.dir())?;
        st.index = Arc::new(file);
        st.index_len = bytes.len() as u64;
        st.write_end = at;
        st.synced = at;
        st.registers = registers.clone();
        if let Some(repl) = &mut st.repl {
            repl.gate = repl.gate.min(at);
        }
        // Readers are told through the commit watch; the head may move forward here.
        st.publish(&self.commit_tx);
        tracing::warn!(journal = %self.name(), at, held_from = low, held_to = end, "wiped a replica that disagrees with the primary; it is filled in again from {at}");
        Ok(())
    }

    /// After a cut to `at`: the write end, durable head, gate and readable head.
    fn lower_heads(&self, st: &mut State, at: i64) {
        st.write_end = at;
        st.synced = st.synced.min(at);
        if let Some(repl) = &mut st.repl {
            repl.gate = repl.gate.min(at);
        }
        st.publish(&self.commit_tx);
    }
}

/// Whether an append (an index record) of the journal ends exactly at `at`, or `at` is
/// its low-water mark.
fn ends_a_record(st: &State, at: i64, journal: &str) -> Result<bool, JournalError> {
    let raw = read_index(st, journal)?;
    let (records, _) = IndexRecord::decode_all(&raw);
    Ok(records.iter().any(|r| r.end as i64 == at) || records.first().is_some_and(|r| r.begin as i64 == at))
}

fn read_index(st: &State, journal: &str) -> Result<Vec<u8>, JournalError> {
    let mut raw = vec![0u8; st.index_len as usize];
    std::os::unix::fs::FileExt::read_exact_at(&*st.index, &mut raw, 0)
        .map_err(|e| JournalError::io(format!("reading the index of journal {journal:?}"), e))?;
    Ok(raw)
}

/// Feeds local bytes `[begin, end)` to `hasher`.
fn hash_range(st: &State, begin: i64, end: i64, hasher: &mut Sha1, journal: &str) -> Result<(), JournalError> {
    visit_range(st, begin, end, journal, |b| hasher.update(b))
}

/// Calls `f` with local bytes `[begin, end)` in order, at most [`COPY_CHUNK`] at a time.
fn visit_range(st: &State, begin: i64, end: i64, journal: &str, mut f: impl FnMut(&[u8])) -> Result<(), JournalError> {
    let mut at = begin;
    while at < end {
        let idx = st.fragments.partition_point(|f| f.begin <= at).checked_sub(1);
        let Some(frag) = idx.map(|i| &st.fragments[i]).filter(|f| f.end() > at) else {
            return Err(JournalError::invalid(format!("journal {journal:?}: no local fragment holds offset {at}")));
        };
        let n = (end.min(frag.end()) - at).min(COPY_CHUNK as i64) as usize;
        let bytes = FragmentFile::read(&frag.file, frag.begin, at, n)
            .map_err(|e| JournalError::io(format!("reading {}", frag.path.display()), e))?;
        f(&bytes);
        at += n as i64;
    }
    Ok(())
}

#[cfg(test)]
#[path = "replica_tests.rs"]
mod tests;
