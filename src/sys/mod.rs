//! The platform tier: the only code that calls the operating system. Shared memory is a sealed memfd
//! mapped on a huge page boundary, doorbells are eventfds, and the control channel is a `SOCK_SEQPACKET` Unix
//! socket that carries file descriptors with `SCM_RIGHTS`. Linux only.

pub mod doorbell;
pub mod mapping;
pub mod memfd;
pub mod poll;
pub mod socket;

pub use doorbell::Doorbell;
pub use memfd::{shmem_huge_pages, Segment};
pub use socket::{PeerCredentials, SeqConn, SeqListener};
