//! Elementwise and whole-array kernels over numeric slices: sum, in-place
//! scale, in-place sort and an order-preserving filter.
//!
//! Owns the numeric semantics the daemon promises to clients. Invariants:
//!
//! - **Determinism.** Every function gives bitwise the same result whether it
//!   runs sequentially or on the rayon pool, and whatever the pool's size.
//!   Slices shorter than `PARALLEL_THRESHOLD` elements never touch the pool.
//! - **Integer overflow is an error, never a wrap.** [`sum`] fails only when
//!   the exact mathematical total does not fit the element type; [`scale`]
//!   fails when any product does not fit, and then leaves the slice exactly
//!   as it was.
//! - **Float summation order is fixed** (see [`sum`]), so float sums are
//!   reproducible across runs, machines with the same IEEE 754 arithmetic,
//!   thread counts and other implementations (a Python recipe is given).
//! - Floats follow IEEE 754 otherwise: float overflow gives an infinity and
//!   NaNs propagate, neither is an error.
//! - Nothing is allocated except the `Vec` that [`filter_gt`] returns.

#![forbid(unsafe_code)]

use std::cmp::Ordering;
use std::fmt;

use rayon::prelude::*;

/// Below this many elements a kernel runs on the calling thread.
///
/// A parallel call pays a fixed cost for waking the rayon workers and
/// splitting the job, measured at 20-50 microseconds on the project's 2-core
/// VM, while sum, scale and filter handle an element in about a nanosecond.
/// Measured there, parallel sum, scale and filter break even around 2^17
/// elements (sort, which costs more per element, already wins from about
/// 2^15; one threshold keeps the rule simple). Changing it changes speed
/// only, never results.
const PARALLEL_THRESHOLD: usize = 1 << 17;

/// Elements summed (in eight lanes) into one partial sum. This is part of the
/// documented summation order of [`sum`]: changing it changes float results.
const SUM_CHUNK: usize = 1 << 14;

/// Float partial sums per chunk (see `acc_chunk`); part of the documented order too.
const LANES: usize = 8;

/// Elements per parallel task in [`scale`]'s check and write passes;
/// affects speed only.
const TASK_LEN: usize = 1 << 14;

/// Number of blocks a parallel [`filter_gt`] splits its input into. A fixed
/// count lets the per-block tallies live in a stack array instead of an
/// allocation, and 64 blocks keep a small pool evenly loaded.
const FILTER_BLOCKS: usize = 64;

mod sealed {
    use super::ArrayError;

    /// The per-type operations behind the generic kernels. Kept in a private
    /// module so [`super::Element`] cannot be implemented, and these hooks
    /// cannot be called, outside `arrays`.
    pub trait Kernel: Copy + Send + Sync + PartialOrd + 'static {
        /// Type partial sums are kept in: `f64` for floats, `i128` for
        /// integers. A slice has fewer than 2^63 elements, each below 2^64 in
        /// magnitude, so no integer partial sum can reach 2^127.
        type Acc: Copy + Send;
        /// The additive identity of `Self`.
        const ZERO: Self;
        /// The additive identity of `Acc`.
        const ACC_ZERO: Self::Acc;
        /// Adds one element to a partial sum.
        fn acc_add(acc: Self::Acc, x: Self) -> Self::Acc;
        /// Adds two partial sums, lower indices on the left.
        fn acc_combine(lo: Self::Acc, hi: Self::Acc) -> Self::Acc;
        /// Converts the total back to `Self`, or reports that it does not fit.
        fn acc_finish(acc: Self::Acc) -> Result<Self, ArrayError>;
        /// Sums one chunk (at most `SUM_CHUNK` elements). Integers are exact in any order; floats
        /// override this with the documented lane order.
        fn acc_chunk(xs: &[Self]) -> Self::Acc {
            xs.iter().fold(Self::ACC_ZERO, |acc, &x| Self::acc_add(acc, x))
        }
        /// Fails with the first index whose product with `k` overflows.
        /// Floats cannot overflow into an error, hence the default.
        fn check_scale(_xs: &[Self], _k: Self, _parallel: bool) -> Result<(), ArrayError> {
            Ok(())
        }
        /// Multiplies, assuming [`Kernel::check_scale`] has passed.
        fn mul_checked_before(self, k: Self) -> Self;
        /// Total order used by the sort.
        fn cmp_total(&self, other: &Self) -> std::cmp::Ordering;
    }
}

