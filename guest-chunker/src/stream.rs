//! One stream being published: its id, the next sequence number, the running SHA-1
//! of what was sent, and where its data comes from.
//!
//! Mirrors the stream half of Gazette's `chunker.go`: data chunks numbered from 1,
//! then one empty chunk, after which the expected Sum (`SeqNo` = the final chunk's
//! number, SHA-1 of all data) is known. Random streams send `chunks` chunks of
//! `chunk_size` random bytes; file streams send the file as read through the host, in
//! reads of at most `chunk_size` bytes, and end when a read comes back empty (which
//! must happen exactly at the size the file had when the job started).

use streamsum_model::{encode_chunk, RunningSha1, StreamId, Sum};

use crate::env::Env;
use crate::rng::Rng;

/// Where a stream's data comes from.
#[derive(Debug)]
pub enum Source {
    /// Random data; this many data chunks are still to be sent.
    Random {
        /// Data chunks left before the final empty chunk.
        left: u32,
    },
    /// An input file of the configuration, read through `journals.read-file`.
    File {
        /// Index of the file in `chunker-config.files`.
        index: u32,
        /// Its path as configured, for error messages.
        path: String,
        /// Bytes of the file already sent.
        offset: u64,
        /// The file's size when the job started; reaching its end at another
        /// offset means it changed while being streamed.
        size: u64,
    },
}

/// A stream being published.
#[derive(Debug)]
pub struct Stream {
    /// The stream's id (16 random bytes).
    pub id: StreamId,
    /// Sequence number of the last chunk sent (0 before the first).
    seq_no: u64,
    /// SHA-1 of the data sent so far.
    sha1: RunningSha1,
    /// Where the data comes from.
    pub source: Source,
}

/// What [`Stream::next_chunk`] produced.
#[derive(Debug, PartialEq, Eq)]
pub struct Emitted {
    /// The chunk's sequence number.
    pub seq_no: u64,
    /// Bytes of data it carried (0 for the final chunk).
    pub data_len: usize,
    /// Whether it was the final (empty) chunk; the stream is then complete.
    pub is_final: bool,
}

impl Stream {
    /// A new stream with id `id` and data from `source`.
    pub fn new(id: StreamId, source: Source) -> Self {
        Stream { id, seq_no: 0, sha1: RunningSha1::new(), source }
    }

    /// Produces the stream's next chunk into `out` (JSON, cleared first), using
    /// `data` as scratch space.
    ///
    /// # Errors
    /// Reading an input file failed; the message names the file index and offset.
    pub fn next_chunk(
        &mut self,
        env: &mut impl Env,
        rng: &mut Rng,
        chunk_size: u32,
        data: &mut Vec<u8>,
        out: &mut Vec<u8>,
    ) -> Result<Emitted, String> {
        data.clear();
        match &mut self.source {
            Source::Random { left } if *left > 0 => {
                *left -= 1;
                data.resize(chunk_size as usize, 0);
                rng.fill(data);
            }
            Source::Random { .. } => {}
            Source::File { index, path, offset, size } => {
                *data = env
                    .read_file(*index, *offset, chunk_size)
                    .map_err(|e| format!("reading input file {path} at offset {offset}: {e}"))?;
                *offset += data.len() as u64;
                if data.is_empty() && *offset != *size {
                    return Err(format!(
                        "input file {path} ended at {offset} bytes but had {size} when the job started: it changed while being streamed"
                    ));
                }
            }
        }
        self.seq_no += 1;
        self.sha1.update(data);
        out.clear();
        encode_chunk(&self.id, self.seq_no, data, out);
        Ok(Emitted { seq_no: self.seq_no, data_len: data.len(), is_final: data.is_empty() })
    }

    /// The Sum a correct summer publishes once the final chunk was sent.
    pub fn expected_sum(&self) -> Sum {
        Sum { id: self.id, seq_no: self.seq_no, sha1: self.sha1.finalize() }
    }
}
