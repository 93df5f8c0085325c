//! The portable POSIX backend, for macOS: `shm_open` segments sized by one `ftruncate`, pipe
//! doorbells, a `SOCK_STREAM` control socket with length-prefixed frames, and peer credentials from
//! `getpeereid` and `LOCAL_PEERCRED`.
//!
//! What it gives up against the Linux backend: memory is not committed ahead (no `fallocate`, so
//! exhaustion can surface as a fault at first touch instead of an allocation error), large blocks get
//! no huge pages, and freed blocks keep their pages until their segment goes.
//!
//! On Linux it is the daemon's backend with the `posix` feature (peer credentials then come from
//! `SO_PEERCRED`, there being no `getpeereid`), and otherwise compiled for its tests only.
#![cfg_attr(all(target_os = "linux", not(feature = "posix")), allow(dead_code, unused_imports))]

pub mod pipe;
pub mod shm;
pub mod stream;

#[cfg(target_vendor = "apple")]
pub mod peer;
#[cfg(target_os = "linux")]
pub use super::linux::peer;

pub use pipe::Bell;
pub use shm::{shmem_huge_pages, Segment};
pub use stream::{accept, socket, Framing};
