//! Real compute on shared arrays: array math, hashing, authenticated encryption in place and seeded
//! PRNG streams. Each function takes the caller's shared array in place (no copy) and runs on all
//! cores when the work is large (see the kernels' `PARALLEL_THRESHOLD`s).
//!
//! Names end in the element type (`sum_f64`); the Python client also offers each family under its
//! base name (`c.sum(xs)`), choosing the member by the array's element type.

#![allow(missing_docs)] // every function's doc comment is its Python docstring, written below

use super::{arrays, crypto, prng};
use crate::registry::{Bytes, Filled, Result};

/// A sized kernel's `(length, fill)` as an array result written in place.
fn sized<'a, T>((len, fill): (usize, impl FnOnce(&mut [T]) + 'a)) -> Filled<'a, T> {
    Filled::new(len, fill)
}

crate::export! {
    /// Sum of the elements (f32 accumulates in f64; deterministic chunked order).
    pub fn sum_f32(xs: &[f32]) -> Result<f32> { Ok(arrays::sum_f32(xs)?) }
    /// Sum of the elements (deterministic chunked order, independent of thread count).
    pub fn sum_f64(xs: &[f64]) -> Result<f64> { Ok(arrays::sum_f64(xs)?) }
    /// Sum of the elements; overflow is an error.
    pub fn sum_i64(xs: &[i64]) -> Result<i64> { Ok(arrays::sum_i64(xs)?) }

    /// Multiplies every element by k, in place.
    pub fn scale_f32(xs: &mut [f32], k: f32) -> Result<()> { Ok(arrays::scale_f32(xs, k)?) }
    /// Multiplies every element by k, in place.
    pub fn scale_f64(xs: &mut [f64], k: f64) -> Result<()> { Ok(arrays::scale_f64(xs, k)?) }
    /// Multiplies every element by k, in place; on overflow nothing is changed and it is an error.
    pub fn scale_i64(xs: &mut [i64], k: i64) -> Result<()> { Ok(arrays::scale_i64(xs, k)?) }

    /// Sorts ascending, in place (total order: -0.0 before 0.0, NaN last).
    pub fn sort_f32(xs: &mut [f32]) { arrays::sort_f32(xs) }
    /// Sorts ascending, in place (total order: -0.0 before 0.0, NaN last).
    pub fn sort_f64(xs: &mut [f64]) { arrays::sort_f64(xs) }
    /// Sorts ascending, in place.
    pub fn sort_i64(xs: &mut [i64]) { arrays::sort_i64(xs) }

    /// The elements greater than t, in order: a new array, written in place in shared memory.
    pub fn filter_gt_f32(xs: &[f32], t: f32) -> Filled<'_, f32> { sized(arrays::filter_gt_sized(xs, t)) }
    /// The elements greater than t, in order: a new array, written in place in shared memory.
    pub fn filter_gt_f64(xs: &[f64], t: f64) -> Filled<'_, f64> { sized(arrays::filter_gt_sized(xs, t)) }
    /// The elements greater than t, in order: a new array, written in place in shared memory.
    pub fn filter_gt_i64(xs: &[i64], t: i64) -> Filled<'_, i64> { sized(arrays::filter_gt_sized(xs, t)) }

    /// SHA-256 digest (32 bytes) of data.
    pub fn sha256(data: &[u8]) -> Bytes { Bytes(crypto::sha256(data).to_vec()) }

    /// ChaCha20-Poly1305 (RFC 8439): encrypts buf in place and returns the 16-byte tag.
    /// key: 32 bytes, nonce: 12 bytes, aad: authenticated but not encrypted.
    pub fn encrypt(buf: &mut [u8], key: &[u8], nonce: &[u8], aad: &[u8]) -> Result<Bytes> {
        Ok(Bytes(crypto::encrypt(buf, key, nonce, aad)?.to_vec()))
    }

    /// ChaCha20-Poly1305 (RFC 8439): checks the tag, then decrypts buf in place.
    /// A wrong tag is an error and leaves buf untouched.
    pub fn decrypt(buf: &mut [u8], key: &[u8], nonce: &[u8], aad: &[u8], tag: &[u8]) -> Result<()> {
        Ok(crypto::decrypt(buf, key, nonce, aad, tag)?)
    }

    /// Fills xs with the SplitMix64 stream of seed: xs[i] = mix(seed + (i + 1) * 0x9E3779B97F4A7C15).
    pub fn prng_fill_u64(xs: &mut [u64], seed: u64) { prng::fill_u64(xs, seed, 0) }
    /// The SplitMix64 stream of seed, each output reinterpreted as i64.
    pub fn prng_fill_i64(xs: &mut [i64], seed: u64) { prng::fill_i64(xs, seed, 0) }
    /// Uniform floats in [0, 1): (output >> 11) * 2^-53 of the SplitMix64 stream of seed.
    pub fn prng_fill_f64(xs: &mut [f64], seed: u64) { prng::fill_f64(xs, seed, 0) }
    /// Uniform floats in [0, 1): (output >> 40) * 2^-24 of the SplitMix64 stream of seed.
    pub fn prng_fill_f32(xs: &mut [f32], seed: u64) { prng::fill_f32(xs, seed, 0) }
}
