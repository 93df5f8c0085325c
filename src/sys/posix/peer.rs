//! Who is at the other end of a Unix socket on macOS, as the kernel recorded it at `connect`:
//! `getpeereid` for the effective user and group, `LOCAL_PEERPID` for the process, `LOCAL_PEERCRED`
//! for the groups. None of it can be forged by the peer.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd};

use crate::sys::socket::PeerCredentials;

/// The peer's process id, effective user and effective group.
pub fn credentials(fd: BorrowedFd<'_>) -> io::Result<PeerCredentials> {
    let (mut uid, mut gid) = (0, 0);
    // SAFETY: both pointers are to live, writable locals of the types `getpeereid` writes.
    if unsafe { libc::getpeereid(fd.as_raw_fd(), &mut uid, &mut gid) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let pid: libc::pid_t = local_option(fd, libc::LOCAL_PEERPID)?;
    Ok(PeerCredentials { pid, uid, gid })
}

/// The peer's process id, for logs.
pub fn pid(fd: BorrowedFd<'_>) -> Option<i32> {
    local_option::<libc::pid_t>(fd, libc::LOCAL_PEERPID).ok()
}

/// The peer's groups: its effective group first, then at most 15 supplementary ones (the kernel
/// records no more; a gid the daemon admits beyond them is not seen).
pub fn groups(fd: BorrowedFd<'_>) -> io::Result<Vec<u32>> {
    let cred: libc::xucred = local_option(fd, libc::LOCAL_PEERCRED)?;
    if cred.cr_version != libc::XUCRED_VERSION {
        return Err(io::Error::other(format!("unknown peer credential version {}", cred.cr_version)));
    }
    let n = usize::try_from(cred.cr_ngroups).unwrap_or(0).min(cred.cr_groups.len());
    Ok(cred.cr_groups[..n].to_vec())
}

/// A socket option of the local (Unix) socket level, of a plain type `T` the kernel fills.
fn local_option<T: Copy>(fd: BorrowedFd<'_>, option: libc::c_int) -> io::Result<T> {
    let mut value = MaybeUninit::<T>::zeroed();
    let mut len = size_of::<T>() as libc::socklen_t;
    // SAFETY: `value` is valid for writes of `len` bytes, and `len` is a valid in-out length.
    let rc = unsafe { libc::getsockopt(fd.as_raw_fd(), libc::SOL_LOCAL, option, value.as_mut_ptr().cast(), &mut len) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    if len as usize != size_of::<T>() {
        return Err(io::Error::other(format!("peer option {option}: {len} bytes, expected {}", size_of::<T>())));
    }
    // SAFETY: zeroed, then filled by the kernel; `T` is a plain C type (pid_t, xucred) for which
    // any bytes are a value.
    Ok(unsafe { value.assume_init() })
}
