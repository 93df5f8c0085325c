"""Adaptive spinning (`Channel.wait`): a size class of a function whose calls outlast the client's
spin sleeps at once on its next call, and spins again once a call of it is quick.

The tests make the spin far longer than any call here (it ends the moment the response is in), so
a wait either spins until its response or sleeps at once, and spy on both. A client also sleeps at
once when it finds the daemon asleep, and learns nothing from such a wait; whether the daemon naps
between calls is its own spin window's business, so the spy counts only the sleeps of waits that
found the daemon awake, and a test that needs a wait to learn from calls until one does (bounded)."""

from __future__ import annotations

import threading
import types

import numpy as np
import pytest

import shmcall
from conftest import Daemon
from shmcall import _channel


@pytest.fixture
def waits(monkeypatch):
    """Every wait from now on, as ``(awake, slept)``: whether it found the daemon awake (else it
    sleeps at once whatever its class), and whether it slept."""
    seen: list[list[bool]] = []
    current = threading.local()
    real_wait, real_sleep = _channel.Channel.wait, _channel.Channel.sleep

    def wait(self, seq, timeout, spin=True, long_waits=None, size=0):
        current.entry = [spin, False]
        seen.append(current.entry)
        return real_wait(self, seq, timeout, spin, long_waits, size)

    def sleep(self, seq, timeout, published, rang=False):
        current.entry[1] = True
        return real_sleep(self, seq, timeout, published, rang)

    monkeypatch.setattr(_channel.Channel, "wait", wait)
    monkeypatch.setattr(_channel.Channel, "sleep", sleep)
    return seen


def awake_wait(call, waits: list, tries: int = 30) -> bool:
    """Calls until a wait finds the daemon awake; returns whether that wait slept."""
    for _ in range(tries):
        del waits[:]
        call()
        if waits and waits[-1][0]:
            return waits[-1][1]
    pytest.fail(f"the daemon was asleep at each of {tries} calls")


@pytest.fixture
def spin_ns(monkeypatch):
    """Sets the spin's measured length (ns) and makes the spin itself unending."""

    def use(ns: int) -> None:
        monkeypatch.setattr(_channel, "SPIN_ITERATIONS", 10**9)
        monkeypatch.setattr(_channel, "_SPIN_LENGTH_NS", [ns])

    return use


def spy_polls(ch, seen) -> object:
    """Calls ``seen(timeout_ms)`` before each sleep of channel ``ch``; returns the real poller, to
    put back."""
    real = ch.poller

    class Spy:
        def poll(self, ms=None):
            seen(ms)
            return real.poll(ms)

    ch.poller = Spy()
    return real


def awaken(client) -> None:
    """A quick call: the daemon then spins for this channel a while, whatever it did before."""
    assert client.add(1, 2) == 3


def learn(call, classes: dict, tries: int = 30) -> None:
    """Calls until ``classes`` is not empty: a call that found the daemon asleep teaches nothing."""
    for _ in range(tries):
        call()
        if classes:
            return


def test_a_long_call_makes_the_next_calls_of_its_size_sleep_at_once(fresh, waits, monkeypatch, spin_ns):
    fn = fresh.sleep_ms.remote
    size_class = fn.args_size.bit_length()
    fresh.sleep_ms(0)  # the thread's channel, and the fast path from here on
    monkeypatch.setattr(_channel, "_SPIN_LENGTH_NS", [1_000_000])  # the usual spin; its length 1 ms
    fn.long_waits.clear()
    learn(lambda: (awaken(fresh), fresh.sleep_ms(30)), fn.long_waits)
    assert set(fn.long_waits) == {size_class}

    spin_ns(10_000_000)  # a 30 ms call is still long (over 1.5 spin lengths), a 1 ms one is not
    slept = fn.long_waits[size_class]
    fresh.sleep_ms(30)
    assert fn.long_waits == {size_class: slept + 1}, "the next long call did not sleep at once"
    # A quicker call of the class sleeps at once too, ends within 1.5 spin lengths (150 ms now:
    # room for a loaded machine), and the class spins again: the next call spins until its response.
    spin_ns(100_000_000)
    fresh.sleep_ms(1)
    assert fn.long_waits == {}
    assert not awake_wait(lambda: (awaken(fresh), fresh.sleep_ms(1)), waits), "a quick class still sleeps at once"


