"""Errors: remote errors and panics arrive as exceptions and the daemon keeps serving; timeouts,
interrupts, a lost daemon and a version mismatch each raise their own type; every status maps."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import shmcall
from shmcall import _errors, _layout

from conftest import Daemon, RawConnection, REPO, daemon_binary


def test_remote_error_carries_the_message(c):
    with pytest.raises(shmcall.RemoteError) as e:
        c.fail("the key is wrong")
    assert e.value.message == "the key is wrong" and e.value.function == "fail"
    assert not isinstance(e.value, shmcall.RemotePanic)
    with pytest.raises(shmcall.RemoteError, match="division by zero"):
        c.divmod(1, 0)


def test_panic_is_caught_and_the_daemon_keeps_serving(c):
    for i in range(3):
        with pytest.raises(shmcall.RemotePanic, match=f"boom {i}"):
            c.panic(f"boom {i}")
        assert c.add(i, 1) == i + 1


def test_every_status_maps_to_exactly_one_exception():
    statuses = {v for k, v in vars(_layout).items() if k.startswith("STATUS_") and k != "STATUS_OK"}
    assert statuses == set(_errors.STATUS_ERRORS)
    assert len(set(_errors.STATUS_ERRORS.values())) == len(statuses)
    for status, cls in _errors.STATUS_ERRORS.items():
        assert isinstance(_errors.status_error(status, "m", "f"), cls)
    assert isinstance(_errors.status_error(999, "m", "f"), shmcall.CorruptResponse)


def test_timeout_raises_and_the_late_response_is_discarded(fresh):
    with pytest.raises(TimeoutError):
        fresh.sleep_ms(300, timeout=0.05)
    assert fresh.add(1, 2) == 3  # waits for the abandoned call, discards it, then runs
    assert fresh.hello("again") == "hello again"


def test_ctrl_c_interrupts_a_waiting_call(daemon):
    # The child raises KeyboardInterrupt on SIGINT even if started with SIGINT ignored (a test run
    # started in the background by a shell without job control), as Python leaves it then.
    code = f"""
import signal, sys, time
signal.signal(signal.SIGINT, signal.default_int_handler)
sys.path.insert(0, {str(REPO / 'python')!r})
import shmcall
c = shmcall.connect({daemon.socket!r}, spawn=False)
print("ready", flush=True)
t = time.monotonic()
try:
    c.sleep_ms(5000)
except KeyboardInterrupt:
    print("interrupted", round(time.monotonic() - t, 1), flush=True)
