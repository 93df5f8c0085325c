//! The daemon's kernels behind a C ABI, for the in-process ctypes alternative
//! (`benchmarks/alternatives/ffi.py`).
//!
//! Every function calls the same `shmcall::kernels` code that `shmcalld` serves, so a benchmark
//! comparing the two measures the calling mechanism only. Nothing here knows about Python.
//!
//! Conventions, identical for every export:
//! - the return value is a status: [`OK`], or one of the error codes below; results go through
//!   out pointers;
//! - a panic is caught at the boundary and reported as [`PANIC`], because unwinding into C is
//!   undefined behaviour;
//! - buffers this library allocates for the caller (strings, filter results) must be released with
//!   [`free_buf`] / [`free_f64`], passing back the length it reported. That ownership hand-off is the
//!   cost of in-process FFI the article describes; it is kept visible on purpose.

use std::panic::{catch_unwind, AssertUnwindSafe};

use shmcall::kernels::article::{self, Person};
use shmcall::kernels::{arrays, crypto};

/// Success.
pub const OK: i32 = 0;
/// The kernel refused its input (integer overflow in `add`, or an array kernel's error).
pub const KERNEL_ERROR: i32 = 1;
/// The kernel panicked; the panic was stopped here.
pub const PANIC: i32 = 2;
/// A text argument was not UTF-8.
pub const NOT_UTF8: i32 = 3;
/// A null pointer was passed with a non-zero length.
pub const NULL_POINTER: i32 = 4;

/// Runs `f`, turning a panic into [`PANIC`].
fn guard(f: impl FnOnce() -> i32) -> i32 {
    // AssertUnwindSafe: on a panic nothing `f` touched is looked at again by this library; the
    // caller only sees the status code.
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(PANIC)
}

/// `n` elements at `ptr`; an empty slice for `n == 0` whatever `ptr` is (numpy may hand out a
/// null or dangling pointer for an empty array, which `from_raw_parts` must not see).
///
/// # Safety
/// For `n > 0`, `ptr` is either null or valid for reads of `n` elements for `'a`.
unsafe fn slice<'a, T>(ptr: *const T, n: usize) -> Result<&'a [T], i32> {
    if n == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(NULL_POINTER);
    }
    // SAFETY: non-null, and valid for `n` reads per this function's contract.
    Ok(unsafe { std::slice::from_raw_parts(ptr, n) })
}

/// As [`slice`], mutable.
///
/// # Safety
/// For `n > 0`, `ptr` is either null or valid for reads and writes of `n` elements for `'a`, and
/// nothing else accesses them meanwhile.
unsafe fn slice_mut<'a, T>(ptr: *mut T, n: usize) -> Result<&'a mut [T], i32> {
    if n == 0 {
        return Ok(&mut []);
    }
    if ptr.is_null() {
        return Err(NULL_POINTER);
    }
    // SAFETY: non-null, valid and exclusive for `n` elements per this function's contract.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, n) })
}

/// Hands a buffer to the caller as (pointer, length); undone by [`reclaim`].
fn hand_out<T>(v: Vec<T>) -> (*mut T, usize) {
    // A boxed slice has capacity == length, so the length alone is enough to free it.
    let b = v.into_boxed_slice();
    let n = b.len();
    (Box::into_raw(b).cast::<T>(), n)
}

/// Frees a buffer made by [`hand_out`].
///
/// # Safety
/// `(ptr, n)` came from [`hand_out`] for the same `T` and has not been reclaimed yet.
unsafe fn reclaim<T>(ptr: *mut T, n: usize) {
    // SAFETY: per the contract this is exactly the box `hand_out` leaked.
    drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, n)) });
}

/// `*out = a + b`; [`KERNEL_ERROR`] on i64 overflow (`out` untouched).
///
/// # Safety
/// `out` is valid for a write.
#[no_mangle]
pub unsafe extern "C" fn add(a: i64, b: i64, out: *mut i64) -> i32 {
    guard(|| match article::add(a, b) {
        Ok(v) => {
            // SAFETY: the caller guarantees `out` is writable.
            unsafe { out.write(v) };
            OK
        }
        Err(_) => KERNEL_ERROR,
    })
}

/// `"hello " + name`, as a new UTF-8 buffer the caller frees with [`free_buf`].
///
/// # Safety
/// `name` is valid for `len` reads; `out` and `out_len` are valid for a write.
#[no_mangle]
pub unsafe extern "C" fn hello(
    name: *const u8,
    len: usize,
    out: *mut *mut u8,
    out_len: *mut usize,
) -> i32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let name = match unsafe { slice(name, len) }.map(std::str::from_utf8) {
            Ok(Ok(s)) => s,
            Ok(Err(_)) => return NOT_UTF8,
            Err(code) => return code,
        };
        let (p, n) = hand_out(article::hello(name).into_bytes());
        // SAFETY: the caller guarantees both out pointers are writable.
        unsafe {
            out.write(p);
            out_len.write(n);
        }
        OK
    })
}

