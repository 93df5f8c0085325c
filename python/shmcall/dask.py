"""shmcall on a Dask cluster: one daemon per host, shared by that host's workers, and gone soon after
the cluster.

>>> import numpy as np
>>> import shmcall.dask
>>> dask_client.register_plugin(shmcall.dask.DaemonPlugin())              # doctest: +SKIP
>>> def chunk_sum(chunk):
...     return np.array([shmcall.dask.client().sum(chunk)])
>>> xs.map_blocks(chunk_sum, chunks=(1,), meta=np.empty(0)).sum().compute()  # doctest: +SKIP

(docs/dask.md is the guide.)

Each worker, as it starts, attaches to the host's daemon, or starts it if none runs. A lock file next
to the socket lets one worker of a host start it while the others wait, and the check is redone
under the lock, so several workers starting at once still make one daemon. The daemon is started
with ``--exit-when-idle``: a worker holds a connection for its whole life, and the daemon exits a
short while after the last one closed, which also covers workers that are killed and so never run
their teardown.

Needs Dask's ``distributed`` package (``pip install shmcall[dask]``); ``import shmcall`` alone does
not import Dask.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import subprocess
import threading
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator, NamedTuple

try:
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError as e:  # Dask stays optional: only this module needs it
    raise ImportError(f"shmcall.dask needs Dask's distributed package: pip install shmcall[dask] ({e})") from e

from ._client import Client, connect
from ._daemon import default_socket_path, find_daemon
from ._errors import ConnectionLost, DaemonUnavailable, ShmcallError

if TYPE_CHECKING:
    from distributed import Worker

__all__ = ["DEFAULT_IDLE_EXIT", "DaemonPlugin", "DaemonSettings", "client", "close", "configure"]

DEFAULT_IDLE_EXIT = 10.0
"""Seconds a daemon started here outlives its last client: long enough for a killed worker to be
restarted by its nanny (the other workers' connections usually keep the daemon anyway)."""

_POLL = 0.01  # seconds between checks while a daemon starts
_STARTS = 3  # daemons started in a row before giving up (see `_start_and_connect`)


class DaemonSettings(NamedTuple):
    """Which daemon a process's client reaches, and how it is started when none runs."""

    daemon: str | None = None
    """The binary: a path or a name on ``PATH``; None: ``shmcalld``, found as ``shmcall.connect``
    finds it, on the host that starts it."""
    socket_path: str | None = None
    """None: the per-user default of ``shmcall.connect``, or, for another binary, a socket named after
    it in the same directory (as that daemon's own default)."""
    idle_exit: float = DEFAULT_IDLE_EXIT
    """The daemon's ``--exit-when-idle``, in seconds."""
    timeout: float = 30.0
    """Seconds to wait for the host lock and for a started daemon to listen."""

    def socket(self) -> str:
        """The socket path these settings name on this host."""
        if self.socket_path:
            return self.socket_path
        default = default_socket_path()
        if self.daemon is None:
            return default
        name = os.path.basename(self.daemon)
        return os.path.join(os.path.dirname(default), f"{name}.sock")


class DaemonPlugin(WorkerPlugin):
    """A worker plugin: each worker attaches to its host's daemon (starting it if none runs) before it
    runs a task, and keeps the connection until it closes. Register it once per cluster::

        dask_client.register_plugin(shmcall.dask.DaemonPlugin())

    Tasks then call :func:`client`. ``daemon`` and ``socket_path`` choose another daemon (a binary
    built on the shmcall library, say); ``idle_exit`` is how long, in seconds, a daemon started here
    outlives its last client.
    """

    idempotent = True  # registering it again (another notebook cell) changes nothing
    name = "shmcall-daemon"

    def __init__(self, daemon: str | None = None, socket_path: str | None = None, *,
                 idle_exit: float = DEFAULT_IDLE_EXIT, timeout: float = 30.0) -> None:
        if idle_exit <= 0:
            raise ValueError(f"idle_exit must be above 0 seconds, not {idle_exit}")
        self.settings = DaemonSettings(daemon, socket_path, idle_exit, timeout)

    async def setup(self, worker: Worker) -> None:
        # Taking the host lock and starting a daemon block: off the worker's event loop, which must
        # keep answering the scheduler meanwhile.
        await asyncio.get_running_loop().run_in_executor(None, configure, self.settings)

    def teardown(self, worker: Worker) -> None:
        close()


# -- the process's client ---------------------------------------------------------------------------

_lock = threading.Lock()  # guards the two below; held while connecting, so a process connects once
_settings = DaemonSettings()
_cached: tuple[int, Client] | None = None  # (pid that connected it, client)


def configure(settings: DaemonSettings) -> Client:
    """Makes ``settings`` this process's (the plugin does, on each worker) and returns its client,
    attached to the host's daemon, which is started if none runs."""
    global _settings
    with _lock:
        if settings != _settings:
            _settings = settings
            _drop_cached()
    return client()


def client() -> Client:
    """This process's client of the host's daemon, for tasks: connected on first use (the daemon is
    started if none runs) and kept; a new one after a fork, or if the kept one was closed or lost
    its daemon. Threads share it (each gets its own channel)."""
    global _cached
    with _lock:
        kept = _cached
        if kept is not None and kept[0] == os.getpid() and _usable(kept[1]):
            return kept[1]
        _drop_cached()
        fresh = _attach(_settings)
        _cached = (os.getpid(), fresh)
        return fresh


def close() -> None:
    """Closes this process's client (a worker's teardown): the daemon may then exit once idle."""
    with _lock:
        _drop_cached()


def _usable(c: Client) -> bool:
    # One round trip (a few microseconds, far below a task's overhead) tells a closed client or a
    # daemon gone from a good one.
    try:
        c.ping()
    except ShmcallError:
        return False
    return True


def _drop_cached() -> None:
    """Forgets the kept client, closing it unless another process made it (its connection is that
    process's: a forked child only lets its copy go)."""
    global _cached
    kept, _cached = _cached, None
    if kept is not None and kept[0] == os.getpid():
        kept[1].close()


# -- one daemon per host ----------------------------------------------------------------------------


def _attach(settings: DaemonSettings) -> Client:
    """A client of the daemon on ``settings``' socket; if none answers, one is started first. The host
    lock makes the check and the start one step for all processes of the host."""
    socket_path = settings.socket()
    try:
        return connect(socket_path, spawn=False)
    except (DaemonUnavailable, ConnectionLost):  # none, or one exiting as we came
        pass
    with _host_lock(socket_path, settings.timeout):
        return _start_and_connect(settings, socket_path)


@contextmanager
def _host_lock(socket_path: str, timeout: float) -> Iterator[None]:
    """Holds the lock file next to ``socket_path`` (created 0600 in a 0700 directory). ``flock``
    locks are the kernel's: a process killed while holding one releases it."""
    directory = os.path.dirname(socket_path) or "."
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd = os.open(f"{socket_path}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise DaemonUnavailable(f"another process held {socket_path}.lock for {timeout} s") from None
                time.sleep(_POLL)
        yield
    finally:
        os.close(fd)  # releases the lock


def _start_and_connect(settings: DaemonSettings, socket_path: str) -> Client:
    """Under the host lock: connects to the daemon, starting one if none runs. A daemon that exits
    at once is started again (at most ``_STARTS`` times): one that was exiting while idle as it was
    found can hold the socket a moment longer, and the new one then declines to replace it."""
    deadline = time.monotonic() + settings.timeout
    started: subprocess.Popen[bytes] | None = None
    starts = 0
    while True:
        try:
            return connect(socket_path, spawn=False)
        except (DaemonUnavailable, ConnectionLost):
            pass
        if started is None or started.poll() is not None:
            if starts == _STARTS:
                raise DaemonUnavailable(f"the daemon did not start on {socket_path}: {_log_tail(socket_path)}")
            started = _start(settings, socket_path)
            starts += 1
        if time.monotonic() > deadline:
            raise DaemonUnavailable(f"no daemon listens on {socket_path} after {settings.timeout} s: "
                                    f"{_log_tail(socket_path)}")
        time.sleep(_POLL)


def _start(settings: DaemonSettings, socket_path: str) -> subprocess.Popen[bytes]:
    """Starts the daemon for this host, in a session of its own: it serves every worker of the host,
    so a signal to the process group of the worker that started it must not stop it."""
    binary = settings.daemon or find_daemon()
    args = [binary, "serve", "--socket", socket_path, "--exit-when-idle", repr(settings.idle_exit)]
    with open(_log_path(socket_path), "ab") as log:
        try:
            proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        except OSError as e:
            raise DaemonUnavailable(f"cannot start {binary}: {e}") from e
    # Its exit status is collected here, so that a daemon that exits while its starter lives leaves
    # no zombie behind.
    threading.Thread(target=proc.wait, name="shmcall-daemon-reaper", daemon=True).start()
    return proc


def _log_path(socket_path: str) -> str:
    """The log of the daemons started for ``socket_path``, beside it."""
    return f"{os.path.splitext(socket_path)[0]}.log"


def _log_tail(socket_path: str, size: int = 2000) -> str:
    """The end of the daemons' log, for an error that says why none started."""
    path = _log_path(socket_path)
    try:
        with open(path, "rb") as log:
            log.seek(max(0, os.fstat(log.fileno()).st_size - size))
            return f"{path} ends: {log.read().decode(errors='replace').strip()}"
    except OSError as e:
        return f"no log ({e})"