/// A numeric element type the kernels accept: `f32`, `f64`, `i64`, `i32`,
/// `u64`, `u32` and `u8`. Sealed: it cannot be implemented outside this
/// module, so the documented semantics cover every element type.
pub trait Element: sealed::Kernel + fmt::Debug {
    /// The type's name as written in Rust, e.g. `"f64"`; used in error messages.
    const NAME: &'static str;
}

macro_rules! impl_float {
    ($t:ty) => {
        impl Element for $t {
            const NAME: &'static str = stringify!($t);
        }
        impl sealed::Kernel for $t {
            // f32 sums are accumulated in f64 too: widening is exact and makes
            // the result far less sensitive to order and cancellation.
            type Acc = f64;
            const ZERO: Self = 0.0;
            const ACC_ZERO: f64 = 0.0;
            #[inline]
            fn acc_add(acc: f64, x: Self) -> f64 {
                acc + f64::from(x)
            }
            #[inline]
            fn acc_combine(lo: f64, hi: f64) -> f64 {
                lo + hi
            }
            #[inline]
            fn acc_finish(acc: f64) -> Result<Self, ArrayError> {
                // Round-to-nearest; for f32 an out-of-range total becomes an
                // infinity, as IEEE 754 overflow does.
                Ok(acc as $t)
            }
            /// Eight lanes: element `j` of the chunk goes to lane `j % 8`, each lane summed in
            /// order from +0.0, then ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)). Independent lanes let
            /// the adds pipeline and vectorize (one serial chain is 4x slower), and the order is
            /// still fixed, so results stay deterministic.
            #[inline]
            fn acc_chunk(xs: &[Self]) -> f64 {
                let mut l = [0.0f64; LANES];
                let mut it = xs.chunks_exact(LANES);
                for group in &mut it {
                    for (acc, &x) in l.iter_mut().zip(group) {
                        *acc += f64::from(x);
                    }
                }
                for (acc, &x) in l.iter_mut().zip(it.remainder()) {
                    *acc += f64::from(x);
                }
                ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]))
            }
            #[inline]
            fn mul_checked_before(self, k: Self) -> Self {
                self * k
            }
            #[inline]
            fn cmp_total(&self, other: &Self) -> Ordering {
                self.total_cmp(other)
            }
        }
    };
}

macro_rules! impl_int {
    ($t:ty) => {
        impl Element for $t {
            const NAME: &'static str = stringify!($t);
        }
        impl sealed::Kernel for $t {
            type Acc = i128;
            const ZERO: Self = 0;
            const ACC_ZERO: i128 = 0;
            #[inline]
            fn acc_add(acc: i128, x: Self) -> i128 {
                acc + i128::from(x)
            }
            #[inline]
            fn acc_combine(lo: i128, hi: i128) -> i128 {
                lo + hi
            }
            #[inline]
            fn acc_finish(acc: i128) -> Result<Self, ArrayError> {
                <$t>::try_from(acc).map_err(|_| ArrayError::SumOverflow { dtype: stringify!($t), total: acc })
            }
            fn check_scale(xs: &[Self], k: Self, parallel: bool) -> Result<(), ArrayError> {
                match first_index(xs, parallel, |x| x.checked_mul(k).is_none()) {
                    None => Ok(()),
                    Some(index) => Err(ArrayError::ScaleOverflow {
                        dtype: stringify!($t),
                        index,
                        value: i128::from(xs[index]),
                        factor: i128::from(k),
                    }),
                }
            }
            #[inline]
            fn mul_checked_before(self, k: Self) -> Self {
                // check_scale has proven no product overflows, so wrapping_mul
                // is exact here and avoids a second, redundant check.
                self.wrapping_mul(k)
            }
            #[inline]
            fn cmp_total(&self, other: &Self) -> Ordering {
                self.cmp(other)
            }
        }
    };
}

impl_float!(f32);
impl_float!(f64);
impl_int!(i64);
impl_int!(i32);
impl_int!(u64);
impl_int!(u32);
impl_int!(u8);

/// Why an array kernel refused its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ArrayError {
    /// The exact sum of an integer slice does not fit in its element type.
    SumOverflow {
        /// Element type, e.g. `"i64"`.
        dtype: &'static str,
        /// The exact total that did not fit.
        total: i128,
    },
    /// An integer product in [`scale`] does not fit in the element type; the
    /// slice was left unchanged.
    ScaleOverflow {
        /// Element type, e.g. `"i64"`.
        dtype: &'static str,
        /// Index of the first element whose product overflows.
        index: usize,
        /// That element's value.
        value: i128,
        /// The scale factor.
        factor: i128,
    },
}

