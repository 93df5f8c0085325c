//! A doorbell as a pipe: ringing writes a byte to the write end, a sleeper polls the read end and
//! empties it. Where there is no eventfd, a pipe is the descriptor every system can poll, pass with
//! `SCM_RIGHTS`, and that a Python client can `select` on.
//!
//! Unlike an eventfd, the two ends differ, so a client gets the end it needs: the write end of the
//! request doorbell, both ends of the response doorbell (it rings its own to wake a thread whose
//! channel another thread closed). A ring into a full pipe fails with `EAGAIN`, which is harmless:
//! the bytes already there will wake the sleeper, who re-checks its sequence word.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};

use rustix::fs::OFlags;
use rustix::io::FdFlags;

/// Bytes read per `read` while emptying the pipe.
const DRAIN_CHUNK: usize = 256;

/// A non-blocking, close-on-exec pipe.
#[derive(Debug)]
pub struct Bell {
    read: OwnedFd,
    write: OwnedFd,
}

impl Bell {
    /// Creates a fresh pipe; both ends non-blocking (the flag belongs to the open file description,
    /// which the client shares) and close-on-exec.
    pub fn new() -> io::Result<Bell> {
        let mut fds = [-1; 2];
        // SAFETY: `fds` has room for the two descriptors `pipe` writes.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `pipe` succeeded, so both are fresh descriptors that nothing else owns.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // Not atomic with the creation (`pipe2` is not everywhere): a process another thread forks and
        // execs in between would inherit the ends, which only delays its end-of-file.
        for end in [&read, &write] {
            rustix::io::fcntl_setfd(end, FdFlags::CLOEXEC)?;
            rustix::fs::fcntl_setfl(end, OFlags::NONBLOCK)?;
        }
        Ok(Bell { read, write })
    }

    /// The read end, which a sleeper polls.
    pub fn wait_fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }

    /// The write end, which a ringer writes to.
    pub fn ring_fd(&self) -> BorrowedFd<'_> {
        self.write.as_fd()
    }

    /// The descriptors a client gets for a channel's request and response doorbells: the request
    /// pipe's write end, the response pipe's read end and write end.
    pub fn client_descriptors<'a>(request: &'a Bell, response: &'a Bell) -> Vec<BorrowedFd<'a>> {
        vec![request.write.as_fd(), response.read.as_fd(), response.write.as_fd()]
    }

    /// Writes one byte (whatever a client writes is as good: only readability matters).
    pub fn ring(&self) {
        // EAGAIN when the pipe is full: the sleeper has wake-ups enough already.
        let _ = rustix::io::write(&self.write, &[1]);
    }

    /// Empties the pipe: every ring so far has been seen.
    pub fn drain(&self) {
        let mut buf = [0u8; DRAIN_CHUNK];
        while matches!(rustix::io::read(&self.read, &mut buf), Ok(n) if n == DRAIN_CHUNK) {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::poll::readable;
    use std::time::Duration;

    fn rang(bell: &Bell) -> bool {
        readable(&[bell.wait_fd()], Some(Duration::ZERO)).unwrap()[0]
    }

    #[test]
    fn a_ring_stays_until_drained_and_a_full_pipe_is_harmless() {
        let bell = Bell::new().unwrap();
        assert!(!rang(&bell));
        for _ in 0..100_000 {
            bell.ring(); // far more than a pipe holds: the surplus is dropped, not blocked on
        }
        assert!(rang(&bell));
        assert!(rang(&bell), "polling does not consume a ring");
        bell.drain();
        assert!(!rang(&bell));
        rustix::io::write(bell.ring_fd(), &1u64.to_ne_bytes()).unwrap(); // as a client rings
        assert!(rang(&bell));
        bell.drain();
        assert!(!rang(&bell));
    }

    #[test]
    fn both_ends_are_non_blocking_and_close_on_exec() {
        let bell = Bell::new().unwrap();
        for end in [bell.wait_fd(), bell.ring_fd()] {
            assert!(rustix::io::fcntl_getfd(end).unwrap().contains(FdFlags::CLOEXEC));
            assert!(rustix::fs::fcntl_getfl(end).unwrap().contains(OFlags::NONBLOCK));
        }
        let (req, resp) = (Bell::new().unwrap(), Bell::new().unwrap());
        let given = Bell::client_descriptors(&req, &resp);
        use std::os::fd::AsRawFd;
        let raw: Vec<i32> = given.iter().map(|f| f.as_raw_fd()).collect();
        assert_eq!(raw, [req.write.as_raw_fd(), resp.read.as_raw_fd(), resp.write.as_raw_fd()]);
    }
}
