//! The platform tier: the only code that calls the operating system.
//!
//! One interface, two backends chosen when the crate is compiled:
//!
//! - **Linux** (`linux/`, the tested and fast one): shared memory is a sealed memfd, doorbells are
//!   eventfds, and the control channel is a `SOCK_SEQPACKET` Unix socket; peers are identified with
//!   `SO_PEERCRED`.
//! - **Portable POSIX** (`posix/`, for macOS): shared memory through `shm_open`, doorbells are pipes,
//!   and the control channel is a `SOCK_STREAM` Unix socket carrying length-prefixed frames; peers are
//!   identified with `getpeereid` and `LOCAL_PEERCRED` on macOS, with `SO_PEERCRED` on Linux.
//!
//! Linux builds the Linux backend unless the cargo feature `posix` is on: then it builds the portable
//! one and the thread-per-descriptor workers, as macOS does, so that backend runs and is tested here
//! too (`cargo build --features posix`). Every choice of backend is written as
//! `all(target_os = "linux", not(feature = "posix"))` or its negation.
//!
//! Both backends map segments on a huge page boundary ([`mapping`]), wait with `poll` ([`poll`]) and
//! pass descriptors with `SCM_RIGHTS`; the tiers above see the same types and signatures on both.

// On Linux the Linux backend is always compiled: with `posix` its peer credentials serve the portable
// backend (there is no `getpeereid` on Linux), and its tests run.
#[cfg(target_os = "linux")]
mod linux;
// Without `posix` the portable backend is compiled on Linux for its tests only, so that it is exercised here too.
#[cfg(any(test, feature = "posix", not(target_os = "linux")))]
mod posix;

#[cfg(not(any(target_os = "linux", target_vendor = "apple")))]
compile_error!("shmcall's platform tier supports Linux and macOS: peer credentials are not written for this system");

/// The backend this build uses; the modules below and the re-exports name only it.
#[cfg(all(target_os = "linux", not(feature = "posix")))]
use linux as backend;
#[cfg(any(feature = "posix", not(target_os = "linux")))]
use posix as backend;

/// The backend this build uses, for the daemon's log.
#[cfg(all(target_os = "linux", not(feature = "posix")))]
pub const BACKEND: &str = "Linux backend: memfd segments, eventfd doorbells, seqpacket socket";
/// The backend this build uses, for the daemon's log.
#[cfg(any(feature = "posix", not(target_os = "linux")))]
pub const BACKEND: &str = "portable POSIX backend: shm_open segments, pipe doorbells, stream socket";

/// Whether this backend can back large blocks with huge pages (`Segment::make_huge`).
#[cfg(all(target_os = "linux", not(feature = "posix")))]
pub const MAKES_HUGE_PAGES: bool = true;
/// Whether this backend can back large blocks with huge pages (`Segment::make_huge`): shm_open
/// objects cannot be.
#[cfg(any(feature = "posix", not(target_os = "linux")))]
pub const MAKES_HUGE_PAGES: bool = false;

pub mod doorbell;
#[cfg(all(target_os = "linux", not(feature = "posix")))]
pub mod epoll;
pub mod mapping;
pub mod poll;
pub mod socket;

pub use backend::{shmem_huge_pages, Segment};
pub use doorbell::Doorbell;
#[cfg(all(target_os = "linux", not(feature = "posix")))]
pub use epoll::ReadySet;
pub use socket::{PeerCredentials, SeqConn, SeqListener};
