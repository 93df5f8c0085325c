//! Control messages over a `SOCK_SEQPACKET` Unix socket: the kernel keeps message boundaries, so each
//! message is one `send`, file descriptors ride along with `SCM_RIGHTS`, and a receiver learns a
//! message's length by peeking (SPEC §2.2).

use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};

use rustix::net::{
    AddressFamily, RecvFlags, SendAncillaryBuffer, SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};

use crate::sys::socket::MAX_FDS;

/// A fresh, unconnected seqpacket socket, close-on-exec.
pub fn socket() -> io::Result<OwnedFd> {
    Ok(rustix::net::socket_with(AddressFamily::UNIX, SocketType::SEQPACKET, SocketFlags::CLOEXEC, None)?)
}

/// Accepts one connection on `listener` (blocks), close-on-exec.
pub fn accept(listener: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    Ok(rustix::net::accept_with(listener, SocketFlags::CLOEXEC)?)
}

/// Message framing on a seqpacket socket: nothing to keep, the kernel frames each message.
#[derive(Debug, Default)]
pub struct Framing {}

impl Framing {
    /// Sends one message with up to [`MAX_FDS`] descriptors attached.
    pub fn send(&self, fd: BorrowedFd<'_>, data: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<()> {
        let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
            return Err(io::Error::other("control buffer too small for descriptors"));
        }
        let sent = rustix::net::sendmsg(fd, &[IoSlice::new(data)], &mut control, SendFlags::NOSIGNAL)?;
        if sent != data.len() {
            return Err(io::Error::other(format!("short send: {sent} of {} bytes", data.len())));
        }
        Ok(())
    }

    /// Receives one message into `buf`; `Ok(0)` means the peer closed. A message longer than `buf`
    /// is an error (it would be truncated).
    pub fn recv(&self, fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
        let (n, full) = rustix::net::recv(fd, &mut *buf, RecvFlags::TRUNC)?;
        if full > n {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("control message of {full} bytes exceeds the {n}-byte limit"),
            ));
        }
        Ok(n)
    }

    /// Receives one message of any length (it learns the length first); empty when the peer closed.
    pub fn recv_message(&self, fd: BorrowedFd<'_>) -> io::Result<Vec<u8>> {
        let (_, len) = rustix::net::recv(fd, &mut [0u8; 0][..], RecvFlags::PEEK | RecvFlags::TRUNC)?;
        let mut buf = vec![0u8; len];
        let n = self.recv(fd, &mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }

    /// Drops up to `max` messages already received, without waiting; the count dropped.
    pub fn discard_pending(&self, fd: BorrowedFd<'_>, max: usize) -> usize {
        let flags = RecvFlags::DONTWAIT | RecvFlags::TRUNC;
        (0..max).take_while(|_| matches!(rustix::net::recv(fd, &mut [0u8; 0][..], flags), Ok((_, n)) if n > 0)).count()
    }
}
