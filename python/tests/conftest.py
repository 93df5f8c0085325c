"""Fixtures: a real ``shmcalld`` process on a temporary socket (never a mock), and clients of it."""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
import threading
import time
from typing import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "python"))
# Generated call code is cached for this run only (and for the processes the tests start), never in
# the user's cache: each run starts cold, and a later test can see earlier processes' entries.
if "SHMCALL_CACHE_DIR" not in os.environ:
    import tempfile

    os.environ["SHMCALL_CACHE_DIR"] = tempfile.mkdtemp(prefix="shmcall-test-cache-")

import shmcall  # noqa: E402


def daemon_binary() -> str:
    env = os.environ.get("SHMCALLD")
    if env:
        return env
    for profile in ("release", "debug"):
        p = REPO / "target" / profile / "shmcalld"
        if p.is_file():
            return str(p)
    pytest.exit("shmcalld is not built: run `cargo build --release` first", returncode=2)


class Daemon:
    """A running daemon process: ``shmcalld``, or ``binary`` (another daemon built on shmcall)."""

    def __init__(self, socket_path: Path, *args: str, binary: str | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.socket = str(socket_path)
        self.log = open(socket_path.with_suffix(".log"), "wb")
        self.proc = subprocess.Popen([binary or daemon_binary(), "serve", "--socket", self.socket, *args],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 20
        while not os.path.exists(self.socket):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"daemon did not start: {socket_path.with_suffix('.log').read_text()}")
            time.sleep(0.01)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        code = self.proc.wait(timeout=30)
        self.log.close()
        return code

    def __enter__(self) -> "Daemon":
        return self

    def __exit__(self, *exc: object) -> None:
        """Never leaves a daemon behind, whatever the test did."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self.log.close()


@pytest.fixture(scope="session")
def daemon(tmp_path_factory: pytest.TempPathFactory):
    d = Daemon(tmp_path_factory.mktemp("daemon") / "shmcalld.sock")
    yield d
    assert d.stop() == 0, "daemon exits cleanly on SIGTERM"
    assert not os.path.exists(d.socket), "daemon removes its socket"


@pytest.fixture(scope="session")
def session_client(daemon):
    with shmcall.connect(daemon.socket, spawn=False) as c:
        yield c


@pytest.fixture
def c(session_client):
    """A client shared by the session (connection set-up is not what most tests are about)."""
    return session_client


@pytest.fixture
def fresh(daemon):
    """A client of its own, closed after the test."""
    with shmcall.connect(daemon.socket, spawn=False) as client:
        yield client


def run_threads(work: Callable[[int], None], count: int, timeout: float) -> None:
    """Runs ``work(k)`` for k in range(count) on that many threads; fails if any raised or is still
    running after ``timeout`` seconds."""
    errors: list[BaseException] = []

    def guarded(k: int) -> None:
        try:
            work(k)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=guarded, args=(k,)) for k in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    assert not any(t.is_alive() for t in threads), "a thread hangs"
    assert not errors, errors


class RawConnection:
    """A bare control connection, over the transport the daemon offers (seqpacket, or the portable
    backend's stream frames), for tests that speak the control protocol themselves."""

    def __init__(self, path: str, timeout: float = 10) -> None:
        from shmcall import _transport

        self.transport = _transport.connect(path)
        self.transport.settimeout(timeout)

    def send(self, data: bytes) -> None:
        """One control message (framed as the transport frames it)."""
        self.transport.send(data)

    def recv_with_fds(self) -> tuple[dict | None, list[int]]:
        """The next message and its descriptors (the caller's to close); None once the daemon closed."""
        received = self.transport.recv(block=True)
        assert received is not None
        return (json.loads(received.data) if received.data else None), received.fds

    def recv(self) -> dict | None:
        """The next message, its descriptors closed at once; None once the daemon closed."""
        msg, fds = self.recv_with_fds()
        for fd in fds:
            os.close(fd)
        return msg

    def read_until_closed(self) -> list[dict]:
        """Every message until the daemon closes the connection."""
        messages = []
        while (msg := self.recv()) is not None:
            messages.append(msg)
        return messages

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> "RawConnection":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def transport_of(socket_path: str) -> str:
    """The transport the daemon on ``socket_path`` offers: ``seqpacket`` (the Linux backend) or
    ``stream`` (the portable POSIX backend)."""
    with RawConnection(socket_path) as raw:
        return raw.transport.kind


def fd_closed(fd: int) -> bool:
    """True if ``fd`` is no open descriptor of this process."""
    try:
        os.fstat(fd)
    except OSError as e:
        return e.errno == errno.EBADF
    return False


class Counting:
    """Counts the fast path's falls to the general path: ``_general_call`` (before sending) and
    ``_general_result`` (decoding the response), whatever names a parameter made them take."""

    def __init__(self, fn):
        self.g = fn.__globals__
        used = [k for k in fn.__code__.co_names if re.fullmatch(r"_general_(call|result)_*", k)]
        self.saved = {k: self.g[k] for k in used}
        assert len(self.saved) == 2
        self.falls = 0

        def counted(real):
            def wrapper(*args, **kw):
                self.falls += 1
                return real(*args, **kw)
            return wrapper

        for k, real in self.saved.items():
            self.g[k] = counted(real)

    def __enter__(self) -> "Counting":
        return self

    def __exit__(self, *exc: object) -> None:
        self.g.update(self.saved)
