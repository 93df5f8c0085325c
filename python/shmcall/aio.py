"""shmcall for asyncio: the daemon's functions as coroutine functions.

>>> import shmcall.aio
>>> async def main():
...     async with shmcall.aio.connect() as c:
...         return await c.add(2, 3)

Every function of the daemon is a coroutine function of the client, with the signature and
docstring of the sync client's method (``timeout`` included; it raises ``TimeoutError``), and raises
the same exceptions. Waiting for a response never blocks the event loop: a call that is not answered
at once sleeps on its channel's doorbell, which the loop watches. Many calls may be in flight
(``await asyncio.gather(*(c.add(i, i) for i in range(1000)))``): each event loop gets a small pool of
channels (``channels``, default 4), and calls beyond them wait their turn in order. A cancelled call
(``asyncio.wait_for``, ``asyncio.timeout``, ``task.cancel()``) leaves its channel usable: its late
response is discarded when it comes.

Shared arrays (:meth:`AsyncClient.empty`, :meth:`~AsyncClient.zeros`, :meth:`~AsyncClient.asarray`)
and in-out cells (:meth:`~AsyncClient.ref`, :meth:`~AsyncClient.vec`) are the sync client's, made
without awaiting: an array costs one allocation round trip to the daemon, a few microseconds (more
for a large first array, whose memory the daemon commits), taken on the calling thread's own channel.
Large arguments that are not in shared memory are copied into a channel's staging block, which may
grow by such a round trip too. ``fn.map`` batches are not offered here (use the sync client).

One client serves any number of event loops, each with its own pool (a loop's channels belong to its
thread). Close the client with ``await c.close()`` or an ``async with`` block: calls still waiting
raise ``ConnectionLost``, later ones ``ShmcallError``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Generator, Iterable

from ._aio_methods import async_placeholders
from ._aio_pool import DEFAULT_CHANNELS, LoopPools
from ._client import Client
from ._daemon import default_socket_path, find_daemon, spawn_private
from ._errors import DaemonUnavailable
from ._methods import functions

if TYPE_CHECKING:
    from numpy.typing import DTypeLike

    from ._codecs import StructCodec
    from ._connection import Connection
    from ._daemon import DaemonInfo, PrivateDaemon
    from ._numpy import Array
    from ._values import Ref, Vec

__all__ = ["AsyncClient", "Connecting", "connect"]


class _SyncCore(Client):
    # The sync client an async one is made of: its connection, manifest, struct types and arrays.
    # Its own methods are called through the class (`_SyncCore.session(core)`), which a remote
    # function of the same name, put on the instance's class, cannot shadow.

    def session(self) -> Connection:
        return self._session

    def structs(self) -> dict[str, StructCodec]:
        return self._structs

    def adopt(self, private: PrivateDaemon) -> None:
        self._private = private

    def disown(self) -> PrivateDaemon | None:
        """The daemon started for this client, which the caller stops from now on."""
        private, self._private = self._private, None
        return private


def _open_core(socket_path: str | None, spawn: bool, daemon: str | None, timeout: float) -> _SyncCore:
    """What ``shmcall.connect`` does, for the core of an async client (blocking: run off the loop)."""
    path = socket_path or default_socket_path()
    try:
        return _SyncCore(path)
    except DaemonUnavailable:
        if not spawn:
            raise
    core, private = spawn_private(daemon or find_daemon(), timeout, _SyncCore)
    _SyncCore.adopt(core, private)
    return core


def connect(socket_path: str | None = None, *, spawn: bool = True, daemon: str | None = None,
            timeout: float = 10.0, channels: int = DEFAULT_CHANNELS) -> Connecting:
    """An async client of the daemon at ``socket_path``: ``async with connect() as c`` (closed at
    the end of the block) or ``c = await connect()``.

    The arguments are those of :func:`shmcall.connect` (a private daemon is started if nobody
    listens and ``spawn`` is true; connecting runs in a worker thread, off the event loop), and
    ``channels``: how many channels each event loop opens at most, that is how many calls it has
    in flight at once (more wait their turn).

    Raises:
        DaemonUnavailable: no daemon, and none could be started.
        VersionMismatch: the daemon speaks another protocol version or layout.
    """
    if channels < 1:
        raise ValueError(f"channels must be at least 1, not {channels}")
    return Connecting(socket_path, spawn, daemon, timeout, channels)


class Connecting:
    """A connection being made (`connect`): await it for the client, or use it as ``async with``."""

    def __init__(self, socket_path: str | None, spawn: bool, daemon: str | None, timeout: float,
                 channels: int) -> None:
        self._args = (socket_path, spawn, daemon, timeout)
        self._channels = channels
        self._client: AsyncClient | None = None

    async def _connect(self) -> AsyncClient:
        core = await asyncio.get_running_loop().run_in_executor(None, _open_core, *self._args)
        return AsyncClient(core, self._channels)

    def __await__(self) -> Generator[Any, None, AsyncClient]:
        return self._connect().__await__()

    async def __aenter__(self) -> AsyncClient:
        self._client = await self._connect()
        return self._client

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.close()


class AsyncClient:
    """A connection to ``shmcalld`` whose functions are coroutine functions: ``await c.add(2, 3)``.

    Made by :func:`connect`. Functions are also in ``c.functions``, struct types in ``c.types``;
    ``c.daemon`` says which daemon it reached.
    """

    def __new__(cls, *args: object, **kwargs: object) -> AsyncClient:
        # A class of its own per client, which gets the remote functions as methods (as `Client`).
        own = type(cls.__name__, (cls,), {"__module__": cls.__module__, "__qualname__": cls.__qualname__,
                                          "__doc__": cls.__doc__})
        return object.__new__(own)

    def __init__(self, core: Client, channels: int = DEFAULT_CHANNELS) -> None:
        if not isinstance(core, _SyncCore):
            raise TypeError("an AsyncClient is made by shmcall.aio.connect()")
        self._core = core
        connection = _SyncCore.session(core)
        self._pools = LoopPools(connection, channels)
        self._closed = False
        self.socket_path: str = core.socket_path
        self.daemon: DaemonInfo = core.daemon
        self.manifest: dict[str, Any] = core.manifest
        self.types = core.types
        found = async_placeholders(self.manifest["functions"], _SyncCore.structs(core), connection, self._pools,
                                   type(self), AsyncClient)
        self.functions = functions(self, found)

    if TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any:
            """The daemon's functions, as coroutine methods (``c.add``): known only once connected."""
            ...

    # -- shared arrays and in-out cells (the sync client's: no await) -----------------------------

    def empty(self, shape: int | Iterable[int], dtype: DTypeLike = "f64") -> Array:
        """A new array in shared memory (uninitialized), as :meth:`shmcall.Client.empty`; one
        allocation round trip, on the calling thread's own channel."""
        return self._core.empty(shape, dtype)

    def zeros(self, shape: int | Iterable[int], dtype: DTypeLike = "f64") -> Array:
        """Like :meth:`empty`, filled with zeros."""
        return self._core.zeros(shape, dtype)

    def asarray(self, obj: Any, dtype: DTypeLike | None = None) -> Array:
        """``obj`` as an array in shared memory, as :meth:`shmcall.Client.asarray`."""
        return self._core.asarray(obj, dtype)

    def ref(self, type_name: str, value: Any = None) -> Ref[Any]:
        """A cell for an in-out parameter, as :meth:`shmcall.Client.ref`."""
        return self._core.ref(type_name, value)

    def vec(self, type_name: DTypeLike, values: Iterable[Any] = ()) -> Vec:
        """A growable array for ``&mut Vec<T>`` parameters, as :meth:`shmcall.Client.vec`."""
        return self._core.vec(type_name, values)

    # -- lifetime --------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    async def close(self) -> None:
        """Closes the connection and stops a private daemon (waiting for it off the loop).

        Idempotent. Calls waiting for a response raise ConnectionLost, later calls ShmcallError;
        arrays still referenced stay readable."""
        private = self._close_now()
        if private is not None:
            await asyncio.get_running_loop().run_in_executor(None, private.stop)

    def _close_now(self) -> PrivateDaemon | None:
        if self._closed:
            return None
        self._closed = True
        # The pools first: a channel's descriptors leave the loop before the channel closes them.
        self._pools.close()
        private = _SyncCore.disown(self._core)
        self._core.close()
        return private

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __del__(self) -> None:
        try:
            private = self._close_now()
            if private is not None:
                private.stop()
        except Exception:  # half made, or at interpreter exit
            pass

    def __repr__(self) -> str:
        return f"<shmcall.aio.AsyncClient {self.daemon}{', closed' if self._closed else ''}>"

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self.functions))
