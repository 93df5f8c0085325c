"""How control messages and their descriptors travel over the daemon's socket (SPEC §2.2).

A daemon offers one of two transports, and `connect` finds out which at connect time:

- **seqpacket** (the Linux backend): an ``AF_UNIX`` ``SOCK_SEQPACKET`` socket; the kernel keeps each
  message whole, and its descriptors ride with it.
- **stream** (the portable POSIX backend): an ``AF_UNIX`` ``SOCK_STREAM`` socket; each message is a
  frame, its length as 4 bytes little-endian then its bytes, and its descriptors ride with the
  frame's first byte. A reader asks for exactly the bytes of the frame it is in, so that no read
  reaches into the next frame and every descriptor received belongs to the frame being read.

`connect` tries seqpacket first; a stream listener refuses that with ``EPROTOTYPE``, and a system
without seqpacket Unix sockets refuses to make one: either way it connects a stream socket. Both
transports have the interface of `Transport`; nothing above this module knows which one it has.
"""

from __future__ import annotations

import array
import errno
import os
import socket
import sys
from typing import NamedTuple

from ._errors import ConnectionLost, CorruptResponse, DaemonUnavailable

__all__: list[str] = []

#: The longest daemon message a client takes: ``welcome`` carries the manifest.
MAX_MESSAGE = 1 << 22
#: The most descriptors one message carries (a channel with pipe doorbells: segment and three pipe ends).
MAX_FDS = 4
_FDS_SPACE = socket.CMSG_SPACE(MAX_FDS * array.array("i").itemsize)
#: A stream frame's length prefix: an unsigned 32-bit little-endian integer.
FRAME_HEADER = 4
#: What `socket()`, or a seqpacket socket's `connect`, raises where the system has no seqpacket Unix
#: sockets; `connect` raises EPROTOTYPE, too, when the listener is a stream socket.
_NO_SEQPACKET = {errno.EPROTONOSUPPORT, errno.ESOCKTNOSUPPORT, errno.EPROTOTYPE, errno.EOPNOTSUPP, errno.EINVAL}
#: A send to a daemon that has gone fails with EPIPE rather than raising SIGPIPE, whatever the process
#: does with that signal: per send where the system has the flag (Linux), per socket on macOS.
_NO_SIGPIPE = getattr(socket, "MSG_NOSIGNAL", 0)
_SO_NOSIGPIPE = 0x1022  # macOS's socket option, which Python does not name


class Message(NamedTuple):
    """One message as received: its bytes (empty: the daemon closed the connection) and the
    descriptors that came with it, now this process's to close."""

    data: bytes
    fds: list[int]


