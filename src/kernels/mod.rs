//! The built-in functions: the article's examples, one function per value kind, and real compute on
//! shared arrays (array math, hashing, authenticated encryption, PRNG streams).

// A function's doc is its Python docstring too: `a[i]` there is an index, not a link.
#![allow(rustdoc::broken_intra_doc_links)]

pub mod arrays;
pub mod article;
pub mod compute;
pub mod crypto;
pub mod prng;
pub mod values;

use crate::registry::Registry;

/// A registry with every built-in function: what `shmcalld` serves.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    register(&mut r);
    r
}

/// Adds every built-in function to `registry`.
pub fn register(registry: &mut Registry) {
    article::register(registry);
    values::register(registry);
    compute::register(registry);
}
