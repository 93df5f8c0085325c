//! Doorbells: one side rings, the other sleeps on it. An eventfd on Linux, a pipe elsewhere
//! (the backend's `Bell`); the waiting, common to both, is here.
//!
//! A doorbell carries no data; it only wakes a sleeper. Correctness never depends on a ring being
//! delivered exactly once: a sleeper always re-checks the sequence word it waits on (SPEC §5.4), so a
//! spurious or coalesced ring is harmless.

use std::io;
use std::os::fd::BorrowedFd;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec};

use super::backend::Bell;

/// A wake-up signal between threads or processes.
#[derive(Debug)]
pub struct Doorbell {
    bell: Bell,
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
        Ok(Doorbell { bell: Bell::new()? })
    }

    /// The descriptor that becomes readable when the doorbell rings, to poll alongside others. On
    /// Linux it is also the one descriptor a client gets (an eventfd is rung and waited on through the
    /// same descriptor); a channel's client gets [`client_descriptors`].
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.bell.wait_fd()
    }

    /// The descriptor a ringer writes to (on Linux the same as [`Doorbell::fd`]).
    pub fn ring_fd(&self) -> BorrowedFd<'_> {
        self.bell.ring_fd()
    }

    /// Wakes the sleeper.
    pub fn ring(&self) {
        self.bell.ring();
    }

    /// Drains pending rings without sleeping.
    pub fn drain(&self) {
        self.bell.drain();
    }

    /// Sleeps until the doorbell rings, `other` becomes readable (or hangs up), or `timeout` passes.
    pub fn wait(&self, other: Option<BorrowedFd<'_>>, timeout: Option<Duration>) -> io::Result<Wake> {
        let ts = timeout.map(|t| Timespec { tv_sec: t.as_secs() as i64, tv_nsec: t.subsec_nanos() as i64 });
        let mine = self.bell.wait_fd();
        let mut fds = [PollFd::from_borrowed_fd(mine, PollFlags::IN), PollFd::from_borrowed_fd(mine, PollFlags::IN)];
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

/// The descriptors a client gets for a channel's request and response doorbells, in the order of the
/// `channel` message (SPEC §2.3). Linux: the two eventfds. With pipes, whose ends differ: the request
/// pipe's write end, then the response pipe's read end and write end (a client rings its own response
/// doorbell to wake a thread whose channel another thread closed).
pub fn client_descriptors<'a>(request: &'a Doorbell, response: &'a Doorbell) -> Vec<BorrowedFd<'a>> {
    Bell::client_descriptors(&request.bell, &response.bell)
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

    #[test]
    fn a_ring_through_the_ring_descriptor_wakes_the_sleeper() {
        let bell = Doorbell::new().unwrap();
        rustix::io::write(bell.ring_fd(), &1u64.to_ne_bytes()).unwrap();
        assert_eq!(bell.wait(None, Some(Duration::from_secs(5))).unwrap(), Wake::Rang);
        assert_eq!(
            client_descriptors(&bell, &bell).len(),
            if cfg!(all(target_os = "linux", not(feature = "posix"))) { 2 } else { 3 }
        );
    }
}
