//! The generator's own pseudo-random numbers: SplitMix64 for seeding, xoshiro256** for streams.
//!
//! Synthetic data must be byte-identical for a seed on every machine, every thread count and
//! every release of our dependencies, so the generator does not borrow a general-purpose
//! `rand` crate whose algorithms and sampling may change between versions. Both algorithms
//! here are public-domain reference designs (Blackman and Vigna), a dozen lines each, and
//! fast enough that ten million people cost well under a second of random numbers.
//!
//! Streams are derived, never shared: every unit of work (a division's people, its entities,
//! its credit records) gets its own generator seeded from the run seed and the unit's name, so
//! the data of one division does not depend on how many numbers another one drew, or on which
//! thread drew them.

/// One SplitMix64 step: advances `state` and returns a well-mixed 64-bit value.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Mixes a list of words into one seed, order-sensitively.
pub(crate) fn mix(words: &[u64]) -> u64 {
    let mut state = 0x6A09_E667_F3BC_C908_u64;
    let mut out = 0;
    for &word in words {
        state ^= word;
        out = splitmix64(&mut state);
    }
    out
}

/// A xoshiro256** generator.
#[derive(Debug, Clone)]
pub(crate) struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator whose state is expanded from `seed` with SplitMix64, as the authors advise.
    pub(crate) fn new(seed: u64) -> Rng {
        let mut sm = seed;
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        // SplitMix64 is a bijection of its counter, so four consecutive outputs are never all
        // zero (the one state xoshiro cannot leave).
        Rng { s }
    }

    /// A generator for one named unit of work: the run seed plus words naming the unit.
    pub(crate) fn derive(seed: u64, unit: &[u64]) -> Rng {
        let mut words = Vec::with_capacity(unit.len() + 1);
        words.push(seed);
        words.extend_from_slice(unit);
        Rng::new(mix(&words))
    }

    /// The next 64 random bits.
    #[inline]
    pub(crate) fn next_u64(&mut self) -> u64 {
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

    /// A uniform integer in `0..n` (`n > 0`), by Lemire's multiply-and-reject method, so that
    /// no value is favoured.
    #[inline]
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0, "below(0) has no values to choose from");
        let n = n.max(1);
        loop {
            let m = u128::from(self.next_u64()) * u128::from(n);
            let low = m as u64;
            if low >= n || low >= n.wrapping_neg() % n {
                return (m >> 64) as u64;
            }
        }
    }

    /// A uniform index into a slice of `len > 0` items.
    #[inline]
    pub(crate) fn index(&mut self, len: usize) -> usize {
        // usize fits in u64 on every supported target, and the result is below `len`.
        self.below(len as u64) as usize
    }

    /// A uniform integer in `lo..=hi`; `lo` if the range is empty.
    #[inline]
    pub(crate) fn range_i32(&mut self, lo: i32, hi: i32) -> i32 {
        if hi <= lo {
            return lo;
        }
        let span = (i64::from(hi) - i64::from(lo) + 1) as u64;
        // The offset is below `span`, so the sum stays within `lo..=hi`.
        (i64::from(lo) + self.below(span) as i64) as i32
    }

    /// A uniform float in `[0, 1)` with 53 random bits.
    #[inline]
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// `true` with probability `p`.
    #[inline]
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// A uniformly chosen item of a non-empty slice.
    #[inline]
    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.index(items.len())]
    }

    /// An exponentially distributed value with the given mean.
    pub(crate) fn exponential(&mut self, mean: f64) -> f64 {
        // 1 - unit() is in (0, 1], so the logarithm is finite.
        -(1.0 - self.unit()).ln() * mean
    }
}

/// A table for drawing indices in proportion to integer weights.
#[derive(Debug, Clone)]
pub(crate) struct Weighted {
    cumulative: Vec<u64>,
}

impl Weighted {
    /// A table over `weights`; at least one weight must be positive.
    pub(crate) fn new(weights: impl IntoIterator<Item = u64>) -> Weighted {
        let mut total = 0u64;
        let cumulative: Vec<u64> = weights
            .into_iter()
            .map(|w| {
                total += w;
                total
            })
            .collect();
        assert!(total > 0, "a weighted table needs a positive total weight");
        Weighted { cumulative }
    }

    /// A table over the weights of `(item, weight)` pairs.
    pub(crate) fn of<T>(items: &[(T, u32)]) -> Weighted {
        Weighted::new(items.iter().map(|(_, w)| u64::from(*w)))
    }

    /// An index drawn in proportion to its weight.
    #[inline]
    pub(crate) fn sample(&self, rng: &mut Rng) -> usize {
        let total = *self
            .cumulative
            .last()
            .expect("a weighted table is never empty");
        let x = rng.below(total);
        // The first index whose cumulative weight exceeds x; zero-weight entries are skipped.
        self.cumulative.partition_point(|&c| c <= x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xoshiro_matches_the_reference_sequence() {
        // Reference: state {1, 2, 3, 4} gives 11520, 0, 1509978240, 1215971899390074240.
        let mut rng = Rng { s: [1, 2, 3, 4] };
        let got: Vec<u64> = (0..4).map(|_| rng.next_u64()).collect();
        assert_eq!(got, [11520, 0, 1_509_978_240, 1_215_971_899_390_074_240]);
    }

    #[test]
    fn splitmix_matches_the_reference_sequence() {
        // Reference outputs for seed 1234567.
        let mut state = 1_234_567;
        assert_eq!(splitmix64(&mut state), 6_457_827_717_110_365_317);
        assert_eq!(splitmix64(&mut state), 3_203_168_211_198_807_973);
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut rng = Rng::new(7);
        let mut seen = [false; 7];
        for _ in 0..1_000 {
            let v = rng.below(7);
            assert!(v < 7);
            seen[v as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
        for _ in 0..1_000 {
            let v = rng.range_i32(-3, 3);
            assert!((-3..=3).contains(&v));
        }
    }

    #[test]
    fn weighted_sampling_follows_the_weights_and_skips_zero() {
        let table = Weighted::new([0, 1, 0, 3]);
        let mut rng = Rng::new(42);
        let mut counts = [0u32; 4];
        for _ in 0..40_000 {
            counts[table.sample(&mut rng)] += 1;
        }
        assert_eq!(counts[0], 0);
        assert_eq!(counts[2], 0);
        let ratio = f64::from(counts[3]) / f64::from(counts[1]);
        assert!((2.7..3.3).contains(&ratio), "{counts:?}");
    }

    #[test]
    fn derived_streams_differ_by_unit() {
        let a = Rng::derive(1, &[1, 2]).next_u64();
        let b = Rng::derive(1, &[2, 1]).next_u64();
        let c = Rng::derive(2, &[1, 2]).next_u64();
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, Rng::derive(1, &[1, 2]).next_u64());
    }
}
