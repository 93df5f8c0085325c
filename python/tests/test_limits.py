"""Per-client limits, against real daemons started with small ones: the client over a limit gets an
error naming the limit and the flag that raises it (or, for a message flood, is disconnected after
being told why); the daemon's memory stays flat and another client of the same daemon keeps working,
every result checked."""

from __future__ import annotations

import gc
import json
import os
import threading
import time
from pathlib import Path

import pytest

import shmcall
from shmcall import _layout
from shmcall._errors import LimitExceeded

from conftest import Daemon, RawConnection

np = pytest.importorskip("numpy")

HELLO = json.dumps({"op": "hello", "protocol": _layout.PROTOCOL_VERSION,
                    "layout_hash": f"{_layout.LAYOUT_HASH:016x}"}).encode()


def connect(d: Daemon) -> shmcall.Client:
    return shmcall.connect(d.socket, spawn=False)


def check_adds(c: shmcall.Client, n: int) -> None:
    """``n`` calls on ``c``, each result checked."""
    for i in range(n):
        assert c.add(i, 3 * i + 1) == 4 * i + 1


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_connections_per_uid(tmp_path: Path) -> None:
    with Daemon(tmp_path / "d.sock", "--max-connections-per-uid", "3") as d:
        clients = [connect(d) for _ in range(3)]
        with pytest.raises(LimitExceeded) as refused:
            connect(d)
        message = str(refused.value)
        assert "already has 3 connections" in message and "--max-connections-per-uid" in message, message
        assert isinstance(refused.value, shmcall.ShmcallError)
        for c in clients:
            check_adds(c, 100)  # the refusal touched nobody else
        clients.pop().close()
        deadline = time.monotonic() + 10  # the daemon frees the place once it has closed the connection
        while True:
            try:
                again = connect(d)
                break
            except LimitExceeded:
                assert time.monotonic() < deadline, "a closed connection's place was never freed"
                time.sleep(0.01)
        check_adds(again, 100)
        for c in [*clients, again]:
            c.close()
        assert d.stop() == 0


def test_refused_connections_cost_the_daemon_no_threads(tmp_path: Path) -> None:
    """A refusal stays open a moment so that its peer reads why, watched by the accept loop rather
    than a thread of its own: 100 connections over the limit, silent and left open, leave the
    daemon's threads as they were; each is told why and closed within the linger (a second); the
    admitted client's calls go on meanwhile."""
    with Daemon(tmp_path / "d.sock", "--max-connections-per-uid", "1") as d:
        c = connect(d)
        check_adds(c, 10)

        def threads() -> int:
            return len(os.listdir(f"/proc/{d.proc.pid}/task"))

        before = threads()
        refused = [RawConnection(d.socket) for _ in range(100)]
        for r in refused:
            msg = r.recv()
            assert msg is not None and (msg["op"], msg["kind"]) == ("error", "resources"), msg
        assert threads() <= before, "refused connections took daemon threads"
        check_adds(c, 100)
        start = time.monotonic()
        for r in refused:
            assert r.recv() is None, "a refused connection is closed once its linger is over"
            r.close()
        assert time.monotonic() - start < 5
        check_adds(c, 100)
        c.close()
        assert d.stop() == 0


def test_channels_per_connection(tmp_path: Path) -> None:
    with Daemon(tmp_path / "d.sock", "--max-channels", "2") as d:
        c = connect(d)
        check_adds(c, 10)  # the main thread's channel
        outcomes: list[object] = []

        def on_a_thread() -> None:
            try:
                check_adds(c, 10)
                outcomes.append("ok")
            except Exception as e:  # noqa: BLE001 - checked below
                outcomes.append(e)

        for _ in range(3):  # a second channel, then two refusals
            t = threading.Thread(target=on_a_thread)
            t.start()
            t.join(timeout=30)
        assert outcomes[0] == "ok", outcomes
        for refused in outcomes[1:]:
            assert isinstance(refused, LimitExceeded), outcomes
            assert "at most 2 channels" in str(refused) and "--max-channels" in str(refused)
        check_adds(c, 100)  # the connection and its channels go on
        with connect(d) as other:  # a second client has channels of its own
            check_adds(other, 100)
            t = threading.Thread(target=check_adds, args=(other, 100))
            t.start()
            t.join(timeout=30)
        c.close()
        assert d.stop() == 0


