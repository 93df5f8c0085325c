//! The control socket: a Unix socket carrying one JSON message at a time, with file descriptors
//! attached by `SCM_RIGHTS`. On Linux it is a `SOCK_SEQPACKET` socket whose messages the kernel frames;
//! elsewhere a `SOCK_STREAM` socket with length-prefixed frames (the backend's `Framing`). Binding,
//! publishing and accepting are the same on both, and are here.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::net::SocketAddrUnix;

use super::backend::{self, Framing};

/// Most descriptors one message carries (a channel: its control segment and its doorbells, two
/// eventfds on Linux, three pipe ends elsewhere).
pub const MAX_FDS: usize = 4;

/// A listening control socket bound to a path; the path is removed on drop.
#[derive(Debug)]
pub struct SeqListener {
    fd: OwnedFd,
    path: PathBuf,
}

/// One accepted (or connected) control connection.
#[derive(Debug)]
pub struct SeqConn {
    fd: OwnedFd,
    framing: Framing,
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
        let fd = backend::socket()?;
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
        Ok(SeqConn { fd: backend::accept(self.fd.as_fd())?, framing: Framing::default() })
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
        let fd = backend::socket()?;
        rustix::net::connect(&fd, &SocketAddrUnix::new(path)?)?;
        Ok(SeqConn { fd, framing: Framing::default() })
    }

    /// The connection's descriptor, for polling.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Sends one message with up to [`MAX_FDS`] descriptors attached.
    pub fn send(&self, data: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<()> {
        assert!(fds.len() <= MAX_FDS, "at most {MAX_FDS} descriptors per message");
        self.framing.send(self.fd.as_fd(), data, fds)
    }

    /// Receives one message into `buf`; `Ok(0)` means the peer closed. A message longer than `buf`
    /// is an error (it would be truncated).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.framing.recv(self.fd.as_fd(), buf)
    }

    /// Receives one message of any length (it learns the length first); empty when the peer closed.
    pub fn recv_message(&self) -> io::Result<Vec<u8>> {
        self.framing.recv_message(self.fd.as_fd())
    }

    /// Drops up to `max` messages already received, without waiting; the count dropped (more than
    /// zero when anything was). Closing a socket with unread messages makes the peer's next receive
    /// fail (`ECONNRESET`) even when an answer is queued for it.
    pub fn discard_pending(&self, max: usize) -> usize {
        self.framing.discard_pending(self.fd.as_fd(), max)
    }

    /// The peer's process id, for logs.
    pub fn peer_pid(&self) -> Option<i32> {
        backend::peer::pid(self.fd.as_fd())
    }

    /// Who connected: the kernel's record of the peer's process, user and group at `connect` time,
    /// which the peer cannot forge.
    pub fn peer_credentials(&self) -> io::Result<PeerCredentials> {
        backend::peer::credentials(self.fd.as_fd())
    }

    /// The peer's supplementary groups at `connect` time.
    pub fn peer_groups(&self) -> io::Result<Vec<u32>> {
        backend::peer::groups(self.fd.as_fd())
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
        if cfg!(target_os = "linux") {
            assert_eq!(theirs, ours, "the peer's supplementary groups are this process's");
        } else {
            // macOS reports the effective group and at most 15 others.
            assert!(theirs.iter().all(|g| ours.contains(g) || *g == me.gid), "{theirs:?} not within {ours:?}");
        }
        drop(c);
        assert_eq!(s.recv(&mut buf).unwrap(), 0);
        // A message too long for the buffer is an error (on a stream, the connection's last message).
        let (c, s) = (SeqConn::connect(&path).unwrap(), l.accept().unwrap());
        c.send(b"too long", &[]).unwrap();
        assert!(s.recv(&mut [0u8; 2]).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
