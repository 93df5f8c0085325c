//! The Linux backend: sealed memfd segments, eventfd doorbells, a `SOCK_SEQPACKET` control socket and
//! peer credentials from `SO_PEERCRED`. The one the test suites run against, and the fastest.

pub mod eventfd;
pub mod memfd;
pub mod peer;
pub mod seqpacket;

pub use eventfd::Bell;
pub use memfd::{shmem_huge_pages, Segment};
pub use seqpacket::{accept, socket, Framing};
