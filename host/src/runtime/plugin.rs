//! Loading a summer plugin: bytes → compiled component → checked against the world.
//!
//! Everything that can be wrong with a .wasm file is found here, before any shard
//! touches it, with a message naming what is wrong: not wasm at all, a core module
//! instead of a component, a compile error, an import the host does not provide (e.g.
//! `wasi:filesystem/types`), or a missing `consumer` export. This is the check a hot
//! reload runs before anything changes (issue 7). No Gazette counterpart.

use std::path::Path;
use std::time::Duration;

use super::bindings::SummerPre;
use super::cache::{CacheOutcome, ComponentCache, PluginVersion};
use super::engine::PluginEngine;
use super::state::{summer_linker, HostState};

/// Why a plugin could not be loaded. Each message names the plugin.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("reading plugin {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The bytes do not start with the WebAssembly magic number.
    #[error("plugin {plugin} is not a WebAssembly file (no \\0asm header)")]
    NotWasm {
        /// The plugin's path or version.
        plugin: String,
    },
    /// A core module where a component is required.
    #[error("plugin {plugin} is a core WebAssembly module, not a component: build it for wasm32-wasip2 (or wrap it with `wasm-tools component new`)")]
    CoreModule {
        /// The plugin's path or version.
        plugin: String,
    },
    /// Wasmtime could not compile the component.
    #[error("plugin {plugin} could not be compiled: {message}")]
    Compile {
        /// The plugin's path or version.
        plugin: String,
        /// Wasmtime's reason.
        message: String,
    },
    /// The component does not fit the `summer` world: an import the host does not
    /// provide, or a missing or mistyped export.
    #[error("plugin {plugin} does not implement the `summer` world: {message}")]
    World {
        /// The plugin's path or version.
        plugin: String,
        /// Wasmtime's reason, naming the import or export.
        message: String,
    },
}

/// A summer plugin, compiled and linked, ready to instantiate for any shard.
#[derive(Clone)]
pub struct SummerPlugin {
    /// SHA-256 of the .wasm bytes.
    version: PluginVersion,
    /// The pre-linked component (imports resolved, exports located).
    pub(crate) pre: SummerPre<HostState>,
    /// Whether the component came from the disk cache.
    outcome: CacheOutcome,
    /// Time spent compiling or loading it from the cache.
    elapsed: Duration,
    /// The engine, held so that its epoch ticker runs as long as the plugin is used.
    pub(crate) engine: PluginEngine,
}

impl SummerPlugin {
    /// Reads, compiles (or loads from `cache`) and checks the plugin at `path`.
    ///
    /// # Errors
    /// A [`LoadError`] naming `path`.
    pub async fn load_file(cache: &ComponentCache, path: &Path) -> Result<Self, LoadError> {
        let name = path.display().to_string();
        let bytes = tokio::fs::read(path).await.map_err(|source| LoadError::Read {
            path: name.clone(),
            source,
        })?;
        let cache = cache.clone();
        tokio::task::spawn_blocking(move || Self::load_blocking(&cache, &bytes, &name))
            .await
            .map_err(|e| LoadError::Compile {
                plugin: path.display().to_string(),
                message: e.to_string(),
            })?
    }

    /// Compiles (or loads from `cache`) and checks the plugin `bytes`, called `name` in
    /// errors. Blocking: compilation can take a second or more.
    ///
    /// # Errors
    /// A [`LoadError`] naming `name`.
    pub fn load_blocking(cache: &ComponentCache, bytes: &[u8], name: &str) -> Result<Self, LoadError> {
        let plugin = name.to_owned();
        match bytes.get(..8) {
            Some([0, b'a', b's', b'm', _, _, 1, 0]) => {}
            Some([0, b'a', b's', b'm', _, _, 0, 0]) => return Err(LoadError::CoreModule { plugin }),
            _ => return Err(LoadError::NotWasm { plugin }),
        }
        let compiled = cache.load_blocking(bytes).map_err(|e| LoadError::Compile {
            plugin: plugin.clone(),
            message: chain(&e),
        })?;
        let world = |e: wasmtime::Error| LoadError::World {
            plugin: plugin.clone(),
            message: chain(&e),
        };
        let linker = summer_linker(cache.engine().engine()).map_err(world)?;
        let pre = linker.instantiate_pre(&compiled.component).map_err(world)?;
        let pre = SummerPre::new(pre).map_err(world)?;
        Ok(Self {
            version: compiled.version,
            pre,
            outcome: compiled.outcome,
            elapsed: compiled.elapsed,
            engine: cache.engine().clone(),
        })
    }

    /// The plugin's version.
    pub fn version(&self) -> &PluginVersion {
        &self.version
    }

    /// Whether it was loaded from the disk cache or compiled.
    pub fn cache_outcome(&self) -> CacheOutcome {
        self.outcome
    }

    /// Time spent compiling it or loading it from the cache.
    pub fn compile_time(&self) -> Duration {
        self.elapsed
    }
}

/// An error and its causes on one line.
fn chain(err: &wasmtime::Error) -> String {
    err.chain().map(|c| c.to_string()).collect::<Vec<_>>().join(": ")
}