/// The article's `hello_person`: returns the person "xiaohong" with the caller's age. The name is
/// a new buffer the caller frees with [`free_buf`].
///
/// # Safety
/// `name` is valid for `len` reads; `out_name`, `out_len` and `out_age` are valid for a write.
#[no_mangle]
pub unsafe extern "C" fn hello_person(
    name: *const u8,
    len: usize,
    age: i64,
    out_name: *mut *mut u8,
    out_len: *mut usize,
    out_age: *mut i64,
) -> i32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let name = match unsafe { slice(name, len) }.map(std::str::from_utf8) {
            Ok(Ok(s)) => s.to_owned(),
            Ok(Err(_)) => return NOT_UTF8,
            Err(code) => return code,
        };
        let p = article::hello_person(Person { name, age });
        let (ptr, n) = hand_out(p.name.into_bytes());
        // SAFETY: the caller guarantees the out pointers are writable.
        unsafe {
            out_name.write(ptr);
            out_len.write(n);
            out_age.write(p.age);
        }
        OK
    })
}

/// Writes the article's two return values, `(1, 2)`.
///
/// # Safety
/// `a` and `b` are valid for a write.
#[no_mangle]
pub unsafe extern "C" fn multi_return(a: *mut i64, b: *mut i64) -> i32 {
    guard(|| {
        let (x, y) = article::multi_return();
        // SAFETY: the caller guarantees both are writable.
        unsafe {
            a.write(x);
            b.write(y);
        }
        OK
    })
}

/// Frees a byte buffer returned by [`hello`] or [`hello_person`].
///
/// # Safety
/// `(ptr, len)` is exactly what one of those functions reported, not freed before.
#[no_mangle]
pub unsafe extern "C" fn free_buf(ptr: *mut u8, len: usize) {
    // SAFETY: per this function's contract. A panic cannot happen in a dealloc of a valid box.
    unsafe { reclaim(ptr, len) }
}

/// `*out = arrays::sum::<f64>(xs[..n])`.
///
/// # Safety
/// `xs` is valid for `n` reads; `out` for a write.
#[no_mangle]
pub unsafe extern "C" fn sum_f64(xs: *const f64, n: usize, out: *mut f64) -> i32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let xs = match unsafe { slice(xs, n) } {
            Ok(s) => s,
            Err(code) => return code,
        };
        match arrays::sum::<f64>(xs) {
            Ok(v) => {
                // SAFETY: the caller guarantees `out` is writable.
                unsafe { out.write(v) };
                OK
            }
            Err(_) => KERNEL_ERROR,
        }
    })
}

/// `arrays::scale::<f64>(xs[..n], k)`, in place.
///
/// # Safety
/// `xs` is valid and exclusive for `n` reads and writes.
#[no_mangle]
pub unsafe extern "C" fn scale_f64(xs: *mut f64, n: usize, k: f64) -> i32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let xs = match unsafe { slice_mut(xs, n) } {
            Ok(s) => s,
            Err(code) => return code,
        };
        match arrays::scale::<f64>(xs, k) {
            Ok(()) => OK,
            Err(_) => KERNEL_ERROR,
        }
    })
}

/// `arrays::filter_gt::<f64>(xs[..n], t)`, as a new buffer the caller frees with [`free_f64`].
///
/// # Safety
/// `xs` is valid for `n` reads; `out` and `out_n` are valid for a write.
#[no_mangle]
pub unsafe extern "C" fn filter_gt_f64(
    xs: *const f64,
    n: usize,
    t: f64,
    out: *mut *mut f64,
    out_n: *mut usize,
) -> i32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let xs = match unsafe { slice(xs, n) } {
            Ok(s) => s,
            Err(code) => return code,
        };
        let (p, m) = hand_out(arrays::filter_gt::<f64>(xs, t));
        // SAFETY: the caller guarantees both out pointers are writable.
        unsafe {
            out.write(p);
            out_n.write(m);
        }
        OK
    })
}

/// Frees a buffer returned by [`filter_gt_f64`].
///
/// # Safety
/// `(ptr, n)` is exactly what [`filter_gt_f64`] reported, not freed before.
#[no_mangle]
pub unsafe extern "C" fn free_f64(ptr: *mut f64, n: usize) {
    // SAFETY: per this function's contract.
    unsafe { reclaim(ptr, n) }
}

/// Writes the SHA-256 digest of `data[..n]` to `out[..32]`.
///
/// # Safety
/// `data` is valid for `n` reads; `out` for 32 writes.
#[no_mangle]
pub unsafe extern "C" fn sha256(data: *const u8, n: usize, out: *mut u8) -> i32 {
    guard(|| {
        // SAFETY: per this function's contract.
        let data = match unsafe { slice(data, n) } {
            Ok(s) => s,
            Err(code) => return code,
        };
        let digest = crypto::sha256(data);
        // SAFETY: the caller guarantees 32 writable bytes at `out`; `digest` is a local, so the
        // ranges cannot overlap.
        unsafe { std::ptr::copy_nonoverlapping(digest.as_ptr(), out, digest.len()) };
        OK
    })
}
