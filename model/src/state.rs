//! The per-stream state a summer keeps: `{id, seq_no, running SHA-1, ended}`.
//!
//! Gazette's `Sum.Update` (`examples/stream-sum/stream_sum.go`): a chunk must carry
//! the state's id and `seq_no == previous + 1`; an empty chunk ends the stream. One
//! deliberate addition: once a stream ended, any further chunk is refused, so a
//! stream's final sum can be published at most once.
//!
//! Store encoding (the value under the raw 16-byte id key), versioned so a later
//! build can change it: `version (1) | flags (1) | id (16) | seq_no (u64 LE) |
//! SHA-1 state` ([`RunningSha1::encode`]), at most 118 bytes. Flag bit 0 = ended.
//! The id is repeated in the value (as Gazette's JSON Sum value carries it) so that
//! a value filed under the wrong key is caught: chunks of the key's stream then fail
//! with [`UpdateError::WrongId`] instead of silently extending another stream.

use crate::{ChunkRef, DecodeError, RunningSha1, Sum, StreamId, UpdateError};

/// Current store encoding version.
const VERSION: u8 = 1;
/// Flag bit: the stream has ended.
const FLAG_ENDED: u8 = 1;

/// The running state of one stream.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SumState {
    /// The stream.
    pub id: StreamId,
    /// Sequence number of the last chunk applied (0 before the first).
    pub seq_no: u64,
    /// SHA-1 of the data applied so far.
    pub sha1: RunningSha1,
    /// Whether the final (empty) chunk was applied.
    pub ended: bool,
}

impl SumState {
    /// Largest size of [`SumState::encode`]'s output.
    pub const MAX_ENCODED_LEN: usize = 2 + 16 + 8 + RunningSha1::MAX_ENCODED_LEN;

    /// The state of a stream no chunk was applied to yet.
    pub fn new(id: StreamId) -> Self {
        SumState { id, seq_no: 0, sha1: RunningSha1::new(), ended: false }
    }

    /// Applies a chunk whose decoded data is `data`; returns whether it ended the
    /// stream (empty data). On error the state is unchanged.
    ///
    /// # Errors
    /// [`UpdateError`] for a chunk of another stream, a sequence number other than
    /// the previous plus one, or any chunk after the stream ended.
    pub fn update(&mut self, chunk: &ChunkRef<'_>, data: &[u8]) -> Result<bool, UpdateError> {
        if chunk.id != self.id {
            return Err(UpdateError::WrongId { expected: self.id, got: chunk.id });
        }
        if self.ended {
            return Err(UpdateError::AfterEnd { id: self.id, ended_at: self.seq_no, got: chunk.seq_no });
        }
        if Some(chunk.seq_no) != self.seq_no.checked_add(1) {
            return Err(UpdateError::OutOfOrder { id: self.id, last: self.seq_no, got: chunk.seq_no });
        }
        self.seq_no = chunk.seq_no;
        self.sha1.update(data);
        self.ended = data.is_empty();
        Ok(self.ended)
    }

    /// The stream's sum so far (its final sum once it ended).
    pub fn sum(&self) -> Sum {
        Sum { id: self.id, seq_no: self.seq_no, sha1: self.sha1.finalize() }
    }

