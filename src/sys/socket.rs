//! The control socket: a `SOCK_SEQPACKET` Unix socket. Message boundaries are kept by the kernel, so
//! each control message is one `send`, and file descriptors ride along with `SCM_RIGHTS`.

use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::net::{
    AddressFamily, RecvFlags, SendAncillaryBuffer, SendAncillaryMessage, SendFlags, SocketAddrUnix, SocketFlags,
    SocketType,
};

/// Most descriptors one message carries (a channel: control segment and two doorbells).
pub const MAX_FDS: usize = 4;

/// A listening seqpacket socket bound to a path; the path is removed on drop.
#[derive(Debug)]
pub struct SeqListener {
    fd: OwnedFd,
    path: PathBuf,
}

/// One accepted (or connected) seqpacket connection.
#[derive(Debug)]
pub struct SeqConn {
    fd: OwnedFd,
}

fn seqpacket() -> io::Result<OwnedFd> {
    Ok(rustix::net::socket_with(AddressFamily::UNIX, SocketType::SEQPACKET, SocketFlags::CLOEXEC, None)?)
}

impl SeqListener {
    /// Binds `path`. A stale socket file that nobody listens on is replaced; a live one is an error.
    pub fn bind(path: &Path) -> io::Result<SeqListener> {
        SocketAddrUnix::new(path)?; // the final path must fit in sun_path too
        if path.exists() {
            if SeqConn::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("a daemon is already listening on {}", path.display()),
                ));
            }
            std::fs::remove_file(path)?;
        }
        // Bind and listen under a temporary name, then link it into place: a client that sees the
        // path can connect at once (never ECONNREFUSED between bind and listen), and link(2) refuses
        // to replace a socket another daemon published meanwhile.
        let tmp = path.with_file_name(format!(
            ".{}.{}.tmp",
            path.file_name().map_or("socket".into(), |n| n.to_string_lossy()),
            std::process::id()
        ));
        let _ = std::fs::remove_file(&tmp);
        let fd = seqpacket()?;
        rustix::net::bind(&fd, &SocketAddrUnix::new(&tmp)?)?;
        rustix::net::listen(&fd, 128)?;
        let linked = std::fs::hard_link(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
        if let Err(e) = linked {
            return Err(io::Error::new(e.kind(), format!("cannot publish socket {}: {e}", path.display())));
        }
        Ok(SeqListener { fd, path: path.to_owned() })
    }

    /// The listening descriptor, for polling.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The bound path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts one connection (blocks).
    pub fn accept(&self) -> io::Result<SeqConn> {
        Ok(SeqConn { fd: rustix::net::accept_with(&self.fd, SocketFlags::CLOEXEC)? })
    }
}

impl Drop for SeqListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl SeqConn {
    /// Connects to a listening path (used by tests and the stale-socket probe).
    pub fn connect(path: &Path) -> io::Result<SeqConn> {
        let fd = seqpacket()?;
        rustix::net::connect(&fd, &SocketAddrUnix::new(path)?)?;
        Ok(SeqConn { fd })
    }

    /// The connection's descriptor, for polling.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Sends one message with up to [`MAX_FDS`] descriptors attached.
    pub fn send(&self, data: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<()> {
        assert!(fds.len() <= MAX_FDS, "at most {MAX_FDS} descriptors per message");
        let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
            return Err(io::Error::other("control buffer too small for descriptors"));
        }
        let sent = rustix::net::sendmsg(&self.fd, &[IoSlice::new(data)], &mut control, SendFlags::NOSIGNAL)?;
        if sent != data.len() {
            return Err(io::Error::other(format!("short send: {sent} of {} bytes", data.len())));
        }
        Ok(())
    }

