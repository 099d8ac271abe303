//! A running SHA-1 that can be serialized mid-stream and resumed later.
//!
//! A summer sees a stream's chunks across many transactions (and possibly across
//! processes), so the hash state must live in the store, not in guest memory.
//! `sha1::Sha1` cannot be serialized, so this keeps the parts of the state itself —
//! the five chaining words, the total length and the sub-block tail — and uses the
//! `sha1` crate only for its block function (`compress`). Padding is applied on
//! [`RunningSha1::finalize`], which does not consume the state.

use sha1::digest::generic_array::GenericArray;

/// SHA-1's block size in bytes.
const BLOCK: usize = 64;
/// SHA-1's initial chaining value (FIPS 180-4 §5.3.1).
const INIT: [u32; 5] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0];

/// A resumable SHA-1 computation. Two states are equal when they would hash any
/// further input to the same digest (bytes of `tail` past `tail_len` are ignored).
#[derive(Clone, Debug)]
pub struct RunningSha1 {
    /// The chaining value after every complete block hashed so far.
    h: [u32; 5],
    /// Total bytes fed in, tail included (SHA-1 pads with the length in bits).
    len: u64,
    /// Bytes of the incomplete last block; only `tail[..tail_len]` is meaningful.
    tail: [u8; BLOCK],
    /// How many bytes of `tail` are in use (always `< 64`).
    tail_len: u8,
}

impl PartialEq for RunningSha1 {
    fn eq(&self, other: &Self) -> bool {
        let used = usize::from(self.tail_len);
        self.h == other.h
            && self.len == other.len
            && self.tail_len == other.tail_len
            && self.tail[..used] == other.tail[..used]
    }
}

impl Eq for RunningSha1 {}

impl Default for RunningSha1 {
    fn default() -> Self {
        Self::new()
    }
}

impl RunningSha1 {
    /// Largest size of [`RunningSha1::encode`]'s output.
    pub const MAX_ENCODED_LEN: usize = 20 + 8 + 1 + BLOCK - 1;

    /// The state of an empty input.
    pub fn new() -> Self {
        RunningSha1 { h: INIT, len: 0, tail: [0; BLOCK], tail_len: 0 }
    }

    /// Total bytes hashed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing has been hashed yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Feeds `data` into the hash.
    pub fn update(&mut self, mut data: &[u8]) {
        self.len = self.len.wrapping_add(data.len() as u64);
        let used = usize::from(self.tail_len);
        if used > 0 {
            let take = (BLOCK - used).min(data.len());
            self.tail[used..used + take].copy_from_slice(&data[..take]);
            data = &data[take..];
            if used + take < BLOCK {
                self.tail_len = (used + take) as u8;
                return;
            }
            sha1::compress(&mut self.h, &[*GenericArray::from_slice(&self.tail)]);
            self.tail_len = 0;
        }
        let mut blocks = data.chunks_exact(BLOCK);
        for block in &mut blocks {
            sha1::compress(&mut self.h, &[*GenericArray::from_slice(block)]);
        }
        let rest = blocks.remainder();
        self.tail[..rest.len()].copy_from_slice(rest);
        self.tail_len = rest.len() as u8;
    }

    /// The SHA-1 digest of everything fed in so far. The state is unchanged, so
    /// more data may follow.
    pub fn finalize(&self) -> [u8; 20] {
        let mut h = self.h;
        let used = usize::from(self.tail_len);
        let mut block = [0u8; BLOCK];
        block[..used].copy_from_slice(&self.tail[..used]);
        block[used] = 0x80;
        if used >= BLOCK - 8 {
            sha1::compress(&mut h, &[*GenericArray::from_slice(&block)]);
            block = [0u8; BLOCK];
        }
        block[BLOCK - 8..].copy_from_slice(&self.len.wrapping_mul(8).to_be_bytes());
        sha1::compress(&mut h, &[*GenericArray::from_slice(&block)]);
        let mut out = [0u8; 20];
        for (o, word) in out.chunks_exact_mut(4).zip(h) {
            o.copy_from_slice(&word.to_be_bytes());
        }
        out
    }

