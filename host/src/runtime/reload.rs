//! Hot reload of the summer plugin: which version the shards should run (issue 7).
//!
//! DESIGN §9. A [`Reloader`] holds the current [`SummerPlugin`] in a watch channel that
//! every shard follows: a reload request (the `--app` file changed, SIGHUP, or the
//! control service's `ReloadPlugin`) checks the file, compiles it on a blocking thread
//! (through the precompiled cache), links it against the `summer` world, and only then
//! publishes it; each shard switches at its next transaction boundary
//! (`consumer/swap.rs`). Nothing changes on a refusal: a missing file, a directory, a
//! file larger than [`MAX_PLUGIN_BYTES`], a file some process still has open for
//! writing, bytes that change while they are read, or a version that does not compile
//! or link. A version whose first transaction on a shard fails is rolled back on all
//! shards with [`Reloader::roll_back`]; refused and rolled-back hashes are remembered
//! and not retried until the bytes change. No Gazette counterpart (Gazette consumers
//! are restarted to change their code).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use tokio::sync::watch;

use super::cache::{ComponentCache, PluginVersion};
use super::plugin::SummerPlugin;

/// Largest plugin file a reload accepts (the shipped summer is a few hundred KiB).
pub const MAX_PLUGIN_BYTES: u64 = 64 << 20;

/// Why a reload request changed nothing. Each message names the file.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    /// The file cannot be examined or read.
    #[error("refused {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What is wrong with it (missing, a directory, unreadable).
        reason: String,
    },
    /// The file is larger than [`MAX_PLUGIN_BYTES`].
    #[error("refused {path}: {size} bytes is larger than the {max}-byte limit on a plugin")]
    TooLarge {
        /// The file.
        path: String,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// A process has the file open for writing, or it changed while being read.
    #[error("refused {path}: the file is still being written ({detail}); the write is picked up once complete")]
    BeingWritten {
        /// The file.
        path: String,
        /// Who writes it, or what changed.
        detail: String,
    },
    /// The version failed to load (compile or link) now or earlier, or was rolled back.
    #[error("refused {path} (version {version}): {reason}")]
    Version {
        /// The file.
        path: String,
        /// SHA-256 of its bytes.
        version: String,
        /// Why this version is refused.
        reason: String,
    },
}

/// What a successful reload request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reloaded {
    /// A new version is published; shards switch at their next boundary.
    Swapped(PluginVersion),
    /// The file holds the version already running: nothing to do.
    Unchanged(PluginVersion),
}

impl Reloaded {
    /// The version now current.
    pub fn version(&self) -> &PluginVersion {
        match self {
            Reloaded::Swapped(v) | Reloaded::Unchanged(v) => v,
        }
    }
}

/// The plugin the shards should run, and the history needed to refuse and roll back.
pub struct Reloader {
    /// Compiles (or loads precompiled) new versions.
    cache: ComponentCache,
    /// The current plugin; shards follow it.
    current: watch::Sender<SummerPlugin>,
    /// The plugin current before the last swap: the target of a rollback.
    previous: Mutex<Option<SummerPlugin>>,
    /// Versions refused or rolled back, with why; not retried until the bytes change.
    failed: Mutex<HashMap<PluginVersion, String>>,
    /// Serializes reload requests (two compiles at once would race on `previous`).
    busy: tokio::sync::Mutex<()>,
    /// Versions published.
    swaps: AtomicU64,
    /// Versions rolled back.
    rollbacks: AtomicU64,
}

impl Reloader {
    /// A reloader starting with `plugin`, loading new versions through `cache`.
    pub fn new(cache: ComponentCache, plugin: SummerPlugin) -> Self {
        Reloader {
            cache,
            current: watch::channel(plugin).0,
            previous: Mutex::new(None),
            failed: Mutex::new(HashMap::new()),
            busy: tokio::sync::Mutex::new(()),
            swaps: AtomicU64::new(0),
            rollbacks: AtomicU64::new(0),
        }
    }

    /// The plugin shards should run now.
    pub fn current(&self) -> SummerPlugin {
        self.current.borrow().clone()
    }

    /// A receiver that sees every newly published plugin.
    pub fn subscribe(&self) -> watch::Receiver<SummerPlugin> {
        self.current.subscribe()
    }

    /// Versions published since start (rollbacks excluded).
    pub fn swaps(&self) -> u64 {
        self.swaps.load(Ordering::Relaxed)
    }

    /// Versions rolled back since start.
    pub fn rollbacks(&self) -> u64 {
        self.rollbacks.load(Ordering::Relaxed)
    }

    /// Checks, compiles and links the plugin at `path`, and publishes it.
    ///
    /// # Errors
    /// A [`Refusal`]; nothing changed.
    pub async fn reload(&self, path: &Path) -> Result<Reloaded, Refusal> {
        let _busy = self.busy.lock().await;
        let name = path.display().to_string();
        let bytes = read_complete(path).await?;
        let version = PluginVersion::of(&bytes);
        let current = self.current();
        if *current.version() == version {
            return Ok(Reloaded::Unchanged(version));
        }
        if let Some(reason) = self.failed_reason(&version) {
            let reason = format!("this version failed before and is not retried until the file changes: {reason}");
            return Err(Refusal::Version { path: name, version: version.to_string(), reason });
        }
        let cache = self.cache.clone();
        let label = name.clone();
        let loaded =
            tokio::task::spawn_blocking(move || SummerPlugin::load_blocking(&cache, &bytes, &label)).await.map_err(
                |e| Refusal::Version { path: name.clone(), version: version.to_string(), reason: e.to_string() },
            )?;
        let plugin = match loaded {
            Ok(plugin) => plugin,
            Err(e) => {
                let reason = e.to_string();
                self.remember_failed(&version, &reason);
                return Err(Refusal::Version { path: name, version: version.to_string(), reason });
            }
        };
        *lock(&self.previous) = Some(current.clone());
        self.current.send_replace(plugin);
        self.swaps.fetch_add(1, Ordering::Relaxed);
        tracing::info!(plugin = %name, old = %current.version(), new = %version, "plugin version published; shards swap at their next transaction boundary");
        Ok(Reloaded::Swapped(version))
    }

