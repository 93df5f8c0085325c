"""One client's connection to the daemon: its control socket, its heap, and a channel per thread.

`Session` is the `Connection` the lower layers (channels, codecs, calls, batches) see."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

from ._channel import Channel
from ._control import ControlSocket
from ._errors import CorruptResponse, ShmcallError
from ._heap import Heap

if TYPE_CHECKING:
    from ._function import RemoteFunction

__all__: list[str] = []


class Capacities(NamedTuple):
    """A channel's request and response capacities (payload bytes)."""

    request: int
    response: int


class Session:
    """The daemon connection of one `Client`."""

    __slots__ = ("heap", "control", "local", "channels", "capacities", "closed", "forked")

    def __init__(self, socket_path: str) -> None:
        self.heap = Heap()
        self.control = ControlSocket(socket_path, self.heap)
        self.local = threading.local()  # `local.ch`: the thread's channel
        self.channels: list[Channel] = []
        # Of every channel: the fast paths cache formats and guesses per client, checked once
        # against the capacities of the channel they were made on.
        self.capacities: Capacities | None = None
        self.closed = False
        self.forked = False  # this process is a fork's child: the channels are the parent's

    def mapped(self, seg_id: int) -> Heap:
        return self.control.mapped(seg_id)

    def pump(self, block: bool) -> bool:
        return self.control.pump(block)

    def fileno(self) -> int:
        return self.control.fileno()

    # -- channels and calls ----------------------------------------------------------------------

    def channel(self) -> Channel:
        """The calling thread's channel, opened on first use."""
        if self.closed or self.forked:
            self.refuse()
        try:
            ch: Channel = self.local.ch
        except AttributeError:
            return self.open_channel()
        return ch

    def open_channel(self) -> Channel:
        """A new channel for the calling thread."""
        ch = self.new_channel()
        self.local.ch = ch
        return ch

    def new_channel(self) -> Channel:
        """A new channel owned by the calling thread, not made its channel (`channel`): for a caller
        that keeps several of its own, such as an event loop's pool (``shmcall.aio``)."""
        if self.closed or self.forked:
            self.refuse()
        msg, fds = self.control.request({"op": "open_channel"}, "channel")
        channel_id, size = msg.get("id"), msg.get("size")
        if len(fds) not in (3, 4) or type(channel_id) is not int or type(size) is not int:
            for fd in fds:
                os.close(fd)
            raise CorruptResponse(f"channel message with {len(fds)} descriptors (3 or 4 expected: the control "
                                  f"segment and two eventfds or three pipe ends) or without an integer id and size: {msg}")
        ch = Channel(self, channel_id, fds, size)
        capacities = Capacities(ch.request_capacity, ch.response_capacity)
        if self.capacities is None:
            self.capacities = capacities
        elif capacities != self.capacities:
            ch.close()
            raise CorruptResponse(f"channel capacities {tuple(capacities)} differ from this client's "
                                  f"{tuple(self.capacities)}")
        self.channels.append(ch)
        return ch

    def call(self, fn: RemoteFunction, args: tuple[Any, ...], timeout: float | None) -> Any:
        """Calls ``fn`` the general way on the calling thread's channel: the remote functions' own
        path when they have no fast one, and the fast paths' fallback."""
        if self.closed or self.forked:
            self.refuse()
        try:
            ch = self.local.ch
        except AttributeError:
            ch = self.open_channel()
        return fn.invoke(ch, args, timeout)

    def refuse(self) -> NoReturn:
        """Raises why this client takes no more calls (closed, or connected before a fork). A
        channel closed by another thread (`Channel.close`) is freed here, by its own thread."""
        ch = getattr(self.local, "ch", None)
        if ch is not None and ch.closed:
            ch.release()
        if self.forked:
            raise ShmcallError("this client was connected before fork(); call shmcall.connect() again in the child")
        raise ShmcallError("the client is closed")

    # -- lifetime --------------------------------------------------------------------------------

    def close(self) -> None:
        """Refuses every later call, closes the channels (waking their waiting threads) and the
        socket (the daemon then frees this connection's memory). Idempotent."""
        if self.control.closed:
            return
        self.closed = True
        for ch in self.channels:
            ch.close()
        self.channels = []
        self.control.close(shutdown=not self.forked)  # a fork's child shares the socket with its parent
        self.heap.close()

    def after_fork(self) -> None:
        """In a fork's child: the parent still uses these channels, so the child must never touch
        them; every later call is refused."""
        self.forked = True
        for ch in self.channels:
            ch.poison()
        self.channels = []
