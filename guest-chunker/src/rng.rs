//! The chunker's pseudo-random generator: xoshiro256** seeded from WASI random.
//!
//! Stream ids come straight from `wasi:random` (they must not collide across
//! workers and processes), but chunk data and the interleaving choices only need to
//! be arbitrary, and a local generator avoids a host call per 8 bytes. A fixed seed
//! makes the generator's behaviour reproducible in tests.

/// xoshiro256** (Blackman and Vigna), seeded through SplitMix64.
pub struct Rng {
    /// The 256-bit state; never all zero.
    s: [u64; 4],
}

impl Rng {
    /// A generator whose sequence is determined by `seed`.
    pub fn from_seed(mut seed: u64) -> Self {
        let mut next = || {
            seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = seed;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng { s: [next(), next(), next(), next()] }
    }

    /// A generator seeded from the host's random source (`wasi:random`).
    ///
    /// # Errors
    /// The host refused to provide randomness.
    pub fn from_entropy() -> Result<Self, String> {
        let seed = getrandom::u64().map_err(|e| format!("reading wasi random: {e}"))?;
        Ok(Rng::from_seed(seed))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// A uniform index in `0..n` (`n > 0`; 0 when `n == 0`), by Lemire's
    /// multiply-shift (bias below 2^-64 · n, irrelevant here).
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for c in &mut chunks {
            c.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        let last = self.next_u64().to_le_bytes();
        rest.copy_from_slice(&last[..rest.len()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_different_seeds_differ() {
        let (mut a, mut b, mut c) = (Rng::from_seed(7), Rng::from_seed(7), Rng::from_seed(8));
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn below_stays_in_range_and_reaches_every_value() {
        let mut r = Rng::from_seed(1);
        let mut seen = [0u32; 5];
        for _ in 0..1000 {
            seen[r.below(5)] += 1;
        }
        assert!(seen.iter().all(|&n| n > 100), "{seen:?}");
        assert_eq!(r.below(0), 0);
        assert_eq!(r.below(1), 0);
    }

    #[test]
    fn fill_covers_odd_lengths() {
        let mut r = Rng::from_seed(3);
        let mut buf = [0u8; 37];
        r.fill(&mut buf);
        assert!(buf[30..].iter().any(|&b| b != 0));
    }

    #[test]
    fn entropy_seeds_differ() {
        let mut a = Rng::from_entropy().unwrap();
        let mut b = Rng::from_entropy().unwrap();
        assert_ne!(a.next_u64(), b.next_u64());
    }
}