    /// Rolls `bad` back on all shards because its first transaction on a shard failed
    /// with `reason`: the previous version becomes current again (if `bad` still is)
    /// and `bad` is remembered as failed. Returns the version now current.
    pub fn roll_back(&self, bad: &PluginVersion, reason: &str) -> PluginVersion {
        let first = self.remember_failed(bad, reason);
        let current = self.current();
        if current.version() == bad {
            if let Some(previous) = lock(&self.previous).take() {
                tracing::warn!(old = %bad, new = %previous.version(), reason = %reason, "plugin version rolled back on all shards");
                self.current.send_replace(previous);
                self.rollbacks.fetch_add(1, Ordering::Relaxed);
            }
        } else if first {
            self.rollbacks.fetch_add(1, Ordering::Relaxed);
        }
        self.current().version().clone()
    }

    /// Whether (and why) `version` failed before.
    pub fn failed_reason(&self, version: &PluginVersion) -> Option<String> {
        lock(&self.failed).get(version).cloned()
    }

    /// Records a failed version (keeping the first reason); true if it was not known
    /// to have failed.
    fn remember_failed(&self, version: &PluginVersion, reason: &str) -> bool {
        let mut failed = lock(&self.failed);
        if failed.contains_key(version) {
            return false;
        }
        failed.insert(version.clone(), reason.to_owned());
        true
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Reads a plugin file that is complete: a regular file within the size limit, open
/// for writing by no process, unchanged while it was read.
///
/// # Errors
/// A [`Refusal`] naming `path`.
pub async fn read_complete(path: &Path) -> Result<Vec<u8>, Refusal> {
    let name = path.display().to_string();
    let file_err = |reason: String| Refusal::File { path: name.clone(), reason };
    let before = tokio::fs::metadata(path).await.map_err(|e| file_err(io_reason(&e)))?;
    if before.is_dir() {
        return Err(file_err("it is a directory, not a .wasm file".into()));
    }
    if !before.is_file() {
        return Err(file_err("it is not a regular file".into()));
    }
    if before.len() > MAX_PLUGIN_BYTES {
        return Err(Refusal::TooLarge { path: name, size: before.len(), max: MAX_PLUGIN_BYTES });
    }
    let canonical = tokio::fs::canonicalize(path).await.map_err(|e| file_err(io_reason(&e)))?;
    let writers = tokio::task::spawn_blocking(move || open_for_writing(&canonical)).await.unwrap_or_default();
    if let Some(pid) = writers.first() {
        return Err(Refusal::BeingWritten { path: name, detail: format!("process {pid} has it open for writing") });
    }
    let bytes = tokio::fs::read(path).await.map_err(|e| file_err(io_reason(&e)))?;
    let after = tokio::fs::metadata(path).await.map_err(|e| file_err(io_reason(&e)))?;
    if after.len() != bytes.len() as u64 || after.modified().ok() != before.modified().ok() {
        return Err(Refusal::BeingWritten { path: name, detail: "it changed while it was read".into() });
    }
    Ok(bytes)
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        _ => e.to_string(),
    }
}

/// The ids of processes that have `file` open for writing (Linux: `/proc/*/fd` links
/// and the access mode in `/proc/*/fdinfo`). Empty where `/proc` is unavailable.
pub fn open_for_writing(file: &PathBuf) -> Vec<u32> {
    let mut pids = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else { return pids };
    for proc_entry in procs.flatten() {
        let Some(pid) = proc_entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(fds) = std::fs::read_dir(proc_entry.path().join("fd")) else { continue };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).ok().as_ref() != Some(file) {
                continue;
            }
            let info = proc_entry.path().join("fdinfo").join(fd.file_name());
            let flags = std::fs::read_to_string(info).ok().and_then(|text| {
                text.lines().find_map(|l| l.strip_prefix("flags:")).and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
            });
            // O_ACCMODE: 1 is O_WRONLY, 2 is O_RDWR.
            if flags.is_some_and(|f| matches!(f & 3, 1 | 2)) {
                pids.push(pid);
                break;
            }
        }
    }
    pids
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[tokio::test]
    async fn incomplete_or_wrong_files_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.wasm");
        let err = read_complete(&missing).await.unwrap_err();
        assert_eq!(err.to_string(), format!("refused {}: no such file", missing.display()));

        let err = read_complete(dir.path()).await.unwrap_err();
        assert!(err.to_string().contains("it is a directory"), "{err}");

        let big = dir.path().join("big.wasm");
        std::fs::File::create(&big).unwrap().set_len(MAX_PLUGIN_BYTES + 1).unwrap();
        assert!(
            matches!(read_complete(&big).await.unwrap_err(), Refusal::TooLarge { size, .. } if size == MAX_PLUGIN_BYTES + 1)
        );

        let partial = dir.path().join("partial.wasm");
        let mut writer = std::fs::File::create(&partial).unwrap();
        writer.write_all(b"\0asm").unwrap();
        let err = read_complete(&partial).await.unwrap_err();
        assert!(err.to_string().contains(&format!("process {} has it open for writing", std::process::id())), "{err}");
        drop(writer);
        assert_eq!(read_complete(&partial).await.unwrap(), b"\0asm");
    }
}
