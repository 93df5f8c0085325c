//! The two macros a function author uses: [`export!`](crate::export) and
//! [`shm_struct!`](crate::shm_struct).

/// Exports ordinary Rust functions with their typed signatures.
///
/// Write the functions inside the macro as you would outside it; it keeps them as they are and adds
/// a `pub fn register(registry: &mut shmcall::Registry)` to the module. Doc comments become the
/// Python docstrings, parameter names the Python parameter names.
///
/// ```
/// shmcall::export! {
///     /// Adds two integers; overflow is an error.
///     pub fn add(a: i64, b: i64) -> shmcall::Result<i64> {
///         a.checked_add(b).ok_or_else(|| shmcall::CallError::new("integer overflow"))
///     }
///     /// Multiplies every element by k, in place.
///     pub fn scale(xs: &mut [f64], k: f64) {
///         xs.iter_mut().for_each(|x| *x *= k);
///     }
/// }
///
/// let mut registry = shmcall::Registry::new();
/// register(&mut registry);
/// assert!(registry.id("add").is_some() && registry.id("scale").is_some());
/// ```
///
/// **Generic functions.** A function generic over one type, with the types to export it for,
/// `<T: Bounds in [types]>`, is exported once: Python sees one function (`c.largest`) with one
/// docstring and a signature naming every type, and calls the overload for its argument's element
/// type. Each type is an overload with an id of its own, `largest[f64]` in the daemon's counts. The
/// overloads are told apart by the first parameter whose element type (`T` of `&[T]`, `&mut [T]`,
/// `Vec<T>`, `&mut Vec<T>`, `&mut T`, else the type itself) differs between them. The bounds are
/// trait paths joined by `+`; the Rust function is an ordinary generic function with them.
///
/// ```
/// shmcall::export! {
///     /// The largest element; an empty array is an error.
///     pub fn largest<T: Copy + PartialOrd in [f64, i64]>(xs: &[T]) -> shmcall::Result<T> {
///         let mut it = xs.iter().copied();
///         let first = it.next().ok_or_else(|| shmcall::CallError::new("empty array"))?;
///         Ok(it.fold(first, |m, x| if x > m { x } else { m }))
///     }
/// }
///
/// assert_eq!(largest(&[1.0, 3.0, 2.0]).unwrap(), 3.0);
/// let mut registry = shmcall::Registry::new();
/// register(&mut registry);
/// assert!(registry.generic("largest").is_some());
/// assert!(registry.id("largest[f64]").is_some() && registry.id("largest[i64]").is_some());
/// ```
#[macro_export]
macro_rules! export {
    ($(
        $(#[doc = $doc:literal])*
        $vis:vis fn $name:ident
        $(< $T:ident $(: $($bound:ident)::+ $(+ $($bounds:ident)::+)*)? in [$($t:ty),+ $(,)?] >)?
        ( $($arg:ident : $ty:ty),* $(,)? ) $(-> $ret:ty)? $body:block
    )*) => {
        $(
            $(#[doc = $doc])*
            // A remote signature mirrors the Python call; long parameter lists are the user's choice.
            #[allow(clippy::too_many_arguments)]
            $vis fn $name $(<$T $(: $($bound)::+ $(+ $($bounds)::+)*)?>)? ($($arg: $ty),*) $(-> $ret)? $body
        )*

        /// Adds this module's exported functions to `registry`.
        pub fn register(registry: &mut $crate::registry::Registry) {
            $(
                $crate::__export_register!(
                    registry, $name, [$($doc),*], ($($arg: $ty),*), ($($ret)?) $(, $T in [$($t),+])?
                );
            )*
        }
    };
}

/// Registers one function of [`export!`](crate::export): a plain one, or a generic one's overloads.
#[macro_export]
#[doc(hidden)]
macro_rules! __export_register {
    ($registry:ident, $name:ident, [$($doc:literal),*], $args:tt, $ret:tt) => {
        $registry.add($crate::__export_function!([$name], $name, concat!($($doc, "\n",)*), $args, $ret));
    };
    ($registry:ident, $name:ident, [$($doc:literal),*], $args:tt, $ret:tt, $T:ident in [$($t:ty),+]) => {{
        const DOC: &str = concat!($($doc, "\n",)*);
        // Each overload's signature is the function's with `T` the overload's type.
        $registry.add_generic(vec![$({
            type $T = $t;
            $crate::__export_function!([$name::<$T>], $name, DOC, $args, $ret)
        }),+]);
    }};
}

/// One [`Function`](crate::registry::Function): decoding, the call `$call(...)`, encoding.
#[macro_export]
#[doc(hidden)]
macro_rules! __export_function {
    ([$($call:tt)+], $name:ident, $doc:expr, ($($arg:ident : $ty:ty),*), ($($ret:ty)?)) => {{
        /// Decodes the arguments, calls the function, encodes the results.
        #[allow(unused_mut, unused_variables)]
        #[inline(always)]
        fn body(
            r: &$crate::codec::ArgReader<'_>,
            w: &mut $crate::codec::RetWriter<'_>,
        ) -> ::core::result::Result<(), $crate::codec::Failure> {
            $(let mut $arg = <$ty as $crate::registry::Param>::decode(r)?;)*
            r.finish()?;
            let out = $($call)+($(<$ty as $crate::registry::Param>::bind(&mut $arg)),*);
            $crate::registry::Ret::write(out, w)?;
            $(<$ty as $crate::registry::Param>::write_back(&$arg, w)?;)*
            Ok(())
        }
        $crate::registry::Function::new(
            stringify!($name),
            $doc,
            vec![$((stringify!($arg), <$ty as $crate::registry::Param>::ty())),*],
            <$crate::__ret_type!($($ret)?) as $crate::registry::Ret>::tys(),
            body,
            |rows, results| $crate::registry::run_rows(body, rows, results),
        )
    }};
}

#[macro_export]
#[doc(hidden)]
macro_rules! __ret_type {
    () => {
        ()
    };
    ($t:ty) => {
        $t
    };
}

/// Declares a struct type once, on the Rust side, with C layout; Python receives a matching type.
///
/// Fields may be numbers, `bool`, complex numbers, `String`, `shmcall::Bytes`, fixed arrays and other
/// `shm_struct!` types. Write `plain struct` for a struct of numbers only (no bool, no text): its
/// values can then be shared in place, so functions can take `&[T]` / `&mut [T]` of it.
///
/// ```
/// shmcall::shm_struct! {
///     /// A person.
///     pub struct Person { pub name: String, pub age: i64 }
/// }
/// shmcall::shm_struct! {
///     pub plain struct Point { pub x: f64, pub y: f64 }
/// }
/// shmcall::export! {
///     /// Says who it is.
///     pub fn introduce(p: Person) -> String {
///         format!("{}, {}", p.name, p.age)
///     }
///     /// Moves every point, in place.
///     pub fn shift(points: &mut [Point], dx: f64) {
///         points.iter_mut().for_each(|p| p.x += dx);
///     }
/// }
/// ```
#[macro_export]
macro_rules! shm_struct {
    (
        $(#[doc = $doc:literal])*
        $vis:vis plain struct $name:ident { $( $(#[doc = $fdoc:literal])* $fvis:vis $field:ident : $fty:ty ),* $(,)? }
    ) => {
        $(#[doc = $doc])*
        #[repr(C)]
        #[derive(Debug, Clone, Copy, PartialEq, Default)]
        $vis struct $name { $( $(#[doc = $fdoc])* $fvis $field: $fty ),* }

        // SAFETY: repr(C); every field is Plain (the function below does not compile otherwise); the
        // wire layout is asserted equal to the Rust layout when the descriptor is first built.
        unsafe impl $crate::layout::Plain for $name {}
        const _: () = {
            fn assert_plain<T: $crate::layout::Plain>() {}
            #[allow(dead_code)]
            fn every_field_is_plain() { $(assert_plain::<$fty>();)* }
        };
        $crate::__struct_impls!($name, concat!($($doc, "\n",)*), true, $($field : $fty),*);
    };
    (
        $(#[doc = $doc:literal])*
        $vis:vis struct $name:ident { $( $(#[doc = $fdoc:literal])* $fvis:vis $field:ident : $fty:ty ),* $(,)? }
    ) => {
        $(#[doc = $doc])*
        #[repr(C)]
        #[derive(Debug, Clone, PartialEq, Default)]
        $vis struct $name { $( $(#[doc = $fdoc])* $fvis $field: $fty ),* }
        $crate::__struct_impls!($name, concat!($($doc, "\n",)*), false, $($field : $fty),*);
    };
}

#[macro_export]
#[doc(hidden)]
macro_rules! __struct_impls {
    ($name:ident, $doc:expr, $plain:expr, $($field:ident : $fty:ty),*) => {
        impl $name {
            /// The struct's wire layout (SPEC §4.2).
            pub fn shm_desc() -> &'static $crate::registry::StructDesc {
                static DESC: ::std::sync::OnceLock<$crate::registry::StructDesc> = ::std::sync::OnceLock::new();
                DESC.get_or_init(|| {
                    let d = $crate::registry::StructDesc::new(
                        stringify!($name),
                        $doc,
                        vec![$((stringify!($field), <$fty as $crate::registry::Wire>::ty())),*],
                    );
                    if $plain {
                        d.assert_matches_rust(
                            &[$(::core::mem::offset_of!($name, $field)),*],
                            ::core::mem::size_of::<$name>(),
                            ::core::mem::align_of::<$name>(),
                        );
                    }
                    d
                })
            }
        }

        impl $crate::registry::Wire for $name {
            fn ty() -> $crate::registry::Ty {
                $crate::registry::Ty::Struct(Self::shm_desc())
            }
            fn size_align() -> (usize, usize) {
                let d = Self::shm_desc();
                (d.size, d.align)
            }
            fn read(r: &$crate::codec::ArgReader<'_>, at: usize) -> ::core::result::Result<Self, $crate::codec::Failure> {
                let mut fields = Self::shm_desc().fields.iter();
                Ok($name { $($field: <$fty as $crate::registry::Wire>::read(r, at + fields.next().expect("field").offset)?),* })
            }
            fn write(&self, w: &mut $crate::codec::RetWriter<'_>, at: usize) -> ::core::result::Result<(), $crate::codec::Failure> {
                let mut fields = Self::shm_desc().fields.iter();
                $(<$fty as $crate::registry::Wire>::write(&self.$field, w, at + fields.next().expect("field").offset)?;)*
                Ok(())
            }
        }

        $crate::__by_value_param!($name);
    };
}
