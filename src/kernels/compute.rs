//! Real compute on shared arrays: array math, hashing, authenticated encryption in place and seeded
//! PRNG streams. Each function takes the caller's shared array in place (no copy) and runs on all
//! cores when the work is large (see the kernels' `PARALLEL_THRESHOLD`s).
//!
//! The array functions are generic over their element type: each is one function with an overload
//! per type (`sum` for f32, f64 and i64), which the client picks by the array's element type.

#![allow(missing_docs)] // every function's doc comment is its Python docstring, written below

use super::arrays::{self, Element};
use super::crypto;
use super::prng::{self, StreamElement};
use crate::registry::{Bytes, Filled, Result};

/// A sized kernel's `(length, fill)` as an array result written in place.
fn sized<'a, T>((len, fill): (usize, impl FnOnce(&mut [T]) + 'a)) -> Filled<'a, T> {
    Filled::new(len, fill)
}

crate::export! {
    /// Sum of the elements; for integers an overflow of the total is an error.
    /// Floats (f32 too) are added in f64 in a fixed chunked order: the same result on any thread count.
    pub fn sum<T: Element in [f32, f64, i64]>(xs: &[T]) -> Result<T> { Ok(arrays::sum(xs)?) }

    /// Multiplies every element by k, in place.
    /// For integers an overflow is an error and leaves xs unchanged.
    pub fn scale<T: Element in [f32, f64, i64]>(xs: &mut [T], k: T) -> Result<()> { Ok(arrays::scale(xs, k)?) }

    /// Sorts ascending, in place (floats in total order: -0.0 before 0.0, NaN last).
    pub fn sort<T: Element in [f32, f64, i64]>(xs: &mut [T]) { arrays::sort(xs) }

    /// The elements greater than t, in order: a new array, written in place in shared memory.
    pub fn filter_gt<T: Element in [f32, f64, i64]>(xs: &[T], t: T) -> Filled<'_, T> {
        sized(arrays::filter_gt_sized(xs, t))
    }

    /// SHA-256 digest (32 bytes) of data.
    pub fn sha256(data: &[u8]) -> Bytes { Bytes(crypto::sha256(data).to_vec()) }

    /// ChaCha20-Poly1305 (RFC 8439): encrypts buf in place and returns the 16-byte tag.
    /// key: 32 bytes, nonce: 12 bytes, aad (optional): authenticated but not encrypted.
    pub fn encrypt(buf: &mut [u8], key: &[u8], nonce: &[u8], aad: Option<&[u8]>) -> Result<Bytes> {
        Ok(Bytes(crypto::encrypt(buf, key, nonce, aad.unwrap_or_default())?.to_vec()))
    }

    /// ChaCha20-Poly1305 (RFC 8439): checks the tag, then decrypts buf in place.
    /// A wrong tag is an error and leaves buf untouched; aad (optional) as given to encrypt.
    pub fn decrypt(buf: &mut [u8], key: &[u8], nonce: &[u8], tag: &[u8], aad: Option<&[u8]>) -> Result<()> {
        Ok(crypto::decrypt(buf, key, nonce, aad.unwrap_or_default(), tag)?)
    }

    /// Fills xs with the SplitMix64 stream of seed.
    /// Output i is u = mix(seed + (i + 1) * 0x9E3779B97F4A7C15): as is for u64, its bits for i64, and
    /// uniform floats in [0, 1) for f64 ((u >> 11) * 2^-53) and f32 ((u >> 40) * 2^-24).
    pub fn prng_fill<T: StreamElement in [u64, i64, f64, f32]>(xs: &mut [T], seed: u64) { prng::fill(xs, seed, 0) }
}
