//! One chunker worker: generate streams, publish their chunks, verify their sums.
//!
//! Mirrors `GenerateAndVerifyStreams` in Gazette's `examples/stream-sum/chunker.go`,
//! folded into one loop since a component is single-threaded: each step picks a
//! stream ([`schedule::pick`]), publishes its next chunk, and after a final chunk
//! stops emitting until that stream's Sum is verified ([`verify::await_sum`]), as
//! Gazette's verifier does. Files mode streams the configured files instead of
//! random data, one stream per file, interleaved the same way.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use streamsum_model::StreamId;

use crate::env::Env;
use crate::report;
use crate::rng::Rng;
use crate::schedule::{self, Pick, Quota};
use crate::stream::{Source, Stream};
use crate::streamsum::plugin::chunker_types::{ChunkerConfig, FileSum, Report};
use crate::verify::{self, Known};

/// How many verified stream ids a worker remembers to detect duplicated sums
/// (bounded so that a worker running forever does not grow without limit).
pub const VERIFIED_MEMORY: usize = 65_536;

/// Runs a worker to completion.
///
/// # Errors
/// An invalid configuration, a host error (publishing, reading sums or files), or a
/// failed verification; see [`verify::await_sum`].
pub fn run(env: &mut impl Env, rng: &mut Rng, config: &ChunkerConfig) -> Result<Report, String> {
    if config.chunk_size == 0 {
        return Err("chunk-size must be at least 1 byte".into());
    }
    let files_mode = !config.files.is_empty();
    let mut quota = if files_mode { Quota::Left(config.files.len() as u64) } else { Quota::from_setting(config.streams) };
    let sla = Duration::from_millis(config.sla_ms);
    let started_at = env.now();

    let mut open: Vec<Stream> = Vec::new();
    let mut verified = Verified::default();
    let mut file_sums: Vec<Option<String>> = vec![None; config.files.len()];
    let mut started: u32 = 0;
    let (mut chunks, mut bytes) = (0u64, 0u64);
    let mut latencies_us = Vec::new();
    let (mut data, mut out) = (Vec::new(), Vec::new());

    loop {
        let i = match schedule::pick(open.len(), &mut quota, rng) {
            Pick::Done => break,
            Pick::Open(i) => i,
            Pick::New => {
                let id = env.new_stream_id()?;
                let source = match config.files.get(started as usize) {
                    Some(file) => Source::File { index: started, path: file.path.clone(), offset: 0, size: file.size },
                    None => Source::Random { left: config.chunks },
                };
                started += 1;
                open.push(Stream::new(id, source));
                open.len() - 1
            }
        };
        let stream = &mut open[i];
        let emitted = stream.next_chunk(env, rng, config.chunk_size, &mut data, &mut out)?;
        env.publish_chunk(&stream.id, &out)
            .map_err(|e| format!("publishing chunk {} of stream {}: {e}", emitted.seq_no, stream.id))?;
        chunks += 1;
        bytes += emitted.data_len as u64;
        if !emitted.is_final {
            continue;
        }
        let done = open.swap_remove(i);
        let expected = done.expected_sum();
        let latency = verify::await_sum(env, &expected, sla, |id| {
            if verified.contains(id) {
                Known::Verified
            } else if open.iter().any(|s| s.id == *id) {
                Known::Open
            } else {
                Known::Foreign
            }
        })?;
        verified.insert(expected.id);
        latencies_us.push(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
        if let Source::File { index, .. } = done.source {
            file_sums[index as usize] = Some(expected.sha1_hex());
        }
    }

    let (p50_us, p99_us, max_us) = report::summary(&latencies_us);
    let files = config
        .files
        .iter()
        .zip(file_sums)
        .map(|(f, sha1)| FileSum { path: f.path.clone(), sha1: sha1.unwrap_or_default() })
        .collect();
    Ok(Report {
        streams: latencies_us.len() as u64,
        chunks,
        bytes,
        elapsed_us: u64::try_from(env.now().saturating_sub(started_at).as_micros()).unwrap_or(u64::MAX),
        latencies_us,
        p50_us,
        p99_us,
        max_us,
        files,
    })
}

/// The most recent [`VERIFIED_MEMORY`] verified stream ids.
#[derive(Default)]
struct Verified {
    /// Membership.
    set: HashSet<StreamId>,
    /// Insertion order, to forget the oldest.
    order: VecDeque<StreamId>,
}

impl Verified {
    fn contains(&self, id: &StreamId) -> bool {
        self.set.contains(id)
    }

    fn insert(&mut self, id: StreamId) {
        if self.order.len() == VERIFIED_MEMORY {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        self.set.insert(id);
        self.order.push_back(id);
    }
}
