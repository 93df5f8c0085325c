"""``shmcall.connect`` and the ``Client`` object: the handshake, the manifest turned into Python
callables and struct types, shared arrays, and clean shutdown."""

from __future__ import annotations

import math
import os
import weakref
from typing import TYPE_CHECKING, Any, Iterable

from . import _layout as L
from ._call import CHECKING
from ._codecs import element, parse
from ._daemon import DaemonInfo, PrivateDaemon, default_socket_path, describe, find_daemon, spawn_private
from ._errors import DaemonUnavailable, VersionMismatch
from ._methods import functions, placeholders
from ._namespaces import Namespace
from ._numpy import HAVE_NUMPY, np
from ._scalars import ALIASES
from ._session import Session
from ._structs import build_structs, default_value
from ._values import Ref, Vec

if TYPE_CHECKING:
    from numpy.typing import DTypeLike

    from ._numpy import Array

__all__ = ["Client", "connect", "default_socket_path"]

_clients: weakref.WeakSet[Client] = weakref.WeakSet()


def connect(socket_path: str | None = None, *, spawn: bool = True, daemon: str | None = None,
            timeout: float = 10.0) -> Client:
    """Attaches to the daemon at ``socket_path`` (default: :func:`default_socket_path`).

    If nobody listens there and ``spawn`` is true, starts a private daemon on a temporary socket; it
    stops when the client closes. The binary is ``daemon`` (a path or a name on ``PATH``), else
    ``$SHMCALLD``, else the ``shmcalld`` installed with this package, else the one on ``PATH``.
    ``c.daemon`` says which daemon the client reached (name, version, pid, socket).

    Raises:
        DaemonUnavailable: no daemon, and none could be started.
        VersionMismatch: the daemon speaks another protocol version or layout.
    """
    path = socket_path or default_socket_path()
    try:
        return Client(path)
    except DaemonUnavailable:
        if not spawn:
            raise
    client, private = spawn_private(daemon or find_daemon(), timeout, Client)
    client._private = private
    return client


