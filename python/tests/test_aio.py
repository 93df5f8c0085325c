"""``shmcall.aio``: coroutine functions over the same daemon, the event loop never blocked, many
calls in flight, cancellation, timeouts, closing. Each test runs its own event loop, bounded in time."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import os
import sys
import threading
import time
from typing import Any, Awaitable, Callable

import numpy as np
import pytest

import shmcall
import shmcall.aio
from conftest import Daemon, daemon_binary

LIMIT = 60  # seconds any one test's event loop may run


def run(daemon: Daemon, body: Callable[[shmcall.aio.AsyncClient], Awaitable[Any]], **connect: Any) -> Any:
    """Runs ``body(client)`` in a new event loop with a client of its own, within ``LIMIT``."""

    async def bounded() -> Any:
        async with shmcall.aio.connect(daemon.socket, spawn=False, **connect) as c:
            return await asyncio.wait_for(body(c), LIMIT)

    return asyncio.run(bounded())


def test_values_of_every_kind(daemon, c):
    async def body(a):
        P = a.types.Person
        assert await a.add(2, 3) == 5
        assert await a.add(a=-4, b=1) == -3
        assert await a.hello("Python") == "hello Python"
        text = "naïve\x00" * 5000  # heap text both ways
        assert await a.hello(text) == "hello " + text
        assert await a.hello_person(P(name="xiaoming", age=18)) == P(name="xiaohong", age=18)
        assert await a.hello_person(("xiaoming", 7)) == P(name="xiaohong", age=7)
        assert await a.multi_return() == (1, 2)
        assert await a.divmod(-7, 2) == (-4, 1)
        assert await a.reverse_str("abc") == ("cba", 3)
        scalars = (1, 2, 3, 4, 5, 6, 7, 8, 1.5, 2.5, True, 1j, 2j)
        # Each client has its struct types of its own: compared by their fields.
        assert repr(await a.echo_scalars(*scalars)) == repr(c.echo_scalars(*scalars))
        team = ("t", ("lead", 40), [1, 2, 3], b"go")
        assert await a.describe_team(team) == c.describe_team(team)
        r = a.ref("i64", 100)
        await a.change_int(r)
        s = c.ref("i64", 100)
        c.change_int(s)
        assert r.value == s.value != 100
        v = a.vec("i64", [7])
        await a.expand_slice(v)
        assert v.tolist() == [7] + list(range(10))
        # Shared arrays: made by the async client, written and read in place by the daemon.
        xs = a.zeros(1000)
        assert isinstance(xs, np.ndarray) and xs.sum() == 0
        await a.prng_fill(xs, 42)
        total = await a.sum(xs)
        assert total == pytest.approx(float(xs.sum()))
        await a.scale(xs, 2.0)
        assert await a.sum(xs) == pytest.approx(2 * total)
        big = await a.filter_gt(xs, 1.0)
        assert np.array_equal(big, xs[xs > 1.0])
        ints = a.asarray([3, 1, 2], "i64")
        await a.sort(ints)
        assert list(ints) == [1, 2, 3]
        assert await a.sum([1, 2, 3]) == 6
        empty = a.empty((2, 3), "f64")
        assert empty.shape == (2, 3)
        # Private data: inline, and through the channel's staging block (an allocation round trip).
        for data in (b"abc", bytes(range(256)) * 1000):
            assert await a.sha256(data) == hashlib.sha256(data).digest()
        private = np.arange(100_000, dtype=np.int64)
        await a.scale(private, 3)  # copied in, and back
        assert private[-1] == 3 * 99_999

    run(daemon, body)


def test_errors_raise_the_sync_clients_exceptions(daemon, c):
    def failure(call: Callable[[], Any]) -> BaseException:
        try:
            call()
        except BaseException as e:  # noqa: BLE001 - compared below
            return e
        raise AssertionError("no exception")

    async def afailure(coro: Awaitable[Any]) -> BaseException:
        try:
            await coro
        except BaseException as e:  # noqa: BLE001 - compared below
            return e
        raise AssertionError("no exception")

    async def body(a):
        cases = [
            ("divmod", (7, 0)),  # RemoteError
            ("fail", ("on purpose",)),  # RemoteError
            ("panic", ("on purpose",)),  # RemotePanic
            ("add", (1 << 63, 0)),  # OverflowError, before sending
            ("add", ("1", 2)),  # TypeError
            ("add", ((1 << 62), (1 << 62))),  # an Err: overflow in the daemon
            ("sum", ("text",)),  # TypeError of the generic dispatch
            ("hello_person", (("x",),)),  # a struct with a field missing
        ]
        for name, args in cases:
            expected = failure(lambda: c.functions[name](*args))
            got = await afailure(a.functions[name](*args))
            assert type(got) is type(expected), (name, got, expected)
            assert str(got) == str(expected), name
        assert isinstance(await afailure(a.panic("x")), shmcall.RemotePanic)
        assert await a.add(1, 1) == 2  # the daemon and the channel go on

    run(daemon, body)


def test_signatures_and_docstrings_are_the_sync_clients(daemon, c):
    async def body(a):
        for name in c.functions:
            sync, coro = c.functions[name], a.functions[name]
            assert inspect.iscoroutinefunction(coro), name
            assert inspect.signature(coro) == inspect.signature(sync), name
            assert coro.__doc__ == sync.__doc__, name
            assert coro.__name__ == name
        assert inspect.signature(a.add) == inspect.signature(c.add)
        assert a.add.__doc__ == c.add.__doc__
        with pytest.raises(TypeError):
            await a.add(1, 2, 3)  # timeout is keyword-only
        assert await a.add(1, 2, timeout=5) == 3
        assert "add" in dir(a)

    run(daemon, body)


def test_a_gather_of_1000_calls_returns_every_result_in_order(daemon):
    async def body(a):
        results = await asyncio.gather(*(a.add(i, i) for i in range(1000)))
        assert results == [2 * i for i in range(1000)]
        mixed = await asyncio.gather(*(a.hello(str(i)) if i % 2 else a.add(i, 1) for i in range(1000)))
        assert mixed == [f"hello {i}" if i % 2 else i + 1 for i in range(1000)]

    for channels in (1, 4):
        run(daemon, body, channels=channels)


def test_slow_calls_overlap_up_to_the_pools_size(daemon):
    async def body(a):
        start = time.monotonic()
        await asyncio.gather(*(a.sleep_ms(100) for _ in range(4)))
        return time.monotonic() - start

    assert run(daemon, body, channels=4) < 0.35  # four at once, not 0.4 s one after the other


def test_a_cancelled_call_leaves_its_channel_usable(daemon):
    async def body(a):
        task = asyncio.ensure_future(a.sleep_ms(200))
        await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # One channel: the next call waits for the late response, which is discarded, not taken
        # for its own.
        start = time.monotonic()
        assert await a.add(2, 2) == 4
        assert time.monotonic() - start > 0.1
        assert await a.hello("again") == "hello again"
        assert await asyncio.gather(*(a.add(i, 1) for i in range(100))) == [i + 1 for i in range(100)]
        # Cancelled while waiting in line for the channel.
        slow = asyncio.ensure_future(a.sleep_ms(50))
        queued = asyncio.ensure_future(a.add(1, 1))
        await asyncio.sleep(0.01)
        queued.cancel()
        await slow
        assert queued.cancelled()
        assert await a.add(5, 5) == 10

    run(daemon, body, channels=1)


def test_timeouts(daemon):
    async def body(a):
        with pytest.raises(TimeoutError, match="no response within"):
            await a.sleep_ms(300, timeout=0.05)
        assert await a.add(1, 2) == 3
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(a.sleep_ms(300), 0.05)
        assert await a.add(3, 4) == 7
        if sys.version_info >= (3, 11):
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.05):
                    await a.sleep_ms(300)
        assert await a.hello("x", timeout=5) == "hello x"
        # A timeout also bounds the wait for a channel.
        busy = asyncio.ensure_future(a.sleep_ms(300))
        await asyncio.sleep(0.01)
        with pytest.raises(TimeoutError):
            await a.add(1, 1, timeout=0.05)
        await busy
        assert await a.add(1, 1) == 2

    run(daemon, body, channels=1)


def test_two_event_loops_in_two_threads(daemon):
    results: dict[str, Any] = {}

    async def connect() -> shmcall.aio.AsyncClient:
        return await shmcall.aio.connect(daemon.socket, spawn=False)

    shared = asyncio.run(connect())  # one client, used by both loops too (a pool each)

    def work(name: str) -> None:
        async def body(a):
            own = await asyncio.gather(*(a.add(i, 1) for i in range(300)))
            both = await asyncio.gather(*(shared.hello(f"{name}{i}") for i in range(300)))
            await asyncio.gather(a.sleep_ms(20), shared.sleep_ms(20))
            return own, both

        try:
            results[name] = run(daemon, body)
        except BaseException as e:  # noqa: BLE001 - reported below
            results[name] = e

    threads = [threading.Thread(target=work, args=(name,)) for name in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(LIMIT)
    assert not any(t.is_alive() for t in threads)
    for name in ("a", "b"):
        own, both = results[name]
        assert own == [i + 1 for i in range(300)]
        assert both == [f"hello {name}{i}" for i in range(300)]
    asyncio.run(shared.close())


def test_the_loop_is_never_blocked(daemon):
    async def ticker(stop: asyncio.Event, gaps: list[float]) -> None:
        last = time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(0.001)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    async def body(a):
        await a.add(1, 1)  # connected, channel open
        for what, work in [("a 100 ms call", lambda: a.sleep_ms(100)), ("20,000 quick calls", lambda: calls(a, 20_000))]:
            stop, gaps = asyncio.Event(), []
            tick = asyncio.ensure_future(ticker(stop, gaps))
            await asyncio.sleep(0.005)
            await work()
            stop.set()
            await tick
            assert len(gaps) >= 10
            # A blocked loop would show the whole call (100 ms) or the whole run of calls (a
            # second or so) as one gap; a busy machine shows a few milliseconds.
            assert max(gaps) < 0.08, (what, max(gaps))

    async def calls(a, n: int) -> None:
        for _ in range(n):  # answered at once, mostly: the client yields to the loop regularly
            await a.add(1, 2)

    run(daemon, body)


def test_closing_fails_the_calls_in_flight_cleanly(daemon):
    async def body() -> None:
        a = await shmcall.aio.connect(daemon.socket, spawn=False, channels=2)
        tasks = [asyncio.ensure_future(a.sleep_ms(2000)) for _ in range(4)]  # two in flight, two in line
        await asyncio.sleep(0.05)
        start = time.monotonic()
        await a.close()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        assert time.monotonic() - start < 1
        assert all(isinstance(e, shmcall.ShmcallError) for e in outcomes), outcomes
        assert sum(isinstance(e, shmcall.ConnectionLost) for e in outcomes) == 2, outcomes
        with pytest.raises(shmcall.ShmcallError, match="closed"):
            await a.add(1, 2)
        await a.close()  # idempotent
        assert a.closed

    asyncio.run(asyncio.wait_for(body(), LIMIT))


def test_a_daemon_that_goes_away_fails_the_calls_waiting(tmp_path):
    async def body(d: Daemon) -> None:
        async with shmcall.aio.connect(d.socket, spawn=False) as a:
            assert await a.add(1, 2) == 3
            task = asyncio.ensure_future(a.sleep_ms(5000))
            await asyncio.sleep(0.05)
            d.proc.kill()
            with pytest.raises(shmcall.ConnectionLost):
                await asyncio.wait_for(task, 10)
            with pytest.raises(shmcall.ConnectionLost):
                await a.add(1, 2)

    with Daemon(tmp_path / "gone.sock") as d:
        asyncio.run(asyncio.wait_for(body(d), LIMIT))


def test_connect_starts_a_private_daemon(tmp_path):
    async def body() -> None:
        async with shmcall.aio.connect(str(tmp_path / "nobody.sock"), daemon=daemon_binary()) as a:
            assert a.daemon.name == "shmcalld"
            assert await a.add(20, 22) == 42
            pid = a.daemon.pid
        with pytest.raises(ProcessLookupError):
            for _ in range(100):  # stopped with the client
                os.kill(pid, 0)
                await asyncio.sleep(0.05)
        with pytest.raises(shmcall.DaemonUnavailable):
            await shmcall.aio.connect(str(tmp_path / "nobody.sock"), spawn=False)

    asyncio.run(asyncio.wait_for(body(), LIMIT))
