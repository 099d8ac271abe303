//! `journals`: the chunker's view of the host, in memory.
//!
//! Published chunks are recorded (with the partition Gazette's ModuloMapping picks)
//! and fed to a [`NativeSummer`](crate::native_summer::NativeSummer), so `next-sum`
//! can answer with the sums a correct summer would publish. `next-sum` serves pushed
//! sums first, then computed ones (while auto-sum is on); when it has none it waits
//! out the timeout, as the real host would, since nothing else can produce one.

use streamsum_model::{modulo_partition, StreamId};

use crate::bindings::journals::Host;

use super::{is_json_object, TestHost, PARTITIONS};

impl Host for TestHost {
    fn partitions(&mut self) -> u32 {
        PARTITIONS
    }

    fn publish_chunk(&mut self, stream_id: Vec<u8>, chunk: Vec<u8>) -> Result<(), String> {
        let id = StreamId::from_bytes(&stream_id)
            .ok_or_else(|| format!("stream id must be 16 bytes, got {}", stream_id.len()))?;
        if !is_json_object(&chunk) {
            return Err(format!("chunk of stream {id} is not a JSON object"));
        }
        if let Err(e) = self.summer.apply(&chunk) {
            // A real summer would fail its shard; the chunker then sees no sum.
            eprintln!("streamsum-guest-test: native summer refused a chunk: {e}");
        }
        let partition = modulo_partition(&id, PARTITIONS).unwrap_or(0);
        self.chunks.push((partition, chunk));
        Ok(())
    }

    fn next_sum(&mut self, timeout_ms: u64) -> Result<Option<Vec<u8>>, String> {
        if let Some(sum) = self.pushed_sums.pop_front() {
            return Ok(Some(sum));
        }
        if self.auto_sum {
            if let Some(sum) = self.summer.next_sum() {
                return Ok(Some(sum));
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(timeout_ms));
        Ok(None)
    }

    fn read_file(&mut self, file: u32, offset: u64, max_len: u32) -> Result<Vec<u8>, String> {
        let content = self.files.get(file as usize).ok_or_else(|| {
            format!("no input file {file}: the test set {} with testing.set-files", self.files.len())
        })?;
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(content.len());
        let end = start.saturating_add(max_len as usize).min(content.len());
        Ok(content[start..end].to_vec())
    }
}
