"""The control socket (SPEC §2): JSON messages, with descriptors, to and from the daemon.

Whoever reads the socket (`ControlSocket.pump`) handles every message: a segment is mapped into
the heap at once, an error raises, and anything else waits in `replies` for the thread that asked.
"""

from __future__ import annotations

import array
import json
import os
import socket
import threading
from typing import Any, NamedTuple

from ._errors import ConnectionLost, CorruptResponse, DaemonUnavailable, refusal_error
from ._heap import Heap

__all__: list[str] = []

_MAX_MESSAGE = 1 << 22  # the welcome message carries the manifest
_FDS_SPACE = socket.CMSG_SPACE(4 * 4)


class Reply(NamedTuple):
    """A message from the daemon and the descriptors that came with it (now this process's)."""

    message: dict[str, Any]  # decoded JSON
    fds: list[int]


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)


class ControlSocket:
    """The connection's control socket; any thread may use it."""

    def __init__(self, path: str, heap: Heap) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            sock.connect(path)
        except OSError as e:
            sock.close()
            raise DaemonUnavailable(f"no daemon at {path}: {e.strerror or e}") from e
        self.sock: socket.socket | None = sock
        self.heap = heap  # where announced segments go
        self.closed = False
        self.lock = threading.RLock()
        self.replies: list[Reply] = []

    def fileno(self) -> int:
        """The socket's descriptor, to poll for messages."""
        if self.sock is None:
            raise ConnectionLost("the client was closed")
        return self.sock.fileno()

    def send(self, msg: dict[str, Any]) -> None:
        if self.sock is None:
            raise ConnectionLost("the client was closed")
        try:
            self.sock.send(json.dumps(msg).encode())
        except OSError as e:
            # A refused connection may close before the first send; its `error` is still queued.
            try:
                self.pump(block=False)
            except ConnectionLost:
                pass
            raise ConnectionLost(f"daemon connection lost: {e}") from e

    def request(self, msg: dict[str, Any], op: str) -> Reply:
        """Sends ``msg`` and waits for the daemon's reply, the next message of kind ``op``."""
        with self.lock:
            self.send(msg)
            return self.reply(op)

    def reply(self, op: str) -> Reply:
        """The next message of kind ``op``, read from the socket if none has come yet."""
        with self.lock:
            while True:
                for i, reply in enumerate(self.replies):
                    if reply.message.get("op") == op:
                        del self.replies[i]
                        return reply
                self.pump(block=True)

    def pump(self, block: bool) -> bool:
        """Reads one control message if there is one (or waits for it); False if none was ready."""
        with self.lock:
            if self.sock is None:
                raise ConnectionLost("the client was closed")
            try:
                data, anc, flags, _ = self.sock.recvmsg(_MAX_MESSAGE, _FDS_SPACE, 0 if block else socket.MSG_DONTWAIT)
            except BlockingIOError:
                return False
            except OSError as e:
                raise ConnectionLost(f"daemon connection lost: {e}") from e
            fds: list[int] = []
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    a = array.array("i")
                    a.frombytes(payload[: len(payload) - len(payload) % a.itemsize])
                    fds.extend(a)
            if not data:
                _close_all(fds)
                raise ConnectionLost("the client was closed" if self.closed else "the daemon closed the connection")
            if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
                _close_all(fds)
                raise CorruptResponse("control message truncated")
            try:
                msg = json.loads(data)
            except ValueError as e:
                _close_all(fds)
                raise CorruptResponse(f"unreadable control message: {e}") from e
            if msg.get("op") == "segment":
                if len(fds) != 1:
                    raise CorruptResponse(f"segment message with {len(fds)} descriptors")
                self.heap.add(int(msg["id"]), fds[0], int(msg["size"]))
            elif msg.get("op") == "error":
                _close_all(fds)
                raise refusal_error(msg.get("kind"), str(msg.get("message")))
            else:
                self.replies.append(Reply(msg, fds))
            return True

    def mapped(self, seg_id: int) -> Heap:
        """The heap, once segment ``seg_id`` is mapped (the daemon sends it before referencing it)."""
        heap = self.heap
        if seg_id in heap.segments:
            return heap
        with self.lock:  # re-check under the lock: another thread may have read it meanwhile
            while seg_id not in heap.segments:
                if self.closed:
                    raise ConnectionLost("client closed")
                self.pump(block=True)
        return heap

    def close(self, shutdown: bool) -> None:
        """Closes the socket (idempotent); ``shutdown`` first ends another thread's wait for a
        message (not in a fork's child, which shares the socket with its parent)."""
        self.closed = True
        sock, self.sock = self.sock, None
        if sock is None:
            return
        try:
            if shutdown:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
