//! Deterministic, seekable pseudo-random streams based on SplitMix64.
//!
//! Owns the definition of the random stream the daemon hands out, so that any
//! client (Python included) can reproduce it bit for bit without this crate.
//!
//! # The stream
//!
//! SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number
//! generators", OOPSLA 2014; the generator behind
//! `java.util.SplittableRandom`) keeps a 64-bit state, adds [`GAMMA`] to it
//! and returns [`mix`] of the new state. The stream for seed `s` is exactly
//! the outputs of a SplitMix64 started at state `s`, so element `i`
//! (0-based) is
//!
//! ```text
//! u[i] = mix(s + (i + 1) * GAMMA)        (all arithmetic mod 2^64)
//! ```
//!
//! Invariants:
//! - every element depends only on `(seed, index)`, so a buffer may be filled
//!   in any order, by any number of threads, in any number of calls, and the
//!   result is bitwise identical to a single sequential pass;
//! - indices are taken mod 2^64 (the stream has period 2^64 because `GAMMA`
//!   is odd), so `start + xs.len()` may wrap without panicking;
//! - the derived types are fixed functions of the `u64` element:
//!   `i64` is the same bits, `f64` is `(u >> 11) * 2^-53` and `f32` is
//!   `(u >> 40) * 2^-24`, both exact and in `[0, 1)`.
//!
//! A Python reference that reproduces every fill function:
//!
//! ```text
//! M = (1 << 64) - 1
//! def mix(z):
//!     z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
//!     z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
//!     return z ^ (z >> 31)
//! def u64_at(seed, i):
//!     return mix((seed + (i + 1) * 0x9E3779B97F4A7C15) & M)
//! def i64_at(seed, i):
//!     u = u64_at(seed, i)
//!     return u - (1 << 64) if u >> 63 else u
//! def f64_at(seed, i):
//!     return (u64_at(seed, i) >> 11) * 2.0**-53
//! def f32_at(seed, i):  # exact in a Python float; numpy.float32() keeps it
//!     return (u64_at(seed, i) >> 40) * 2.0**-24
//! ```
//!
//! SplitMix64 is fast and statistically good for simulation and test data;
//! it is not a cryptographic generator.

#![forbid(unsafe_code)]

use rayon::prelude::*;

/// Below this many elements a fill runs on the calling thread.
///
/// An element costs one to two nanoseconds, and a parallel call pays a fixed
/// 20-50 microseconds to wake the rayon workers and split the job (measured
/// on the project's 2-core VM), so parallel fills only break even around 2^17
/// elements there. Changing it changes speed only, never the values.
const PARALLEL_THRESHOLD: usize = 1 << 17;

/// Elements per parallel task: large enough to amortise task overhead, small
/// enough to balance load across cores. Does not affect the output.
const CHUNK: usize = 1 << 14;

