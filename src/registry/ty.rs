//! Wire types (SPEC §4): every value kind a parameter, field or result can have, with the size and
//! alignment its fixed part takes in a record and the name the manifest gives it.

use crate::layout::constants::{BUF_ALIGN, BUF_SIZE};

/// A fixed-size number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Scalar {
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    F32,
    F64,
    Bool,
    /// Two f32: real, imaginary.
    C64,
    /// Two f64: real, imaginary.
    C128,
}

impl Scalar {
    /// Every scalar, in type-code order.
    pub const ALL: [Scalar; 13] = [
        Scalar::I8,
        Scalar::I16,
        Scalar::I32,
        Scalar::I64,
        Scalar::U8,
        Scalar::U16,
        Scalar::U32,
        Scalar::U64,
        Scalar::F32,
        Scalar::F64,
        Scalar::Bool,
        Scalar::C64,
        Scalar::C128,
    ];

    /// The manifest name.
    pub fn name(self) -> &'static str {
        match self {
            Scalar::I8 => "i8",
            Scalar::I16 => "i16",
            Scalar::I32 => "i32",
            Scalar::I64 => "i64",
            Scalar::U8 => "u8",
            Scalar::U16 => "u16",
            Scalar::U32 => "u32",
            Scalar::U64 => "u64",
            Scalar::F32 => "f32",
            Scalar::F64 => "f64",
            Scalar::Bool => "bool",
            Scalar::C64 => "c64",
            Scalar::C128 => "c128",
        }
    }

    /// `(size, align)` in bytes.
    pub fn size_align(self) -> (usize, usize) {
        match self {
            Scalar::I8 | Scalar::U8 | Scalar::Bool => (1, 1),
            Scalar::I16 | Scalar::U16 => (2, 2),
            Scalar::I32 | Scalar::U32 | Scalar::F32 => (4, 4),
            Scalar::I64 | Scalar::U64 | Scalar::F64 => (8, 8),
            Scalar::C64 => (8, 4),
            Scalar::C128 => (16, 8),
        }
    }
}

/// One field of a struct type.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDesc {
    /// Field name.
    pub name: &'static str,
    /// Field type.
    pub ty: Ty,
    /// Byte offset from the start of the struct.
    pub offset: usize,
}

/// A struct type's C layout, computed from its fields by the rules of SPEC §4.2.
#[derive(Debug, Clone, PartialEq)]
pub struct StructDesc {
    /// Type name, unique in a registry.
    pub name: &'static str,
    /// Doc comment.
    pub doc: String,
    /// Fields in declaration order.
    pub fields: Vec<FieldDesc>,
    /// Size including trailing padding.
    pub size: usize,
    /// Alignment (the largest field alignment).
    pub align: usize,
    /// True when every field is a plain number (or array / struct of them): arrays of it can be
    /// shared in place.
    pub plain: bool,
}

impl StructDesc {
    /// Lays out `fields` by C rules: each field at the next multiple of its alignment, the size
    /// rounded up to the largest alignment.
    pub fn new(name: &'static str, doc: &str, fields: Vec<(&'static str, Ty)>) -> StructDesc {
        let mut offset: usize = 0;
        let mut align: usize = 1;
        let mut out = Vec::with_capacity(fields.len());
        for (fname, ty) in fields {
            let (s, a) = ty.size_align();
            offset = offset.next_multiple_of(a);
            out.push(FieldDesc { name: fname, ty, offset });
            offset += s;
            align = align.max(a);
        }
        let plain = out.iter().all(|f| f.ty.is_plain());
        StructDesc { name, doc: doc.trim().to_owned(), size: offset.next_multiple_of(align), align, fields: out, plain }
    }

    /// Panics unless this layout equals the Rust type's, field by field. Called for plain structs,
    /// whose Rust values are shared in place.
    pub fn assert_matches_rust(&self, rust_offsets: &[usize], size: usize, align: usize) {
        let ours: Vec<usize> = self.fields.iter().map(|f| f.offset).collect();
        assert!(
            ours == rust_offsets && self.size == size && self.align == align,
            "struct {}: wire layout (offsets {ours:?}, size {}, align {}) differs from its Rust layout \
             (offsets {rust_offsets:?}, size {size}, align {align})",
            self.name,
            self.size,
            self.align
        );
    }
}

