//! Precompiled components, cached on disk so that a restart does not recompile.
//!
//! Compiling the summer with Cranelift takes on the order of a second; loading a
//! precompiled artifact takes milliseconds. An entry is keyed by the SHA-256 of the .wasm
//! bytes (which is also the plugin's [`PluginVersion`]) and by the engine's
//! compatibility hash (wasmtime version, target, configuration), so an upgraded or
//! reconfigured host never loads an artifact it did not produce. Each entry carries the
//! SHA-256 of its own payload: a truncated or corrupted entry is detected, ignored and
//! rewritten. Compilation and file I/O run on a blocking thread. No Gazette counterpart.

use std::hash::Hasher;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;

use super::engine::PluginEngine;

/// One version of a plugin: the lowercase hex SHA-256 of its .wasm bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PluginVersion(String);

impl PluginVersion {
    /// The version of the plugin whose .wasm file holds `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(hex(&Sha256::digest(bytes)))
    }

    /// The full 64-digit hex SHA-256.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 hex digits, for log lines.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }
}

impl std::fmt::Display for PluginVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether a component came from the disk cache or was compiled now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// A valid cache entry was loaded; nothing was compiled.
    Loaded,
    /// There was no valid entry: the component was compiled (and the entry written).
    Compiled,
}

/// A compiled component and how it was obtained.
#[derive(Clone)]
pub struct CompiledComponent {
    /// The component, ready to link and instantiate with the cache's engine.
    pub component: Component,
    /// The version (SHA-256 of the .wasm bytes).
    pub version: PluginVersion,
    /// Loaded from the cache, or compiled.
    pub outcome: CacheOutcome,
    /// Time spent compiling or loading.
    pub elapsed: Duration,
}

/// The on-disk cache of precompiled components of one engine.
#[derive(Clone)]
pub struct ComponentCache {
    /// The engine the artifacts are compiled for.
    engine: PluginEngine,
    /// The cache directory, e.g. `<data-dir>/plugin-cache`.
    dir: PathBuf,
    /// Hex SHA-256 of the engine's precompile compatibility hash.
    compat: String,
}

impl ComponentCache {
    /// A cache of `engine`'s artifacts in `dir` (created when first written).
    pub fn new(engine: PluginEngine, dir: impl Into<PathBuf>) -> Self {
        let mut hasher = Sha256Hasher(Sha256::new());
        std::hash::Hash::hash(&engine.engine().precompile_compatibility_hash(), &mut hasher);
        let compat = hex(&hasher.0.finalize());
        Self {
            engine,
            dir: dir.into(),
            compat,
        }
    }

    /// The engine of this cache.
    pub fn engine(&self) -> &PluginEngine {
        &self.engine
    }

    /// Where the artifact of `version` is (or would be) stored.
    pub fn entry_path(&self, version: &PluginVersion) -> PathBuf {
        self.dir
            .join(format!("{}-{}.cwasm", version.as_str(), &self.compat[..16]))
    }

    /// The component of the .wasm `bytes`: from the cache if a valid entry exists, else
    /// compiled on a blocking thread (and cached).
    ///
    /// # Errors
    /// The bytes are not a component wasmtime can compile; the message says why.
    pub async fn load(&self, bytes: Vec<u8>) -> wasmtime::Result<CompiledComponent> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.load_blocking(&bytes))
            .await
            .map_err(|e| wasmtime::format_err!("component compilation task failed: {e}"))?
    }

    /// As [`ComponentCache::load`], on the calling thread.
    pub fn load_blocking(&self, bytes: &[u8]) -> wasmtime::Result<CompiledComponent> {
        let started = Instant::now();
        let version = PluginVersion::of(bytes);
        let path = self.entry_path(&version);
        if let Some(component) = self.read_entry(&path) {
            let elapsed = started.elapsed();
            return Ok(CompiledComponent {
                component,
                version,
                outcome: CacheOutcome::Loaded,
                elapsed,
            });
        }
        let artifact = self.engine.engine().precompile_component(bytes)?;
        // SAFETY: `artifact` was produced just now by this very engine.
        let component = unsafe { Component::deserialize(self.engine.engine(), &artifact)? };
        if let Err(e) = write_entry(&path, &artifact) {
            tracing::warn!(path = %path.display(), error = %e, "cannot write the plugin cache; compiling again on the next start");
        }
        let elapsed = started.elapsed();
        Ok(CompiledComponent {
            component,
            version,
            outcome: CacheOutcome::Compiled,
            elapsed,
        })
    }

    /// The component in the entry at `path`, or `None` if it is missing, corrupted or
    /// rejected by wasmtime (each logged except missing).
    fn read_entry(&self, path: &Path) -> Option<Component> {
        let file = match std::fs::read(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "unreadable plugin cache entry; recompiling");
                return None;
            }
        };
        let Some(payload) = verified_payload(&file) else {
            tracing::warn!(path = %path.display(), "corrupted plugin cache entry (checksum mismatch); recompiling");
            return None;
        };
        // SAFETY: the payload was written by `write_entry` from `precompile_component`
        // of an engine with the same compatibility hash (part of the file name), into the
        // host's own data directory, and its SHA-256 checksum matches: it is an
        // unmodified artifact of this engine configuration.
        match unsafe { Component::deserialize(self.engine.engine(), payload) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "plugin cache entry rejected by wasmtime; recompiling");
                None
            }
        }
    }
}

/// Length of the checksum that starts every cache entry.
const CHECKSUM_LEN: usize = 32;

/// The artifact in a cache entry if its leading SHA-256 matches the rest.
fn verified_payload(file: &[u8]) -> Option<&[u8]> {
    if file.len() < CHECKSUM_LEN {
        return None;
    }
    let (sum, payload) = file.split_at(CHECKSUM_LEN);
    (Sha256::digest(payload).as_slice() == sum).then_some(payload)
}

/// Writes an entry atomically: checksum + artifact to a temporary file, then a rename.
fn write_entry(path: &Path, artifact: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    // Unique per process and per write, so concurrent loads of one plugin never write
    // into the same temporary file (the last rename wins; both contents are equal).
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp-{}-{n}", std::process::id()));
    let mut file = Vec::with_capacity(CHECKSUM_LEN + artifact.len());
    file.extend_from_slice(&Sha256::digest(artifact));
    file.extend_from_slice(artifact);
    std::fs::write(&tmp, &file)?;
    std::fs::rename(&tmp, path)
}

/// Lowercase hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Feeds a `Hash` value into SHA-256, for a digest that is stable across processes
/// (std's `DefaultHasher` makes no such promise).
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_is_the_sha256_of_the_bytes() {
        // sha256("abc"), FIPS 180-2 test vector.
        let v = PluginVersion::of(b"abc");
        assert_eq!(
            v.as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(v.short(), "ba7816bf8f01");
    }

    #[test]
    fn a_payload_is_accepted_only_with_its_checksum() {
        let mut file = Sha256::digest(b"artifact").to_vec();
        file.extend_from_slice(b"artifact");
        assert_eq!(verified_payload(&file), Some(&b"artifact"[..]));
        let last = file.len() - 1;
        file[last] ^= 1;
        assert_eq!(verified_payload(&file), None);
        assert_eq!(verified_payload(b"short"), None);
    }
}
