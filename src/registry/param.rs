//! [`Param`]: how each kind of parameter is decoded from the argument record and lent to the function.
//!
//! | Rust parameter | wire type | what the function gets |
//! |---|---|---|
//! | `i64`, `f64`, `bool`, `String`, `Bytes`, `[T; N]`, a struct | the value | an owned copy |
//! | `&str` | `str` | a borrow of validated, private text |
//! | `&[T]` (`T` plain) | `&[T]` | the caller's array in place (or its inline copy) |
//! | `&mut [T]` (`T` plain) | `&mut [T]` | the caller's shared array, written in place |
//! | `&mut T` | `&mut T` | a value whose final state is sent back |
//! | `&mut Vec<T>` (`T` plain) | `&mut Vec<T>` | a vector that may grow; its final contents are sent back |
//! | `Option<T>` (`T` a value above), `Option<&str>`, `Option<&[T]>` | `Option<…>` | `None`, or what `T` gets |
//!
//! The holder/bind split lets the macro keep decoded values in locals and lend them for the call
//! (`'h`), while borrowed data lives as long as the request (`'a`).

use super::ty::Ty;
use super::wire::Wire;
use super::Bytes;
use crate::codec::{ArgReader, Failure, RetWriter};
use crate::layout::constants::{BUF_ALIGN, BUF_SIZE};
use crate::layout::Plain;
use num_complex::{Complex32, Complex64};

/// A parameter kind. `'h` is the lend to the function, `'a` the request's data.
pub trait Param<'h, 'a: 'h>: Sized {
    /// What is decoded and kept across the call.
    type Holder;
    /// The wire type, for the manifest.
    fn ty() -> Ty;
    /// Decodes the next argument.
    fn decode(r: &ArgReader<'a>) -> Result<Self::Holder, Failure>;
    /// Lends the decoded value to the function.
    fn bind(h: &'h mut Self::Holder) -> Self;
    /// After the call: writes the value's final state into the result record (in-out kinds only).
    fn write_back(_h: &Self::Holder, _w: &mut RetWriter<'_>) -> Result<(), Failure> {
        Ok(())
    }
}

fn next<T: Wire>(r: &ArgReader<'_>) -> Result<usize, Failure> {
    let (size, align) = T::size_align();
    r.next(size, align)
}

/// Implements by-value [`Param`] for [`Wire`] types (used by `shm_struct!` too).
#[macro_export]
#[doc(hidden)]
macro_rules! __by_value_param {
    ($($t:ty),*) => { $(
        impl<'h, 'a: 'h> $crate::registry::Param<'h, 'a> for $t {
            type Holder = Option<$t>;
            fn ty() -> $crate::registry::Ty {
                <$t as $crate::registry::Wire>::ty()
            }
            #[inline]
            fn decode(r: &$crate::codec::ArgReader<'a>) -> ::core::result::Result<Self::Holder, $crate::codec::Failure> {
                let (size, align) = <$t as $crate::registry::Wire>::size_align();
                let at = r.next(size, align)?;
                <$t as $crate::registry::Wire>::read(r, at).map(Some)
            }
            fn bind(h: &'h mut Self::Holder) -> Self {
                h.take().expect("bound once")
            }
        }
    )* };
}
__by_value_param!(i8, i16, i32, i64, u8, u16, u32, u64, f32, f64, bool, Complex32, Complex64, String, Bytes);

impl<'h, 'a: 'h, T: Wire, const N: usize> Param<'h, 'a> for [T; N] {
    type Holder = Option<[T; N]>;
    fn ty() -> Ty {
        <[T; N] as Wire>::ty()
    }
    fn decode(r: &ArgReader<'a>) -> Result<Self::Holder, Failure> {
        <[T; N]>::read(r, next::<[T; N]>(r)?).map(Some)
    }
    fn bind(h: &'h mut Self::Holder) -> Self {
        h.take().expect("bound once")
    }
}

impl<'h, 'a: 'h> Param<'h, 'a> for &'h str {
    type Holder = &'a str;
    fn ty() -> Ty {
        Ty::Str
    }
    fn decode(r: &ArgReader<'a>) -> Result<Self::Holder, Failure> {
        r.str(r.next(BUF_SIZE, BUF_ALIGN)?)
    }
    fn bind(h: &'h mut Self::Holder) -> Self {
        h
    }
}

