//! The input files of files mode: opened once by the host, read for the guests.
//!
//! Guests have no filesystem (DESIGN §9); in files mode the host opens exactly the
//! files named by `--files`, and a guest reads them through `journals.read-file` by
//! index. Files are dealt round-robin to the workers ([`InputFiles::split`]), each
//! worker seeing its own files as indices 0, 1, …. No Gazette counterpart (its chunker
//! streams random data only).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};

/// One input file, open for reading.
#[derive(Debug)]
pub struct OpenFile {
    /// The path as given on the command line (used in output and errors).
    pub path: String,
    /// Its size when opened.
    pub size: u64,
    /// The open file.
    file: File,
}

/// All input files of the job, in command-line order.
#[derive(Debug, Default)]
pub struct InputFiles {
    /// In command-line order.
    pub files: Vec<OpenFile>,
}

impl InputFiles {
    /// Opens every path.
    ///
    /// # Errors
    /// A path that cannot be opened or is not a regular file, named.
    pub fn open(paths: &[PathBuf]) -> anyhow::Result<Self> {
        let mut files = Vec::with_capacity(paths.len());
        for path in paths {
            let shown = path.display().to_string();
            let file = File::open(path).with_context(|| format!("cannot open --files {shown}"))?;
            let meta = file
                .metadata()
                .with_context(|| format!("cannot stat --files {shown}"))?;
            if !meta.is_file() {
                bail!("--files {shown} is not a regular file");
            }
            files.push(OpenFile {
                path: shown,
                size: meta.len(),
                file,
            });
        }
        Ok(InputFiles { files })
    }

    /// Deals the files round-robin to `workers` workers: worker `w` gets the indices
    /// (into [`InputFiles::files`]) `w, w + workers, …`. Workers past the number of
    /// files get none.
    pub fn split(&self, workers: usize) -> Vec<Vec<usize>> {
        let workers = workers.max(1);
        let mut out = vec![Vec::new(); workers];
        for i in 0..self.files.len() {
            out[i % workers].push(i);
        }
        out
    }
}

/// One worker's view of the input files: its own files by local index.
#[derive(Debug, Clone)]
pub struct WorkerFiles {
    /// All files of the job.
    all: Arc<InputFiles>,
    /// Global index of each of this worker's files.
    indices: Vec<usize>,
}

impl WorkerFiles {
    /// The files `indices` of `all`.
    pub fn new(all: Arc<InputFiles>, indices: Vec<usize>) -> Self {
        WorkerFiles { all, indices }
    }

    /// The global index of each of this worker's files, in local index order.
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }

    /// This worker's files, in local index order.
    pub fn files(&self) -> impl Iterator<Item = &OpenFile> {
        self.indices.iter().map(|&i| &self.all.files[i])
    }

    /// Up to `max_len` bytes of local file `file` at `offset`: fewer only at the end
    /// of the file, none past it.
    ///
    /// # Errors
    /// An unknown index, or a read error naming the file and offset.
    pub fn read(&self, file: u32, offset: u64, max_len: u32) -> Result<Vec<u8>, String> {
        let Some(input) = self.indices.get(file as usize).map(|&i| &self.all.files[i]) else {
            return Err(format!(
                "no input file number {file} (this worker has {})",
                self.indices.len()
            ));
        };
        let mut buf = vec![0u8; max_len as usize];
        let mut filled = 0;
        while filled < buf.len() {
            match input.file.read_at(&mut buf[filled..], offset + filled as u64) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(format!(
                        "reading {} at offset {}: {e}",
                        input.path,
                        offset + filled as u64
                    ))
                }
            }
        }
        buf.truncate(filled);
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_dealt_round_robin_and_read_in_full_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = (0..3).map(|i| dir.path().join(format!("f{i}"))).collect();
        for (i, p) in paths.iter().enumerate() {
            std::fs::write(p, vec![b'a' + i as u8; 10 * i]).unwrap();
        }
        let all = Arc::new(InputFiles::open(&paths).unwrap());
        assert_eq!(all.files.iter().map(|f| f.size).collect::<Vec<_>>(), vec![0, 10, 20]);
        assert_eq!(all.split(2), vec![vec![0, 2], vec![1]]);
        assert_eq!(all.split(4), vec![vec![0], vec![1], vec![2], vec![]]);

        let w = WorkerFiles::new(all.clone(), vec![0, 2]);
        assert_eq!(w.read(0, 0, 8).unwrap(), b"");
        assert_eq!(w.read(1, 0, 8).unwrap(), vec![b'c'; 8]);
        assert_eq!(w.read(1, 16, 8).unwrap(), vec![b'c'; 4], "short only at the end");
        assert_eq!(w.read(1, 20, 8).unwrap(), b"");
        assert_eq!(w.read(1, 99, 8).unwrap(), b"");
        assert_eq!(
            w.read(2, 0, 8).unwrap_err(),
            "no input file number 2 (this worker has 2)"
        );
    }

    #[test]
    fn missing_files_and_directories_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let err = InputFiles::open(std::slice::from_ref(&missing)).unwrap_err();
        assert_eq!(err.to_string(), format!("cannot open --files {}", missing.display()));
        let err = InputFiles::open(&[dir.path().to_path_buf()]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("--files {} is not a regular file", dir.path().display())
        );
    }
}
