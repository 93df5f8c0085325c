//! Who is at the other end of a Unix socket, as the kernel recorded it at `connect`: `SO_PEERCRED`
//! for the process, user and group, `SO_PEERGROUPS` (Linux 4.13) for the supplementary groups.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use crate::sys::socket::PeerCredentials;

/// The peer's process id, user and group (`SO_PEERCRED`), which the peer cannot forge.
pub fn credentials(fd: BorrowedFd<'_>) -> io::Result<PeerCredentials> {
    let c = rustix::net::sockopt::socket_peercred(fd)?;
    Ok(PeerCredentials { pid: c.pid.as_raw_nonzero().get(), uid: c.uid.as_raw(), gid: c.gid.as_raw() })
}

/// The peer's process id, for logs.
pub fn pid(fd: BorrowedFd<'_>) -> Option<i32> {
    rustix::net::sockopt::socket_peercred(fd).ok().map(|c| c.pid.as_raw_nonzero().get())
}

/// The peer's supplementary groups (`SO_PEERGROUPS`).
pub fn groups(fd: BorrowedFd<'_>) -> io::Result<Vec<u32>> {
    let mut groups: Vec<libc::gid_t> = vec![0; 64];
    loop {
        let mut len = (groups.len() * size_of::<libc::gid_t>()) as libc::socklen_t;
        // SAFETY: `groups` is valid for writes of `len` bytes and `len` is a valid in-out length;
        // the kernel writes at most `len` bytes and reports how many it wrote (or needs).
        let rc = unsafe {
            libc::getsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_PEERGROUPS,
                groups.as_mut_ptr().cast(),
                &mut len,
            )
        };
        let needed = len as usize / size_of::<libc::gid_t>();
        if rc == 0 {
            groups.truncate(needed);
            return Ok(groups);
        }
        let e = io::Error::last_os_error();
        // ERANGE: the buffer was short and `len` now holds the size needed.
        if e.raw_os_error() != Some(libc::ERANGE) || needed <= groups.len() {
            return Err(e);
        }
        groups.resize(needed, 0);
    }
}
