//! [`Wire`]: values with a fixed part in a record (numbers, bool, complex, text, bytes, fixed arrays,
//! structs), read from an argument record and written to a result record.

use num_complex::{Complex32, Complex64};

use super::ty::{Scalar, Ty};
use super::Bytes;
use crate::codec::{ArgReader, Failure, RetWriter};
use crate::layout::constants::{BUF_ALIGN, BUF_SIZE};

/// A value with a fixed part in a record.
pub trait Wire: Sized {
    /// The wire type.
    fn ty() -> Ty;
    /// `(size, align)` of the fixed part: `Self::ty().size_align()` without building a `Ty`, since
    /// decoding asks for it for every value (a `Ty` built and dropped per argument cost about a third
    /// of a batch of `add`s).
    fn size_align() -> (usize, usize) {
        Self::ty().size_align()
    }
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
            fn size_align() -> (usize, usize) {
                Scalar::$s.size_align()
            }
            #[inline]
            fn read(r: &ArgReader<'_>, at: usize) -> Result<Self, Failure> {
                r.scalar::<$t>(at)
            }
            #[inline]
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
    fn size_align() -> (usize, usize) {
        Scalar::Bool.size_align()
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
    fn size_align() -> (usize, usize) {
        (BUF_SIZE, BUF_ALIGN)
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
    fn size_align() -> (usize, usize) {
        (BUF_SIZE, BUF_ALIGN)
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
    fn size_align() -> (usize, usize) {
        let (size, align) = T::size_align();
        (size * N, align)
    }
    fn read(r: &ArgReader<'_>, at: usize) -> Result<Self, Failure> {
        let size = T::size_align().0;
        let items = (0..N).map(|i| T::read(r, at + i * size)).collect::<Result<Vec<T>, Failure>>()?;
        Ok(items.try_into().unwrap_or_else(|_| unreachable!("exactly N items were read")))
    }
    fn write(&self, w: &mut RetWriter<'_>, at: usize) -> Result<(), Failure> {
        let size = T::size_align().0;
        for (i, item) in self.iter().enumerate() {
            item.write(w, at + i * size)?;
        }
        Ok(())
    }
}

/// `Option<T>` (SPEC §4.6): a presence byte, exactly 0 or 1, then T at T's alignment. An absent
/// value's bytes are not read; the daemon writes them as zeros.
impl<T: Wire> Wire for Option<T> {
    fn ty() -> Ty {
        Ty::Option(Box::new(T::ty()))
    }
    fn size_align() -> (usize, usize) {
        let (size, align) = T::size_align();
        (align + size, align)
    }
    fn read(r: &ArgReader<'_>, at: usize) -> Result<Self, Failure> {
        if !r.boolean(at)? {
            return Ok(None);
        }
        T::read(r, at + T::size_align().1).map(Some)
    }
    fn write(&self, w: &mut RetWriter<'_>, at: usize) -> Result<(), Failure> {
        let (size, align) = T::size_align();
        match self {
            Some(v) => {
                w.scalar(at, 1u8);
                v.write(w, at + align)
            }
            None => {
                w.zero(at, align + size);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::shm_struct! {
        /// Text beside numbers: wire layout differs from Rust's.
        struct Mixed { flag: bool, name: String, pair: [i16; 3], z: Complex64 }
    }

    fn agrees<T: Wire>() {
        assert_eq!(T::size_align(), T::ty().size_align(), "{:?}", T::ty());
    }

    #[test]
    fn size_align_agrees_with_the_wire_type() {
        agrees::<i8>();
        agrees::<u16>();
        agrees::<i32>();
        agrees::<f32>();
        agrees::<u64>();
        agrees::<f64>();
        agrees::<Complex32>();
        agrees::<Complex64>();
        agrees::<bool>();
        agrees::<String>();
        agrees::<Bytes>();
        agrees::<[u8; 5]>();
        agrees::<[Complex32; 2]>();
        agrees::<[[i16; 3]; 2]>();
        agrees::<Mixed>();
        agrees::<[Mixed; 2]>();
        agrees::<Option<u8>>();
        agrees::<Option<f64>>();
        agrees::<Option<String>>();
        agrees::<Option<Complex32>>();
        agrees::<Option<[i16; 3]>>();
        agrees::<Option<Mixed>>();
    }
}