class Client:
    """A connection to ``shmcalld``: call its functions as methods (``c.add(2, 3)``).

    Functions are also in ``c.functions``, struct types in ``c.types``. Each thread gets its own
    channel on first use. Close with :meth:`close` or a ``with`` block; arrays from :meth:`empty`
    stay usable after close.
    """

    _private: PrivateDaemon | None = None  # the daemon `connect` started for this client

    def __new__(cls, *args: object, **kwargs: object) -> Client:
        # Each client is born an instance of a class of its own, which gets the remote functions as
        # methods once the manifest is read (`_handshake`): CPython 3.11 specializes `c.add(...)` only
        # for a function on the class, and only for an instance made as one of it (assigning
        # `__class__` afterwards leaves the lookup generic): `c.add(1, 2)` 0.556 -> 0.521 µs.
        own = type(cls.__name__, (cls,), {"__module__": cls.__module__, "__qualname__": cls.__qualname__,
                                          "__doc__": cls.__doc__})
        return object.__new__(own)

    def __init__(self, socket_path: str) -> None:
        self._session = Session(socket_path)
        self.socket_path = socket_path
        try:
            self._handshake()
        except BaseException:
            self.close()
            raise
        _clients.add(self)

    def _handshake(self) -> None:
        msg, _ = self._session.control.request(
            {"op": "hello", "protocol": L.PROTOCOL_VERSION, "layout_hash": f"{L.LAYOUT_HASH:016x}",
             "client": f"python pid {os.getpid()}"}, "welcome")
        if msg.get("protocol") != L.PROTOCOL_VERSION:
            raise VersionMismatch(f"daemon speaks protocol {msg.get('protocol')}, client {L.PROTOCOL_VERSION}")
        pid = self._session.control.peer_pid()
        self.daemon: DaemonInfo = describe(pid, msg.get("daemon", ""), self.socket_path)
        self.manifest: dict[str, Any] = msg["manifest"]
        self._structs = build_structs(self.manifest["structs"])
        self.types: Namespace[type] = Namespace("struct type", list(self._structs), lambda name: self._structs[name].cls)
        # A placeholder per function on this client's own class (`__new__`); each function's code is
        # made on first use (`_methods`). One whose name a method of Client has is reached through
        # `c.functions`.
        found = placeholders(self.manifest["functions"], self._structs, self._session, type(self), Client)
        self.functions = functions(self, found)

    if TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any:
            """The daemon's functions, as methods (``c.add``): known only once connected."""
            ...

    def ping(self) -> None:
        """One bare round trip to the daemon (no function runs)."""
        self._session.channel().ping()

    # -- shared arrays ---------------------------------------------------------------------------

    def empty(self, shape: int | Iterable[int], dtype: DTypeLike = "f64") -> Array:
        """A new array in shared memory (uninitialized): numpy when installed, else a memoryview.

        ``dtype`` is a type name (``"f64"``, ``"int64"`` …), a numpy dtype, or a plain struct type
        from ``c.types``. Passing the array to a function is zero-copy; it is released when garbage.
        """
        elem = element(dtype, self._structs)
        dims = (shape,) if isinstance(shape, int) else tuple(int(d) for d in shape)
        if any(d < 0 for d in dims):
            raise ValueError(f"negative dimension in shape {dims}")
        nbytes = math.prod(dims) * elem.size
        session = self._session
        seg, off = session.channel().alloc(nbytes)
        arr = session.heap.own(seg, off, nbytes, elem)
        if isinstance(arr, memoryview):
            return arr.cast("B").cast(elem.format, dims) if elem.format and len(dims) > 1 else arr
        return arr if len(dims) == 1 else arr.reshape(dims)

    def zeros(self, shape: int | Iterable[int], dtype: DTypeLike = "f64") -> Array:
        """Like :meth:`empty`, filled with zeros."""
        arr = self.empty(shape, dtype)
        if isinstance(arr, memoryview):
            arr.cast("B")[:] = bytes(arr.nbytes)
        else:
            arr[...] = 0
        return arr

    def asarray(self, obj: Any, dtype: DTypeLike | None = None) -> Array:
        """``obj`` as an array in shared memory: returned as is if it already is one, else copied in."""
        if HAVE_NUMPY:
            if dtype is not None:
                dtype = element(dtype, self._structs).dtype
            elif isinstance(obj, (bytes, bytearray)):
                dtype = np.uint8
            src = np.asarray(obj, dtype=dtype) if not isinstance(obj, (bytes, bytearray)) else np.frombuffer(obj, dtype=dtype)
            if self._session.heap.locate(src, src.nbytes) is not None and src.flags.c_contiguous:
                return src
            out = self.empty(src.shape, src.dtype)
            assert isinstance(out, np.ndarray)  # with numpy
            out[...] = src
            return out
        if dtype is None:
            raise TypeError("without numpy, asarray needs a dtype")
        elem = element(dtype, self._structs)
        data = memoryview(obj).cast("B") if not isinstance(obj, (list, tuple)) else memoryview(elem.pack_sequence(obj, "asarray"))
        copy = self.empty(data.nbytes // elem.size, dtype)
        assert isinstance(copy, memoryview)  # without numpy
        copy.cast("B")[:] = data
        return copy

    def ref(self, type_name: str, value: Any = None) -> Ref[Any]:
        """A cell for an in-out parameter (``&mut T``): ``r = c.ref("i64", 100); c.change_int(r); r.value``."""
        name = ALIASES.get(type_name, type_name)
        codec = parse(name, self._structs)
        if value is None:
            value = default_value(codec)
        codec.prep(value, CHECKING, f"ref({type_name!r})")
        return Ref(name, value)

    def vec(self, type_name: DTypeLike, values: Iterable[Any] = ()) -> Vec:
        """A growable array for ``&mut Vec<T>`` parameters."""
        elem = element(type_name, self._structs)
        if HAVE_NUMPY:
            return Vec(elem.name, np.array(values, dtype=elem.dtype))
        items = list(values)
        if elem.format:
            return Vec(elem.name, memoryview(elem.pack_sequence(items, "vec")).cast(elem.format))
        return Vec(elem.name, items)

    # -- lifetime --------------------------------------------------------------------------------

    def close(self) -> None:
        """Closes the connection (the daemon frees this client's memory) and stops a private daemon.

        Idempotent. Arrays still referenced stay readable: their mappings close when they die.
        A call another thread is waiting on raises ConnectionLost (the daemon may still run it), and
        every later call raises ShmcallError.
        """
        self._session.close()
        private, self._private = self._private, None
        if private is not None:
            private.stop()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # half made (no daemon), or at interpreter exit
            pass

    @property
    def daemon_version(self) -> str:
        """The daemon's name and version, as it greeted (``"shmcalld 0.1.0"``)."""
        return f"{self.daemon.name} {self.daemon.version}"

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        """A client pickles as "connect to the same daemon": the process that unpickles it gets a
        client of its own (channels and shared memory cannot travel), so a client can be handed to
        ``multiprocessing`` or ``ProcessPoolExecutor`` workers. It never starts a daemon: a private
        one serves such copies while the client that started it is open."""
        return _reconnect, (self.socket_path,)

    def __repr__(self) -> str:
        daemon = getattr(self, "daemon", None)  # None if the handshake failed
        who = str(daemon) if daemon is not None else f"at {self.socket_path}"
        return f"<shmcall.Client {who}{', closed' if self._session.closed else ''}>"

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self.functions))


def _reconnect(socket_path: str) -> Client:
    """An unpickled client (`Client.__reduce__`)."""
    return connect(socket_path, spawn=False)


def _after_fork() -> None:
    for client in list(_clients):
        client._private = None  # the parent's daemon: closing the child's copy must not stop it
        client._session.after_fork()


os.register_at_fork(after_in_child=_after_fork)