print(c.add(40, 2), flush=True)
"""
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    time.sleep(0.3)
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=30)
    lines = out.split()
    assert lines[0] == "interrupted" and float(lines[1]) < 4.0
    assert lines[2] == "42"


def test_lost_daemon_raises_connection_lost(tmp_path):
    with Daemon(tmp_path / "s.sock") as d:
        c = shmcall.connect(d.socket, spawn=False)
        assert c.add(1, 1) == 2
        result = {}

        def call():
            try:
                c.sleep_ms(10_000)
            except Exception as e:  # noqa: BLE001 - the type is the assertion
                result["e"] = e

        t = threading.Thread(target=call)
        t.start()
        time.sleep(0.2)
        d.proc.kill()
        d.proc.wait()
        t.join(timeout=20)
        assert isinstance(result.get("e"), shmcall.ConnectionLost)
        assert isinstance(result["e"], ConnectionError)
        c.close()


def test_no_daemon_is_daemon_unavailable(tmp_path):
    with pytest.raises(shmcall.DaemonUnavailable):
        shmcall.connect(str(tmp_path / "nobody.sock"), spawn=False)


def raw_hello(path, **fields):
    msg = {"op": "hello", "protocol": _layout.PROTOCOL_VERSION, "layout_hash": f"{_layout.LAYOUT_HASH:016x}"}
    msg.update(fields)
    with RawConnection(path) as s:
        s.send(json.dumps(msg).encode())
        return s.recv()


def test_version_mismatch_names_both_versions(daemon):
    reply = raw_hello(daemon.socket, protocol=99)
    assert reply["op"] == "error" and reply["kind"] == "version_mismatch"
    assert "99" in reply["message"] and str(_layout.PROTOCOL_VERSION) in reply["message"]
    reply = raw_hello(daemon.socket, layout_hash="0" * 16)
    assert reply["kind"] == "layout_mismatch"


def test_client_raises_version_mismatch(daemon, monkeypatch):
    monkeypatch.setattr(_layout, "PROTOCOL_VERSION", 99)
    with pytest.raises(shmcall.VersionMismatch, match="99"):
        shmcall.connect(daemon.socket, spawn=False)


def test_garbage_on_the_socket_does_not_hurt_the_daemon(daemon, c):
    with RawConnection(daemon.socket) as s:
        s.send(b"\xff\x00 not json")
        reply = s.recv()
    assert reply["kind"] == "bad_message"
    assert c.add(2, 2) == 4


def test_closed_client_refuses_calls(daemon):
    c = shmcall.connect(daemon.socket, spawn=False)
    c.close()
    c.close()  # idempotent
    with pytest.raises(shmcall.ShmcallError, match="closed"):
        c.add(1, 2)


def test_closing_a_client_ends_the_calls_other_threads_are_waiting_on(tmp_path):
    """A call waiting for its response when another thread closes the client raises ConnectionLost
    at once, not when the daemon answers (nor a ValueError from memory released under it)."""
    with Daemon(tmp_path / "s.sock") as d:  # its own: the long call keeps running in the daemon
        c = shmcall.connect(d.socket, spawn=False)
        outcome: list[BaseException] = []

        def long_call() -> None:
            try:
                c.sleep_ms(30_000)
            except BaseException as e:  # noqa: BLE001 - checked below
                outcome.append(e)

        t = threading.Thread(target=long_call)
        t.start()
        time.sleep(0.3)  # the call sleeps on its doorbell
        c.close()
        t.join(timeout=10)
        assert not t.is_alive(), "the call waited for the daemon's answer"
        assert isinstance(outcome[0], shmcall.ConnectionLost) and "closed" in str(outcome[0]), outcome


def test_closing_a_client_under_busy_threads_gives_each_a_clear_error(daemon):
    """Threads calling in a loop while the client is closed: each call before the close is right,
    and each thread then gets a shmcall error (never a ValueError from released memory, never a
    hang), whatever bytecode it was at."""
    for _ in range(3):
        c = shmcall.connect(daemon.socket, spawn=False)
        errors: list[BaseException] = []
        calls = [0] * 4

        def work(k: int) -> None:
            try:
                shared = c.zeros(1000)
                shared[:] = k
                for i in range(1_000_000):
                    assert c.add(i, k) == i + k
                    assert c.hello(str(i)) == f"hello {i}"
                    assert c.sum(shared) == 1000 * k
                    calls[k] += 1
            except shmcall.ShmcallError as e:
                errors.append(e)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.2)
        c.close()
        for t in threads:
            t.join(timeout=30)
        assert not any(t.is_alive() for t in threads), "a thread hangs"
        assert len(errors) == 4 and all("closed" in str(e) for e in errors), errors
        assert all(calls), calls


def test_a_thread_whose_channel_another_closed_is_refused_every_kind_of_call(daemon):
    """After another thread closed the client, each way in refuses with the reason (never a request
    on the closed ring), and the first refusal frees the thread's channel."""
    c = shmcall.connect(daemon.socket, spawn=False)
    closed = threading.Event()
    refusals: list[str] = []
    channel: list = []

    def work() -> None:
        assert c.add(1, 2) == 3
        channel.append(c._session.local.ch)
        closed.wait(10)
        for attempt in (lambda: c.add(1, 2), lambda: c.hello("x"), lambda: c.zeros(10), c.ping,
                        lambda: c.add.map([1], [2]), lambda: c.sum([1.0, 2.0])):
            try:
                attempt()
                refusals.append("answered")
            except shmcall.ShmcallError as e:
                refusals.append(str(e))

    t = threading.Thread(target=work)
    t.start()
    while not channel:
        time.sleep(0.01)
    c.close()
    assert channel[0].req_fd >= 0, "close freed another thread's channel under it"
    closed.set()
    t.join(timeout=10)
    assert refusals == ["the client is closed"] * 6, refusals
    assert channel[0].req_fd == -1, "the thread's channel was not freed"


def test_a_fork_child_closing_its_copy_leaves_the_parents_daemon_alone(tmp_path, monkeypatch):
    """The child of a fork has a copy of its parent's client: closing it (or leaving a `with`
    block) must not stop the parent's private daemon nor end the parent's connection."""
    monkeypatch.setenv("SHMCALLD", daemon_binary())
    with shmcall.connect(str(tmp_path / "nobody-here.sock")) as c:
        assert c.add(1, 2) == 3
        pid = os.fork()
        if pid == 0:
            try:
                c.close()
            finally:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        proc, tmp = c._private
        assert proc.poll() is None, "the child stopped the parent's daemon"
        assert os.path.exists(os.path.join(tmp, "shmcalld.sock")), "the child removed the daemon's socket"
        assert c.add(2, 3) == 5 and c.hello("x") == "hello x"


def test_fork_child_must_reconnect(daemon):
    c = shmcall.connect(daemon.socket, spawn=False)
    assert c.add(1, 2) == 3
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            c.add(1, 2)
        except shmcall.ShmcallError as e:
            code = 0 if "fork" in str(e) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert c.add(2, 3) == 5
    c.close()


def test_channels_per_connection_are_bounded(daemon, c):
    hello = json.dumps({"op": "hello", "protocol": _layout.PROTOCOL_VERSION,
                        "layout_hash": f"{_layout.LAYOUT_HASH:016x}"}).encode()
    with RawConnection(daemon.socket) as s:
        s.send(hello)
        assert s.recv()["op"] == "welcome"
        for i in range(257):
            s.send(b'{"op": "open_channel"}')
            reply = s.recv()
            if i < 256:
                assert reply["op"] == "channel", reply
            else:
                assert reply["kind"] == "resources" and "256" in reply["message"]
        s.send(hello)
        assert s.recv()["op"] == "welcome", "the refusal left the connection open"
    assert c.add(1, 2) == 3
