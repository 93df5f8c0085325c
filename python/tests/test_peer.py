"""Peer credentials (SPEC §2.1): a daemon whose socket anyone can reach still serves only its own user
and the users it was told to allow. The other user is a real one: the client runs under uid 65534
(``setpriv``), which needs root; the socket and its directory are made world-connectable on purpose."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

import shmcall

from conftest import REPO, Daemon, daemon_binary

NOBODY = 65534

needs_another_user = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="acting as another user needs root and setpriv (util-linux)",
)

# Run as the other user: connect, call, and ask for status, reporting what happened as JSON.
CLIENT = """
import hashlib, json, os, sys
import shmcall
from shmcall import _admin

sock, out = sys.argv[1], {"uid": os.getuid()}
try:
    with shmcall.connect(sock, spawn=False) as c:
        data = os.urandom(3 << 20)  # through a heap segment: its memfd reaches this user too
        out["add"] = c.add(2, 3)
        out["sha256_ok"] = c.sha256(data) == hashlib.sha256(data).digest()
except shmcall.NotPermitted as e:
    out["connect"] = ["NotPermitted", isinstance(e, PermissionError), str(e)]
try:
    out["status_pid"] = _admin.status(sock)["pid"]
except shmcall.NotPermitted as e:
    out["status"] = ["NotPermitted", str(e)]
print(json.dumps(out))
"""


def as_nobody(*argv: str, groups: str = "") -> subprocess.CompletedProcess[str]:
    """Runs ``argv`` as uid and gid 65534, with the supplementary ``groups`` (comma-separated) only."""
    membership = [f"--groups={groups}"] if groups else ["--clear-groups"]
    return subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", *membership, *argv],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO / "python"), "RUST_LOG": "info"},
    )


def client_as_nobody(sock: str, groups: str = "") -> dict[str, Any]:
    run = as_nobody(sys.executable, "-c", CLIENT, sock, groups=groups)
    assert run.returncode == 0, run.stderr
    out: dict[str, Any] = json.loads(run.stdout)
    assert out["uid"] == NOBODY
    return out


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory anyone may enter (pytest's own are private to root)."""
    d = Path(tempfile.mkdtemp(prefix="peer-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def serve_to_anyone(d: Path, name: str, *args: str) -> Daemon:
    daemon = Daemon(d / f"{name}.sock", *args)
    os.chmod(d, 0o777)  # after start: the daemon makes nothing connectable by others itself
    os.chmod(daemon.socket, 0o777)
    return daemon


@needs_another_user
def test_another_user_is_refused_even_when_the_socket_is_world_connectable(open_dir):
    with serve_to_anyone(open_dir, "s") as d:
        out = client_as_nobody(d.socket)
        kind, permission_error, message = out["connect"]
        assert (kind, permission_error) == ("NotPermitted", True)
        assert f"uid {NOBODY} (gid {NOBODY}) may not use this daemon: it admits uid 0" in message
        assert "--allow-uid" in message
        assert out["status"][0] == "NotPermitted", "administrative connections are checked too"
        stop = as_nobody(daemon_binary(), "stop", "--socket", d.socket)
        assert stop.returncode != 0 and "not_permitted" in stop.stderr, stop
        assert d.proc.poll() is None, "a refused stop stops nothing"
        with shmcall.connect(d.socket, spawn=False) as c:
            assert c.add(1, 2) == 3, "the daemon's own user is served"
        assert d.stop() == 0
    log = (open_dir / "s.log").read_text()
    refusals = [line for line in log.splitlines() if "refused: uid" in line]
    assert len(refusals) == 3 and all("WARN" in line for line in refusals), log
    assert f"refused: uid {NOBODY} (gid {NOBODY})" in refusals[0] and "(pid " in refusals[0]


@needs_another_user
def test_an_allowed_user_is_served_and_may_stop_the_daemon(open_dir):
    with serve_to_anyone(open_dir, "s", "--allow-uid", str(NOBODY)) as d:
        out = client_as_nobody(d.socket)
        assert (out.get("add"), out.get("sha256_ok")) == (5, True), out
        assert out["status_pid"] == d.proc.pid
        stop = as_nobody(daemon_binary(), "stop", "--socket", d.socket)
        assert stop.returncode == 0, stop
        assert d.proc.wait(timeout=10) == 0


@needs_another_user
def test_an_allowed_group_admits_its_members_by_primary_or_supplementary_group(open_dir):
    with serve_to_anyone(open_dir, "primary", "--allow-gid", str(NOBODY), "--allow-uid", "4242") as d:
        assert client_as_nobody(d.socket).get("add") == 5
    with serve_to_anyone(open_dir, "supplementary", "--allow-gid", "4242") as d:
        assert client_as_nobody(d.socket, groups="100,4242").get("add") == 5
        assert "gids 4242" in client_as_nobody(d.socket)["connect"][2], "without the group: refused"


@pytest.mark.parametrize("kind", [socket.SOCK_SEQPACKET, socket.SOCK_STREAM], ids=["seqpacket", "stream"])
def test_a_refusal_sent_before_the_hello_is_still_what_the_client_raises(tmp_path, kind):
    """A daemon may close a refused connection before the client's first send fails (EPIPE): the
    client still reads the queued refusal and raises it, over either transport."""
    path = str(tmp_path / "refuser.sock")
    closed = threading.Event()
    with socket.socket(socket.AF_UNIX, kind) as server:
        server.bind(path)
        server.listen()

        def refuse() -> None:
            conn, _ = server.accept()
            refusal = json.dumps({"op": "error", "kind": "not_permitted", "message": "uid 1 may not"}).encode()
            conn.send(refusal if kind == socket.SOCK_SEQPACKET else len(refusal).to_bytes(4, "little") + refusal)
            conn.close()
            closed.set()

        threading.Thread(target=refuse, daemon=True).start()
        from shmcall._control import ControlSocket
        from shmcall._heap import Heap

        control = ControlSocket(path, Heap())
        assert closed.wait(10)
        with pytest.raises(shmcall.NotPermitted, match="uid 1 may not") as refused:
            control.request({"op": "hello"}, "welcome")
        assert isinstance(refused.value, PermissionError)
        control.close(shutdown=False)
