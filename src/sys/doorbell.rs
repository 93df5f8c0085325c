//! Doorbells: non-blocking eventfds one side rings and the other sleeps on.
//!
//! A doorbell carries no data; it only wakes a sleeper. Correctness never depends on a ring being
//! delivered exactly once: a sleeper always re-checks the sequence word it waits on (SPEC §5.4), so a
//! spurious or coalesced ring is harmless.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use rustix::event::{EventfdFlags, PollFd, PollFlags, Timespec};

/// An eventfd used as a wake-up signal.
#[derive(Debug)]
pub struct Doorbell {
    fd: OwnedFd,
}

/// Why [`Doorbell::wait`] returned.
#[derive(Debug, PartialEq, Eq)]
pub enum Wake {
    /// The doorbell rang (its count was drained).
    Rang,
    /// The other descriptor became readable or hung up.
    Other,
    /// The timeout passed.
    TimedOut,
}

impl Doorbell {
    /// Creates a fresh doorbell.
    pub fn new() -> io::Result<Doorbell> {
        let fd = rustix::event::eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        Ok(Doorbell { fd })
    }

    /// The eventfd, to pass to the client.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Wakes the sleeper (adds 1 to the counter).
    pub fn ring(&self) {
        // EAGAIN only when the counter would overflow u64, i.e. never in practice; a lost ring is
        // harmless anyway because sleepers re-check their sequence word.
        let _ = rustix::io::write(&self.fd, &1u64.to_ne_bytes());
    }

    /// Drains pending rings without sleeping.
    pub fn drain(&self) {
        let mut buf = [0u8; 8];
        let _ = rustix::io::read(&self.fd, &mut buf);
    }

    /// Sleeps until the doorbell rings, `other` becomes readable (or hangs up), or `timeout` passes.
    pub fn wait(&self, other: Option<BorrowedFd<'_>>, timeout: Option<Duration>) -> io::Result<Wake> {
        let ts = timeout.map(|t| Timespec { tv_sec: t.as_secs() as i64, tv_nsec: t.subsec_nanos() as i64 });
        let mut fds = [PollFd::new(&self.fd, PollFlags::IN), PollFd::new(&self.fd, PollFlags::IN)];
        let n = match other {
            Some(o) => {
                fds[1] = PollFd::from_borrowed_fd(o, PollFlags::IN);
                2
            }
            None => 1,
        };
        loop {
            match rustix::event::poll(&mut fds[..n], ts.as_ref()) {
                Ok(0) => return Ok(Wake::TimedOut),
                Ok(_) => break,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        if n == 2 && !fds[1].revents().is_empty() {
            return Ok(Wake::Other);
        }
        self.drain();
        Ok(Wake::Rang)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_then_wait_does_not_sleep() {
        let bell = Doorbell::new().unwrap();
        bell.ring();
        bell.ring();
        assert_eq!(bell.wait(None, Some(Duration::from_secs(5))).unwrap(), Wake::Rang);
        assert_eq!(bell.wait(None, Some(Duration::from_millis(1))).unwrap(), Wake::TimedOut);
    }

    #[test]
    fn other_fd_wakes() {
        let bell = Doorbell::new().unwrap();
        let other = Doorbell::new().unwrap();
        other.ring();
        assert_eq!(bell.wait(Some(other.fd()), Some(Duration::from_secs(5))).unwrap(), Wake::Other);
    }
}