    /// Receives one message into `buf`; `Ok(0)` means the peer closed. A message longer than `buf`
    /// is an error (it would be truncated).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        let (n, full) = rustix::net::recv(&self.fd, &mut *buf, RecvFlags::TRUNC)?;
        if full > n {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("control message of {full} bytes exceeds the {n}-byte limit"),
            ));
        }
        Ok(n)
    }

    /// Receives one message of any length (it learns the length first); empty when the peer closed.
    pub fn recv_message(&self) -> io::Result<Vec<u8>> {
        let (_, len) = rustix::net::recv(&self.fd, &mut [0u8; 0][..], RecvFlags::PEEK | RecvFlags::TRUNC)?;
        let mut buf = vec![0u8; len];
        let n = self.recv(&mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }

    /// Drops up to `max` messages already received, without waiting; the count dropped. Closing a
    /// socket with unread messages makes the peer's next receive fail (`ECONNRESET`) even when an
    /// answer is queued for it.
    pub fn discard_pending(&self, max: usize) -> usize {
        let flags = RecvFlags::DONTWAIT | RecvFlags::TRUNC;
        (0..max)
            .take_while(|_| matches!(rustix::net::recv(&self.fd, &mut [0u8; 0][..], flags), Ok((_, n)) if n > 0))
            .count()
    }

    /// The peer's process id, for logs.
    pub fn peer_pid(&self) -> Option<i32> {
        rustix::net::sockopt::socket_peercred(&self.fd).ok().map(|c| c.pid.as_raw_nonzero().get())
    }

    /// Who connected (`SO_PEERCRED`): the kernel's record of the peer's process, user and group at
    /// `connect` time, which the peer cannot forge.
    pub fn peer_credentials(&self) -> io::Result<PeerCredentials> {
        let c = rustix::net::sockopt::socket_peercred(&self.fd)?;
        Ok(PeerCredentials { pid: c.pid.as_raw_nonzero().get(), uid: c.uid.as_raw(), gid: c.gid.as_raw() })
    }

    /// The peer's supplementary groups at `connect` time (`SO_PEERGROUPS`, Linux 4.13).
    pub fn peer_groups(&self) -> io::Result<Vec<u32>> {
        let mut groups: Vec<libc::gid_t> = vec![0; 64];
        loop {
            let mut len = (groups.len() * size_of::<libc::gid_t>()) as libc::socklen_t;
            // SAFETY: `groups` is valid for writes of `len` bytes and `len` is a valid in-out length;
            // the kernel writes at most `len` bytes and reports how many it wrote (or needs).
            let rc = unsafe {
                libc::getsockopt(
                    self.fd.as_raw_fd(),
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
}

/// A connected peer's identity, as the kernel recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerCredentials {
    /// Process id (in the daemon's pid namespace).
    pub pid: i32,
    /// Effective user id.
    pub uid: u32,
    /// Effective group id.
    pub gid: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_socket_is_replaced_live_one_refused() {
        let dir = std::env::temp_dir().join(format!("shmcall-sock-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s");
        {
            let _l = SeqListener::bind(&path).unwrap();
            let err = SeqListener::bind(&path).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        }
        assert!(!path.exists(), "drop removes the socket");
        std::fs::write(&path, b"").unwrap(); // a stale file in the way
        let l = SeqListener::bind(&path).unwrap();
        let c = SeqConn::connect(&path).unwrap();
        let s = l.accept().unwrap();
        c.send(b"hello", &[]).unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(s.recv(&mut buf).unwrap(), 5);
        assert_eq!(&buf[..5], b"hello");
        let mut small = [0u8; 2];
        c.send(b"too long", &[]).unwrap();
        assert!(s.recv(&mut small).is_err());
        let long = vec![7u8; 100_000];
        c.send(&long, &[]).unwrap();
        assert_eq!(s.recv_message().unwrap(), long, "a message of any length");
        let me = s.peer_credentials().unwrap();
        assert_eq!((me.pid as u32, me.uid), (std::process::id(), rustix::process::geteuid().as_raw()));
        assert_eq!(me.gid, rustix::process::getegid().as_raw());
        let mut ours: Vec<u32> = rustix::process::getgroups().unwrap().iter().map(|g| g.as_raw()).collect();
        let mut theirs = s.peer_groups().unwrap();
        ours.sort();
        theirs.sort();
        assert_eq!(theirs, ours, "the peer's supplementary groups are this process's");
        drop(c);
        assert_eq!(s.recv(&mut buf).unwrap(), 0);
        std::fs::remove_dir_all(&dir).ok();
    }
}
