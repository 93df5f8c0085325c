//! Untrusted payload bytes to typed Rust values, and typed results back to payload bytes (SPEC §4).
//!
//! The reader works on a daemon-private copy of the request payload; every offset, length, segment
//! number and alignment is checked before use, and arrays a function may write are checked not to
//! overlap anything else borrowed by the same call. A violation is a [`Failure::BadRequest`], never a
//! panic.

mod error;
pub mod reader;
mod scratch;
mod writer;

pub use error::Failure;
pub use reader::ArgReader;
pub use scratch::Scratch;
pub use writer::RetWriter;
