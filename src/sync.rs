//! The atomics every shared word is accessed through, from one place so a model checker can swap them.

pub use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
