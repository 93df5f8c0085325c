"""What the lower layers (channels, codecs, calls, batches) need of the connection they work for.

They see it only through this interface; the `Session` a `Client` owns implements it.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ._channel import Channel
    from ._function import RemoteFunction
    from ._heap import Heap

__all__: list[str] = []


class Connection(Protocol):
    """One client's connection to the daemon, as the layers below the client see it."""

    @property
    def heap(self) -> Heap:
        """The connection's heap: its mapped segments, owned arrays and queued releases."""
        ...

    @property
    def local(self) -> threading.local:
        """Per-thread state: ``local.ch`` is the calling thread's channel, once it has one."""
        ...

    def mapped(self, seg_id: int) -> Heap:
        """The heap, once segment ``seg_id`` is mapped (the daemon sends it before referencing it)."""
        ...

    def pump(self, block: bool) -> bool:
        """Reads one control message if there is one (or waits for it); False if none was ready."""
        ...

    def fileno(self) -> int:
        """The control socket's descriptor, to poll alongside a channel's doorbell."""
        ...

    def channel(self) -> Channel:
        """The calling thread's channel, opened on first use."""
        ...

    def open_channel(self) -> Channel:
        """A new channel for the calling thread (its previous one was given up)."""
        ...

    def new_channel(self) -> Channel:
        """A new channel owned by the calling thread, which keeps it itself (not its channel)."""
        ...

    def call(self, fn: RemoteFunction, args: tuple[Any, ...], timeout: float | None) -> Any:
        """Calls ``fn`` the general way on the calling thread's channel."""
        ...
