"""Connecting to ``shmcalld`` and the ``Client`` object: the handshake, the manifest turned into
Python callables and struct types, channels per thread, shared arrays, and clean shutdown."""

from __future__ import annotations

import array as _array
import json
import keyword
import math
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import types
import weakref
from pathlib import Path
from typing import Any, Iterable

from . import _layout as L
from ._channel import Channel
from ._errors import ConnectionLost, CorruptResponse, DaemonUnavailable, ProtocolError, ShmcallError, VersionMismatch
from ._function import RemoteFunction, make_callable
from ._heap import Heap, np
from ._types import ALIASES, SCALARS, StructCodec, element, parse
from ._values import Ref, Vec

__all__ = ["Client", "connect", "default_socket_path"]

SOCKET_ENV = "SHMCALL_SOCKET"
DAEMON_ENV = "SHMCALLD"
_MAX_MESSAGE = 1 << 22  # the welcome message carries the manifest
_FDS_SPACE = socket.CMSG_SPACE(4 * 4)
_clients: "weakref.WeakSet[Client]" = weakref.WeakSet()


def default_socket_path() -> str:
    """``$SHMCALL_SOCKET``, else ``$XDG_RUNTIME_DIR/shmcall/shmcalld.sock``, else
    ``/tmp/shmcall-<uid>/shmcalld.sock`` (the daemon's default too)."""
    env = os.environ.get(SOCKET_ENV)
    if env:
        return env
    run = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(run) / "shmcall" if run else Path(f"/tmp/shmcall-{os.getuid()}")
    return str(base / "shmcalld.sock")


def find_daemon() -> str:
    """The ``shmcalld`` binary: ``$SHMCALLD``, then ``PATH``, then this checkout's ``target/``."""
    env = os.environ.get(DAEMON_ENV)
    if env:
        return env
    found = shutil.which("shmcalld")
    if found:
        return found
    repo = Path(__file__).resolve().parents[2]
    for profile in ("release", "debug"):
        candidate = repo / "target" / profile / "shmcalld"
        if candidate.is_file():
            return str(candidate)
    raise DaemonUnavailable("cannot find shmcalld: set $SHMCALLD, put it on PATH, or run `cargo build --release`")


