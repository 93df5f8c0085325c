//! The platform tier: the only code that calls the operating system.
//!
//! One interface, two backends chosen when the crate is compiled:
//!
//! - **Linux** (`linux/`, the tested and fast one): shared memory is a sealed memfd, doorbells are
//!   eventfds, and the control channel is a `SOCK_SEQPACKET` Unix socket; peers are identified with
//!   `SO_PEERCRED`.
//! - **Portable POSIX** (`posix/`, for macOS): shared memory through `shm_open`, doorbells are pipes,
//!   and the control channel is a `SOCK_STREAM` Unix socket carrying length-prefixed frames; peers are
//!   identified with `getpeereid` and `LOCAL_PEERCRED`.
//!
//! Both backends map segments on a huge page boundary ([`mapping`]), wait with `poll` ([`poll`]) and
//! pass descriptors with `SCM_RIGHTS`; the tiers above see the same types and signatures on both.

#[cfg(target_os = "linux")]
mod linux;
// On Linux the portable backend is compiled for its tests only, so that it is exercised here too.
#[cfg(any(test, not(target_os = "linux")))]
mod posix;

#[cfg(not(any(target_os = "linux", target_vendor = "apple")))]
compile_error!("shmcall's platform tier supports Linux and macOS: peer credentials are not written for this system");

/// The backend this build uses; the modules below and the re-exports name only it.
#[cfg(target_os = "linux")]
use linux as backend;
#[cfg(not(target_os = "linux"))]
use posix as backend;

pub mod doorbell;
#[cfg(target_os = "linux")]
pub mod epoll;
pub mod mapping;
pub mod poll;
pub mod socket;

pub use backend::{shmem_huge_pages, Segment};
pub use doorbell::Doorbell;
#[cfg(target_os = "linux")]
pub use epoll::ReadySet;
pub use socket::{PeerCredentials, SeqConn, SeqListener};
