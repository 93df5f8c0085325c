"""``Option<T>`` parameters and results (SPEC §4.6) against the daemon's built-ins: ``None`` or a value,
trailing optional parameters left out, the generated fast path and the general path alike (a thread's
first call goes the general way), and the asyncio client."""

from __future__ import annotations

import asyncio
import math
import os
import threading
from typing import Any, Callable

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

import shmcall
import shmcall.aio


def clamp_reference(x: float, lo: float | None, hi: float | None) -> float:
    if lo is not None and x < lo:
        return lo
    if hi is not None and x > hi:
        return hi
    return x


def on_a_new_thread(f: Callable[[], Any]) -> Any:
    """``f()`` on a thread of its own: its first call takes the general path."""
    out: list[Any] = []
    t = threading.Thread(target=lambda: out.append(f()))
    t.start()
    t.join(30)
    assert out, "the thread's call did not return"
    return out[0]


BOUNDS = [None, -1.0, 0.0, 2.5, math.inf]


@pytest.mark.parametrize("x", [-5.0, 0.0, 1.0, 3.0, math.inf])
def test_every_combination_of_absent_and_present_bounds(c, x):
    for lo in BOUNDS:
        for hi in BOUNDS:
            if lo is not None and hi is not None and lo > hi:
                continue
            want = clamp_reference(x, lo, hi)
            assert c.clamp(x, lo, hi) == want, (x, lo, hi)
            assert on_a_new_thread(lambda: c.clamp(x, lo, hi)) == want, ("general path", x, lo, hi)
            assert c.clamp(x, hi=hi, lo=lo) == want
    for name in ("clamp", "encrypt"):
        assert getattr(c, name).__code__.co_filename == f"<shmcall fast {name}>", "the fast path serves options"


def test_trailing_options_may_be_left_out(c):
    assert c.clamp(7.0) == 7.0
    assert c.clamp(7.0, 8.0) == 8.0
    assert c.clamp(7.0, hi=1.0) == 1.0
    assert math.isnan(c.clamp(math.nan, 0.0, 1.0)), "NaN passes through"
    with pytest.raises(TypeError):
        c.clamp()
    with pytest.raises(TypeError, match="positional"):
        c.clamp(1.0, None, None, 4.0)


def test_a_present_value_is_checked_as_its_type(c):
    with pytest.raises(TypeError, match="lo"):
        c.clamp(1.0, "low")
    with pytest.raises(shmcall.RemoteError, match="greater than"):
        c.clamp(1.0, 3.0, 2.0)
    assert c.clamp(1.0, 0, 2) == 1.0, "an int for an Option<f64> as for an f64"


def test_an_option_result(c):
    xs = c.asarray(np.array([5, 7, 9, 7], dtype=np.int64))
    assert c.index_of(xs, 7) == 1
    assert c.index_of(xs, 9) == 2
    assert c.index_of(xs, 4) is None
    assert c.index_of([], 4) is None
    assert on_a_new_thread(lambda: c.index_of([1, 2], 2)) == 1


@pytest.mark.parametrize("n", [0, 64, 5000])
def test_associated_data_is_optional(c, n):
    key, nonce, plain = os.urandom(32), os.urandom(12), os.urandom(n)
    aead = ChaCha20Poly1305(key)
    for aad in [None, b"", b"header", bytearray(b"header"), memoryview(b"x" * 2000), [1, 2, 3]]:
        expected = aead.encrypt(nonce, plain, None if aad is None else bytes(aad))
        for how in ("left out", "None", "given"):
            if how != "given" and aad is not None:
                continue
            args: tuple[Any, ...] = (key, nonce) if how == "left out" else (key, nonce, aad)
            for thread in (False, True):
                buf = bytearray(plain)
                call = lambda: c.encrypt(buf, *args)  # noqa: E731
                tag = on_a_new_thread(call) if thread else call()
                assert bytes(buf) + tag == expected, (type(aad), how, thread)
                c.decrypt(buf, key, nonce, tag, *args[2:])
                assert bytes(buf) == plain
    sealed = bytearray(plain)
    tag = c.encrypt(sealed, key, nonce, b"header")
    with pytest.raises(shmcall.RemoteError, match="authentication"):
        c.decrypt(sealed, key, nonce, tag)  # the associated data left out: another message
    assert bytes(sealed) + tag == aead.encrypt(nonce, plain, b"header"), "a failed decrypt leaves buf"


def test_asyncio_client_takes_the_same_defaults(daemon):
    async def main() -> None:
        async with shmcall.aio.connect(daemon.socket, spawn=False) as a:
            assert await a.clamp(4.0) == 4.0
            assert await a.clamp(4.0, hi=1.5) == 1.5
            assert await a.index_of([3, 4], 5) is None
            key, nonce = bytes(32), bytes(12)
            buf = bytearray(b"attack at dawn")
            tag = await a.encrypt(buf, key, nonce)
            assert bytes(buf) + tag == ChaCha20Poly1305(key).encrypt(nonce, b"attack at dawn", None)

    asyncio.run(main())