def test_every_eighth_call_of_a_long_class_spins_again(fresh, waits, monkeypatch):
    """With a measured spin length of 1 ns no call ends within 1.5 of it: only the test calls can
    find that the class is quick now."""
    fn = fresh.sleep_ms.remote
    fresh.sleep_ms(0)
    monkeypatch.setattr(_channel, "SPIN_ITERATIONS", 10**9)
    monkeypatch.setattr(_channel, "_SPIN_LENGTH_NS", [1])
    fn.long_waits[fn.args_size.bit_length()] = 0
    del waits[:]
    for _ in range(_channel.LONG_RETEST):
        fresh.sleep_ms(1)
    assert all(slept for _, slept in waits) and len(waits) == _channel.LONG_RETEST
    assert fn.long_waits == {fn.args_size.bit_length(): _channel.LONG_RETEST}
    # The test call must find the daemon awake: one that finds it asleep learns the class long again
    # (and restarts its count), so each try starts from the count that makes the next call a test.
    for _ in range(30):
        fn.long_waits[fn.args_size.bit_length()] = _channel.LONG_RETEST
        del waits[:]
        awaken(fresh)
        fresh.sleep_ms(1)
        if waits and waits[-1][0]:
            break
    else:
        pytest.fail("the daemon was asleep at each of 30 test calls")
    assert not waits[-1][1], "the test call did not spin"
    assert fn.long_waits == {}


