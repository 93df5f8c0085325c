//! [`Wire`]: values with a fixed part in a record (numbers, bool, complex, text, bytes, fixed arrays,
//! structs), read from an argument record and written to a result record.

use num_complex::{Complex32, Complex64};

use super::ty::{Scalar, Ty};
use super::Bytes;
use crate::codec::{ArgReader, Failure, RetWriter};

/// A value with a fixed part in a record.
pub trait Wire: Sized {
    /// The wire type.
    fn ty() -> Ty;
    /// Reads the value whose fixed part starts at record offset `at`.
    fn read(r: &ArgReader<'_>, at: usize) -> Result<Self, Failure>;
    /// Writes the value's fixed part at record offset `at` (and any data it references).
    fn write(&self, w: &mut RetWriter<'_>, at: usize) -> Result<(), Failure>;
}

macro_rules! numbers {
    ($($t:ty => $s:ident),*) => { $(
        impl Wire for $t {
            fn ty() -> Ty {
                Ty::Scalar(Scalar::$s)
            }
            fn read(r: &ArgReader<'_>, at: usize) -> Result<Self, Failure> {
                r.scalar::<$t>(at)
            }
            fn write(&self, w: &mut RetWriter<'_>, at: usize) -> Result<(), Failure> {
                w.scalar(at, *self);
                Ok(())
            }
        }
    )* };
}
numbers!(i8 => I8, i16 => I16, i32 => I32, i64 => I64, u8 => U8, u16 => U16, u32 => U32, u64 => U64,
         f32 => F32, f64 => F64, Complex32 => C64, Complex64 => C128);

impl Wire for bool {
    fn ty() -> Ty {
        Ty::Scalar(Scalar::Bool)
    }
    fn read(r: &ArgReader<'_>, at: usize) -> Result<Self, Failure> {
        r.boolean(at)
    }
    fn write(&self, w: &mut RetWriter<'_>, at: usize) -> Result<(), Failure> {
        w.scalar(at, *self as u8);
        Ok(())
    }
}

impl Wire for String {
    fn ty() -> Ty {
        Ty::Str
    }
    fn read(r: &ArgReader<'_>, at: usize) -> Result<Self, Failure> {
        r.str(at).map(str::to_owned)
    }
    fn write(&self, w: &mut RetWriter<'_>, at: usize) -> Result<(), Failure> {
        w.data(at, self.as_bytes())
    }
}

impl Wire for Bytes {
    fn ty() -> Ty {
        Ty::Bytes
    }
    fn read(r: &ArgReader<'_>, at: usize) -> Result<Self, Failure> {
        r.bytes(at).map(|b| Bytes(b.to_vec()))
    }
    fn write(&self, w: &mut RetWriter<'_>, at: usize) -> Result<(), Failure> {
        w.data(at, &self.0)
    }
}

impl<T: Wire, const N: usize> Wire for [T; N] {
    fn ty() -> Ty {
        Ty::Array(Box::new(T::ty()), N)
    }
    fn read(r: &ArgReader<'_>, at: usize) -> Result<Self, Failure> {
        let size = T::ty().size_align().0;
        let items = (0..N).map(|i| T::read(r, at + i * size)).collect::<Result<Vec<T>, Failure>>()?;
        Ok(items.try_into().unwrap_or_else(|_| unreachable!("exactly N items were read")))
    }
    fn write(&self, w: &mut RetWriter<'_>, at: usize) -> Result<(), Failure> {
        let size = T::ty().size_align().0;
        for (i, item) in self.iter().enumerate() {
            item.write(w, at + i * size)?;
        }
        Ok(())
    }
}
