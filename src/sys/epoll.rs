//! A readiness set: one epoll instance over many descriptors, each armed for one readiness report at
//! a time (`EPOLLONESHOT`). A descriptor that becomes readable is reported to one waiting thread, and
//! not again until that thread re-arms it, so whatever the descriptor stands for is handled by one
//! thread at a time. Re-arming a descriptor that is still readable reports it at once: a ring that
//! arrives while the thread handles the previous one is not lost. Linux only.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use rustix::event::epoll::{self, CreateFlags, Event, EventData, EventFlags};
use rustix::event::Timespec;

/// An epoll instance.
#[derive(Debug)]
pub struct ReadySet {
    fd: OwnedFd,
}

impl ReadySet {
    /// An empty set.
    pub fn new() -> io::Result<ReadySet> {
        Ok(ReadySet { fd: epoll::create(CreateFlags::CLOEXEC)? })
    }

    /// Watches `fd` for one readiness report under `token`.
    pub fn add_once(&self, fd: BorrowedFd<'_>, token: u64) -> io::Result<()> {
        Ok(epoll::add(&self.fd, fd, EventData::new_u64(token), EventFlags::IN | EventFlags::ONESHOT)?)
    }

    /// Watches `fd` under `token` for as long as it stays readable (every waiter may see it).
    pub fn add_level(&self, fd: BorrowedFd<'_>, token: u64) -> io::Result<()> {
        Ok(epoll::add(&self.fd, fd, EventData::new_u64(token), EventFlags::IN)?)
    }

    /// Arms `fd` (added with `add_once`) for its next readiness report.
    pub fn rearm(&self, fd: BorrowedFd<'_>, token: u64) -> io::Result<()> {
        Ok(epoll::modify(&self.fd, fd, EventData::new_u64(token), EventFlags::IN | EventFlags::ONESHOT)?)
    }

    /// Stops watching `fd`. Needed before the descriptor closes whenever another process holds a
    /// copy of it (a client's doorbell): the set watches the open file, not the descriptor number.
    pub fn remove(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        Ok(epoll::delete(&self.fd, fd)?)
    }

    /// Waits for one ready descriptor and returns its token; None if `timeout` passes first.
    pub fn wait_one(&self, timeout: Option<Duration>) -> io::Result<Option<u64>> {
        let ts = timeout.map(|t| Timespec { tv_sec: t.as_secs() as i64, tv_nsec: t.subsec_nanos() as i64 });
        let mut events = [MaybeUninit::<Event>::uninit(); 1];
        loop {
            match epoll::wait(&self.fd, &mut events[..], ts.as_ref()) {
                Ok((ready, _)) => return Ok(ready.first().map(|e| e.data.u64())),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl AsFd for ReadySet {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::Doorbell;

    #[test]
    fn a_ring_is_reported_once_until_rearmed() {
        let set = ReadySet::new().unwrap();
        let bell = Doorbell::new().unwrap();
        set.add_once(bell.fd(), 7).unwrap();
        assert_eq!(set.wait_one(Some(Duration::from_millis(1))).unwrap(), None);
        bell.ring();
        assert_eq!(set.wait_one(Some(Duration::from_secs(5))).unwrap(), Some(7));
        assert_eq!(set.wait_one(Some(Duration::from_millis(1))).unwrap(), None, "not re-armed");
        set.rearm(bell.fd(), 7).unwrap();
        assert_eq!(set.wait_one(Some(Duration::from_secs(5))).unwrap(), Some(7), "still readable");
        bell.drain();
        set.rearm(bell.fd(), 7).unwrap();
        assert_eq!(set.wait_one(Some(Duration::from_millis(1))).unwrap(), None);
        set.remove(bell.fd()).unwrap();
        bell.ring();
        assert_eq!(set.wait_one(Some(Duration::from_millis(1))).unwrap(), None);
    }
}