    /// Appends the state: `h` (5 × u32 LE), `len` (u64 LE), `tail_len` (u8), tail.
    pub fn encode(&self, out: &mut Vec<u8>) {
        for word in self.h {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(&self.len.to_le_bytes());
        out.push(self.tail_len);
        out.extend_from_slice(&self.tail[..usize::from(self.tail_len)]);
    }

    /// Reads a state written by [`RunningSha1::encode`] from the front of `bytes`;
    /// returns it with the number of bytes used, or a reason it is malformed.
    pub fn decode(bytes: &[u8]) -> Result<(Self, usize), &'static str> {
        let fixed = bytes.get(..29).ok_or("truncated SHA-1 state")?;
        let mut h = [0u32; 5];
        for (word, le) in h.iter_mut().zip(fixed.chunks_exact(4)) {
            *word = u32::from_le_bytes([le[0], le[1], le[2], le[3]]);
        }
        let mut len_le = [0u8; 8];
        len_le.copy_from_slice(&fixed[20..28]);
        let len = u64::from_le_bytes(len_le);
        let tail_len = fixed[28];
        if usize::from(tail_len) >= BLOCK || u64::from(tail_len) != len % BLOCK as u64 {
            return Err("SHA-1 tail length does not match the total length");
        }
        let used = 29 + usize::from(tail_len);
        let tail_bytes = bytes.get(29..used).ok_or("truncated SHA-1 tail")?;
        let mut tail = [0u8; BLOCK];
        tail[..tail_bytes.len()].copy_from_slice(tail_bytes);
        Ok((RunningSha1 { h, len, tail, tail_len }, used))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha1::{Digest, Sha1};

    fn reference(data: &[u8]) -> [u8; 20] {
        Sha1::digest(data).into()
    }

    fn sample(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i.wrapping_mul(31) ^ (i >> 3)) as u8).collect()
    }

    #[test]
    fn known_vectors() {
        let hex = |d: [u8; 20]| crate::hex::to_string(&d);
        assert_eq!(hex(RunningSha1::new().finalize()), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        let mut abc = RunningSha1::new();
        abc.update(b"abc");
        assert_eq!(hex(abc.finalize()), "a9993e364706816aba3e25717850c26c9cd0d89d");
        let mut horse = RunningSha1::new();
        horse.update(b"battery");
        horse.update(b" horse");
        assert_eq!(horse.finalize(), reference(b"battery horse"));
    }

    #[test]
    fn matches_sha1_crate_on_every_length_and_split_point() {
        for n in 0..=200 {
            let data = sample(n);
            for split in 0..=n {
                let mut s = RunningSha1::new();
                s.update(&data[..split]);
                s.update(&data[split..]);
                assert_eq!(s.finalize(), reference(&data), "len {n} split {split}");
                assert_eq!(s.len(), n as u64);
            }
        }
    }

    #[test]
    fn matches_sha1_crate_across_encode_decode_with_many_chunk_sizes() {
        let data = sample(5000);
        for step in [1usize, 3, 32, 55, 63, 64, 65, 127, 1000] {
            let mut s = RunningSha1::new();
            for piece in data.chunks(step) {
                let mut buf = Vec::new();
                s.encode(&mut buf);
                let (back, used) = RunningSha1::decode(&buf).unwrap();
                assert_eq!(used, buf.len());
                assert_eq!(back, s);
                s = back;
                s.update(piece);
            }
            assert_eq!(s.finalize(), reference(&data), "step {step}");
        }
    }

    #[test]
    fn decode_rejects_malformed_states() {
        let mut s = RunningSha1::new();
        s.update(b"hello");
        let mut buf = Vec::new();
        s.encode(&mut buf);
        assert!(buf.len() <= RunningSha1::MAX_ENCODED_LEN);
        for cut in 0..buf.len() {
            assert!(RunningSha1::decode(&buf[..cut]).is_err(), "cut {cut}");
        }
        let mut wrong_tail = buf.clone();
        wrong_tail[28] = 4;
        assert!(RunningSha1::decode(&wrong_tail).is_err());
        let mut huge_tail = buf;
        huge_tail[28] = 200;
        assert!(RunningSha1::decode(&huge_tail).is_err());
    }
}