/// A wire type.
#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
    /// A number or bool.
    Scalar(Scalar),
    /// UTF-8 text, by buffer reference.
    Str,
    /// Raw bytes, by buffer reference.
    Bytes,
    /// A struct, inline.
    Struct(&'static StructDesc),
    /// A fixed-length array, inline: `[T; N]`.
    Array(Box<Ty>, usize),
    /// A read-only array argument: `&[T]`.
    Slice(Box<Ty>),
    /// An array argument the function writes in place: `&mut [T]`.
    SliceMut(Box<Ty>),
    /// An array result the daemon allocates: `Vec<T>`.
    Vec(Box<Ty>),
    /// A growable in-out array argument: `&mut Vec<T>`.
    VecMut(Box<Ty>),
    /// An in-out value argument: `&mut T`.
    InOut(Box<Ty>),
    /// A value that may be absent: `Option<T>`, a presence byte then T at T's alignment (§4.6).
    Option(Box<Ty>),
}

impl Ty {
    /// `(size, align)` of the value's fixed part in a record.
    pub fn size_align(&self) -> (usize, usize) {
        match self {
            Ty::Scalar(s) => s.size_align(),
            Ty::Str | Ty::Bytes | Ty::Slice(_) | Ty::SliceMut(_) | Ty::Vec(_) | Ty::VecMut(_) => (BUF_SIZE, BUF_ALIGN),
            Ty::Struct(d) => (d.size, d.align),
            Ty::Array(t, n) => {
                let (s, a) = t.size_align();
                (s * n, a)
            }
            Ty::InOut(t) => t.size_align(),
            Ty::Option(t) => {
                let (s, a) = t.size_align();
                (a.max(1) + s, a.max(1))
            }
        }
    }

    /// True for types whose every bit pattern is a valid value and which hold no references.
    pub fn is_plain(&self) -> bool {
        match self {
            Ty::Scalar(s) => *s != Scalar::Bool,
            Ty::Struct(d) => d.plain,
            Ty::Array(t, _) => t.is_plain(),
            _ => false,
        }
    }

    /// True for types held entirely inside a record (no buffer references): numbers, bools, and
    /// structs and fixed arrays of them. Calls whose values are all fixed can be batched (SPEC §3.3).
    /// An `Option` is not: a batch's columns are arrays, with no room for an absent value.
    pub fn is_fixed(&self) -> bool {
        match self {
            Ty::Scalar(_) => true,
            Ty::Struct(d) => d.fields.iter().all(|f| f.ty.is_fixed()),
            Ty::Array(t, _) => t.is_fixed(),
            _ => false,
        }
    }

    /// The manifest name (SPEC §4.5 grammar).
    pub fn name(&self) -> String {
        match self {
            Ty::Scalar(s) => s.name().to_owned(),
            Ty::Str => "str".to_owned(),
            Ty::Bytes => "bytes".to_owned(),
            Ty::Struct(d) => d.name.to_owned(),
            Ty::Array(t, n) => format!("[{}; {n}]", t.name()),
            Ty::Slice(t) => format!("&[{}]", t.name()),
            Ty::SliceMut(t) => format!("&mut [{}]", t.name()),
            Ty::Vec(t) => format!("Vec<{}>", t.name()),
            Ty::VecMut(t) => format!("&mut Vec<{}>", t.name()),
            Ty::InOut(t) => format!("&mut {}", t.name()),
            Ty::Option(t) => format!("Option<{}>", t.name()),
        }
    }

    /// The element type a generic function's overloads are told apart by (SPEC §7): `T` of
    /// `&[T]`, `&mut [T]`, `Vec<T>`, `&mut Vec<T>` and `&mut T`; any other type itself.
    pub fn element(&self) -> &Ty {
        match self {
            Ty::Slice(t) | Ty::SliceMut(t) | Ty::Vec(t) | Ty::VecMut(t) | Ty::InOut(t) => t,
            _ => self,
        }
    }

    /// The struct types this type mentions, depth first, each before any struct containing it.
    pub fn structs(&self, out: &mut Vec<&'static StructDesc>) {
        match self {
            Ty::Struct(d) => {
                for f in &d.fields {
                    f.ty.structs(out);
                }
                if !out.iter().any(|o| o.name == d.name) {
                    out.push(d);
                }
            }
            Ty::Array(t, _)
            | Ty::Slice(t)
            | Ty::SliceMut(t)
            | Ty::Vec(t)
            | Ty::VecMut(t)
            | Ty::InOut(t)
            | Ty::Option(t) => t.structs(out),
            _ => {}
        }
    }
}