impl fmt::Display for ArrayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SumOverflow { dtype, total } => {
                write!(f, "integer overflow in sum: the exact total {total} does not fit in {dtype}")
            }
            Self::ScaleOverflow { dtype, index, value, factor } => write!(
                f,
                "integer overflow in scale at index {index}: {value} * {factor} does not fit \
                 in {dtype}; the array was left unchanged"
            ),
        }
    }
}

impl std::error::Error for ArrayError {}

/// Sum of `xs`, in the element type; `0` for an empty slice.
///
/// **Integers** are summed exactly (in `i128`), so the only error is
/// [`ArrayError::SumOverflow`] when the true total does not fit: a slice
/// such as `[i64::MAX, 1, -1]` sums to `i64::MAX` without error, and the
/// outcome never depends on order or threads.
///
/// **Floats** (`f32` included) are accumulated in `f64` and the total is
/// rounded to the element type at the end. The order of additions is fixed
/// and independent of threading:
///
/// 1. split `xs` into chunks of 16384 (2^14) elements, the last possibly
///    shorter;
/// 2. sum each chunk in 8 lanes: element `j` of the chunk is added, in order, to lane `j % 8`
///    (each lane starts at `+0.0`); the chunk's sum is
///    `((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7))`;
/// 3. combine the chunk sums with a balanced tree: a run of `c >= 2` chunk
///    sums splits into the first `c / 2` (rounded down) and the rest, each
///    half is combined recursively, and the result is `left + right`.
///
/// In Python (use an explicit loop: `sum()` is compensated since 3.12):
///
/// ```text
/// def chunk(xs):
///     l = [0.0] * 8
///     for j, x in enumerate(xs): l[j % 8] += float(x)
///     return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]))
/// def tree(sums):
///     if len(sums) == 1: return sums[0]
///     h = len(sums) // 2
///     return tree(sums[:h]) + tree(sums[h:])
/// total = tree([chunk(xs[i:i + 16384]) for i in range(0, len(xs), 16384)]) if len(xs) else 0.0
/// # for f32 input, the result is numpy.float32(total)
/// ```
///
/// Float overflow yields an infinity and NaN propagates; neither is an error.
pub fn sum<T: Element>(xs: &[T]) -> Result<T, ArrayError> {
    sum_impl(xs, is_large(xs.len()))
}

/// Multiplies every element of `xs` by `k` in place.
///
/// For integers every product is checked first; if any overflows, returns
/// [`ArrayError::ScaleOverflow`] naming the first such index and leaves `xs`
/// unchanged. Floats follow IEEE 754 and never fail.
pub fn scale<T: Element>(xs: &mut [T], k: T) -> Result<(), ArrayError> {
    scale_impl(xs, k, is_large(xs.len()))
}

/// Sorts `xs` ascending in place.
///
/// Floats use IEEE 754 `totalOrder` (`total_cmp`): negative NaNs first, then
/// `-inf`, negatives, `-0.0`, `+0.0`, positives, `+inf`, and positive NaNs
/// (the usual NaN) last. Elements that compare equal are bitwise identical,
/// so the unstable sort still has a unique result.
pub fn sort<T: Element>(xs: &mut [T]) {
    sort_impl(xs, is_large(xs.len()));
}

/// The elements of `xs` strictly greater than `t`, in their original order.
///
/// Floats compare as IEEE 754 `>`: NaN is never greater than anything and a
/// NaN threshold keeps nothing; `0.0 > -0.0` is false.
pub fn filter_gt<T: Element>(xs: &[T], t: T) -> Vec<T> {
    filter_gt_impl(xs, t, is_large(xs.len()))
}

/// [`filter_gt`] in two steps, for a caller that provides the output: the number of survivors, and
/// a function that writes them, in order, into a slice of exactly that length.
pub fn filter_gt_sized<T: Element>(xs: &[T], t: T) -> (usize, impl FnOnce(&mut [T]) + '_) {
    let parallel = is_large(xs.len()) && !xs.is_empty();
    let (counts, blocks, block_len) = filter_counts(xs, t, parallel);
    let total = if parallel { counts[..blocks].iter().sum() } else { xs.iter().filter(|&&x| x > t).count() };
    (total, move |out: &mut [T]| {
        assert_eq!(out.len(), total, "filter_gt_sized: output of the announced length");
        if parallel {
            filter_fill(xs, t, &counts[..blocks], block_len, out);
        } else {
            for (dst, &src) in out.iter_mut().zip(xs.iter().filter(|&&x| x > t)) {
                *dst = src;
            }
        }
    })
}

