//! Pruning: deleting a journal's oldest whole fragments, moving its low-water mark.
//!
//! Gazette never deletes content through `protocol.Journal`: fragments roll at
//! `JournalSpec.fragment.length` (`broker/fragment/spool.go`) and old ones are
//! removed from the fragment store (by retention, or by `gazctl shards prune` for
//! recovery logs, `consumer/shard_prune.go`). Our fragment store is the journal's
//! directory, so pruning is a broker operation: [`Journal::prune`] deletes every
//! fragment file that ends at or before an offset. Bytes at and after the first kept
//! fragment are untouched, and a read below it jumps forward to it (`read.rs`), as a
//! Gazette read does over a deleted range.
//!
//! The commit index (`record.rs`) would otherwise still describe the deleted bytes,
//! so it is compacted in the same step: a new `index.log` holding a zero-length
//! record at the new low-water mark (carrying the registers in force there) followed
//! by the records of the kept bytes replaces the old one atomically (write, fsync,
//! rename, fsync the directory) BEFORE any fragment file is removed. A crash between
//! the two leaves fragment files wholly below the index's first record, which
//! `recover.rs` deletes on open; so a pruned journal stays pruned across restarts and
//! never serves a half-pruned range.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use super::error::JournalError;
use super::fragment::sync_dir;
use super::log::{lock, Journal};
use super::record::{IndexRecord, COMPACTED_TMP, INDEX_FILE};

/// What a prune removed and where the journal now begins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PruneResult {
    /// The journal.
    pub journal: String,
    /// `[begin, end)` of each fragment deleted, in order (empty if none qualified).
    pub removed: Vec<(i64, i64)>,
    /// The low-water mark after the prune: the first offset still stored.
    pub low: i64,
    /// The committed write head (unchanged by pruning).
    pub write_head: i64,
}

impl PruneResult {
    /// Journal bytes deleted.
    pub fn removed_bytes(&self) -> i64 {
        self.removed.iter().map(|(b, e)| e - b).sum()
    }
}

impl Journal {
    /// Deletes every fragment that ends at or before `before` (which must lie in
    /// `[0, write head]`); fragments reaching past `before` are kept whole.
    ///
    /// # Errors
    /// `Invalid` for an offset outside `[0, write head]`; `Io` (naming the file) if
    /// the index or a fragment cannot be rewritten or removed.
    pub fn prune(&self, before: i64) -> Result<PruneResult, JournalError> {
        let mut st = lock(&self.state);
        if let Some(why) = &st.closed {
            return Err(JournalError::Unavailable(format!("journal {:?}: {why}", self.name())));
        }
        if before < 0 || before > st.committed {
            return Err(JournalError::invalid(format!(
                "journal {:?}: prune offset {before} is not within [0, write head {}]",
                self.name(),
                st.committed
            )));
        }
        // A fragment qualifies only if every byte of it is committed: `end <= before
        // <= committed` guarantees that.
        let n = st.fragments.iter().take_while(|f| f.len > 0 && f.end() <= before).count();
        let result = |st: &super::log::State, removed| PruneResult {
            journal: self.name().to_owned(),
            removed,
            low: st.fragments.first().map_or(st.committed, |f| f.begin.min(st.committed)),
            write_head: st.committed,
        };
        if n == 0 {
            return Ok(result(&st, Vec::new()));
        }
        let low = st.fragments[n - 1].end();
        let (index, index_len) = compact_index(self.dir(), &st.index, st.index_len, low, self.name())?;
        st.index = Arc::new(index);
        st.index_len = index_len;
        let removed: Vec<_> = st.fragments.drain(..n).collect();
        for f in &removed {
            // Readers still holding the file keep reading it; the name goes now.
            std::fs::remove_file(&f.path)
                .map_err(|e| JournalError::io(format!("removing pruned fragment {}", f.path.display()), e))?;
        }
        sync_dir(self.dir())?;
        let spans = removed.iter().map(|f| (f.begin, f.end())).collect();
        tracing::info!(journal = %self.name(), low, fragments = n, "pruned fragments");
        Ok(result(&st, spans))
    }
}

/// Writes and installs an index holding a zero-length record at `low` (with the
/// registers in force there) and the records from `low` on; returns it, open, and
/// its length.
fn compact_index(dir: &Path, index: &File, index_len: u64, low: i64, journal: &str) -> Result<(File, u64), JournalError> {
    let path = dir.join(INDEX_FILE);
    let tmp = dir.join(COMPACTED_TMP);
    let io = |what: &str| {
        let p = path.display().to_string();
        let what = what.to_owned();
        move |e| JournalError::io(format!("{what} {p} of journal {journal:?}"), e)
    };
    let mut raw = vec![0u8; index_len as usize];
    index.read_exact_at(&mut raw, 0).map_err(io("reading"))?;
    let (records, _) = IndexRecord::decode_all(&raw);
    let low = low as u64;
    let registers = records.iter().take_while(|r| r.begin < low).filter_map(|r| r.registers.clone()).last().unwrap_or_default();
    let durable = records.iter().map(|r| r.durable).max().unwrap_or(0).max(low);
    let mut out = IndexRecord { begin: low, end: low, durable, content_crc: 0, registers: Some(registers) }.encode();
    for rec in records.iter().filter(|r| r.begin >= low) {
        out.extend_from_slice(&rec.encode());
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(io("creating a compacted"))?;
    file.write_all_at(&out, 0).map_err(io("writing a compacted"))?;
    file.sync_all().map_err(io("syncing a compacted"))?;
    std::fs::rename(&tmp, &path).map_err(io("replacing"))?;
    sync_dir(dir)?;
    Ok((file, out.len() as u64))
}

#[cfg(test)]
#[path = "prune_tests.rs"]
mod tests;
