//! Opening a journal's directory after a clean stop or a crash.
//!
//! The committed extent of a journal is the longest prefix of `index.log` whose
//! records are intact and whose bytes are present in the fragment files. Records
//! written after the last known-synced head (`IndexRecord::durable`) are checked
//! against their CRC-32; the first one that fails, and everything after it, is a torn
//! tail from a crash mid-append. The tail is truncated from both the index and the
//! fragment files (and synced) before the journal serves anything, so it is never
//! read and later appends continue right after the last committed byte. A pruned
//! journal's extent starts at its index's first record instead of 0 (`prune.rs`).

use std::fs::OpenOptions;
use std::io::Read;
use std::path::Path;

use super::error::JournalError;
use super::fragment::{list_fragment_files, sync_dir, FragmentFile};
use super::labels::LabelSet;
use super::record::{IndexRecord, COMPACTED_TMP, INDEX_FILE};

/// A journal's durable state, recovered from its directory.
pub struct Recovered {
    /// Fragment files holding exactly `[low, head)`, sorted (`low` is 0 unless the
    /// journal was pruned).
    pub fragments: Vec<FragmentFile>,
    /// The open index file.
    pub index: std::fs::File,
    /// Length of the intact index.
    pub index_len: u64,
    /// The committed write head.
    pub head: i64,
    /// The registers after the last committed append.
    pub registers: LabelSet,
    /// Bytes of torn tail removed from the fragment files (for logs and tests).
    pub truncated_bytes: i64,
}

/// Recovers the journal stored in `dir` (creating an empty index if there is none).
pub fn recover(dir: &Path) -> Result<Recovered, JournalError> {
    let index_path = dir.join(INDEX_FILE);
    let io = |what: &str, e| JournalError::io(format!("{what} {}", index_path.display()), e);
    let mut index = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&index_path)
        .map_err(|e| io("opening", e))?;
    let mut raw = Vec::new();
    index.read_to_end(&mut raw).map_err(|e| io("reading", e))?;
    // A compacted index that a crash left unrenamed (`prune.rs`): the old one stands.
    let tmp = dir.join(COMPACTED_TMP);
    if tmp.exists() {
        std::fs::remove_file(&tmp).map_err(|e| JournalError::io(format!("removing {}", tmp.display()), e))?;
    }
    let (records, _) = IndexRecord::decode_all(&raw);

    // A pruned journal's index begins with a zero-length record at its low-water
    // mark (`prune.rs`); fragment files wholly below it are leftovers of a prune that
    // crashed after compacting the index, and go now.
    let low = records.first().map_or(0, |r| r.begin as i64);
    let mut fragments = Vec::new();
    let mut pruned_leftovers = false;
    for (begin, path) in list_fragment_files(dir)? {
        let frag = FragmentFile::open(path, begin)?;
        if frag.begin < low && frag.end() <= low {
            std::fs::remove_file(&frag.path)
                .map_err(|e| JournalError::io(format!("removing pruned fragment {}", frag.path.display()), e))?;
            pruned_leftovers = true;
            continue;
        }
        fragments.push(frag);
    }

    let trusted = records.iter().map(|r| r.durable).max().unwrap_or(0);
    let mut kept = 0usize;
    for rec in &records {
        if !record_is_backed(rec, &fragments, trusted)? {
            break;
        }
        kept += 1;
    }
    let records = &records[..kept];
    let index_len: u64 = records.iter().map(|r| r.encode().len() as u64).sum();
    let head = records.last().map_or(low, |r| r.end as i64);
    let registers = records.iter().rev().find_map(|r| r.registers.clone()).unwrap_or_default();

    let mut changed = index_len != raw.len() as u64 || pruned_leftovers;
    if changed {
        index.set_len(index_len).map_err(|e| io("truncating", e))?;
        index.sync_data().map_err(|e| io("syncing", e))?;
    }
    let before: i64 = fragments.iter().map(|f| f.len).sum();
    let fragments = truncate_fragments(fragments, head, &mut changed)?;
    let after: i64 = fragments.iter().map(|f| f.len).sum();
    if changed {
        sync_dir(dir)?;
    }
    Ok(Recovered { fragments, index, index_len, head, registers, truncated_bytes: before - after })
}

/// Whether `rec`'s bytes lie within one fragment file (and, beyond the trusted
/// head, match their checksum).
fn record_is_backed(rec: &IndexRecord, fragments: &[FragmentFile], trusted: u64) -> Result<bool, JournalError> {
    let (begin, end) = (rec.begin as i64, rec.end as i64);
    if begin == end {
        return Ok(true);
    }
    let Some(frag) = fragments.iter().rev().find(|f| f.begin <= begin) else {
        return Ok(false);
    };
    if frag.end() < end {
        return Ok(false);
    }
    if rec.end <= trusted {
        return Ok(true);
    }
    let bytes = FragmentFile::read(&frag.file, frag.begin, begin, (end - begin) as usize)
        .map_err(|e| JournalError::io(format!("verifying {}", frag.path.display()), e))?;
    Ok(crc32fast::hash(&bytes) == rec.content_crc)
}

/// Drops fragment files wholly past `head` and cuts the one holding `head`.
pub(super) fn truncate_fragments(
    fragments: Vec<FragmentFile>,
    head: i64,
    changed: &mut bool,
) -> Result<Vec<FragmentFile>, JournalError> {
    let mut out = Vec::new();
    for mut frag in fragments {
        if frag.begin >= head {
            std::fs::remove_file(&frag.path)
                .map_err(|e| JournalError::io(format!("removing torn fragment {}", frag.path.display()), e))?;
            *changed = true;
            continue;
        }
        if frag.end() > head {
            let io = |e| JournalError::io(format!("truncating fragment {}", frag.path.display()), e);
            frag.file.set_len((head - frag.begin) as u64).map_err(io)?;
            frag.file.sync_data().map_err(io)?;
            frag.len = head - frag.begin;
            *changed = true;
        }
        out.push(frag);
    }
    Ok(out)
}
