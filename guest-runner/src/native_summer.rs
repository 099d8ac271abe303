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

#[cfg(test)]
mod tests {
    use super::*;
    use streamsum_model::{encode_chunk, Sum};

    fn chunk(id: StreamId, seq_no: u64, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_chunk(&id, seq_no, data, &mut out);
        out
    }

    #[test]
    fn a_sum_is_ready_once_the_final_chunk_is_published() {
        let (a, b) = (StreamId([1; 16]), StreamId([2; 16]));
        let mut s = NativeSummer::default();
        s.apply(&chunk(a, 1, b"battery")).unwrap();
        s.apply(&chunk(b, 1, b"other")).unwrap();
        s.apply(&chunk(a, 2, b" horse")).unwrap();
        assert_eq!(s.next_sum(), None);
        s.apply(&chunk(a, 3, b"")).unwrap();
        let sum = Sum::parse(&s.next_sum().unwrap()).unwrap();
        assert_eq!((sum.id, sum.seq_no, sum.sha1_hex().as_str()), (a, 3, "4b177dc1bb6960eddba2d012b9e29ef727b1d593"));
        assert_eq!(s.next_sum(), None);
    }

    #[test]
    fn out_of_order_and_malformed_chunks_are_refused() {
        let a = StreamId([1; 16]);
        let mut s = NativeSummer::default();
        assert!(s.apply(&chunk(a, 2, b"x")).unwrap_err().contains("out of order"));
        assert!(s.apply(b"nope").unwrap_err().contains("invalid chunk JSON"));
        assert!(s.apply(b"{\"UUID\":\"x\"}").is_ok(), "acknowledgements are skipped");
    }
}
