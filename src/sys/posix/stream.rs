//! Control messages over a `SOCK_STREAM` Unix socket, for systems without `SOCK_SEQPACKET` (macOS).
//!
//! A stream keeps no message boundaries, so each message travels as a frame: its length as a 4-byte
//! little-endian unsigned integer, at least 1, then its bytes (SPEC §2.2). Descriptors are attached to the frame's first byte
//! (one `sendmsg` starts the frame), where a receiver that reads frame by frame finds them with the
//! frame's length. Senders and receivers each take a lock so that frames of two threads never
//! interleave.
//!
//! A receiver blocks until a frame it has begun is whole: a peer that stops halfway stalls only its
//! own connection, and on an accepted connection for at most [`FRAME_PATIENCE`], after which the
//! receive fails (so that a stalled peer cannot hold the daemon's shutdown). A frame too long for the
//! caller's buffer cannot be skipped without waiting for all of it, so it ends the connection's
//! reading: every later receive is an error too.

use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::Mutex;
use std::time::Duration;

use rustix::io::{Errno, FdFlags};
use rustix::net::sockopt::Timeout;
use rustix::net::{
    AddressFamily, RecvFlags, SendAncillaryBuffer, SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};

use crate::sys::socket::MAX_FDS;

/// Bytes of a frame's length prefix.
const HEADER: usize = 4;
/// Bytes read per `recv` while dropping what a peer sent.
const DISCARD_CHUNK: usize = 4096;
/// The longest message [`Framing::recv_message`] takes: a daemon's answers (a status report, a
/// manifest) are far shorter, and a prefix claiming more is refused before any memory is reserved.
const MAX_MESSAGE: usize = 64 << 20;
/// How long an accepted connection's receive waits for the rest of a frame it has begun (a client
/// sends each frame in one go, so only a stalled or hostile one comes near).
pub const FRAME_PATIENCE: Duration = Duration::from_secs(2);

/// A send to a peer that has gone must fail with `EPIPE`, not kill the process with SIGPIPE. Linux
/// says so per call; macOS per socket (`SO_NOSIGPIPE`, set where the socket is made).
#[cfg(target_os = "linux")]
const NO_SIGPIPE: SendFlags = SendFlags::NOSIGNAL;
#[cfg(not(target_os = "linux"))]
const NO_SIGPIPE: SendFlags = SendFlags::empty();

/// A fresh, unconnected stream socket, close-on-exec.
pub fn socket() -> io::Result<OwnedFd> {
    let fd = rustix::net::socket_with(AddressFamily::UNIX, SocketType::STREAM, SocketFlags::empty(), None)?;
    prepare(fd)
}

/// Accepts one connection on `listener` (blocks), close-on-exec, its receives bounded by
/// [`FRAME_PATIENCE`] (the daemon receives only once the socket is readable, so the bound applies to
/// the rest of a frame).
pub fn accept(listener: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let fd = prepare(rustix::net::accept(listener)?)?;
    rustix::net::sockopt::set_socket_timeout(&fd, Timeout::Recv, Some(FRAME_PATIENCE))?;
    Ok(fd)
}

/// Sets what `SOCK_CLOEXEC` and `MSG_NOSIGNAL` would have given. Not atomic with the socket's creation:
/// a process another thread forks and execs in between would inherit it.
fn prepare(fd: OwnedFd) -> io::Result<OwnedFd> {
    rustix::io::fcntl_setfd(&fd, FdFlags::CLOEXEC)?;
    #[cfg(not(target_os = "linux"))]
    rustix::net::sockopt::set_socket_nosigpipe(&fd, true)?;
    Ok(fd)
}

/// Message framing on a stream socket: the locks that keep frames whole.
#[derive(Debug, Default)]
pub struct Framing {
    sending: Mutex<()>,
    /// Whether reading is out of step with the frames (a frame was refused or cut short).
    receiving: Mutex<bool>,
}