/// Offsets of a sequence of values laid out as a record (SPEC §4.1): the argument record of a call
/// or the result record of a response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecordLayout {
    /// Offset of each value.
    pub offsets: Vec<usize>,
    /// End of the last value: where inline tail data may start (after rounding up to 8).
    pub fixed_size: usize,
}

impl RecordLayout {
    /// Lays out `tys` in order, each at the next multiple of its alignment.
    pub fn of<'t>(tys: impl IntoIterator<Item = &'t Ty>) -> RecordLayout {
        let mut offsets = Vec::new();
        let mut pos: usize = 0;
        for t in tys {
            let (s, a) = t.size_align();
            pos = pos.next_multiple_of(a);
            offsets.push(pos);
            pos += s;
        }
        RecordLayout { offsets, fixed_size: pos }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_layout_with_padding() {
        // struct { u8 a; f64 b; u16 c; } -> a@0, b@8, c@16, size 24, align 8.
        let d = StructDesc::new(
            "P",
            "",
            vec![("a", Ty::Scalar(Scalar::U8)), ("b", Ty::Scalar(Scalar::F64)), ("c", Ty::Scalar(Scalar::U16))],
        );
        assert_eq!(d.fields.iter().map(|f| f.offset).collect::<Vec<_>>(), vec![0, 8, 16]);
        assert_eq!((d.size, d.align, d.plain), (24, 8, true));
    }

    #[test]
    fn strings_make_a_struct_not_plain() {
        let d = StructDesc::new("Person", "", vec![("name", Ty::Str), ("age", Ty::Scalar(Scalar::I64))]);
        assert_eq!((d.size, d.align, d.plain), (32, 8, false));
        assert_eq!(d.fields[1].offset, 24);
    }

    #[test]
    fn record_layout_aligns_each_value() {
        let l = RecordLayout::of(&[Ty::Scalar(Scalar::U8), Ty::Scalar(Scalar::C128), Ty::Str, Ty::Scalar(Scalar::I16)]);
        assert_eq!(l.offsets, vec![0, 8, 24, 48]);
        assert_eq!(l.fixed_size, 50);
    }

    #[test]
    fn names_follow_the_grammar() {
        let t = Ty::VecMut(Box::new(Ty::Array(Box::new(Ty::Scalar(Scalar::F32)), 3)));
        assert_eq!(t.name(), "&mut Vec<[f32; 3]>");
        assert_eq!(Ty::InOut(Box::new(Ty::Scalar(Scalar::I64))).name(), "&mut i64");
    }

    #[test]
    fn an_option_is_a_presence_byte_then_the_value_at_its_alignment() {
        let opt = |t: Ty| Ty::Option(Box::new(t));
        assert_eq!(opt(Ty::Scalar(Scalar::U8)).size_align(), (2, 1));
        assert_eq!(opt(Ty::Scalar(Scalar::I16)).size_align(), (4, 2));
        assert_eq!(opt(Ty::Scalar(Scalar::F64)).size_align(), (16, 8));
        assert_eq!(opt(Ty::Scalar(Scalar::C64)).size_align(), (12, 4));
        assert_eq!(opt(Ty::Slice(Box::new(Ty::Scalar(Scalar::U8)))).size_align(), (32, 8));
        assert_eq!(opt(Ty::Str).name(), "Option<str>");
        assert_eq!(opt(Ty::Slice(Box::new(Ty::Scalar(Scalar::U8)))).name(), "Option<&[u8]>");
        assert!(!opt(Ty::Scalar(Scalar::F64)).is_plain() && !opt(Ty::Scalar(Scalar::F64)).is_fixed());
        let l = RecordLayout::of(&[Ty::Scalar(Scalar::F64), opt(Ty::Scalar(Scalar::F64)), opt(Ty::Scalar(Scalar::U8))]);
        assert_eq!((l.offsets, l.fixed_size), (vec![0, 8, 24], 26));
    }

    #[test]
    fn element_is_what_a_generic_dispatches_on() {
        let f64 = Ty::Scalar(Scalar::F64);
        assert_eq!(Ty::SliceMut(Box::new(f64.clone())).element(), &f64);
        assert_eq!(Ty::VecMut(Box::new(f64.clone())).element(), &f64);
        assert_eq!(f64.element(), &f64);
        assert_eq!(Ty::Str.element(), &Ty::Str);
    }
}
