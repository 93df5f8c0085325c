"""Operating a running daemon: ``shmcalld status`` (text and JSON) and ``shmcalld stop`` over its socket,
the admin messages they send (SPEC §2.3), systemd's readiness message when ``NOTIFY_SOCKET`` is set,
``python -m shmcall status | functions`` mirroring the daemon's commands, and several daemons side by
side, each client knowing which one it talks to."""

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
from shmcall.__main__ import main as python_command

from conftest import Daemon, RawConnection, daemon_binary
from test_custom_daemon import custom_binary


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
    with RawConnection(sock) as s:
        s.send(message)
        answer = s.recv()
        assert answer is not None
        return answer, s.recv() is None


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


def shape(status_text: str) -> str:
    """The table without its uptime, and with every decimal fraction a placeholder: a fraction at a
    rounding boundary may print one digit off from the daemon's float read back (see `rounded`)."""
    return re.sub(r"\d+\.\d+", "#", re.sub(r", up .*", "", status_text, count=1))


def settle(sock: str) -> None:
    """Waits until two reports agree: the daemon counts a call just after answering it."""
    last: dict[str, Any] = {}
    for _ in range(200):
        report = status(sock)
        del report["uptime_s"]
        if report == last:
            return
        last = report
        time.sleep(0.02)
    raise AssertionError("the counts keep moving")


def rounded(value: Any) -> Any:
    """``value`` with its floats to 12 significant digits: the daemon's command reads the report's
    floats with serde_json's fast parser, which may be one unit in the last place off."""
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


def test_python_status_prints_what_shmcalld_status_prints(tmp_path, capsys):
    with Daemon(tmp_path / "s.sock") as d, shmcall.connect(d.socket, spawn=False) as c:
        for i in range(20):
            c.add(i, 1)
        with pytest.raises(shmcall.RemotePanic):
            c.panic("counted")
        c.sha256(bytes(1 << 16))
        settle(d.socket)

        assert python_command(["status", "--socket", d.socket]) == 0
        ours = capsys.readouterr().out
        theirs = command("status", "--socket", d.socket)
        assert theirs.returncode == 0, theirs.stderr
        assert ours.startswith(f"shmcalld {shmcall.__version__} (shmcall ") and f"pid {d.proc.pid}, up " in ours
        assert re.search(r"^calls\s+22 \(0 errors, 1 panics\)$", ours, re.M), ours
        assert shape(ours) == shape(theirs.stdout)

        assert python_command(["status", "--json", "--socket", d.socket]) == 0
        report = json.loads(capsys.readouterr().out)
        expected = status(d.socket)
        assert report.pop("uptime_s") <= expected.pop("uptime_s")
        assert rounded(report) == rounded(expected) and (report["clients"], calls_of(report)["add"]["calls"]) == (1, 20)


def test_python_status_without_a_daemon_is_a_clear_error(tmp_path, capsys):
    assert python_command(["status", "--socket", str(tmp_path / "nobody.sock")]) == 2
    assert "no daemon is listening on" in capsys.readouterr().err


def test_daemons_side_by_side_each_client_knows_its_own(tmp_path, capsys):
    custom = custom_binary()
    with Daemon(tmp_path / "shmcalld.sock") as builtin, Daemon(tmp_path / "geo.sock", binary=custom) as geo_daemon, \
            shmcall.connect(builtin.socket, spawn=False) as c, shmcall.connect(geo_daemon.socket, spawn=False) as geo, \
            shmcall.connect(str(tmp_path / "nobody.sock"), daemon=custom) as private:
        assert c.daemon == shmcall.DaemonInfo("shmcalld", shmcall.__version__, builtin.proc.pid, builtin.socket)
        assert geo.daemon == ("custom_daemon", "0.1.0", geo_daemon.proc.pid, geo_daemon.socket)
        assert repr(geo) == f"<shmcall.Client custom_daemon 0.1.0 pid {geo_daemon.proc.pid} at {geo_daemon.socket}>"
        assert private.daemon.name == "custom_daemon" and private.daemon.socket != geo_daemon.socket
        assert os.readlink(f"/proc/{private.daemon.pid}/exe") == str(Path(custom).resolve()), "its own process"

        assert c.add(2, 3) == 5 and not hasattr(geo, "add") and not hasattr(private, "add")
        assert geo.primes_below(10).tolist() == [2, 3, 5, 7] and not hasattr(c, "primes_below")
        assert private.primes_below(4).tolist() == [2, 3]

        assert python_command(["functions", "--socket", geo_daemon.socket]) == 0
        listed = capsys.readouterr().out
        assert "primes_below(" in listed and not re.search(r"^add\(", listed, re.M)
        assert python_command(["status", "--json", "--socket", geo_daemon.socket]) == 0
        report = json.loads(capsys.readouterr().out)
        assert (report["name"], report["pid"]) == ("custom_daemon", geo_daemon.proc.pid)
        assert calls_of(report)["primes_below"]["calls"] == 1, "the private daemon's call is not counted here"
    assert repr(geo).endswith(", closed>")
