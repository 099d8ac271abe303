//! `bytes_summer.wasm`: a behaviourally different summer for the hot-swap tests
//! (`tests/swap_*.rs`, issue 7). It sums streams exactly as `guest_summer.wasm` does,
//! on the same stored [`SumState`] (so it continues the streams the old version
//! started), and in addition keeps, per stream, under key `<16 id bytes>/bytes`, the
//! sequence number of the first chunk it applied and the data bytes it applied since
//! (two little-endian u64s). After a swap the test checks that every stream's counter
//! covers exactly the chunks from the swap on: nothing skipped, nothing applied twice.
//! Test-only; built by `scripts/build-guests.sh`.

use std::cell::RefCell;
use std::collections::HashMap;

use streamsum_model::{parse_chunk, Message, StreamId, SumState, SUMS_JOURNAL};

wit_bindgen::generate!({ world: "summer", path: "../../../wit" });

use exports::streamsum::plugin::consumer::Guest;
use streamsum::plugin::types::Batch;
use streamsum::plugin::{publisher, store};

/// Suffix of the byte-counter key after the stream's 16 id bytes.
const BYTES_SUFFIX: &[u8] = b"/bytes";

/// A stream touched in the current transaction.
struct Entry {
    /// The summer's state (the same encoding as guest_summer's).
    state: SumState,
    /// First sequence number this version applied, and the data bytes it applied.
    counter: (u64, u64),
}

thread_local! {
    /// Streams touched in the current transaction, written by `finalize_txn`.
    static CACHE: RefCell<HashMap<StreamId, Entry>> = RefCell::new(HashMap::new());
}

fn counter_key(id: &StreamId) -> Vec<u8> {
    [id.as_bytes().as_slice(), BYTES_SUFFIX].concat()
}

fn load(id: StreamId) -> Result<Entry, String> {
    let state = match store::get(id.as_bytes()) {
        None => SumState::new(id),
        Some(v) => SumState::decode(id, &v).map_err(|e| e.to_string())?,
    };
    let counter = match store::get(&counter_key(&id)) {
        Some(v) if v.len() == 16 => {
            let (a, b) = v.split_at(8);
            (u64::from_le_bytes(a.try_into().unwrap()), u64::from_le_bytes(b.try_into().unwrap()))
        }
        _ => (state.seq_no + 1, 0),
    };
    Ok(Entry { state, counter })
}

/// The exported component.
struct Component;

impl Guest for Component {
    fn consume(batch: Batch) -> Result<(), String> {
        CACHE
            .with(|cache| {
                let mut cache = cache.borrow_mut();
                let mut sums = Vec::new();
                let mut frames: &[u8] = &batch.frames;
                let mut data = Vec::new();
                for env in &batch.envelopes {
                    let len = usize::try_from(env.end - env.begin).map_err(|e| e.to_string())?.min(frames.len());
                    let (frame, rest) = frames.split_at(len);
                    frames = rest;
                    let at = |what: String| format!("journal {} offset {}: {what}", batch.journal, env.begin);
                    let chunk = match parse_chunk(frame).map_err(|e| at(e.to_string()))? {
                        Message::Ack => continue,
                        Message::Chunk(chunk) => chunk,
                    };
                    chunk.decode_data(&mut data).map_err(|e| at(e.to_string()))?;
                    let entry = match cache.entry(chunk.id) {
                        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                        std::collections::hash_map::Entry::Vacant(v) => v.insert(load(chunk.id).map_err(at)?),
                    };
                    if entry.state.update(&chunk, &data).map_err(|e| at(e.to_string()))? {
                        sums.push(entry.state.sum().to_json());
                    }
                    entry.counter.1 += data.len() as u64;
                }
                for sum in sums {
                    publisher::publish(SUMS_JOURNAL, &sum)?;
                }
                Ok(())
            })
            .inspect_err(|_| CACHE.with(|c| c.borrow_mut().clear()))
    }

    fn finalize_txn() -> Result<(), String> {
        CACHE.with(|cache| {
            let mut value = Vec::new();
            for (id, entry) in cache.borrow_mut().drain() {
                value.clear();
                entry.state.encode(&mut value);
                store::put(id.as_bytes(), &value);
                let counter = [entry.counter.0.to_le_bytes(), entry.counter.1.to_le_bytes()].concat();
                store::put(&counter_key(&id), &counter);
            }
        });
        Ok(())
    }
}

export!(Component);
