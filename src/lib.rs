//! shmcall: compiled Rust functions served to Python through shared memory.
//!
//! The crate is layered. A module uses only the tiers below its own and, within its tier, the
//! modules listed before it ("then"); `kernels` and `ring` do not use each other. `tests/tiers.rs`
//! holds the same table and checks it.
//!
//! | tier | modules | owns |
//! |---|---|---|
//! | platform | [`sys`] | memfd segments, eventfd doorbells, the seqpacket socket; the only code that calls the OS |
//! | layout | [`sync`], then [`layout`] | atomics of shared words; protocol constants, views of the control segment |
//! | memory | [`heap`] | the per-connection heap allocator |
//! | values | [`codec`], then [`registry`] | untrusted payload bytes to typed values and back; exported functions |
//! | functions | [`kernels`]; [`ring`] | the built-in functions; the daemon end of a request/response ring |
//! | service | [`server`] | connections, handshake, channel threads, shutdown |
//!
//! To export a function of your own see [`export!`] and [`shm_struct!`]. [`Registry::new`] starts an
//! empty registry; [`kernels::registry`] is the one `shmcalld` serves, with every built-in function.

pub mod codec;
pub mod heap;
pub mod kernels;
pub mod layout;
pub mod registry;
pub mod ring;
pub mod server;
pub mod sync;
pub mod sys;

pub use num_complex::{Complex32, Complex64};
pub use registry::{Bytes, CallError, Registry};