def test_a_call_the_daemon_had_not_begun_counts_as_long_only_after_ten_spin_lengths(fresh, monkeypatch):
    """A call still waiting for a daemon thread when the spin ran out may be a quick one on a cold
    channel. Here the client reads `started` from a reserved word (always 0), so no call has begun;
    with a spin length of 1 ms, a 3 ms call is not long, a 30 ms call is."""
    fn = fresh.sleep_ms.remote
    fresh.sleep_ms(0)
    monkeypatch.setattr(_channel, "_SPIN_LENGTH_NS", [1_000_000])
    monkeypatch.setattr(_channel, "_W_STARTED", 152 // 8)  # SPEC §3.1: bytes 152-191 are reserved
    fn.long_waits.clear()
    for _ in range(5):
        awaken(fresh)
        fresh.sleep_ms(3)
    assert fn.long_waits == {}
    learn(lambda: (awaken(fresh), fresh.sleep_ms(30)), fn.long_waits)
    assert set(fn.long_waits) == {fn.args_size.bit_length()}


def test_quick_calls_are_not_marked_long(fresh, waits, spin_ns):
    spin_ns(50_000_000)
    for _ in range(100):
        assert fresh.add(2, 3) == 5
        fresh.sleep_ms(1)
    assert not any(slept for awake, slept in waits if awake)
    assert fresh.add.remote.long_waits == {} and fresh.sleep_ms.remote.long_waits == {}


def test_arrays_of_other_sizes_keep_their_own_class(fresh, waits, spin_ns):
    small, big = fresh.empty(1_000, "f64"), fresh.empty(1_000_000, "f64")
    small[:], big[:] = 1.0, 2.0
    fn = types.MethodType(fresh.sum.overloads["f64"], fresh)  # one overload: one size-class table
    assert fn(small) == 1_000.0  # the thread's channel, and the fast path from here on
    spin_ns(10_000)  # a sum of 1e6 takes longer than 1.5 of these
    del waits[:]
    # The size class counts the request and the arrays passed by reference.
    big_class = (fn.remote.args_size + big.nbytes).bit_length()
    fn.remote.long_waits.clear()  # the first call may have marked its class (a slow wake-up)
    fn.remote.long_waits[big_class] = 0
    for _ in range(20):
        assert fn(small) == 1_000.0
    assert not any(slept for awake, slept in waits if awake), "small arrays sleep at once because big ones are long"
    assert fn(big) == 2_000_000.0
    assert fn.remote.long_waits == {big_class: 1}, "a big array did not sleep at once"


def test_the_general_path_learns_too(fresh, monkeypatch):
    """A thread's first call takes the general path (`RemoteFunction.invoke`)."""
    monkeypatch.setattr(_channel, "_SPIN_LENGTH_NS", [1_000_000])
    fresh.sleep_ms(0)

    def first_call() -> None:  # on a new thread each time, so each call is its thread's first
        thread = threading.Thread(target=fresh.sleep_ms, args=(30,))
        thread.start()
        thread.join(timeout=30)

    learn(first_call, fresh.sleep_ms.remote.long_waits)
    assert set(fresh.sleep_ms.remote.long_waits) == {fresh.sleep_ms.remote.args_size.bit_length()}


def test_batches_learn_apart_from_single_calls(fresh, monkeypatch):
    """A spin of one load and a measured length of 1 ns: any batch the spin misses is long. The
    batches are inline (no `alloc` before them, during which the daemon might nap)."""
    monkeypatch.setattr(_channel, "SPIN_ITERATIONS", 1)
    monkeypatch.setattr(_channel, "_SPIN_LENGTH_NS", [1])
    n = 50
    fn = fresh.add.remote

    def batch() -> None:
        assert list(fresh.add.map(np.arange(n), np.ones(n, dtype=np.int64))) == list(range(1, n + 1))

    # A quick call of another function first: the daemon then spins for the channel, and the batch
    # finds it awake (one that finds it asleep and is answered within the wake-up's spin learns
    # nothing: on a busy machine all 50 did).
    learn(lambda: (fresh.hello("x"), batch()), fn.long_batches, tries=50)
    assert set(fn.long_batches) == {(n * 16).bit_length()}
    assert fn.long_waits == {}


def test_the_spin_length_is_measured_once(fresh, monkeypatch):
    monkeypatch.setattr(_channel, "_SPIN_LENGTH_NS", [])
    fresh.add(1, 2)
    first = _channel.spin_length_ns(fresh._session.local.ch.words)
    assert first > 0
    assert _channel.spin_length_ns(fresh._session.local.ch.words) == first


def test_a_begun_call_sleeps_until_its_response(fresh, monkeypatch):
    """The first sleep is cut short (1 ms) only to kick a call the daemon has not begun (SPEC
    §5.4); a begun call is never kicked, so its client is not woken halfway through it. (The calls
    here spin before they sleep, a spin length of 10 s making none long, which gives the daemon
    time to begin them.)"""
    monkeypatch.setattr(_channel, "_SPIN_LENGTH_NS", [10**10])
    fresh.sleep_ms(0)
    ch = fresh._session.local.ch
    polls: list[tuple[int | None, bool]] = []  # each sleep's timeout, and whether the call had begun
    real = spy_polls(ch, lambda ms: polls.append((ms, ch.words[_channel._W_STARTED] >= ch.seq)))
    firsts = []  # the first sleep of each call whose call had begun when it slept
    try:
        for _ in range(50):
            fresh.sleep_ms(0)  # wakes a cold channel: the daemon spins for it again
            fresh.sleep_ms(0)  # timed quick: the poller serves the next call inline, at once
            del polls[:]
            fresh.sleep_ms(5)  # long enough for the 1 ms timeout to fire, were it set
            if polls and polls[0][1]:
                firsts.append(polls[0][0])
                if polls == [(None, True)]:
                    break
    finally:
        ch.poller = real
    if not firsts:
        pytest.skip("the daemon never began a call before its client slept (a loaded machine)")
    # `started` only grows, so a call seen begun by the poll was begun when `sleep` chose the timeout,
    # unless it began in between: so at least one of these slept without one.
    assert None in firsts, f"begun calls slept with timeouts {firsts}"


def test_a_client_that_rang_the_daemon_sleeps_until_its_response(tmp_path):
    """A kick is for waking the channel's own thread; a client that rang it for its request (the
    daemon was asleep: with `--spin-us 0`, unless its thread has not yet gone back to sleep from the
    call before, as on a loaded machine) has done that, and sets no 1 ms timeout."""
    with Daemon(tmp_path / "s.sock", "--spin-us", "0") as d, shmcall.connect(d.socket, spawn=False) as c:
        c.sleep_ms(0)
        ch = c._session.local.ch
        polls: list[tuple[int | None, int]] = []  # each sleep's timeout, and the rings so far
        spy_polls(ch, lambda ms: polls.append((ms, ch.rings)))
        rang_calls = 0
        for _ in range(40):
            del polls[:]
            rings = ch.rings
            kicks = ch.kicks
            c.sleep_ms(5)  # long enough for the 1 ms timeout to fire, were it set
            if polls and polls[0][1] > rings:  # rang before its first sleep
                rang_calls += 1
                # More than one sleep is fine: a ring for the call before may be left in the doorbell.
                assert all(ms is None for ms, _ in polls), polls
                assert ch.kicks == kicks
                if rang_calls == 5:
                    break
        if not rang_calls:
            pytest.skip("the daemon's thread was never asleep when a call came (a loaded machine)")
        assert d.stop() == 0
