//! Local fragment files: the bytes of a journal, one file per contiguous span.
//!
//! Gazette's brokers spool appends into a local fragment (`broker/fragment/spool.go`)
//! and roll to a new one when it reaches `JournalSpec.fragment.length`. Here a fragment
//! file `{begin:016x}.raw` in the journal's directory holds journal bytes
//! `[begin, begin + file length)` uncompressed, so a read at `offset` is a single
//! `pread` at `offset - begin`, served from the page cache for tailing readers.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::JournalError;

/// Extension of local fragment files (Gazette's suffix for uncompressed fragments).
const EXT: &str = ".raw";

/// An open fragment file.
#[derive(Clone, Debug)]
pub struct FragmentFile {
    /// Journal offset of the file's first byte.
    pub begin: i64,
    /// Bytes written to the file (committed or pending a sync).
    pub len: i64,
    /// The file, shared with readers and the syncer.
    pub file: Arc<File>,
    /// Its path, for error messages.
    pub path: PathBuf,
}

impl FragmentFile {
    /// The file name of the fragment starting at `begin`.
    pub fn file_name(begin: i64) -> String {
        format!("{begin:016x}{EXT}")
    }

    /// Parses a fragment file name back into its begin offset.
    pub fn parse_name(name: &str) -> Option<i64> {
        let hex = name.strip_suffix(EXT)?;
        (hex.len() == 16).then(|| i64::from_str_radix(hex, 16).ok()).flatten()
    }

    /// Creates (or truncates) the fragment file starting at `begin` in `dir`.
    pub fn create(dir: &Path, begin: i64) -> Result<Self, JournalError> {
        let path = dir.join(Self::file_name(begin));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| JournalError::io(format!("creating fragment {}", path.display()), e))?;
        Ok(FragmentFile { begin, len: 0, file: Arc::new(file), path })
    }

    /// Opens an existing fragment file.
    pub fn open(path: PathBuf, begin: i64) -> Result<Self, JournalError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| JournalError::io(format!("opening fragment {}", path.display()), e))?;
        let len = file
            .metadata()
            .map_err(|e| JournalError::io(format!("stat of fragment {}", path.display()), e))?
            .len() as i64;
        Ok(FragmentFile { begin, len, file: Arc::new(file), path })
    }

    /// Journal offset just past the file's written bytes.
    pub fn end(&self) -> i64 {
        self.begin + self.len
    }

    /// Writes `content` at the end of the file.
    pub fn write_tail(&mut self, content: &[u8]) -> Result<(), JournalError> {
        self.file
            .write_all_at(content, self.len as u64)
            .map_err(|e| JournalError::io(format!("writing fragment {}", self.path.display()), e))?;
        self.len += content.len() as i64;
        Ok(())
    }

    /// Reads journal bytes `[offset, offset + len)`, which must lie in this file.
    pub fn read(file: &File, begin: i64, offset: i64, len: usize) -> std::io::Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        file.read_exact_at(&mut buf, (offset - begin) as u64)?;
        Ok(buf)
    }
}

/// Lists the fragment files of a journal directory, sorted by begin offset.
pub fn list_fragment_files(dir: &Path) -> Result<Vec<(i64, PathBuf)>, JournalError> {
    let entries = std::fs::read_dir(dir).map_err(|e| JournalError::io(format!("listing {}", dir.display()), e))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| JournalError::io(format!("listing {}", dir.display()), e))?;
        if let Some(begin) = entry.file_name().to_str().and_then(FragmentFile::parse_name) {
            out.push((begin, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// fsyncs a directory so that file creations, renames and removals in it are durable.
pub fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| JournalError::io(format!("syncing directory {}", dir.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragment_names_round_trip_and_reject_strangers() {
        assert_eq!(FragmentFile::file_name(0x1234), "0000000000001234.raw");
        assert_eq!(FragmentFile::parse_name("0000000000001234.raw"), Some(0x1234));
        for bad in ["1234.raw", "0000000000001234.gz", "index.log", "zzzzzzzzzzzzzzzz.raw"] {
            assert_eq!(FragmentFile::parse_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn writes_and_reads_at_journal_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = FragmentFile::create(dir.path(), 100).unwrap();
        f.write_tail(b"hello ").unwrap();
        f.write_tail(b"world").unwrap();
        assert_eq!(f.end(), 111);
        assert_eq!(FragmentFile::read(&f.file, 100, 106, 5).unwrap(), b"world");
        let reopened = FragmentFile::open(f.path.clone(), 100).unwrap();
        assert_eq!(reopened.len, 11);
        assert_eq!(list_fragment_files(dir.path()).unwrap(), vec![(100, f.path.clone())]);
    }
}
