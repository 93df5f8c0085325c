"""Operating a running daemon: ``shmcalld status`` (text and JSON) and ``shmcalld stop`` over its socket,
the admin messages they send (SPEC §2.3), and systemd's readiness message when ``NOTIFY_SOCKET`` is set."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import shmcall

from conftest import Daemon, daemon_binary


def command(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([daemon_binary(), *args], capture_output=True, text=True, timeout=timeout)


def status(sock: str) -> dict[str, Any]:
    out = command("status", "--socket", sock, "--json")
    assert out.returncode == 0, out.stderr
    report: dict[str, Any] = json.loads(out.stdout)
    return report


def calls_of(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in report["functions"]}


def test_status_reports_who_and_counts_that_move_after_calls(tmp_path):
    with Daemon(tmp_path / "s.sock") as d:
        first = status(d.socket)
        assert (first["name"], first["pid"], first["socket"]) == ("shmcalld", d.proc.pid, d.socket)
        assert first["protocol"] == shmcall.PROTOCOL_VERSION and first["uptime_s"] >= 0
        assert (first["clients"], first["channels"], first["calls"], first["errors"], first["panics"]) == (0, 0, 0, 0, 0)
        assert set(calls_of(first)) >= {"add", "divmod", "panic", "sha256"}

        with shmcall.connect(d.socket, spawn=False) as c:
            for i in range(50):
                c.add(i, 1)
            with pytest.raises(shmcall.RemoteError):
                c.divmod(1, 0)
            with pytest.raises(shmcall.RemotePanic):
                c.panic("on purpose")
            c.sha256(bytes(1 << 20))
            live = status(d.socket)
            assert (live["clients"], live["channels"]) == (1, 1)
            assert live["shared_memory_bytes"] > 1 << 20, "the heap holding the 1 MiB argument is mapped"
            fns = calls_of(live)
            assert fns["add"]["calls"] == 50 and fns["add"]["errors"] == 0 and fns["add"]["total_s"] > 0
            assert (fns["divmod"]["calls"], fns["divmod"]["errors"]) == (1, 1)
            assert (fns["panic"]["calls"], fns["panic"]["panics"]) == (1, 1)
            assert live["calls"] == 53 and live["errors"] == 1 and live["panics"] == 1
            assert live["uptime_s"] > first["uptime_s"]

            text = command("status", "--socket", d.socket)
            assert text.returncode == 0, text.stderr
            assert text.stdout.startswith(f"shmcalld {live['version']} (shmcall ") and f"pid {d.proc.pid}" in text.stdout
            assert re.search(r"^clients\s+1 \(1 channels\)$", text.stdout, re.M), text.stdout
            assert re.search(r"^calls\s+53 \(1 errors, 1 panics\)$", text.stdout, re.M), text.stdout
            assert re.search(r"^add\s+50\s+0\s+0\s", text.stdout, re.M), text.stdout

        closed = status(d.socket)
        assert closed["clients"] == 0 and closed["channels"] == 0
        assert calls_of(closed)["add"]["calls"] == 50, "a closed client's calls still count"
        assert d.stop() == 0


def test_status_and_stop_without_a_daemon_are_clear_errors(tmp_path):
    for args in (["status"], ["status", "--json"], ["stop"]):
        out = command(*args, "--socket", str(tmp_path / "nobody.sock"))
        assert out.returncode == 2 and "no daemon is listening on" in out.stderr, out


def test_stop_lets_a_call_in_flight_finish_then_the_daemon_exits(tmp_path):
    with Daemon(tmp_path / "s.sock") as d:
        c = shmcall.connect(d.socket, spawn=False)
        outcome: dict[str, Any] = {}

        def long_call() -> None:
            try:
                outcome["value"] = c.sleep_ms(1500)
            except BaseException as e:  # noqa: BLE001 - asserted below
                outcome["error"] = e

        caller = threading.Thread(target=long_call)
        caller.start()
        time.sleep(0.3)  # the call is being served
        asked = time.monotonic()
        out = command("stop", "--socket", d.socket)
        stopped = time.monotonic()
        caller.join(timeout=30)
        assert out.returncode == 0 and out.stdout.strip() == f"shmcalld (pid {d.proc.pid}) stopped", out
        assert "error" not in outcome and outcome["value"] is None, outcome
        assert stopped - asked > 0.9, "stop waited for the call in flight"
        assert d.proc.wait(timeout=10) == 0
        assert not os.path.exists(d.socket)
        c.close()


def admin(sock: str, message: bytes) -> tuple[dict[str, Any], bool]:
    """Sends one message on a connection of its own; returns the answer and whether the daemon then
    closed the connection."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
        s.settimeout(10)
        s.connect(sock)
        s.send(message)
        answer = json.loads(s.recv(1 << 20))
        return answer, s.recv(1 << 20) == b""


def test_admin_messages_on_the_wire(tmp_path):
    with Daemon(tmp_path / "s.sock") as d:
        answer, closed = admin(d.socket, b'{"op":"status"}')
        assert answer["op"] == "status" and answer["pid"] == d.proc.pid and closed
        answer, closed = admin(d.socket, b'{"op":"stop","now":true}')
        assert (answer["op"], answer["kind"], closed) == ("error", "bad_message", True), "no members allowed"
        with shmcall.connect(d.socket, spawn=False) as c:
            assert c.add(1, 2) == 3, "a refused stop stops nothing"
        answer, closed = admin(d.socket, b'{"op":"stop"}')
        assert answer == {"op": "stopping", "pid": d.proc.pid} and closed, "closed once shutdown is over"
        assert d.proc.wait(timeout=10) == 0


def test_ready_is_sent_to_notify_socket_once_listening(tmp_path):
    notify_path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(str(notify_path))
        notify.settimeout(20)
        env = {**os.environ, "NOTIFY_SOCKET": str(notify_path)}
        with Daemon(tmp_path / "s.sock", env=env) as d:
            assert notify.recv(4096) == b"READY=1\n"
            with shmcall.connect(d.socket, spawn=False) as c:
                assert c.add(2, 2) == 4, "ready means connectable"
            assert command("stop", "--socket", d.socket).returncode == 0
            assert notify.recv(4096) == b"STOPPING=1\n"
            assert d.proc.wait(timeout=10) == 0


def test_unit_file_starts_the_installed_daemon():
    unit = (Path(__file__).resolve().parents[2] / "examples" / "systemd" / "shmcalld.service").read_text()
    assert "Type=notify" in unit and re.search(r"^ExecStart=\S*shmcalld serve", unit, re.M)