/// The SplitMix64 state increment: the odd integer closest to 2^64 / phi.
pub const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function (a variant of MurmurHash3's 64-bit
/// finaliser, "mix13" in Stafford's list): a bijection on `u64` that spreads
/// every input bit over the whole output.
#[inline]
pub fn mix(z: u64) -> u64 {
    let z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The next output of a SplitMix64 generator whose current state is `x`.
///
/// Equivalently, element 0 of the stream for seed `x`.
#[inline]
pub fn splitmix64(x: u64) -> u64 {
    mix(x.wrapping_add(GAMMA))
}

/// Element `index` (0-based, mod 2^64) of the stream for `seed`:
/// `mix(seed + (index + 1) * GAMMA)`.
#[inline]
pub fn u64_at(seed: u64, index: u64) -> u64 {
    mix(state_before(seed, index).wrapping_add(GAMMA))
}

/// Maps a stream element to an `f64` uniformly spaced in `[0, 1)`:
/// the top 53 bits times 2^-53, which is exact.
#[inline]
pub fn unit_f64(u: u64) -> f64 {
    // 2^-53 written as a literal so the conversion is a single exact multiply.
    (u >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
}

/// Maps a stream element to an `f32` uniformly spaced in `[0, 1)`:
/// the top 24 bits times 2^-24, which is exact.
#[inline]
pub fn unit_f32(u: u64) -> f32 {
    (u >> 40) as f32 * (1.0 / 16_777_216.0)
}

/// A type the stream fills: each element is a fixed function of the stream's `u64` (module docs).
pub trait StreamElement: Copy + Send + Sync {
    /// The element for stream output `u`.
    fn from_output(u: u64) -> Self;
}

impl StreamElement for u64 {
    fn from_output(u: u64) -> u64 {
        u
    }
}

impl StreamElement for i64 {
    fn from_output(u: u64) -> i64 {
        // Reinterpreting the bits is the documented mapping, not a lossy cast.
        u as i64
    }
}

impl StreamElement for f64 {
    fn from_output(u: u64) -> f64 {
        unit_f64(u)
    }
}

impl StreamElement for f32 {
    fn from_output(u: u64) -> f32 {
        unit_f32(u)
    }
}

/// Fills `xs` with the stream for `seed`, where `xs[0]` is stream element
/// `start`; `xs[j]` is element `start + j`, mapped to `T` ([`StreamElement`]). Continue a stream by
/// passing the previous `start + len` as the next `start`.
pub fn fill<T: StreamElement>(xs: &mut [T], seed: u64, start: u64) {
    fill_with(xs, seed, start, is_large(xs.len()), T::from_output);
}

fn is_large(len: usize) -> bool {
    len >= PARALLEL_THRESHOLD
}

/// The generator state just before element `index` is produced.
#[inline]
fn state_before(seed: u64, index: u64) -> u64 {
    seed.wrapping_add(index.wrapping_mul(GAMMA))
}

/// Shared body of the fill functions; `parallel` only chooses the schedule,
/// never the values, which is what lets tests force either path.
fn fill_with<T, F>(xs: &mut [T], seed: u64, start: u64, parallel: bool, map: F)
where
    T: Send,
    F: Fn(u64) -> T + Sync,
{
    if parallel {
        xs.par_chunks_mut(CHUNK).enumerate().for_each(|(c, chunk)| {
            // usize -> u64 is lossless on every supported target.
            let offset = (c * CHUNK) as u64;
            fill_run(chunk, state_before(seed, start.wrapping_add(offset)), &map);
        });
    } else {
        fill_run(xs, state_before(seed, start), &map);
    }
}

/// Steps the generator along a contiguous run, which is cheaper than
/// recomputing `seed + i * GAMMA` for every element.
#[inline]
fn fill_run<T, F: Fn(u64) -> T>(xs: &mut [T], mut state: u64, map: &F) {
    for x in xs {
        state = state.wrapping_add(GAMMA);
        *x = map(mix(state));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An independent textbook SplitMix64, written out without the module's
    /// helpers, to check the stream definition against.
    struct RefSplitMix64 {
        state: u64,
    }

    impl RefSplitMix64 {
        fn next(&mut self) -> u64 {
            self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
    }

    fn reference(seed: u64, start: u64, len: usize) -> Vec<u64> {
        let mut g = RefSplitMix64 { state: seed };
        // Skipping is fine here: tests keep `start` small or check it
        // separately through `u64_at`.
        for _ in 0..start {
            g.next();
        }
        (0..len).map(|_| g.next()).collect()
    }

    #[test]
    fn published_seed_zero_outputs() {
        // Widely published first outputs of SplitMix64 seeded with 0.
        let expected = [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F];
        let mut xs = [0u64; 3];
        fill::<u64>(&mut xs, 0, 0);
        assert_eq!(xs, expected);
        assert_eq!(splitmix64(0), expected[0]);
        assert_eq!(splitmix64(GAMMA), expected[1]);
        assert_eq!(u64_at(0, 2), expected[2]);
    }

    #[test]
    fn matches_reference_generator() {
        for seed in [0, 1, 42, u64::MAX, 0x0123_4567_89AB_CDEF] {
            let mut xs = vec![0u64; 1000];
            fill::<u64>(&mut xs, seed, 0);
            assert_eq!(xs, reference(seed, 0, 1000), "seed {seed}");
        }
    }

    #[test]
    fn parallel_equals_sequential_on_large_buffers() {
        let n = 1 << 20;
        let (seed, start) = (0xDEAD_BEEF, 12_345);
        let mut seq = vec![0u64; n];
        let mut par = vec![0u64; n];
        fill_with(&mut seq, seed, start, false, |u| u);
        fill_with(&mut par, seed, start, true, |u| u);
        assert_eq!(seq, par);
        // The public entry point takes the parallel path at this size.
        let mut public = vec![0u64; n];
        fill::<u64>(&mut public, seed, start);
        assert_eq!(public, seq);
        assert_eq!(seq, reference(seed, start, n));

        let mut seq_f = vec![0f64; n];
        let mut par_f = vec![0f64; n];
        fill_with(&mut seq_f, seed, start, false, unit_f64);
        fill_with(&mut par_f, seed, start, true, unit_f64);
        assert!(seq_f.iter().zip(&par_f).all(|(a, b)| a.to_bits() == b.to_bits()));
    }

    #[test]
    fn parallel_fill_is_independent_of_thread_count() {
        let n = (1 << 18) + 7;
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let mut xs = vec![0u64; n];
            pool.install(|| fill::<u64>(&mut xs, 7, 3));
            xs
        };
        let one = run(1);
        assert_eq!(one, run(2));
        assert_eq!(one, run(3));
    }

    #[test]
    fn start_continues_the_stream() {
        let seed = 99;
        let n = (1 << 18) + 13;
        let mut whole = vec![0u64; n];
        fill::<u64>(&mut whole, seed, 0);
        // Pieces of awkward sizes, one above the threshold and the rest below.
        let cuts = [0, 1, 1000, 70_000, 70_000 + PARALLEL_THRESHOLD + 5, n];
        for w in cuts.windows(2) {
            let mut part = vec![0u64; w[1] - w[0]];
            fill::<u64>(&mut part, seed, w[0] as u64);
            assert_eq!(part, whole[w[0]..w[1]], "piece {w:?}");
        }
    }

    #[test]
    fn index_wraps_modulo_two_to_the_64() {
        // Element 2^64 - 1 is followed by element 0 again.
        let mut xs = [0u64; 3];
        fill::<u64>(&mut xs, 5, u64::MAX - 1);
        let mut g = RefSplitMix64 { state: 5u64.wrapping_sub(2u64.wrapping_mul(GAMMA)) };
        assert_eq!(xs, [g.next(), g.next(), g.next()]);
        assert_eq!(xs[2], u64_at(5, 0));
    }

    #[test]
    fn derived_types_follow_their_documented_mappings() {
        let n = 1 << 17;
        let seed = 2024;
        let raw = reference(seed, 0, n);
        let mut i = vec![0i64; n];
        let mut d = vec![0f64; n];
        let mut f = vec![0f32; n];
        fill::<i64>(&mut i, seed, 0);
        fill::<f64>(&mut d, seed, 0);
        fill::<f32>(&mut f, seed, 0);
        for j in 0..n {
            let u = raw[j];
            assert_eq!(i[j], i64::from_ne_bytes(u.to_ne_bytes()));
            assert_eq!(d[j], (u >> 11) as f64 / 2f64.powi(53));
            assert_eq!(f[j], (u >> 40) as f32 / 2f32.powi(24));
            assert!((0.0..1.0).contains(&d[j]) && (0.0..1.0).contains(&f[j]));
        }
    }

    #[test]
    fn unit_maps_reach_their_extremes() {
        assert_eq!(unit_f64(0), 0.0);
        assert_eq!(unit_f64(u64::MAX), 1.0 - 2f64.powi(-53));
        assert_eq!(unit_f32(0), 0.0);
        assert_eq!(unit_f32(u64::MAX), 1.0 - 2f32.powi(-24));
    }

    #[test]
    fn empty_fill_is_a_no_op() {
        let mut xs: [u64; 0] = [];
        fill::<u64>(&mut xs, 1, 2);
    }

    proptest! {
        #[test]
        fn any_window_matches_pointwise_definition(
            seed: u64,
            start: u64,
            len in 0usize..300,
        ) {
            let mut xs = vec![0u64; len];
            fill::<u64>(&mut xs, seed, start);
            for (j, &x) in xs.iter().enumerate() {
                let i = start.wrapping_add(j as u64);
                let mut g = RefSplitMix64 { state: seed.wrapping_add(i.wrapping_mul(GAMMA)) };
                prop_assert_eq!(x, g.next());
            }
        }

        #[test]
        fn sequential_and_parallel_paths_agree(seed: u64, start: u64, len in 0usize..50_000) {
            let mut seq = vec![0u64; len];
            let mut par = vec![0u64; len];
            fill_with(&mut seq, seed, start, false, |u| u);
            fill_with(&mut par, seed, start, true, |u| u);
            prop_assert_eq!(seq, par);
        }
    }
}
