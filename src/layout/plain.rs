//! The marker for values that may be shared in place: arrays of them are handed to functions as
//! slices of shared memory, with no copy.

/// A type whose values can live in shared memory and be viewed as Rust values directly.
///
/// # Safety
/// Implementors promise:
/// - `#[repr(C)]` (or a primitive), with the layout the wire type describes;
/// - every bit pattern of the non-padding bytes is a valid value (so no `bool`, `char`, enums);
/// - no pointers or references: the value means the same in every process.
pub unsafe trait Plain: Copy + Send + Sync + 'static {}

macro_rules! plain {
    ($($t:ty),*) => { $(
        // SAFETY: a primitive number: any bit pattern is valid and it holds no pointer.
        unsafe impl Plain for $t {}
    )* };
}
plain!(i8, i16, i32, i64, u8, u16, u32, u64, f32, f64);
// SAFETY: `Complex<T>` is `#[repr(C)] { re: T, im: T }` of plain floats.
unsafe impl Plain for num_complex::Complex<f32> {}
// SAFETY: as above.
unsafe impl Plain for num_complex::Complex<f64> {}
// SAFETY: an array of plain values is plain, with no padding between elements.
unsafe impl<T: Plain, const N: usize> Plain for [T; N] {}