impl Framing {
    /// Sends one message as one frame, with up to [`MAX_FDS`] descriptors attached to its first byte.
    pub fn send(&self, fd: BorrowedFd<'_>, data: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<()> {
        let len = u32::try_from(data.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a control message must be under 4 GiB"))?;
        let mut frame = Vec::with_capacity(HEADER + data.len());
        frame.extend_from_slice(&len.to_le_bytes());
        frame.extend_from_slice(data);
        let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
            return Err(io::Error::other("control buffer too small for descriptors"));
        }
        let _sending = self.sending.lock().unwrap_or_else(|e| e.into_inner());
        let mut sent = loop {
            match rustix::net::sendmsg(fd, &[IoSlice::new(&frame)], &mut control, NO_SIGPIPE) {
                Err(Errno::INTR) => continue,
                other => break other?,
            }
        };
        // A large frame may go out in parts; the descriptors went with the first.
        while sent < frame.len() {
            match rustix::net::send(fd, &frame[sent..], NO_SIGPIPE) {
                Ok(n) => sent += n,
                Err(Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Receives one message into `buf`; `Ok(0)` means the peer closed. A message longer than `buf`
    /// is an error, and so is every receive after it; an empty one is an error only.
    pub fn recv(&self, fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
        let mut out_of_step = self.receiving.lock().unwrap_or_else(|e| e.into_inner());
        let Some(len) = begin_frame(fd, &mut out_of_step)? else { return Ok(0) };
        if len > buf.len() {
            *out_of_step = true;
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("control message of {len} bytes exceeds the {}-byte limit", buf.len()),
            ));
        }
        finish_frame(fd, &mut buf[..len], &mut out_of_step)?;
        Ok(len)
    }

    /// Receives one message of any length up to 64 MiB; empty when the peer closed. A longer one is
    /// an error, and so is every receive after it.
    pub fn recv_message(&self, fd: BorrowedFd<'_>) -> io::Result<Vec<u8>> {
        let mut out_of_step = self.receiving.lock().unwrap_or_else(|e| e.into_inner());
        let Some(len) = begin_frame(fd, &mut out_of_step)? else { return Ok(Vec::new()) };
        if len > MAX_MESSAGE {
            *out_of_step = true;
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a message of {len} bytes announced, more than the {MAX_MESSAGE} believed"),
            ));
        }
        let mut buf = Vec::new();
        if buf.try_reserve_exact(len).is_err() {
            *out_of_step = true;
            return Err(io::Error::new(io::ErrorKind::OutOfMemory, format!("no memory for a {len}-byte message")));
        }
        buf.resize(len, 0);
        finish_frame(fd, &mut buf, &mut out_of_step)?;
        Ok(buf)
    }

    /// Drops what the peer has sent so far, without waiting; the number of reads that found something
    /// (at most `max`), which is more than zero when anything was dropped. Reading is out of step
    /// afterwards: this comes just before a close.
    pub fn discard_pending(&self, fd: BorrowedFd<'_>, max: usize) -> usize {
        let mut out_of_step = self.receiving.lock().unwrap_or_else(|e| e.into_inner());
        let mut scratch = [0u8; DISCARD_CHUNK];
        let flags = RecvFlags::DONTWAIT;
        let dropped = (0..max)
            .take_while(|_| matches!(rustix::net::recv(fd, &mut scratch[..], flags), Ok((n, _)) if n > 0))
            .count();
        *out_of_step |= dropped > 0;
        dropped
    }
}

/// Reads a frame's length prefix: None at a clean end of the stream (before any byte of a frame).
/// An empty frame is refused (it would read as that end); the stream stays in step.
fn begin_frame(fd: BorrowedFd<'_>, out_of_step: &mut bool) -> io::Result<Option<usize>> {
    if *out_of_step {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "control stream out of step after a refused message"));
    }
    let mut header = [0u8; HEADER];
    let first = loop {
        match rustix::net::recv(fd, &mut header[..], RecvFlags::empty()) {
            Ok((n, _)) => break n,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    };
    if first == 0 {
        return Ok(None);
    }
    finish_frame(fd, &mut header[first..], out_of_step)?;
    match u32::from_le_bytes(header) as usize {
        0 => Err(io::Error::new(io::ErrorKind::InvalidData, "an empty control message")),
        len => Ok(Some(len)),
    }
}

