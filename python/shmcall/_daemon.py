"""Finding the daemon: its socket, its binary, a private one started for this process, and which
daemon a connection reached."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable, NamedTuple, TypeVar

from ._errors import DaemonUnavailable
from ._install import own_binaries

__all__ = ["DaemonInfo", "default_socket_path"]

SOCKET_ENV = "SHMCALL_SOCKET"
DAEMON_ENV = "SHMCALLD"


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
    """The ``shmcalld`` binary: ``$SHMCALLD``; else the one that belongs with this package (installed
    beside it, in the venv's ``bin/``, or built in this checkout's ``target/``); else ``PATH``."""
    env = os.environ.get(DAEMON_ENV)
    if env:
        return env
    for candidate in own_binaries("shmcalld"):
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("shmcalld")
    if found:
        return found
    raise DaemonUnavailable("cannot find shmcalld: `pip install` shmcall, put shmcalld on PATH, or set $SHMCALLD")


class DaemonInfo(NamedTuple):
    """Which daemon a client talks to: its name and version (from its welcome), its process id (from
    the socket's peer credentials) and its socket."""

    name: str
    version: str
    pid: int
    socket: str

    def __str__(self) -> str:
        return f"{self.name} {self.version} pid {self.pid} at {self.socket}"


def describe(pid: int, welcome: str, socket_path: str) -> DaemonInfo:
    """The daemon of process ``pid`` (from the socket's peer credentials), which greeted with
    ``welcome`` (``"name version"``)."""
    name, _, version = welcome.rpartition(" ")
    if not name:  # a bare name
        name, version = version, ""
    return DaemonInfo(name, version, pid, socket_path)


class PrivateDaemon(NamedTuple):
    """A daemon started for one client, serving in a temporary directory of its own."""

    process: subprocess.Popen[bytes]
    directory: str  # holds its socket and its log

    @property
    def socket_path(self) -> str:
        return os.path.join(self.directory, "shmcalld.sock")

    def stop(self) -> None:
        """Stops the daemon and removes its directory."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


T = TypeVar("T")


def spawn_private(binary: str, timeout: float, attach: Callable[[str], T]) -> tuple[T, PrivateDaemon]:
    """Starts ``binary`` on a temporary socket and returns ``attach(socket path)`` once it succeeds
    (it raises DaemonUnavailable until the daemon listens), with the daemon."""
    tmp = tempfile.mkdtemp(prefix="shmcall-")
    log = open(os.path.join(tmp, "shmcalld.log"), "wb")
    try:
        daemon = PrivateDaemon(subprocess.Popen([binary, "serve", "--socket", os.path.join(tmp, "shmcalld.sock")],
                                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT), tmp)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DaemonUnavailable(f"cannot start {binary}: {e}") from e
    finally:
        log.close()
    deadline = time.monotonic() + timeout
    proc = daemon.process
    while True:
        if os.path.exists(daemon.socket_path):
            try:
                return attach(daemon.socket_path), daemon
            except DaemonUnavailable:
                pass
            except BaseException:  # refused (e.g. VersionMismatch): the daemon is of no use to anyone
                daemon.stop()
                raise
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            text = Path(tmp, "shmcalld.log").read_text(errors="replace")
            shutil.rmtree(tmp, ignore_errors=True)
            raise DaemonUnavailable(f"private daemon {binary} did not start (exit {proc.returncode}): {text.strip()}")
        time.sleep(0.005)
