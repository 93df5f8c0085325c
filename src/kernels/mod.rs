//! The built-in functions: the article's examples, one function per value kind, and real compute on
//! shared arrays (array math, hashing, authenticated encryption, PRNG streams).

pub mod arrays;
pub mod article;
pub mod compute;
pub mod crypto;
pub mod prng;
pub mod values;

use crate::registry::Registry;

/// Registers every built-in function.
pub fn register(registry: &mut Registry) {
    article::register(registry);
    values::register(registry);
    compute::register(registry);
}