/// Fills `buf` from the stream, waiting as long as it takes; an end of the stream here cuts a frame short.
fn finish_frame(fd: BorrowedFd<'_>, buf: &mut [u8], out_of_step: &mut bool) -> io::Result<()> {
    let mut got = 0;
    while got < buf.len() {
        match rustix::net::recv(fd, &mut buf[got..], RecvFlags::empty()) {
            Ok((0, _)) => {
                *out_of_step = true;
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the peer closed in the middle of a message"));
            }
            Ok((n, _)) => got += n,
            Err(Errno::INTR) => continue,
            Err(Errno::AGAIN) => {
                // SO_RCVTIMEO expired (accepted connections): the peer stopped in the middle of a frame.
                *out_of_step = true;
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("a control message not completed within {FRAME_PATIENCE:?}"),
                ));
            }
            Err(e) => {
                *out_of_step = true;
                return Err(e.into());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::IoSliceMut;
    use std::os::fd::AsFd;

    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage};

    /// A connected pair of stream sockets, each with its framing.
    fn pair() -> ((OwnedFd, Framing), (OwnedFd, Framing)) {
        let (a, b) =
            rustix::net::socketpair(AddressFamily::UNIX, SocketType::STREAM, SocketFlags::empty(), None).unwrap();
        ((a, Framing::default()), (b, Framing::default()))
    }

    #[test]
    fn frames_keep_message_boundaries_whatever_their_size() {
        let ((a, fa), (b, fb)) = pair();
        let long = vec![7u8; 1 << 20]; // more than a socket buffer: it goes out in parts
        std::thread::scope(|s| {
            s.spawn(|| {
                fa.send(a.as_fd(), b"hello", &[]).unwrap();
                fa.send(a.as_fd(), &long, &[]).unwrap();
                fa.send(a.as_fd(), b"", &[]).unwrap();
                fa.send(a.as_fd(), b"after", &[]).unwrap();
                fa.send(a.as_fd(), b"", &[]).unwrap();
                fa.send(a.as_fd(), b"last", &[]).unwrap();
            });
            let mut buf = [0u8; 16];
            assert_eq!(fb.recv(b.as_fd(), &mut buf).unwrap(), 5);
            assert_eq!(&buf[..5], b"hello");
            assert_eq!(fb.recv_message(b.as_fd()).unwrap(), long);
            let empty = fb.recv_message(b.as_fd()).unwrap_err();
            assert_eq!(empty.kind(), io::ErrorKind::InvalidData, "an empty frame would read as the end");
            assert_eq!(fb.recv(b.as_fd(), &mut buf).unwrap(), 5, "and the stream stays in step");
            assert_eq!(&buf[..5], b"after");
            assert!(fb.recv(b.as_fd(), &mut buf).is_err());
            assert_eq!(fb.recv(b.as_fd(), &mut buf).unwrap(), 4);
        });
        drop(a);
        assert_eq!(fb.recv(b.as_fd(), &mut [0u8; 16]).unwrap(), 0, "a close between frames is the end");
    }

    #[test]
    fn a_frame_too_long_or_cut_short_stops_reading() {
        let ((a, fa), (b, fb)) = pair();
        fa.send(a.as_fd(), b"too long", &[]).unwrap();
        fa.send(a.as_fd(), b"ok", &[]).unwrap();
        assert!(fb.recv(b.as_fd(), &mut [0u8; 2]).is_err());
        assert!(fb.recv(b.as_fd(), &mut [0u8; 16]).is_err(), "out of step: no guessing where the next frame is");
        let ((a, _), (b, fb)) = pair();
        rustix::net::send(&a, &u32::MAX.to_le_bytes(), SendFlags::empty()).unwrap();
        let e = fb.recv_message(b.as_fd()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}: refused before reserving 4 GiB");
        assert!(fb.recv_message(b.as_fd()).is_err(), "and out of step");
        let ((a, _), (b, fb)) = pair();
        rustix::net::send(&a, &[9, 0, 0, 0, 1, 2], SendFlags::empty()).unwrap();
        drop(a);
        assert_eq!(fb.recv(b.as_fd(), &mut [0u8; 16]).unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn descriptors_arrive_with_the_first_byte_of_their_frame() {
        let ((a, fa), (b, _)) = pair();
        let (x, _y) =
            rustix::net::socketpair(AddressFamily::UNIX, SocketType::STREAM, SocketFlags::empty(), None).unwrap();
        fa.send(a.as_fd(), b"first", &[]).unwrap();
        fa.send(a.as_fd(), b"{\"op\":\"segment\"}", &[x.as_fd(), x.as_fd()]).unwrap();
        // Read the stream as a client would: the first frame whole, then the second one's prefix.
        let mut first = [0u8; HEADER + 5];
        assert_eq!(rustix::net::recv(&b, &mut first[..], RecvFlags::empty()).unwrap().0, first.len());
        let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let mut header = [0u8; HEADER];
        let got =
            rustix::net::recvmsg(&b, &mut [IoSliceMut::new(&mut header)], &mut control, RecvFlags::empty()).unwrap();
        assert_eq!(got.bytes, HEADER);
        assert_eq!(u32::from_le_bytes(header), 16);
        let fds: Vec<OwnedFd> = control
            .drain()
            .flat_map(|m| match m {
                RecvAncillaryMessage::ScmRights(fds) => fds.collect::<Vec<_>>(),
                _ => Vec::new(),
            })
            .collect();
        assert_eq!(fds.len(), 2);
    }

    #[test]
    fn an_accepted_connection_waits_for_the_rest_of_a_frame_only_so_long() {
        let dir = std::env::temp_dir().join(format!("shmcall-stream-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = rustix::net::SocketAddrUnix::new(dir.join("s")).unwrap();
        let listener = socket().unwrap();
        rustix::net::bind(&listener, &path).unwrap();
        rustix::net::listen(&listener, 1).unwrap();
        let client = socket().unwrap();
        rustix::net::connect(&client, &path).unwrap();
        let server = accept(listener.as_fd()).unwrap();
        rustix::net::send(&client, &[5, 0, 0, 0, b'{'], SendFlags::empty()).unwrap(); // 4 bytes short
        let framing = Framing::default();
        let started = std::time::Instant::now();
        let e = framing.recv(server.as_fd(), &mut [0u8; 16]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
        assert!(started.elapsed() >= FRAME_PATIENCE && started.elapsed() < FRAME_PATIENCE * 3);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn discarding_drops_what_was_sent_without_waiting() {
        let ((a, fa), (b, fb)) = pair();
        assert_eq!(fb.discard_pending(b.as_fd(), 8), 0);
        fa.send(a.as_fd(), &[1u8; 10_000], &[]).unwrap();
        assert!(fb.discard_pending(b.as_fd(), 8) > 0);
        assert_eq!(fb.discard_pending(b.as_fd(), 8), 0);
    }
}
