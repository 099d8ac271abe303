//! The chunker job's flags (`streamsum-host chunker …`), each with its environment
//! variable as Gazette's chunker has (`CHUNKER_STREAMS`, …).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

/// Arguments of `streamsum-host chunker`.
#[derive(Debug, Args)]
pub struct ChunkerArgs {
    /// The chunker plugin: a wasm32-wasip2 component implementing the `chunker` world.
    #[arg(long, env = "CHUNKER_APP")]
    pub app: PathBuf,
    /// The broker to publish chunks to and read sums from.
    #[arg(long, env = "CHUNKER_BROKER", default_value = "http://127.0.0.1:8080")]
    pub broker: String,
    /// Streams per worker; negative runs forever. Ignored with --files.
    #[arg(long, env = "CHUNKER_STREAMS", default_value_t = -1, allow_negative_numbers = true)]
    pub streams: i64,
    /// Data chunks per stream (each stream also ends with one empty chunk).
    #[arg(long, env = "CHUNKER_CHUNKS", default_value_t = 100)]
    pub chunks: u32,
    /// Workers, each a guest instance with its own streams (or its share of --files).
    #[arg(long, env = "CHUNKER_WORKERS", default_value_t = 4)]
    pub workers: u32,
    /// Bytes of data per chunk [default: 32 random bytes, or 65536 per read with --files].
    #[arg(long, env = "CHUNKER_CHUNK_SIZE")]
    pub chunk_size: Option<u32>,
    /// How long a sum may take after its stream's final chunk (e.g. 40s, 500ms).
    #[arg(long, env = "CHUNKER_SLA", default_value = "40s", value_parser = crate::flags::parse_duration)]
    pub sla: Duration,
    /// Stream these files instead of random data (one stream each) and print their
    /// sums as `sha1sum` does.
    #[arg(long, env = "CHUNKER_FILES", num_args = 1..)]
    pub files: Vec<PathBuf>,
    /// Leave this chunk partition out of the mapping (repeatable): e.g. one whose shard
    /// runs a test or canary plugin (`--app-for`).
    #[arg(long, env = "CHUNKER_EXCLUDE_PARTITION", value_delimiter = ',')]
    pub exclude_partition: Vec<String>,
    /// Most chunks published per second by all workers together, spread evenly
    /// (e.g. 5000 or 2.5) [default: unlimited].
    #[arg(long, env = "CHUNKER_RATE", value_parser = crate::chunker::pace::parse_rate, allow_negative_numbers = true)]
    pub rate: Option<f64>,
    /// Where precompiled plugins are cached.
    #[arg(long, env = "CHUNKER_CACHE_DIR", default_value = "streamsum-data/plugin-cache")]
    pub cache_dir: PathBuf,
}