fn is_large(len: usize) -> bool {
    len >= PARALLEL_THRESHOLD
}

/// Index of the first element satisfying `hit`. The parallel search asks
/// rayon for the first matching chunk rather than the first matching element,
/// because rayon's per-item short-circuit bookkeeping costs more than the
/// test itself; the chunk is then scanned on this thread.
fn first_index<T, F>(xs: &[T], parallel: bool, hit: F) -> Option<usize>
where
    T: Sync,
    F: Fn(&T) -> bool + Sync + Send,
{
    if !parallel {
        return xs.iter().position(hit);
    }
    let chunk = xs.par_chunks(TASK_LEN).position_first(|c| c.iter().any(&hit))?;
    let base = chunk * TASK_LEN;
    xs[base..].iter().position(hit).map(|i| base + i)
}

// The `*_impl` functions take `parallel` explicitly so tests can force either
// schedule on the same input; it must never influence the result.

fn sum_impl<T: Element>(xs: &[T], parallel: bool) -> Result<T, ArrayError> {
    let chunks = xs.len().div_ceil(SUM_CHUNK);
    let acc = if chunks == 0 { T::ACC_ZERO } else { sum_tree(xs, chunks, parallel) };
    T::acc_finish(acc)
}

/// Sums `xs`, which spans exactly `chunks` chunks, along the documented tree.
/// The tree's shape depends only on `chunks`, so forking halves onto the pool
/// cannot change the float result.
fn sum_tree<T: Element>(xs: &[T], chunks: usize, parallel: bool) -> T::Acc {
    if chunks == 1 {
        return T::acc_chunk(xs);
    }
    let lo_chunks = chunks / 2;
    let (lo, hi) = xs.split_at(lo_chunks * SUM_CHUNK);
    let hi_chunks = chunks - lo_chunks;
    let (a, b) = if parallel && is_large(xs.len()) {
        rayon::join(|| sum_tree(lo, lo_chunks, true), || sum_tree(hi, hi_chunks, true))
    } else {
        (sum_tree(lo, lo_chunks, false), sum_tree(hi, hi_chunks, false))
    };
    T::acc_combine(a, b)
}

fn scale_impl<T: Element>(xs: &mut [T], k: T, parallel: bool) -> Result<(), ArrayError> {
    // A separate read-only pass is what guarantees the slice is untouched on
    // overflow, including when the writes would be spread over threads.
    T::check_scale(xs, k, parallel)?;
    let scale_run = |run: &mut [T]| run.iter_mut().for_each(|x| *x = x.mul_checked_before(k));
    if parallel {
        xs.par_chunks_mut(TASK_LEN).for_each(scale_run);
    } else {
        scale_run(xs);
    }
    Ok(())
}

fn sort_impl<T: Element>(xs: &mut [T], parallel: bool) {
    if parallel {
        xs.par_sort_unstable_by(T::cmp_total);
    } else {
        xs.sort_unstable_by(T::cmp_total);
    }
}

fn filter_gt_impl<T: Element>(xs: &[T], t: T, parallel: bool) -> Vec<T> {
    if !parallel || xs.is_empty() {
        return xs.iter().copied().filter(|&x| x > t).collect();
    }
    let (counts, blocks, block_len) = filter_counts(xs, t, true);
    let mut out = vec![T::ZERO; counts.iter().sum()];
    filter_fill(xs, t, &counts[..blocks], block_len, &mut out);
    out
}

/// The first of two passes over fixed blocks: the survivors of each block (`blocks` of
/// `block_len` elements; nothing counted unless `parallel`).
fn filter_counts<T: Element>(xs: &[T], t: T, parallel: bool) -> ([usize; FILTER_BLOCKS], usize, usize) {
    let mut counts = [0usize; FILTER_BLOCKS];
    if !parallel || xs.is_empty() {
        return (counts, 0, 0);
    }
    let block_len = xs.len().div_ceil(FILTER_BLOCKS);
    let blocks = xs.len().div_ceil(block_len);
    counts[..blocks]
        .par_iter_mut()
        .zip(xs.par_chunks(block_len))
        .for_each(|(count, block)| *count = block.iter().filter(|&&x| x > t).count());
    (counts, blocks, block_len)
}

