//! The Linux backend: sealed memfd segments, eventfd doorbells, a `SOCK_SEQPACKET` control socket and
//! peer credentials from `SO_PEERCRED`. The one the test suites run against, and the fastest.
//!
//! With the `posix` feature only its peer credentials are used (by the portable backend), the rest
//! compiled for its tests.
#![cfg_attr(feature = "posix", allow(dead_code, unused_imports))]

pub mod eventfd;
pub mod memfd;
pub mod peer;
pub mod seqpacket;

pub use eventfd::Bell;
pub use memfd::{shmem_huge_pages, Segment};
pub use seqpacket::{accept, socket, Framing};
