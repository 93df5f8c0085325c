"""The control socket (SPEC §2): JSON messages, with descriptors, to and from the daemon.

Whoever reads the socket (`ControlSocket.pump`) handles every message: a segment is mapped into
the heap at once, an error raises, and anything else waits in `replies` for the thread that asked.
"""

from __future__ import annotations

import json
import threading
from typing import Any, NamedTuple

from ._errors import ConnectionLost, CorruptResponse, refusal_error
from ._heap import Heap
from ._transport import Transport, close_all, connect

__all__: list[str] = []


class Reply(NamedTuple):
    """A message from the daemon and the descriptors that came with it (now this process's)."""

    message: dict[str, Any]  # decoded JSON
    fds: list[int]


class ControlSocket:
    """The connection's control socket, over whichever transport the daemon offers (`_transport`);
    any thread may use it."""

    def __init__(self, path: str, heap: Heap) -> None:
        self.transport: Transport | None = connect(path)
        self.heap = heap  # where announced segments go
        self.closed = False
        self.lock = threading.RLock()
        self.replies: list[Reply] = []

    def _open(self) -> Transport:
        if self.transport is None:
            raise ConnectionLost("the client was closed")
        return self.transport

    def fileno(self) -> int:
        """The socket's descriptor, to poll for messages."""
        return self._open().fileno()

    def peer_pid(self) -> int:
        """The daemon's process id, as the kernel recorded it when this client connected."""
        return self._open().peer_pid()

    def send(self, msg: dict[str, Any]) -> None:
        with self.lock:
            transport = self._open()
            try:
                transport.send(json.dumps(msg).encode())
            except OSError as e:
                # A refused connection may close before the first send; its `error` is still queued.
                try:
                    self.pump(block=False)
                except (ConnectionLost, CorruptResponse):
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
            transport = self._open()
            try:
                received = transport.recv(block)
            except OSError as e:
                raise ConnectionLost(f"daemon connection lost: {e}") from e
            if received is None:
                return False
            data, fds = received
            if not data:
                close_all(fds)
                raise ConnectionLost("the client was closed" if self.closed else "the daemon closed the connection")
            try:
                msg = json.loads(data)
                if not isinstance(msg, dict):
                    raise ValueError(f"a JSON {type(msg).__name__}, not an object")
            except ValueError as e:
                close_all(fds)
                raise CorruptResponse(f"unreadable control message: {e}") from e
            if msg.get("op") == "segment":
                try:
                    if len(fds) != 1:
                        raise CorruptResponse(f"segment message with {len(fds)} descriptors, expected 1")
                    seg_id, size = msg.get("id"), msg.get("size")
                    if type(seg_id) is not int or type(size) is not int:
                        raise CorruptResponse(f"segment message without an integer id and size: {msg}")
                except CorruptResponse:
                    close_all(fds)
                    raise
                self.heap.add(seg_id, fds[0], size)
            elif msg.get("op") == "error":
                close_all(fds)
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
        transport, self.transport = self.transport, None
        if transport is None:
            return
        if shutdown:
            transport.shutdown()
        transport.close()