    /// Appends the store encoding of this state.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(VERSION);
        out.push(if self.ended { FLAG_ENDED } else { 0 });
        out.extend_from_slice(self.id.as_bytes());
        out.extend_from_slice(&self.seq_no.to_le_bytes());
        self.sha1.encode(out);
    }

    /// Decodes the value stored under `id`'s key. The state keeps the id stored in
    /// the value, so a value filed under the wrong key is refused by the next
    /// [`SumState::update`].
    ///
    /// # Errors
    /// [`DecodeError`] (naming `id`) for an unknown version, unknown flags, or a
    /// truncated or inconsistent value.
    pub fn decode(id: StreamId, value: &[u8]) -> Result<Self, DecodeError> {
        let corrupt = |reason| DecodeError::Corrupt { id, reason };
        let (&version, rest) = value.split_first().ok_or(corrupt("empty value"))?;
        if version != VERSION {
            return Err(DecodeError::Version { id, version });
        }
        let (&flags, rest) = rest.split_first().ok_or(corrupt("truncated flags"))?;
        if flags & !FLAG_ENDED != 0 {
            return Err(corrupt("unknown flag bits"));
        }
        let stored_id = rest.get(..16).and_then(StreamId::from_bytes).ok_or(corrupt("truncated id"))?;
        let seq = rest.get(16..24).ok_or(corrupt("truncated seq_no"))?;
        let mut seq_le = [0u8; 8];
        seq_le.copy_from_slice(seq);
        let (sha1, used) = RunningSha1::decode(&rest[24..]).map_err(corrupt)?;
        if used != rest.len() - 24 {
            return Err(corrupt("trailing bytes"));
        }
        Ok(SumState { id: stored_id, seq_no: u64::from_le_bytes(seq_le), sha1, ended: flags & FLAG_ENDED != 0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{encode_chunk, parse_chunk, Message};
    use sha1::{Digest, Sha1};

    const A: StreamId = StreamId([0xaa; 16]);
    const B: StreamId = StreamId([0xbb; 16]);

    /// Applies chunk (id, seq_no, data) through the wire form, like a summer does.
    fn apply(state: &mut SumState, id: StreamId, seq_no: u64, data: &[u8]) -> Result<bool, UpdateError> {
        let mut frame = Vec::new();
        encode_chunk(&id, seq_no, data, &mut frame);
        let Ok(Message::Chunk(chunk)) = parse_chunk(&frame) else { panic!("bad test frame") };
        let mut buf = Vec::new();
        chunk.decode_data(&mut buf).unwrap();
        state.update(&chunk, &buf)
    }

    #[test]
    fn battery_horse_in_one_or_two_chunks_gives_the_sha1_of_the_concatenation() {
        let want: [u8; 20] = Sha1::digest(b"battery horse").into();
        let mut one = SumState::new(A);
        assert_eq!(apply(&mut one, A, 1, b"battery horse"), Ok(false));
        assert_eq!(apply(&mut one, A, 2, b""), Ok(true));
        assert_eq!(one.sum(), Sum { id: A, seq_no: 2, sha1: want });

        let mut two = SumState::new(A);
        assert_eq!(apply(&mut two, A, 1, b"battery"), Ok(false));
        assert_eq!(apply(&mut two, A, 2, b" horse"), Ok(false));
        assert_eq!(apply(&mut two, A, 3, b""), Ok(true));
        assert_eq!(two.sum().sha1, want);
        assert_eq!(two.sum().sha1_hex(), "4b177dc1bb6960eddba2d012b9e29ef727b1d593");
    }

    #[test]
    fn refuses_wrong_id_duplicates_gaps_and_chunks_after_the_end() {
        let mut s = SumState::new(A);
        assert_eq!(apply(&mut s, B, 1, b"x"), Err(UpdateError::WrongId { expected: A, got: B }));
        assert_eq!(apply(&mut s, A, 2, b"x"), Err(UpdateError::OutOfOrder { id: A, last: 0, got: 2 }));
        assert_eq!(apply(&mut s, A, 0, b"x"), Err(UpdateError::OutOfOrder { id: A, last: 0, got: 0 }));
        assert_eq!(apply(&mut s, A, 1, b"x"), Ok(false));
        let before = s.clone();
        assert_eq!(apply(&mut s, A, 1, b"x"), Err(UpdateError::OutOfOrder { id: A, last: 1, got: 1 }));
        assert_eq!(s, before, "a refused chunk leaves the state unchanged");
        assert_eq!(apply(&mut s, A, 2, b""), Ok(true));
        assert_eq!(apply(&mut s, A, 3, b"y"), Err(UpdateError::AfterEnd { id: A, ended_at: 2, got: 3 }));
        let msg = UpdateError::OutOfOrder { id: A, last: 4, got: 7 }.to_string();
        assert_eq!(msg, format!("stream {A}: chunk seq_no 7 is out of order: last applied seq_no is 4, expected 5"));
    }

    #[test]
    fn store_encoding_round_trips_and_resumes() {
        let mut s = SumState::new(A);
        let mut data = Vec::new();
        for seq in 1..=20u64 {
            let piece: Vec<u8> = (0..seq * 7).map(|i| (i * seq) as u8).collect();
            data.extend_from_slice(&piece);
            apply(&mut s, A, seq, &piece).unwrap();
            let mut value = Vec::new();
            s.encode(&mut value);
            assert!(value.len() <= SumState::MAX_ENCODED_LEN);
            s = SumState::decode(A, &value).unwrap();
        }
        apply(&mut s, A, 21, b"").unwrap();
        let mut value = Vec::new();
        s.encode(&mut value);
        let back = SumState::decode(A, &value).unwrap();
        assert!(back.ended);
        assert_eq!(back.sum().sha1, <[u8; 20]>::from(Sha1::digest(&data)));
    }

    #[test]
    fn a_value_filed_under_another_streams_key_refuses_that_streams_chunks() {
        let mut a = SumState::new(A);
        apply(&mut a, A, 1, b"a").unwrap();
        let mut value = Vec::new();
        a.encode(&mut value);
        let mut misfiled = SumState::decode(B, &value).unwrap();
        assert_eq!(apply(&mut misfiled, B, 2, b"b"), Err(UpdateError::WrongId { expected: A, got: B }));
    }

    #[test]
    fn decode_rejects_corrupt_values() {
        let mut value = Vec::new();
        SumState::new(A).encode(&mut value);
        assert_eq!(SumState::decode(A, &[]), Err(DecodeError::Corrupt { id: A, reason: "empty value" }));
        assert_eq!(SumState::decode(A, &[9]), Err(DecodeError::Version { id: A, version: 9 }));
        for cut in 1..value.len() {
            assert!(SumState::decode(A, &value[..cut]).is_err(), "cut {cut}");
        }
        let mut trailing = value.clone();
        trailing.push(0);
        assert!(SumState::decode(A, &trailing).is_err());
        let mut flags = value;
        flags[1] = 0x80;
        assert!(SumState::decode(A, &flags).is_err());
    }
}
