//! shmcall: compiled Rust functions served to Python through shared memory.
//!
//! The crate is layered; a module only uses the tiers below it:
//!
//! | tier | modules | owns |
//! |---|---|---|
//! | platform | [`sys`] | memfd segments, eventfd doorbells, the seqpacket socket; the only code that calls the OS |
//! | layout | [`layout`], [`sync`] | protocol constants and typed views of the control segment (`protocol/SPEC.md`) |
//! | memory | [`heap`], [`ring`] | per-connection heap allocator; the daemon end of a request/response ring |
//! | values | [`codec`], [`registry`] | untrusted payload bytes to typed Rust values and back; exported functions |
//! | functions | [`kernels`] | the built-in functions |
//! | service | [`server`] | connections, handshake, channel threads, shutdown |
//!
//! To export a function of your own see [`export!`] and [`shm_struct!`].

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
