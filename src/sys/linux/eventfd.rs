//! A doorbell as one non-blocking eventfd: the same descriptor is rung (written) and waited on (polled,
//! then read), by the daemon and by the client it is passed to (SPEC §2.6).

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::event::EventfdFlags;

/// An eventfd in counter mode.
#[derive(Debug)]
pub struct Bell {
    fd: OwnedFd,
}

impl Bell {
    /// Creates a fresh eventfd, `EFD_NONBLOCK | EFD_CLOEXEC`.
    pub fn new() -> io::Result<Bell> {
        Ok(Bell { fd: rustix::event::eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)? })
    }

    /// The descriptor a sleeper polls.
    pub fn wait_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The descriptor a ringer writes to: the same eventfd.
    pub fn ring_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The descriptors a client gets for a channel's request and response doorbells (SPEC §2.3): one
    /// eventfd each, which it both rings and waits on.
    pub fn client_descriptors<'a>(request: &'a Bell, response: &'a Bell) -> Vec<BorrowedFd<'a>> {
        vec![request.fd.as_fd(), response.fd.as_fd()]
    }

    /// Adds 1 to the counter.
    pub fn ring(&self) {
        // EAGAIN only when the counter would overflow u64, i.e. never in practice; a lost ring is
        // harmless anyway because sleepers re-check their sequence word.
        let _ = rustix::io::write(&self.fd, &1u64.to_ne_bytes());
    }

    /// Resets the counter: one read takes all pending rings.
    pub fn drain(&self) {
        let mut buf = [0u8; 8];
        let _ = rustix::io::read(&self.fd, &mut buf);
    }
}
