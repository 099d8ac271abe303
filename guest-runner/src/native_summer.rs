//! A native summer for the runner: the sums a correct Summer would publish for the
//! chunks a chunker guest published, computed with the shared model.
//!
//! Same rules as `guest-summer` (and Gazette's `Sum.Update`), without a store or
//! transactions: every chunk applies at once and a stream's Sum is ready as soon as
//! its final chunk is published.

use std::collections::{HashMap, VecDeque};

use streamsum_model::{parse_chunk, Message, StreamId, SumState};

/// Per-stream states and the sums ready to be read.
#[derive(Default)]
pub struct NativeSummer {
    /// Running state of every stream seen.
    states: HashMap<StreamId, SumState>,
    /// JSON of completed streams' sums, in completion order.
    ready: VecDeque<Vec<u8>>,
    /// Decode buffer for chunk data.
    data: Vec<u8>,
}

impl NativeSummer {
    /// Applies one published chunk.
    ///
    /// # Errors
    /// The chunk is malformed or out of order for its stream.
    pub fn apply(&mut self, chunk: &[u8]) -> Result<(), String> {
        let Message::Chunk(chunk) = parse_chunk(chunk).map_err(|e| e.to_string())? else {
            return Ok(());
        };
        chunk.decode_data(&mut self.data).map_err(|e| e.to_string())?;
        let state = self.states.entry(chunk.id).or_insert_with(|| SumState::new(chunk.id));
        if state.update(&chunk, &self.data).map_err(|e| e.to_string())? {
            self.ready.push_back(state.sum().to_json());
        }
        Ok(())
    }

    /// The next completed stream's Sum JSON, if any.
    pub fn next_sum(&mut self) -> Option<Vec<u8>> {
        self.ready.pop_front()
    }
}