/// The second pass: copies each block's survivors into its own disjoint window of `out` (exactly
/// the counted length). Order is kept because windows follow block order.
fn filter_fill<T: Element>(xs: &[T], t: T, counts: &[usize], block_len: usize, out: &mut [T]) {
    let mut windows: [&mut [T]; FILTER_BLOCKS] = std::array::from_fn(|_| Default::default());
    let mut rest: &mut [T] = out;
    for (window, &count) in windows.iter_mut().zip(counts) {
        let (head, tail) = std::mem::take(&mut rest).split_at_mut(count);
        *window = head;
        rest = tail;
    }
    windows[..counts.len()].par_iter_mut().zip(xs.par_chunks(block_len)).for_each(|(window, block)| {
        for (dst, &src) in window.iter_mut().zip(block.iter().filter(|&&x| x > t)) {
            *dst = src;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Small deterministic generator for test data, independent of the
    /// module under test.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn f64s(&mut self, n: usize) -> Vec<f64> {
            // Wide dynamic range and both signs, so summation order matters.
            (0..n)
                .map(|_| {
                    let u = self.next();
                    let mag = (u >> 11) as f64 / (1u64 << 53) as f64;
                    let exp = ((u >> 3) % 40) as i32 - 20;
                    let sign = if u & 1 == 0 { 1.0 } else { -1.0 };
                    sign * mag * 2f64.powi(exp)
                })
                .collect()
        }
        fn i64s(&mut self, n: usize, bound: i64) -> Vec<i64> {
            (0..n)
                // The true value lies in [-bound, bound], so wrapping
                // arithmetic is exact here even for bound = i64::MAX.
                .map(|_| ((self.next() % (2 * bound as u64 + 1)) as i64).wrapping_sub(bound))
                .collect()
        }
    }

    fn bits64(xs: &[f64]) -> Vec<u64> {
        xs.iter().map(|x| x.to_bits()).collect()
    }

    /// The documented float summation order, written out with plain loops
    /// and a vector of chunk sums.
    fn ref_sum_f64<T: Copy + Into<f64>>(xs: &[T]) -> f64 {
        fn tree(sums: &[f64]) -> f64 {
            if sums.len() == 1 {
                return sums[0];
            }
            let h = sums.len() / 2;
            tree(&sums[..h]) + tree(&sums[h..])
        }
        if xs.is_empty() {
            return 0.0;
        }
        let mut sums = Vec::new();
        let mut i = 0;
        while i < xs.len() {
            let mut l = [0.0f64; 8];
            for (j, &x) in xs[i..(i + 16384).min(xs.len())].iter().enumerate() {
                l[j % 8] += x.into();
            }
            sums.push(((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7])));
            i += 16384;
        }
        tree(&sums)
    }

    /// Exact integer sum via i128, then range check.
    fn ref_sum_int<T: Copy + Into<i128> + TryFrom<i128>>(xs: &[T]) -> Option<T> {
        let mut total: i128 = 0;
        for &x in xs {
            total += x.into();
        }
        T::try_from(total).ok()
    }

    fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(f)
    }

    // ---- sum ----

    #[test]
    fn float_sum_follows_documented_order_on_both_paths() {
        let mut g = XorShift(1);
        for n in [0, 1, 5, 16384, 16385, 3 * 16384 + 1, 1 << 16, (1 << 20) + 12_345] {
            let xs = g.f64s(n);
            let expect = ref_sum_f64(&xs);
            let seq = sum_impl(&xs, false).unwrap();
            let par = sum_impl(&xs, true).unwrap();
            assert_eq!(seq.to_bits(), expect.to_bits(), "sequential, n={n}");
            assert_eq!(par.to_bits(), expect.to_bits(), "parallel, n={n}");
            assert_eq!(sum::<f64>(&xs).unwrap().to_bits(), expect.to_bits(), "public, n={n}");
        }
    }

    #[test]
    fn float_sum_is_independent_of_thread_count() {
        let xs = XorShift(2).f64s((1 << 21) + 3);
        let one = in_pool(1, || sum::<f64>(&xs).unwrap());
        assert_eq!(one.to_bits(), in_pool(2, || sum::<f64>(&xs).unwrap()).to_bits());
        assert_eq!(one.to_bits(), in_pool(5, || sum::<f64>(&xs).unwrap()).to_bits());
    }

    #[test]
    fn float_sum_of_small_integers_is_exact() {
        // Every partial sum is an integer below 2^53, so any order is exact
        // and an integer loop is a fully independent reference.
        let ints = XorShift(3).i64s(1 << 20, 1 << 20);
        let xs: Vec<f64> = ints.iter().map(|&i| i as f64).collect();
        let expect: i64 = ints.iter().sum();
        assert_eq!(sum::<f64>(&xs).unwrap(), expect as f64);
    }

    #[test]
    fn f32_sum_accumulates_in_f64() {
        // In f32, 1e8 + 1 rounds back to 1e8 and the 1 would be lost.
        assert_eq!(sum::<f32>(&[1e8, 1.0, -1e8]).unwrap(), 1.0);
        let xs: Vec<f32> = XorShift(4).f64s(200_003).iter().map(|&x| x as f32).collect();
        let expect = ref_sum_f64(&xs) as f32;
        assert_eq!(sum_impl(&xs, false).unwrap().to_bits(), expect.to_bits());
        assert_eq!(sum_impl(&xs, true).unwrap().to_bits(), expect.to_bits());
    }

    #[test]
    fn float_sum_special_values() {
        assert_eq!(sum::<f64>(&[]).unwrap().to_bits(), 0.0f64.to_bits());
        // Starting from +0.0 means a lone -0.0 sums to +0.0.
        assert_eq!(sum::<f64>(&[-0.0]).unwrap().to_bits(), 0.0f64.to_bits());
        assert!(sum::<f64>(&[1.0, f64::NAN, 2.0]).unwrap().is_nan());
        assert_eq!(sum::<f64>(&[f64::MAX, f64::MAX]).unwrap(), f64::INFINITY);
        assert_eq!(sum::<f32>(&[f32::MAX, f32::MAX]).unwrap(), f32::INFINITY);
    }

    #[test]
    fn integer_sum_is_exact_and_only_fails_when_total_does_not_fit() {
        assert_eq!(sum::<i64>(&[]), Ok(0));
        assert_eq!(sum::<i64>(&[i64::MAX, 1, -1]), Ok(i64::MAX));
        assert_eq!(sum::<i64>(&[i64::MIN, -1, 1]), Ok(i64::MIN));
        let err = sum::<i64>(&[i64::MAX, 1]).unwrap_err();
        assert_eq!(err, ArrayError::SumOverflow { dtype: "i64", total: i128::from(i64::MAX) + 1 });
        assert_eq!(err.to_string(), "integer overflow in sum: the exact total 9223372036854775808 does not fit in i64");
        assert_eq!(sum(&[200u8, 55]), Ok(255u8));
        assert!(matches!(sum(&[200u8, 56]), Err(ArrayError::SumOverflow { dtype: "u8", total: 256 })));
        assert_eq!(sum(&[u64::MAX, 0]), Ok(u64::MAX));
        assert!(sum(&[u64::MAX, 1]).is_err());
        assert_eq!(sum(&[i32::MIN]), Ok(i32::MIN));
        assert!(sum(&[u32::MAX, 1]).is_err());
    }

    #[test]
    fn large_integer_sums_agree_on_both_paths() {
        let mut g = XorShift(5);
        // Near the limits so partial sums overflow i64 even when the total
        // does not, and vice versa.
        for bound in [1000, i64::MAX / 4, i64::MAX] {
            let xs = g.i64s((1 << 20) + 77, bound);
            let expect = ref_sum_int(&xs);
            assert_eq!(sum_impl(&xs, false).ok(), expect);
            assert_eq!(sum_impl(&xs, true).ok(), expect);
        }
    }

    // ---- scale ----

    #[test]
    fn integer_scale_overflow_leaves_buffer_unchanged() {
        let n = (1 << 18) + 5;
        for bad_at in [0, 1, n / 2, n - 1] {
            for parallel in [false, true] {
                let mut xs: Vec<i64> = (0..n as i64).collect();
                xs[bad_at] = i64::MAX / 2;
                // A later overflow too: the first one must be reported.
                xs[n - 1] = i64::MIN;
                let before = xs.clone();
                let err = scale_impl(&mut xs, 3, parallel).unwrap_err();
                assert_eq!(
                    err,
                    ArrayError::ScaleOverflow {
                        dtype: "i64",
                        index: bad_at,
                        value: i128::from(before[bad_at]),
                        factor: 3
                    },
                    "parallel={parallel}"
                );
                assert!(xs == before, "buffer changed, parallel={parallel}");
            }
        }
        let mut xs = [1i64, i64::MIN, 2];
        let err = scale::<i64>(&mut xs, -1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "integer overflow in scale at index 1: -9223372036854775808 * -1 does not fit in \
             i64; the array was left unchanged"
        );
        assert_eq!(xs, [1, i64::MIN, 2]);
    }

    #[test]
    fn integer_scale_matches_checked_loop() {
        let mut g = XorShift(6);
        let xs = g.i64s((1 << 18) + 9, 1 << 40);
        for k in [0, 1, -1, 7, -8191] {
            let expect: Vec<i64> = xs.iter().map(|&x| x.checked_mul(k).unwrap()).collect();
            for parallel in [false, true] {
                let mut got = xs.clone();
                scale_impl(&mut got, k, parallel).unwrap();
                assert!(got == expect, "k={k} parallel={parallel}");
            }
        }
        let mut small = [1u8, 2, 127];
        scale(&mut small, 2u8).unwrap();
        assert_eq!(small, [2, 4, 254]);
        assert!(scale(&mut small, 2u8).is_err());
        assert_eq!(small, [2, 4, 254]);
    }

    #[test]
    fn float_scale_matches_loop_bitwise() {
        let xs = XorShift(7).f64s((1 << 17) + 1);
        for k in [0.0, -0.0, 1.5, -3.25e100, f64::NAN, f64::INFINITY] {
            let expect: Vec<f64> = xs.iter().map(|&x| x * k).collect();
            for parallel in [false, true] {
                let mut got = xs.clone();
                scale_impl(&mut got, k, parallel).unwrap();
                assert_eq!(bits64(&got), bits64(&expect), "k={k} parallel={parallel}");
            }
        }
        let mut f = [1.5f32, -2.0];
        scale::<f32>(&mut f, 2.0).unwrap();
        assert_eq!(f, [3.0, -4.0]);
        let mut big = [f64::MAX];
        scale::<f64>(&mut big, 2.0).unwrap();
        assert_eq!(big, [f64::INFINITY]);
    }

    // ---- sort ----

    #[test]
    fn float_sort_uses_total_order() {
        let neg_nan = -f64::NAN;
        let mut xs = [f64::NAN, 1.0, -0.0, f64::INFINITY, 0.0, neg_nan, -1.0, f64::NEG_INFINITY];
        sort::<f64>(&mut xs);
        let expect = [neg_nan, f64::NEG_INFINITY, -1.0, -0.0, 0.0, 1.0, f64::INFINITY, f64::NAN];
        assert_eq!(bits64(&xs), bits64(&expect));
    }

    #[test]
    fn large_sorts_match_std_stable_sort_on_both_paths() {
        let mut g = XorShift(8);
        let mut floats = g.f64s((1 << 20) + 3);
        // Sprinkle duplicates, signed zeros and NaNs.
        for i in (0..floats.len()).step_by(1001) {
            floats[i] = [0.0, -0.0, f64::NAN, -f64::NAN, 1.0][i % 5];
        }
        let mut expect = floats.clone();
        expect.sort_by(f64::total_cmp);
        for parallel in [false, true] {
            let mut got = floats.clone();
            sort_impl(&mut got, parallel);
            assert_eq!(bits64(&got), bits64(&expect), "parallel={parallel}");
        }

        let ints = g.i64s((1 << 20) + 1, 1 << 30);
        let mut expect = ints.clone();
        expect.sort();
        for parallel in [false, true] {
            let mut got = ints.clone();
            sort_impl(&mut got, parallel);
            assert!(got == expect, "parallel={parallel}");
        }
        let mut f32s: Vec<f32> = floats.iter().map(|&x| x as f32).collect();
        let mut expect = f32s.clone();
        expect.sort_by(f32::total_cmp);
        sort::<f32>(&mut f32s);
        assert!(f32s.iter().zip(&expect).all(|(a, b)| a.to_bits() == b.to_bits()));
    }

    // ---- filter ----

    fn ref_filter<T: Copy + PartialOrd>(xs: &[T], t: T) -> Vec<T> {
        let mut out = Vec::new();
        for &x in xs {
            if x > t {
                out.push(x);
            }
        }
        out
    }

    #[test]
    fn filter_keeps_order_on_both_paths() {
        let mut g = XorShift(9);
        let floats = g.f64s((1 << 20) + 11);
        for t in [f64::NEG_INFINITY, -1e-3, 0.0, 1e3, f64::INFINITY, f64::NAN] {
            let expect = ref_filter(&floats, t);
            for parallel in [false, true] {
                let got = filter_gt_impl(&floats, t, parallel);
                assert_eq!(bits64(&got), bits64(&expect), "t={t} parallel={parallel}");
            }
        }
        let ints = g.i64s((1 << 17) + 3, 1000);
        for t in [i64::MIN, -1, 0, 999, i64::MAX] {
            let expect = ref_filter(&ints, t);
            assert!(filter_gt_impl(&ints, t, true) == expect, "t={t}");
            assert!(filter_gt::<i64>(&ints, t) == expect, "t={t}");
        }
    }

    #[test]
    fn sized_filter_writes_what_filter_returns() {
        let mut g = XorShift(11);
        for n in [0, 1, 7, (1 << 17) - 1, (1 << 17) + 5, (1 << 20) + 11] {
            let floats = g.f64s(n);
            for t in [f64::NEG_INFINITY, 0.0, 0.9, f64::INFINITY, f64::NAN] {
                let expect = filter_gt(&floats, t);
                let (len, fill) = filter_gt_sized(&floats, t);
                assert_eq!(len, expect.len(), "n={n} t={t}");
                let mut out = vec![f64::NAN; len];
                fill(&mut out);
                assert_eq!(bits64(&out), bits64(&expect), "n={n} t={t}");
            }
        }
    }

    #[test]
    fn filter_float_edge_cases() {
        assert_eq!(filter_gt::<f64>(&[0.0, -0.0, 1.0], -0.0), vec![1.0]);
        assert_eq!(filter_gt::<f64>(&[f64::NAN, 2.0], 1.0), vec![2.0]);
        assert!(filter_gt::<f64>(&[1.0, 2.0], f64::NAN).is_empty());
        assert!(filter_gt::<f32>(&[], 0.0).is_empty());
        assert_eq!(filter_gt::<f32>(&[3.0, 1.0, 4.0], 1.0), vec![3.0, 4.0]);
    }

    // ---- properties ----

    fn f64_strategy() -> impl Strategy<Value = f64> {
        prop_oneof![
            8 => -1e6f64..1e6,
            1 => any::<f64>(),
            1 => Just(-0.0),
        ]
    }

    proptest! {
        #[test]
        fn prop_int_sum_matches_exact_reference(xs in prop::collection::vec(any::<i64>(), 0..400)) {
            prop_assert_eq!(sum_impl(&xs, false).ok(), ref_sum_int(&xs));
            prop_assert_eq!(sum_impl(&xs, true).ok(), ref_sum_int(&xs));
        }

        #[test]
        fn prop_u8_sum_matches_exact_reference(xs in prop::collection::vec(any::<u8>(), 0..5)) {
            prop_assert_eq!(sum(&xs).ok(), ref_sum_int(&xs));
        }

        #[test]
        fn prop_int_scale_is_all_or_nothing(
            xs in prop::collection::vec(any::<i32>(), 0..300),
            k in any::<i32>(),
            parallel: bool,
        ) {
            let mut got = xs.clone();
            let result = scale_impl(&mut got, k, parallel);
            match xs.iter().position(|x| x.checked_mul(k).is_none()) {
                None => {
                    prop_assert!(result.is_ok());
                    let expect: Vec<i32> = xs.iter().map(|&x| x * k).collect();
                    prop_assert_eq!(got, expect);
                }
                Some(i) => {
                    let is_expected_error = matches!(
                        result,
                        Err(ArrayError::ScaleOverflow { index, .. }) if index == i
                    );
                    prop_assert!(is_expected_error);
                    prop_assert_eq!(got, xs);
                }
            }
        }

        #[test]
        fn prop_sort_is_sorted_permutation(
            xs in prop::collection::vec(f64_strategy(), 0..500),
            parallel: bool,
        ) {
            let mut got = xs.clone();
            sort_impl(&mut got, parallel);
            for w in got.windows(2) {
                prop_assert!(w[0].total_cmp(&w[1]) != Ordering::Greater);
            }
            // Same multiset: compare sorted bit patterns (u64 order is
            // unrelated to the float order under test).
            let mut a: Vec<u64> = bits64(&got);
            let mut b: Vec<u64> = bits64(&xs);
            a.sort_unstable();
            b.sort_unstable();
            prop_assert_eq!(a, b);
        }

        #[test]
        fn prop_filter_matches_loop(
            xs in prop::collection::vec(-50i64..50, 0..500),
            t in -60i64..60,
            parallel: bool,
        ) {
            prop_assert_eq!(filter_gt_impl(&xs, t, parallel), ref_filter(&xs, t));
        }
    }

    proptest! {
        // Few cases: each one sums up to 300k elements so that lengths span
        // many chunks and cross the parallel threshold.
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn prop_float_sum_matches_documented_order(seed in 1u64.., len in 0usize..300_000) {
            let xs = XorShift(seed).f64s(len);
            let expect = ref_sum_f64(&xs);
            prop_assert_eq!(sum_impl(&xs, false).unwrap().to_bits(), expect.to_bits());
            prop_assert_eq!(sum_impl(&xs, true).unwrap().to_bits(), expect.to_bits());
        }
    }
}