def connect(socket_path: str | None = None, *, spawn: bool = True, daemon: str | None = None,
            timeout: float = 10.0) -> "Client":
    """Attaches to the daemon at ``socket_path`` (default: :func:`default_socket_path`).

    If nobody listens there and ``spawn`` is true, starts a private daemon (``daemon`` or
    :func:`find_daemon`) on a temporary socket; it stops when the client closes.

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
    return _spawn_private(daemon or find_daemon(), timeout)


def _spawn_private(binary: str, timeout: float) -> "Client":
    tmp = tempfile.mkdtemp(prefix="shmcall-")
    path = os.path.join(tmp, "shmcalld.sock")
    log = open(os.path.join(tmp, "shmcalld.log"), "wb")
    try:
        proc = subprocess.Popen([binary, "serve", "--socket", path], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT)
    except OSError as e:
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise DaemonUnavailable(f"cannot start {binary}: {e}") from e
    finally:
        log.close()
    deadline = time.monotonic() + timeout
    while True:
        if os.path.exists(path):
            try:
                client = Client(path)
                client._private = (proc, tmp)
                return client
            except DaemonUnavailable:
                pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            text = Path(tmp, "shmcalld.log").read_text(errors="replace")
            shutil.rmtree(tmp, ignore_errors=True)
            raise DaemonUnavailable(f"private daemon {binary} did not start (exit {proc.returncode}): {text.strip()}")
        time.sleep(0.005)


_MISSING = object()


def _fast_init(codec: StructCodec, names: tuple[str, ...]) -> Any:
    """A generated ``__init__`` with the fields as parameters: a third of the cost of a generic one.
    Immutable defaults are written in; mutable ones (structs, lists) are made fresh per instance."""
    if any(keyword.iskeyword(n) or not n.isidentifier() or n.startswith("_") for n in names):
        return None
    ns: dict[str, Any] = {"_MISSING": _MISSING}
    params, body = [], []
    for i, (name, c, _) in enumerate(codec.fields):
        default = _default(c)
        ns[f"_d{i}"] = default
        if isinstance(default, (int, float, complex, str, bytes, bool)):
            params.append(f"{name}=_d{i}")
            body.append(f"    self.{name} = {name}")
        else:
            ns[f"_make{i}"] = (lambda c=c: _default(c))
            params.append(f"{name}=_MISSING")
            body.append(f"    self.{name} = _make{i}() if {name} is _MISSING else {name}")
    src = f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body or ["    pass"]) + "\n"
    exec(compile(src, f"<shmcall struct {codec.name}>", "exec"), ns)  # noqa: S102 - identifiers only
    init = ns["__init__"]
    init.__qualname__ = f"{codec.name}.__init__"
    return init


def _make_struct_type(codec: StructCodec, doc: str) -> type:
    names = tuple(f[0] for f in codec.fields)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(names):
            raise TypeError(f"{codec.name}() takes at most {len(names)} positional arguments")
        values = dict(zip(names, args))
        for k, v in kwargs.items():
            if k not in names:
                raise TypeError(f"{codec.name}() has no field {k!r}")
            if k in values:
                raise TypeError(f"{codec.name}() got field {k!r} twice")
            values[k] = v
        for name, c, _ in codec.fields:
            object.__setattr__(self, name, values[name] if name in values else _default(c))

    def __eq__(self: Any, other: Any) -> Any:
        if type(other) is not type(self):
            return NotImplemented
        return all(_same(getattr(self, n), getattr(other, n)) for n in names)

    def __repr__(self: Any) -> str:
        return f"{codec.name}({', '.join(f'{n}={getattr(self, n)!r}' for n in names)})"

    def _asdict(self: Any) -> dict:
        return {n: getattr(self, n) for n in names}

    layout = ", ".join(f"{n}: {c.annotation()} @{off}" for n, c, off in codec.fields)
    ns = {
        "__slots__": names, "__init__": _fast_init(codec, names) or __init__, "__eq__": __eq__, "__repr__": __repr__, "__hash__": None,
        "_asdict": _asdict, "_fields": names, "_codec": codec, "size": codec.size, "align": codec.align,
        "__doc__": f"{doc}\n\nC layout: {layout}; size {codec.size}, align {codec.align}.".strip(),
    }
    cls = type(codec.name, (), ns)
    cls.__module__ = "shmcall.types"
    if codec.plain and np is not None:
        cls.dtype = codec.dtype()
    codec.cls = cls
    return cls


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def _default(codec: Any) -> Any:
    name = codec.name
    if name in SCALARS:
        kind = SCALARS[name][3]
        return {"int": 0, "float": 0.0, "bool": False, "complex": 0j}[kind]
    if name == "str":
        return ""
    if name == "bytes":
        return b""
    if isinstance(codec, StructCodec):
        return codec.cls()
    if name.startswith("["):
        d = _default(codec.elem)
        return bytes(codec.n) if codec.elem.name == "u8" else [d] * codec.n
    raise TypeError(f"no default for {name}")


class Client:
    """A connection to ``shmcalld``: call its functions as methods (``c.add(2, 3)``).

    Functions are also in ``c.functions``, struct types in ``c.types``. Each thread gets its own
    channel on first use. Close with :meth:`close` or a ``with`` block; arrays from :meth:`empty`
    stay usable after close.
    """

    _sock: Any = None
    _closed = True
    _private: Any = None
    _forked = False

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        # Each client is born an instance of a class of its own, which gets the remote functions as
        # methods once the manifest is read (`_handshake`): CPython 3.11 specializes `c.add(...)` only
        # for a function on the class, and only for an instance made as one of it (assigning
        # `__class__` afterwards leaves the lookup generic): `c.add(1, 2)` 0.556 -> 0.521 µs.
        own = type(cls.__name__, (cls,), {"__module__": cls.__module__, "__qualname__": cls.__qualname__,
                                          "__doc__": cls.__doc__})
        return object.__new__(own)

    def __init__(self, socket_path: str) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            sock.connect(socket_path)
        except OSError as e:
            sock.close()
            raise DaemonUnavailable(f"no daemon at {socket_path}: {e.strerror or e}") from e
        self._sock = sock
        self._closed = False
        self.socket_path = socket_path
        self._heap = Heap()
        self._sock_lock = threading.RLock()
        self._replies: list[tuple[dict, list[int]]] = []
        self._local = threading.local()
        self._channels: list[Channel] = []
        self._capacities: tuple[int, int] | None = None  # (request, response) of every channel
        try:
            self._handshake()
        except BaseException:
            self.close()
            raise
        _clients.add(self)

    # -- control socket --------------------------------------------------------------------------

    def _send(self, msg: dict) -> None:
        try:
            self._sock.send(json.dumps(msg).encode())
        except OSError as e:
            raise ConnectionLost(f"daemon connection lost: {e}") from e

    def _pump(self, block: bool) -> bool:
        """Reads one control message if there is one (or waits for it); False if none was ready."""
        with self._sock_lock:
            if self._sock is None:
                raise ConnectionLost("the client was closed")
            try:
                data, anc, flags, _ = self._sock.recvmsg(_MAX_MESSAGE, _FDS_SPACE, 0 if block else socket.MSG_DONTWAIT)
            except BlockingIOError:
                return False
            except OSError as e:
                raise ConnectionLost(f"daemon connection lost: {e}") from e
            fds: list[int] = []
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    a = _array.array("i")
                    a.frombytes(payload[: len(payload) - len(payload) % a.itemsize])
                    fds.extend(a)
            if not data:
                for fd in fds:
                    os.close(fd)
                raise ConnectionLost("the client was closed" if self._closed else "the daemon closed the connection")
            if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
                for fd in fds:
                    os.close(fd)
                raise CorruptResponse("control message truncated")
            try:
                msg = json.loads(data)
            except ValueError as e:
                for fd in fds:
                    os.close(fd)
                raise CorruptResponse(f"unreadable control message: {e}") from e
            if msg.get("op") == "segment":
                if len(fds) != 1:
                    raise CorruptResponse(f"segment message with {len(fds)} descriptors")
                self._heap.add(int(msg["id"]), fds[0], int(msg["size"]))
            elif msg.get("op") == "error":
                for fd in fds:
                    os.close(fd)
                cls = VersionMismatch if msg.get("kind") in ("version_mismatch", "layout_mismatch") else ProtocolError
                raise cls(f"daemon refused: {msg.get('message')}")
            else:
                self._replies.append((msg, fds))
            return True

    def _reply(self, op: str) -> tuple[dict, list[int]]:
        with self._sock_lock:
            while True:
                for i, (msg, fds) in enumerate(self._replies):
                    if msg.get("op") == op:
                        del self._replies[i]
                        return msg, fds
                self._pump(block=True)

    def _need_segment(self, seg_id: int) -> Heap:
        """The heap, once segment ``seg_id`` is mapped (the daemon sends it before referencing it)."""
        heap = self._heap
        if seg_id in heap.segments:
            return heap
        with self._sock_lock:  # re-check under the lock: another thread may have read it meanwhile
            while seg_id not in heap.segments:
                if self._closed:
                    raise ConnectionLost("client closed")
                self._pump(block=True)
        return heap

    def _handshake(self) -> None:
        self._send({"op": "hello", "protocol": L.PROTOCOL_VERSION, "layout_hash": f"{L.LAYOUT_HASH:016x}",
                    "client": f"python pid {os.getpid()}"})
        msg, _ = self._reply("welcome")
        if msg.get("protocol") != L.PROTOCOL_VERSION:
            raise VersionMismatch(f"daemon speaks protocol {msg.get('protocol')}, client {L.PROTOCOL_VERSION}")
        self.daemon_version = msg.get("daemon", "")
        self.manifest = msg["manifest"]
        structs: dict[str, StructCodec] = {}
        self.types = types.SimpleNamespace()
        for s in self.manifest["structs"]:
            fields = [(f["name"], parse(f["type"], structs), f["offset"]) for f in s["fields"]]
            codec = StructCodec(s, fields)
            _check_struct_layout(codec)
            structs[s["name"]] = codec
            setattr(self.types, s["name"], _make_struct_type(codec, s.get("doc", "")))
        self._structs = structs
        remote: dict[str, Any] = {}  # name -> method (the client its first argument)
        for entry in self.manifest["functions"]:
            fn = RemoteFunction(entry, structs)
            remote[fn.name] = make_callable(fn, self._call, self._local)
        for base, members in _families(remote).items():
            remote[base] = _make_family(base, members)
        self.functions = types.SimpleNamespace(**{name: types.MethodType(f, self) for name, f in remote.items()})
        # Methods of this client's own class (`__new__`); one whose name a method of Client already
        # has is reached through `c.functions`.
        for name, f in remote.items():
            if not hasattr(Client, name):
                setattr(type(self), name, f)

    # -- channels and calls ----------------------------------------------------------------------

    def _open_channel(self) -> Channel:
        if self._closed or self._forked:
            self._refuse()
        with self._sock_lock:
            self._send({"op": "open_channel"})
            msg, fds = self._reply("channel")
        if len(fds) != 3:
            for fd in fds:
                os.close(fd)
            raise CorruptResponse(f"channel message with {len(fds)} descriptors, expected 3")
        ch = Channel(self, int(msg["id"]), fds, int(msg["size"]))
        # The fast paths cache formats and guesses per client, checked once against the capacities of
        # the channel they were made on: every channel of a client must have the same ones.
        capacities = (ch.request_capacity, ch.response_capacity)
        if self._capacities is None:
            self._capacities = capacities
        elif capacities != self._capacities:
            ch.close()
            raise CorruptResponse(f"channel capacities {capacities} differ from this client's {self._capacities}")
        self._local.ch = ch
        self._channels.append(ch)
        return ch

    def _refuse(self) -> None:
        """Raises why this client takes no more calls (closed, or connected before a fork). A
        channel closed by another thread (`Channel.close`) is freed here, by its own thread."""
        ch = getattr(self._local, "ch", None)
        if ch is not None and ch.closed:
            ch.release()
        if self._forked:
            raise ShmcallError("this client was connected before fork(); call shmcall.connect() again in the child")
        raise ShmcallError("the client is closed")

    def _channel(self) -> Channel:
        if self._closed or self._forked:
            self._refuse()
        try:
            return self._local.ch
        except AttributeError:
            return self._open_channel()

    def _call(self, fn: RemoteFunction, args: tuple, timeout: float | None) -> Any:
        if self._closed or self._forked:
            self._refuse()
        try:
            ch = self._local.ch
        except AttributeError:
            ch = self._open_channel()
        return fn.invoke(ch, args, timeout)

    def ping(self) -> None:
        """One bare round trip to the daemon (no function runs)."""
        self._channel().ping()

    # -- shared arrays ---------------------------------------------------------------------------

    def empty(self, shape: int | Iterable[int], dtype: Any = "f64") -> Any:
        """A new array in shared memory (uninitialized): numpy when installed, else a memoryview.

        ``dtype`` is a type name (``"f64"``, ``"int64"`` …), a numpy dtype, or a plain struct type
        from ``c.types``. Passing the array to a function is zero-copy; it is released when garbage.
        """
        elem = element(dtype, self._structs)
        dims = (shape,) if isinstance(shape, int) else tuple(int(d) for d in shape)
        if any(d < 0 for d in dims):
            raise ValueError(f"negative dimension in shape {dims}")
        count = math.prod(dims)
        nbytes = count * elem.size
        seg, off = self._channel().alloc(nbytes)
        arr = self._heap.own(seg, off, nbytes, elem)
        if np is not None:
            return arr if len(dims) == 1 else arr.reshape(dims)
        return arr.cast("B").cast(elem.format, dims) if elem.format and len(dims) > 1 else arr

    def zeros(self, shape: int | Iterable[int], dtype: Any = "f64") -> Any:
        """Like :meth:`empty`, filled with zeros."""
        arr = self.empty(shape, dtype)
        if np is not None:
            arr[...] = 0
        else:
            arr.cast("B")[:] = bytes(arr.nbytes)
        return arr

    def asarray(self, obj: Any, dtype: Any = None) -> Any:
        """``obj`` as an array in shared memory: returned as is if it already is one, else copied in."""
        if np is not None:
            if dtype is not None:
                dtype = element(dtype, self._structs).dtype
            elif isinstance(obj, (bytes, bytearray)):
                dtype = np.uint8
            src = np.asarray(obj, dtype=dtype) if not isinstance(obj, (bytes, bytearray)) else np.frombuffer(obj, dtype=dtype)
            if self._heap.locate(src, src.nbytes) is not None and src.flags.c_contiguous:
                return src
            out = self.empty(src.shape, src.dtype)
            out[...] = src
            return out
        if dtype is None:
            raise TypeError("without numpy, asarray needs a dtype")
        elem = element(dtype, self._structs)
        data = memoryview(obj).cast("B") if not isinstance(obj, (list, tuple)) else memoryview(elem.pack_sequence(obj, "asarray"))
        out = self.empty(data.nbytes // elem.size, dtype)
        out.cast("B")[:] = data
        return out

    def ref(self, type_name: str, value: Any = None) -> Ref:
        """A cell for an in-out parameter (``&mut T``): ``r = c.ref("i64", 100); c.change_int(r); r.value``."""
        name = ALIASES.get(type_name, type_name)
        codec = parse(name, self._structs)
        if value is None:
            value = _default(codec)
        codec.prep(value, None, f"ref({type_name!r})")
        return Ref(name, value)

    def vec(self, type_name: Any, values: Any = ()) -> Vec:
        """A growable array for ``&mut Vec<T>`` parameters."""
        elem = element(type_name, self._structs)
        if np is not None:
            arr = np.array(values, dtype=elem.dtype)
        else:
            arr = memoryview(elem.pack_sequence(list(values), "vec")).cast(elem.format) if elem.format else list(values)
        return Vec(elem.name, arr)

    # -- lifetime --------------------------------------------------------------------------------

    def close(self) -> None:
        """Closes the connection (the daemon frees this client's memory) and stops a private daemon.

        Idempotent. Arrays still referenced stay readable: their mappings close when they die.
        A call another thread is waiting on raises ConnectionLost (the daemon may still run it), and
        every later call raises ShmcallError.
        """
        if self._sock is None:
            return
        self._closed = True
        for ch in getattr(self, "_channels", []):
            ch.close()
        self._channels = []
        try:
            if not self._forked:  # a fork's child shares the socket with its parent
                self._sock.shutdown(socket.SHUT_RDWR)  # ends another thread's wait for a message
        except OSError:
            pass
        try:
            self._sock.close()
        finally:
            self._sock = None
        if getattr(self, "_heap", None) is not None:
            self._heap.close()
        if self._private is not None:
            proc, tmp = self._private
            self._private = None
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            shutil.rmtree(tmp, ignore_errors=True)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self.manifest['functions'])} functions"
        return f"<shmcall.Client {self.socket_path!r} {state}>"

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(vars(self.functions)))


_BY_DTYPE = {spec[4]: name for name, spec in SCALARS.items()}
_BY_FORMAT = {spec[5]: name for name, spec in SCALARS.items() if spec[5]}


def _families(functions: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Functions named ``<base>_<type>`` (``sum_f64``, ``sum_i64``) grouped by base name."""
    groups: dict[str, dict[str, Any]] = {}
    for name, f in functions.items():
        base, _, suffix = name.rpartition("_")
        if base and suffix in SCALARS and base not in functions:
            groups.setdefault(base, {})[suffix] = f
    return groups


def _element_name(xs: Any) -> str:
    if np is not None and isinstance(xs, np.ndarray):
        return _BY_DTYPE.get(xs.dtype.name, xs.dtype.name)
    if isinstance(xs, Vec):
        return xs.type_name
    if isinstance(xs, memoryview):
        return _BY_FORMAT.get(xs.format.lstrip("@=<"), xs.format)
    if isinstance(xs, (list, tuple)):
        return "f64" if any(isinstance(x, float) for x in xs) else "i64"
    return type(xs).__name__


def _make_family(base: str, members: dict[str, Any]) -> Any:
    """One callable for a family, choosing the member by the first argument's element type."""

    def family(client: Any, xs: Any, *args: Any, **kwargs: Any) -> Any:
        member = members.get(_element_name(xs))
        if member is None:
            raise TypeError(f"{base}() takes arrays of {', '.join(sorted(members))}; got {_element_name(xs)}")
        return member(client, xs, *args, **kwargs)

    family.__name__ = family.__qualname__ = base
    family.__module__ = "shmcall.remote"
    family.__doc__ = f"{base}(xs, ...): one of {', '.join(sorted(members))}, chosen by the element type of xs.\n\n" + (
        next(iter(members.values())).__doc__ or "")
    family.members = dict(members)
    return family


def _check_struct_layout(codec: StructCodec) -> None:
    """Recomputes the C layout the manifest states; a disagreement means a corrupt manifest."""
    pos, align = 0, 1
    for name, c, off in codec.fields:
        pos = (pos + c.align - 1) // c.align * c.align
        if off != pos:
            raise CorruptResponse(f"struct {codec.name}: field {name} at {off}, C layout puts it at {pos}")
        pos += c.size
        align = max(align, c.align)
    size = (pos + align - 1) // align * align
    if (size, align) != (codec.size, codec.align):
        raise CorruptResponse(f"struct {codec.name}: size/align {codec.size}/{codec.align}, C layout gives {size}/{align}")


def _after_fork() -> None:
    for client in list(_clients):
        client._forked = True
        client._private = None  # the parent's daemon: closing the child's copy must not stop it
        for ch in client._channels:
            ch.poison()  # the parent still uses these rings: the child must never touch them
        client._channels = []


os.register_at_fork(after_in_child=_after_fork)
