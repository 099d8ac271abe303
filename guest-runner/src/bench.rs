//! `streamsum-guest-test --bench-summer <guest_summer.wasm> [streams] [chunks]`:
//! pushes generated chunks through a built summer component and through the same
//! logic compiled natively, checks both publish the same sums, and prints one JSON
//! line of throughput figures.
//!
//! It is a smoke test of the shipped `.wasm` (it instantiates against the `summer`
//! world and must produce correct sums) and the guest-side half of DESIGN §8's
//! measurement: packed batches of 256 messages, a `finalize-txn` every 4096, no
//! epoch interruption, in-memory store. The native side does the same work (cache,
//! store reads on a miss, a flush per transaction) so the ratio is the cost of
//! running it as a component. The host's own benchmark measures the rest.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Instant;

use streamsum_model::{encode_chunk, parse_chunk, Message, StreamId, SumState};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::error::Context;
use wasmtime::{Config, Engine, Result, Store};
use wasmtime_wasi::WasiCtx;

use crate::bindings::summer::streamsum::plugin::types::{Batch, Envelope};
use crate::bindings::summer::SummerTests;
use crate::bindings::{log, publisher, store, testing};
use crate::host::TestHost;

/// Messages per `consume` call.
const BATCH: usize = 256;
/// Batches per transaction (one `finalize-txn` each).
const BATCHES_PER_TXN: usize = 16;
/// Bytes of data per chunk, as Gazette's chunker sends.
const CHUNK_SIZE: usize = 32;

/// Runs the benchmark; returns the process exit status.
///
/// # Errors
/// The component cannot be loaded or instantiated, a call traps or fails, or the
/// sums differ from the native computation.
pub fn bench_summer(wasm: &Path, streams: usize, chunks: usize) -> Result<u8> {
    let frames = generate(streams, chunks);
    let total = frames.len();

    let started = Instant::now();
    let native = native_sums(&frames);
    let native_s = started.elapsed().as_secs_f64();

    let engine = Engine::new(&Config::new())?;
    let started = Instant::now();
    let component = Component::from_file(&engine, wasm).with_context(|| format!("loading {}", wasm.display()))?;
    let compile_ms = started.elapsed().as_millis();
    let mut linker: Linker<TestHost> = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    log::add_to_linker::<_, HasSelf<TestHost>>(&mut linker, |h| h)?;
    store::add_to_linker::<_, HasSelf<TestHost>>(&mut linker, |h| h)?;
    publisher::add_to_linker::<_, HasSelf<TestHost>>(&mut linker, |h| h)?;
    let mut store = Store::new(&engine, TestHost::new(WasiCtx::builder().inherit_stderr().build()));
    let summer = SummerTests::instantiate(&mut store, &component, &linker)
        .with_context(|| format!("instantiating {} as a summer", wasm.display()))?;
    let consumer = summer.streamsum_plugin_consumer();

    let batches: Vec<Batch> = frames.chunks(BATCH).enumerate().map(|(i, b)| pack(i, b)).collect();
    let started = Instant::now();
    for (i, batch) in batches.iter().enumerate() {
        consumer.call_consume(&mut store, batch)?.map_err(wasmtime::Error::msg)?;
        if (i + 1) % BATCHES_PER_TXN == 0 || i + 1 == batches.len() {
            consumer.call_finalize_txn(&mut store)?.map_err(wasmtime::Error::msg)?;
        }
    }
    let wasm_s = started.elapsed().as_secs_f64();

    let published: Vec<Vec<u8>> = testing::Host::take_published(store.data_mut()).into_iter().map(|(_, m)| m).collect();
    if published != native {
        wasmtime::bail!("the component published {} sums that differ from the native summer's {}", published.len(), native.len());
    }
    println!(
        "{{\"streams\":{streams},\"chunks_per_stream\":{},\"messages\":{total},\"sums\":{},\"compile_ms\":{compile_ms},\"native_msgs_per_s\":{:.0},\"wasm_msgs_per_s\":{:.0},\"wasm_over_native\":{:.2}}}",
        chunks + 1,
        native.len(),
        total as f64 / native_s,
        total as f64 / wasm_s,
        wasm_s / native_s,
    );
    Ok(0)
}

/// Frames (UUID-stamped JSON lines) of `streams` streams of `chunks` data chunks
/// plus a final chunk, interleaved round-robin.
fn generate(streams: usize, chunks: usize) -> Vec<Vec<u8>> {
    let ids: Vec<StreamId> = (0..streams)
        .map(|s| {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&(s as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).to_le_bytes());
            id[8..].copy_from_slice(&(s as u64).to_le_bytes());
            StreamId(id)
        })
        .collect();
    let mut frames = Vec::with_capacity(streams * (chunks + 1));
    let mut body = Vec::new();
    for seq in 1..=chunks + 1 {
        for (s, id) in ids.iter().enumerate() {
            let data: Vec<u8> = if seq <= chunks { (0..CHUNK_SIZE).map(|i| (i * 31 + seq * 7 + s) as u8).collect() } else { Vec::new() };
            body.clear();
            encode_chunk(id, seq as u64, &data, &mut body);
            let mut frame = b"{\"UUID\":\"a747c01e-2c29-11ea-8000-010203040506\",".to_vec();
            frame.extend_from_slice(&body[1..]);
            frame.push(b'\n');
            frames.push(frame);
        }
    }
    frames
}

/// The sums the native model publishes for `frames`, in order, doing the guest's
/// work natively: the same per-transaction cache over a key/value store (a
/// `BTreeMap`, like the runner's), loaded on a miss and flushed every
/// `BATCH * BATCHES_PER_TXN` messages.
fn native_sums(frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut kv: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut cache: HashMap<StreamId, SumState> = HashMap::new();
    let (mut data, mut value, mut sums) = (Vec::new(), Vec::new(), Vec::new());
    for txn in frames.chunks(BATCH * BATCHES_PER_TXN) {
        for frame in txn {
            let Ok(Message::Chunk(chunk)) = parse_chunk(frame) else { continue };
            if chunk.decode_data(&mut data).is_err() {
                continue;
            }
            let state = cache.entry(chunk.id).or_insert_with(|| match kv.get(&chunk.id.0[..]) {
                Some(v) => SumState::decode(chunk.id, v).unwrap_or_else(|_| SumState::new(chunk.id)),
                None => SumState::new(chunk.id),
            });
            if state.update(&chunk, &data) == Ok(true) {
                sums.push(state.sum().to_json());
            }
        }
        for (id, state) in cache.drain() {
            value.clear();
            state.encode(&mut value);
            kv.insert(id.0.to_vec(), value.clone());
        }
    }
    sums
}

/// Batch number `n` of `frames`, packed as the host sends it.
fn pack(n: usize, frames: &[Vec<u8>]) -> Batch {
    let mut begin = (n * BATCH * 150) as u64;
    let mut envelopes = Vec::with_capacity(frames.len());
    let mut packed = Vec::new();
    for f in frames {
        envelopes.push(Envelope { begin, end: begin + f.len() as u64 });
        begin += f.len() as u64;
        packed.extend_from_slice(f);
    }
    Batch { journal: "examples/stream-sum/chunks/part-000".into(), envelopes, frames: packed }
}