def test_blocks_per_connection_and_release_makes_room(tmp_path: Path) -> None:
    with Daemon(tmp_path / "d.sock", "--max-blocks", "10") as d, connect(d) as c, connect(d) as other:
        arrays = []
        with pytest.raises(shmcall.SharedMemoryExhausted) as refused:
            for k in range(11):
                arrays.append(c.empty(1000, "f64"))
                arrays[-1][:] = k
        message = str(refused.value)
        assert "holds 10 shared blocks" in message and "--max-blocks" in message, message
        assert len(arrays) == 10
        for k, xs in enumerate(arrays):
            assert c.sum(xs) == 1000.0 * k  # the arrays it holds still work
        theirs = [other.asarray(np.arange(100, dtype=np.int64) + k) for k in range(10)]
        for k, xs in enumerate(theirs):  # another connection has its own count
            assert other.sum(xs) == sum(range(100)) + 100 * k
        del arrays[:4]
        gc.collect()  # the released blocks go back with the next request
        fresh = [c.zeros(1000, "f64") for _ in range(4)]
        assert all(c.sum(xs) == 0.0 for xs in fresh)
        with pytest.raises(shmcall.SharedMemoryExhausted, match="--max-blocks"):
            c.empty(1, "f64")
        assert d.stop() == 0


def flood(d: Daemon, messages: int) -> list[dict]:
    """A raw connection that says hello, then sends ``messages`` control messages without reading;
    every message the daemon sent it until it closed the connection."""
    with RawConnection(d.socket) as s:
        s.send(HELLO)
        deadline = time.monotonic() + 10
        for _ in range(messages):
            if time.monotonic() > deadline:
                break
            try:
                s.send(b'{"op":"open_channel"}')  # waits while the socket's buffer is full
            except (BrokenPipeError, ConnectionResetError):
                break  # disconnected: what it was told is waiting to be read
        return s.read_until_closed()


def test_a_message_flood_is_disconnected_without_memory_growth_or_stalling_others(tmp_path: Path) -> None:
    with Daemon(tmp_path / "d.sock", "--max-messages-per-second", "50", "--max-channels", "2") as d:
        with connect(d) as c:
            calls_done = threading.Event()
            failures: list[BaseException] = []

            def calls() -> None:
                try:
                    check_adds(c, 3000)
                except BaseException as e:  # noqa: BLE001 - reported below
                    failures.append(e)
                calls_done.set()

            worker = threading.Thread(target=calls)
            worker.start()
            for _ in range(3):  # warm up: the daemon's allocator and thread stacks reach their size
                flood(d, 300)
            before = rss_kib(d.proc.pid)
            for _ in range(30):
                replies = flood(d, 300)
                assert [r["op"] for r in replies[:3]] == ["welcome", "channel", "channel"], replies[:3]
                last = replies[-1]
                assert last["op"] == "error" and last["kind"] == "resources", last
                assert "more than 50 control messages a second" in last["message"], last
                assert "--max-messages-per-second" in last["message"], last
                # The burst (hello and 49 more) and what the flood's duration earned, then the refusal.
                assert 51 <= len(replies) <= 60, len(replies)
            growth = rss_kib(d.proc.pid) - before
            assert growth < 8 * 1024, f"the daemon grew by {growth} KiB under floods"
            assert calls_done.wait(timeout=60) and not failures, failures
            worker.join()
            check_adds(c, 100)
        with connect(d) as after:  # a normal client is well within the rate
            t = threading.Thread(target=check_adds, args=(after, 50))
            t.start()
            t.join(timeout=30)
            check_adds(after, 50)
        assert d.stop() == 0


def test_an_oversized_message_is_refused_naming_the_limit(tmp_path: Path) -> None:
    with Daemon(tmp_path / "d.sock") as d, connect(d) as c:
        with RawConnection(d.socket) as s:
            s.send(b" " * 70000)
            replies = s.read_until_closed()
        assert replies and replies[-1]["kind"] == "bad_message", replies
        assert "70000 bytes exceeds the 65536-byte limit" in replies[-1]["message"], replies
        check_adds(c, 100)
        assert d.stop() == 0
