//! shmcall: compiled Rust functions served to Python through shared memory.
//!
//! A daemon of your own is a few lines: export functions with [`export!`] (and struct types with
//! [`shm_struct!`]), then hand the generated `register` to a [`Daemon`], which is the whole program:
//!
//! ```no_run
//! shmcall::export! {
//!     /// Adds two integers; overflow is an error.
//!     pub fn add(a: i64, b: i64) -> shmcall::Result<i64> {
//!         a.checked_add(b).ok_or_else(|| shmcall::CallError::new("integer overflow"))
//!     }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     shmcall::Daemon::new("calc", env!("CARGO_PKG_VERSION")).register(register).main()
//! }
//! ```
//!
//! The program then has the command line of `shmcalld` (`serve`, `status`, `functions`, `stop`) and
//! Python reaches it with `shmcall.connect(socket)`. The built-in functions are [`kernels`] (cargo
//! feature `builtins`, on by default; a daemon without them sets `default-features = false`).
//!
//! # Public surface
//!
//! [`Daemon`], [`export!`], [`shm_struct!`], [`Registry`], [`CallError`], [`Result`], [`Bytes`],
//! [`Filled`], [`Complex32`], [`Complex64`] and [`kernels`] are the library. The other modules are
//! public only because the macros' expansions, the tests and the benchmarks reach into them; they are
//! hidden from these docs and internal: no stability promise.
//!
//! # Tiers
//!
//! The crate is layered. A module uses only the tiers below its own and, within its tier, the
//! modules listed before it ("then"); `kernels` and `ring` do not use each other. `tests/tiers.rs`
//! holds the same table and checks it.
//!
//! | tier | modules | owns |
//! |---|---|---|
//! | platform | `sys` | memfd segments, eventfd doorbells, the seqpacket socket; the only code that calls the OS |
//! | layout | `sync`, then `layout` | atomics of shared words; protocol constants, views of the control segment |
//! | memory | `heap` | the per-connection heap allocator |
//! | values | `codec`, then `registry` | untrusted payload bytes to typed values and back; exported functions |
//! | functions | [`kernels`]; `ring` | the built-in functions; the daemon end of a request/response ring |
//! | service | `server` | connections, handshake, channel threads, status, shutdown |
//! | program | `daemon` | [`Daemon`]: a daemon's command line (`serve`, `status`, `functions`, `stop`) |

#[doc(hidden)]
pub mod codec;
mod daemon;
#[doc(hidden)]
pub mod heap;
#[cfg(feature = "builtins")]
pub mod kernels;
#[doc(hidden)]
pub mod layout;
#[doc(hidden)]
pub mod registry;
#[doc(hidden)]
pub mod ring;
#[doc(hidden)]
pub mod server;
#[doc(hidden)]
pub mod sync;
#[doc(hidden)]
pub mod sys;

pub use daemon::Daemon;
pub use num_complex::{Complex32, Complex64};
pub use registry::{Bytes, CallError, Filled, Registry, Result};
