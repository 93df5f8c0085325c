//! Waiting for any of a few descriptors to become readable (or hang up); for the control paths.
//! The ring's hot wait is [`Doorbell::wait`](super::Doorbell::wait), which does not allocate.

use std::io;
use std::os::fd::BorrowedFd;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec};

/// Blocks until one of `fds` is readable or hung up, or `timeout` passes; returns which are ready.
pub fn readable(fds: &[BorrowedFd<'_>], timeout: Option<Duration>) -> io::Result<Vec<bool>> {
    let ts = timeout.map(|t| Timespec { tv_sec: t.as_secs() as i64, tv_nsec: t.subsec_nanos() as i64 });
    let mut polls: Vec<PollFd<'_>> = fds.iter().map(|fd| PollFd::from_borrowed_fd(*fd, PollFlags::IN)).collect();
    loop {
        match rustix::event::poll(&mut polls, ts.as_ref()) {
            Ok(_) => return Ok(polls.iter().map(|p| !p.revents().is_empty()).collect()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}
