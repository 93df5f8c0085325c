//! [`Ret`]: how a function's result is encoded: nothing, one value, a tuple of values, a `Vec` of
//! plain values (an array the client receives without pre-sizing), or a `Result` of any of these
//! whose `Err` becomes a remote error.

use std::fmt::Display;

use super::ty::Ty;
use super::wire::Wire;
use crate::codec::{Failure, RetWriter};
use crate::layout::constants::{BUF_ALIGN, BUF_SIZE};
use crate::layout::Plain;

/// One value of a result tuple.
pub trait RetItem {
    /// The wire type.
    fn ty() -> Ty;
    /// Writes the value as the next value of the result record.
    fn write_next(&self, w: &mut RetWriter<'_>) -> Result<(), Failure>;
}

impl<T: Wire> RetItem for T {
    fn ty() -> Ty {
        T::ty()
    }
    #[inline]
    fn write_next(&self, w: &mut RetWriter<'_>) -> Result<(), Failure> {
        let (size, align) = T::size_align();
        let at = w.next(size, align);
        self.write(w, at)
    }
}

impl<T: Plain + Wire> RetItem for Vec<T> {
    fn ty() -> Ty {
        Ty::Vec(Box::new(T::ty()))
    }
    fn write_next(&self, w: &mut RetWriter<'_>) -> Result<(), Failure> {
        let at = w.next(BUF_SIZE, BUF_ALIGN);
        w.elements(at, self)
    }
}

/// An array result written in place: the function says how many elements there are and gives a
/// function that writes all of them; the daemon hands it the destination itself (the response area,
/// or a heap block the client will own), so the array is never built elsewhere and copied. The client
/// sees a `Vec<T>`.
pub struct Filled<'a, T> {
    len: usize,
    fill: std::cell::Cell<Option<Fill<'a, T>>>,
}

/// The writer of a [`Filled`] result.
type Fill<'a, T> = Box<dyn FnOnce(&mut [T]) + 'a>;

impl<'a, T> Filled<'a, T> {
    /// `len` elements, all written by `fill`.
    pub fn new(len: usize, fill: impl FnOnce(&mut [T]) + 'a) -> Filled<'a, T> {
        Filled { len, fill: std::cell::Cell::new(Some(Box::new(fill))) }
    }
}

impl<T: Plain + Wire> RetItem for Filled<'_, T> {
    fn ty() -> Ty {
        Ty::Vec(Box::new(T::ty()))
    }
    fn write_next(&self, w: &mut RetWriter<'_>) -> Result<(), Failure> {
        let at = w.next(BUF_SIZE, BUF_ALIGN);
        let fill = self.fill.take().expect("a result is written once");
        w.elements_filled(at, self.len, fill)
    }
}

/// A function's whole result.
pub trait Ret {
    /// The result values' types, in order (empty for none).
    fn tys() -> Vec<Ty>;
    /// Encodes the result, or turns an `Err` into [`Failure::Error`].
    fn write(self, w: &mut RetWriter<'_>) -> Result<(), Failure>;
}

impl Ret for () {
    fn tys() -> Vec<Ty> {
        Vec::new()
    }
    fn write(self, _w: &mut RetWriter<'_>) -> Result<(), Failure> {
        Ok(())
    }
}

impl<T: RetItem> Ret for T {
    fn tys() -> Vec<Ty> {
        vec![T::ty()]
    }
    #[inline]
    fn write(self, w: &mut RetWriter<'_>) -> Result<(), Failure> {
        self.write_next(w)
    }
}

macro_rules! tuples {
    ($(($($n:ident),+))*) => { $(
        impl<$($n: RetItem),+> Ret for ($($n,)+) {
            fn tys() -> Vec<Ty> {
                vec![$($n::ty()),+]
            }
            #[allow(non_snake_case)]
            #[inline]
            fn write(self, w: &mut RetWriter<'_>) -> Result<(), Failure> {
                let ($($n,)+) = self;
                $($n.write_next(w)?;)+
                Ok(())
            }
        }
    )* };
}
tuples!((A, B)(A, B, C)(A, B, C, D)(A, B, C, D, E)(A, B, C, D, E, F));

impl<R: Ret, E: Display> Ret for Result<R, E> {
    fn tys() -> Vec<Ty> {
        R::tys()
    }
    #[inline]
    fn write(self, w: &mut RetWriter<'_>) -> Result<(), Failure> {
        match self {
            Ok(r) => r.write(w),
            Err(e) => Err(error(e)),
        }
    }
}

/// An `Err` as a remote error; out of line, so the `Ok` path of a batch's loop stays small.
#[cold]
#[inline(never)]
fn error<E: Display>(e: E) -> Failure {
    Failure::Error(e.to_string())
}