impl<'h, 'a: 'h, T: Plain + Wire> Param<'h, 'a> for &'h [T] {
    type Holder = &'a [T];
    fn ty() -> Ty {
        Ty::Slice(Box::new(T::ty()))
    }
    fn decode(r: &ArgReader<'a>) -> Result<Self::Holder, Failure> {
        r.slice(r.next(BUF_SIZE, BUF_ALIGN)?)
    }
    fn bind(h: &'h mut Self::Holder) -> Self {
        h
    }
}

impl<'h, 'a: 'h, T: Plain + Wire> Param<'h, 'a> for &'h mut [T] {
    type Holder = &'a mut [T];
    fn ty() -> Ty {
        Ty::SliceMut(Box::new(T::ty()))
    }
    fn decode(r: &ArgReader<'a>) -> Result<Self::Holder, Failure> {
        r.slice_mut(r.next(BUF_SIZE, BUF_ALIGN)?)
    }
    fn bind(h: &'h mut Self::Holder) -> Self {
        h
    }
}

impl<'h, 'a: 'h, T: Wire> Param<'h, 'a> for &'h mut T {
    type Holder = T;
    fn ty() -> Ty {
        Ty::InOut(Box::new(T::ty()))
    }
    fn decode(r: &ArgReader<'a>) -> Result<Self::Holder, Failure> {
        T::read(r, next::<T>(r)?)
    }
    fn bind(h: &'h mut Self::Holder) -> Self {
        h
    }
    fn write_back(h: &Self::Holder, w: &mut RetWriter<'_>) -> Result<(), Failure> {
        let (size, align) = T::size_align();
        let at = w.next(size, align);
        h.write(w, at)
    }
}

impl<'h, 'a: 'h, T: Plain + Wire> Param<'h, 'a> for &'h mut Vec<T> {
    type Holder = Vec<T>;
    fn ty() -> Ty {
        Ty::VecMut(Box::new(T::ty()))
    }
    fn decode(r: &ArgReader<'a>) -> Result<Self::Holder, Failure> {
        r.slice::<T>(r.next(BUF_SIZE, BUF_ALIGN)?).map(<[T]>::to_vec)
    }
    fn bind(h: &'h mut Self::Holder) -> Self {
        h
    }
    fn write_back(h: &Self::Holder, w: &mut RetWriter<'_>) -> Result<(), Failure> {
        let at = w.next(BUF_SIZE, BUF_ALIGN);
        w.elements(at, h)
    }
}

/// Where an option's value starts: after its presence byte, at the value's alignment (SPEC §4.6).
/// `None` when the presence byte says absent (the value's bytes are then not read).
fn present(r: &ArgReader<'_>, size: usize, align: usize) -> Result<Option<usize>, Failure> {
    let at = r.next(align + size, align)?;
    Ok(r.boolean(at)?.then_some(at + align))
}

impl<'h, 'a: 'h, T: Wire> Param<'h, 'a> for Option<T> {
    type Holder = Option<Option<T>>;
    fn ty() -> Ty {
        <Option<T> as Wire>::ty()
    }
    fn decode(r: &ArgReader<'a>) -> Result<Self::Holder, Failure> {
        <Option<T>>::read(r, next::<Option<T>>(r)?).map(Some)
    }
    fn bind(h: &'h mut Self::Holder) -> Self {
        h.take().expect("bound once")
    }
}

impl<'h, 'a: 'h> Param<'h, 'a> for Option<&'h str> {
    type Holder = Option<&'a str>;
    fn ty() -> Ty {
        Ty::Option(Box::new(Ty::Str))
    }
    fn decode(r: &ArgReader<'a>) -> Result<Self::Holder, Failure> {
        present(r, BUF_SIZE, BUF_ALIGN)?.map(|at| r.str(at)).transpose()
    }
    fn bind(h: &'h mut Self::Holder) -> Self {
        *h
    }
}

impl<'h, 'a: 'h, T: Plain + Wire> Param<'h, 'a> for Option<&'h [T]> {
    type Holder = Option<&'a [T]>;
    fn ty() -> Ty {
        Ty::Option(Box::new(Ty::Slice(Box::new(T::ty()))))
    }
    fn decode(r: &ArgReader<'a>) -> Result<Self::Holder, Failure> {
        present(r, BUF_SIZE, BUF_ALIGN)?.map(|at| r.slice(at)).transpose()
    }
    fn bind(h: &'h mut Self::Holder) -> Self {
        *h
    }
}