def close_all(fds: list[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def _descriptors(ancillary: list[tuple[int, int, bytes]], into: list[int]) -> None:
    """Appends the descriptors of the ``SCM_RIGHTS`` items of ``ancillary`` to ``into``."""
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
            into.extend(fds)


class Transport:
    """A connected control socket. Callers serialize their sends, and their receives."""

    #: ``"seqpacket"`` or ``"stream"``.
    kind = ""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        if not _NO_SIGPIPE and sys.platform == "darwin":
            sock.setsockopt(socket.SOL_SOCKET, _SO_NOSIGPIPE, 1)

    def fileno(self) -> int:
        """The socket's descriptor, to poll for messages."""
        return self.sock.fileno()

    def settimeout(self, timeout: float | None) -> None:
        """Bounds every later blocking send and receive (``TimeoutError``)."""
        self.sock.settimeout(timeout)

    def send(self, data: bytes) -> None:
        """Sends one message (no descriptors: a client sends none). Raises OSError."""
        raise NotImplementedError

    def recv(self, block: bool) -> Message | None:
        """The next message, waiting for it if ``block``; None if none has begun to arrive. Raises
        OSError when the socket fails, CorruptResponse for a message that breaks the framing."""
        raise NotImplementedError

    def peer_pid(self) -> int:
        """The daemon's process id, as the kernel recorded it at ``connect`` (-1 where the system
        has no way to tell)."""
        if hasattr(socket, "SO_PEERCRED"):  # Linux: struct ucred {pid, uid, gid}
            raw = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
            return int.from_bytes(raw[:4], sys.byteorder, signed=True)
        if sys.platform == "darwin":  # LOCAL_PEERPID (2) at level SOL_LOCAL (0)
            raw = self.sock.getsockopt(0, 2, 4)
            return int.from_bytes(raw[:4], sys.byteorder, signed=True)
        return -1

    def shutdown(self) -> None:
        """Ends both directions, waking a thread blocked in a receive (it then sees the end)."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self) -> None:
        self.sock.close()


class SeqpacketTransport(Transport):
    """The Linux backend's socket: one message per packet."""

    kind = "seqpacket"

    def send(self, data: bytes) -> None:
        self.sock.send(data, _NO_SIGPIPE)

    def recv(self, block: bool) -> Message | None:
        try:
            data, ancillary, flags, _ = self.sock.recvmsg(MAX_MESSAGE, _FDS_SPACE, 0 if block else socket.MSG_DONTWAIT)
        except BlockingIOError:
            return None
        fds: list[int] = []
        _descriptors(ancillary, fds)
        if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
            close_all(fds)
            raise CorruptResponse(f"control message truncated: longer than {MAX_MESSAGE} bytes, "
                                  f"or with more than {MAX_FDS} descriptors")
        return Message(data, fds)


class StreamTransport(Transport):
    """The portable backend's socket: length-prefixed frames, descriptors on a frame's first byte."""

    kind = "stream"

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock)
        self.within = False  # a frame has begun to arrive and is not whole yet
        self.broken = ""  # why reading is out of step with the frames, once it is

    def send(self, data: bytes) -> None:
        if len(data) >= 1 << 32:
            raise ValueError(f"a control message of {len(data)} bytes does not fit a frame")
        self.sock.sendall(len(data).to_bytes(FRAME_HEADER, "little") + data, _NO_SIGPIPE)

    def recv(self, block: bool) -> Message | None:
        if self.broken:
            raise CorruptResponse(f"control stream out of step: {self.broken}")
        fds: list[int] = []
        try:
            header = self._read(FRAME_HEADER, block, fds)
            if header is None:
                return None
            if not header:
                return Message(b"", fds)  # closed between frames
            length = int.from_bytes(header, "little")
            if length == 0 or length > MAX_MESSAGE:
                raise CorruptResponse(f"a control message of {length} bytes announced (1 to {MAX_MESSAGE} taken)")
            body = self._read(length, True, fds)
            self.within = False
            return Message(body or b"", fds)
        except BaseException as e:
            close_all(fds)
            if self.within:  # where the next frame starts is unknown: every later receive fails
                self.broken = str(e) or type(e).__name__
            raise

    def _read(self, n: int, block: bool, fds: list[int]) -> bytes | None:
        """Exactly ``n`` bytes of the current frame, collecting descriptors into ``fds``: None if
        ``block`` is false and nothing has arrived, empty at the end of the stream before a frame.
        Once a byte of a frame has arrived it waits for the rest (the daemon sends frames whole)."""
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            flags = 0 if block or self.within else socket.MSG_DONTWAIT
            try:
                k, ancillary, mflags, _ = self.sock.recvmsg_into([view[got:]], _FDS_SPACE, flags)
            except BlockingIOError:
                if flags:
                    return None
                raise
            _descriptors(ancillary, fds)
            if mflags & socket.MSG_CTRUNC:
                self.within = True
                raise CorruptResponse(f"a control message with more than {MAX_FDS} descriptors")
            if k == 0:
                if self.within:
                    raise ConnectionLost("the daemon closed the connection in the middle of a message")
                return b""
            self.within = True
            got += k
        return bytes(buf)


def connect(path: str) -> Transport:
    """A control connection to the daemon listening on ``path``, over the transport it offers."""
    kinds: list[type[Transport]] = [StreamTransport]
    if hasattr(socket, "SOCK_SEQPACKET"):
        kinds.insert(0, SeqpacketTransport)
    for kind in kinds:
        sock_type = socket.SOCK_STREAM if kind is StreamTransport else socket.SOCK_SEQPACKET
        try:
            sock = socket.socket(socket.AF_UNIX, sock_type)
        except OSError as e:
            if kind is SeqpacketTransport and e.errno in _NO_SEQPACKET:
                continue  # no seqpacket Unix sockets here: the daemon can only offer a stream
            raise DaemonUnavailable(f"cannot make a socket to reach the daemon on {path}: {e.strerror or e}") from e
        try:
            sock.connect(path)
        except OSError as e:
            sock.close()
            if kind is SeqpacketTransport and e.errno in _NO_SEQPACKET - {errno.EINVAL}:
                continue  # a stream listener (EPROTOTYPE): the portable backend's daemon
            raise DaemonUnavailable(f"no daemon is listening on {path}: {e.strerror or e}") from e
        return kind(sock)
    raise DaemonUnavailable(f"no daemon is listening on {path}: it takes neither transport")

