//! Exported functions: their typed signatures, the traits that turn untrusted payloads into typed
//! arguments and results back into payloads, and the manifest the daemon publishes.
//!
//! A function is exported with [`export!`](crate::export) over an ordinary Rust `fn`; struct types
//! with [`shm_struct!`](crate::shm_struct). The traits here are what those macros expand to:
//! [`Wire`] (a value with a fixed record part), [`Param`] (how each parameter kind is decoded and
//! lent to the function), [`Ret`] (how results are encoded).

mod batch;
mod error;
mod function;
mod macros;
pub mod manifest;
mod param;
mod ret;
pub mod ty;
mod wire;

pub use batch::{run_rows, Rows, RunBatch};
pub use error::{Bytes, CallError};
pub use function::{Function, Generic, Invoke, Registry};
pub use param::Param;
pub use ret::{Filled, Ret, RetItem};
pub use ty::{FieldDesc, RecordLayout, Scalar, StructDesc, Ty};
pub use wire::Wire;

/// The result type exported functions usually return.
pub type Result<T, E = CallError> = std::result::Result<T, E>;
