"""Array arguments that are not in shared memory (SPEC §4.1): `bytes`, `bytearray`, memoryviews,
`array.array` and private numpy arrays. Small read-only ones travel inline in the request; anything
else is copied into the channel's staging block, which is kept, so that once it is large enough no
argument costs an allocation round trip; written ones are copied back. Checked at 0 and 1 byte, at
the inline limit and one byte either side, and beyond the daemon's first heap segment."""

from __future__ import annotations

import array
import hashlib
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

import shmcall
from conftest import REPO
from shmcall import _layout as L
from shmcall import _staging

KEY = bytes(range(32))
NONCE = bytes(range(12))
#: sha256's argument record is one buffer reference: inline data may fill the rest of the request.
SHA_INLINE_LIMIT = L.DEFAULT_REQUEST_CAPACITY - L.tail_aligned(L.BUF.size)
#: Bytes in the daemon's first heap segment (SPEC §4.4).
FIRST_SEGMENT = 16 << 20

KINDS = {
    "bytes": bytes,
    "bytearray": bytearray,
    "memoryview": lambda data: memoryview(bytearray(data)),
    "array": lambda data: array.array("B", data),
    "numpy": lambda data: np.frombuffer(data, dtype=np.uint8).copy(),
}


def channel(client):
    """This thread's channel of ``client`` (opened by a first call)."""
    client.ping()
    ch = client._session.local.ch
    assert ch.request_capacity == L.DEFAULT_REQUEST_CAPACITY
    return ch


def calls(ch, f):
    """Runs ``f`` and returns how many requests it sent on ``ch``."""
    before = ch.seq
    f()
    return ch.seq - before


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("size", [0, 1, SHA_INLINE_LIMIT - 1, SHA_INLINE_LIMIT, SHA_INLINE_LIMIT + 1, 4096])
def test_read_only_arguments_at_the_inline_limit(fresh, kind, size):
    ch = channel(fresh)
    data = os.urandom(size)
    value = KINDS[kind](data)
    for _ in range(3):  # the general path first, then the fast path
        assert calls(ch, lambda: fresh.sha256(value) == hashlib.sha256(data).digest() or pytest.fail("digest")) in (1, 2)
    # Inline up to the limit: no heap block needed; beyond it, the staging block and no more round trips.
    assert (ch.staging.block is None) == (size <= SHA_INLINE_LIMIT)
    assert calls(ch, lambda: fresh.sha256(value)) == 1


@pytest.mark.parametrize("kind", ["bytearray", "memoryview", "numpy"])
@pytest.mark.parametrize("size", [0, 1, 64, SHA_INLINE_LIMIT + 1, 65536])
def test_written_arguments_are_staged_and_copied_back(fresh, kind, size):
    ch = channel(fresh)
    aead = ChaCha20Poly1305(KEY)
    for round_ in range(3):
        plain = os.urandom(size)
        buf = KINDS[kind](plain)
        tag = fresh.encrypt(buf, KEY, NONCE, b"aad")
        assert bytes(buf) + tag == aead.encrypt(NONCE, plain, b"aad"), f"round {round_}"
        fresh.decrypt(buf, KEY, NONCE, tag, b"aad")
        assert bytes(buf) == plain
    # Written arguments never travel inline (SPEC §4.3): staged once there is something to stage.
    assert (ch.staging.block is None) == (size == 0)
    assert calls(ch, lambda: fresh.encrypt(buf, KEY, NONCE, b"")) == 1


def test_a_failed_call_leaves_a_staged_argument_as_it_was(fresh):
    buf = bytearray(os.urandom(3000))
    before = bytes(buf)
    for _ in range(3):
        with pytest.raises(shmcall.RemoteError):
            fresh.decrypt(buf, KEY, NONCE, bytes(16))  # a wrong tag
        assert bytes(buf) == before


@pytest.mark.parametrize("n", [0, 1, 122, 123, 124, 5000])
def test_private_float_arrays_and_array_module_buffers(fresh, n):
    # sum's record is one reference (24 bytes): 123 f64 fit inline, 124 do not.
    xs = np.random.default_rng(n).random(n)
    for value in (xs, array.array("d", xs.tolist())):
        for _ in range(3):
            assert fresh.sum(value) == pytest.approx(float(xs.sum()), rel=1e-12, abs=1e-12)
    ys = xs.copy()
    for _ in range(3):
        fresh.scale(ys, 2.0)
    np.testing.assert_array_equal(ys, xs * 8)


def test_arguments_beyond_the_first_heap_segment(fresh, monkeypatch):
    """A staged argument larger than the daemon's first heap segment grows the staging block into a
    new segment; one beyond what a channel keeps (made small here) gets a block for its call only."""
    ch = channel(fresh)

    def check(size: int) -> None:
        data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8)
        digest = hashlib.sha256(data).digest()
        assert fresh.sha256(data.tobytes()) == digest
        assert fresh.sha256(data) == digest
        plain = data.tobytes()
        tag = fresh.encrypt(data, KEY, NONCE, b"")
        assert data.tobytes() + tag == ChaCha20Poly1305(KEY).encrypt(NONCE, plain, b"")

    check(FIRST_SEGMENT + 1)
    kept = ch.staging.size
    assert FIRST_SEGMENT < kept <= 4 * FIRST_SEGMENT
    monkeypatch.setattr(_staging, "KEEP_LIMIT", 1 << 20)
    seen: list[object] = []

    def on_a_new_channel() -> None:  # a new thread: a channel with no staging block yet
        try:
            own = channel(fresh)
            check(3 << 20)
            seen.append(own.staging.block)
            seen.append(calls(own, lambda: fresh.sha256(bytes(3 << 20))))
        except BaseException as e:  # noqa: BLE001 - reported below
            seen.append(e)

    worker = threading.Thread(target=on_a_new_channel)
    worker.start()
    worker.join(60)
    assert seen == [None, 2], "beyond the limit: a block of its own each call (one allocation round trip), none kept"


def test_the_wrong_element_type_is_refused_as_before(c):
    with pytest.raises(TypeError, match="float64"):
        c.sha256(np.zeros(3))
    with pytest.raises(TypeError):
        c.sha256("text")
    with pytest.raises(TypeError, match="read-only"):
        c.encrypt(b"immutable", KEY, NONCE, b"")
    assert c.sha256(np.zeros(3, dtype=np.uint8)) == hashlib.sha256(bytes(3)).digest()


def test_threads_stage_on_channels_of_their_own(c):
    errors: list[str] = []

    def work(seed: int) -> None:
        rng = np.random.default_rng(seed)
        for i in range(200):
            data = rng.bytes(int(rng.integers(0, 3 * SHA_INLINE_LIMIT)))
            if c.sha256(data) != hashlib.sha256(data).digest():
                errors.append(f"thread {seed} call {i}")

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors


def test_a_closed_channel_hands_its_staging_block_back(daemon):
    with shmcall.connect(daemon.socket, spawn=False) as client:
        ch = channel(client)
        client.sha256(bytes(SHA_INLINE_LIMIT + 1))
        block = ch.staging.block
        assert block is not None
        ch.close()
        assert block in client._session.heap.pending


def test_without_numpy_buffers_take_the_same_paths(daemon):
    code = f"""
import array, hashlib, sys
sys.modules['numpy'] = None  # numpy is unavailable in this interpreter
sys.path.insert(0, {str(REPO / 'python')!r})
import shmcall
with shmcall.connect({daemon.socket!r}, spawn=False) as c:
    c.ping()
    ch = c._session.local.ch
    for size in (0, 1, {SHA_INLINE_LIMIT}, {SHA_INLINE_LIMIT + 1}, 70000):
        data = bytes(range(256)) * (size // 256) + bytes(size % 256)
        for value in (data, bytearray(data), memoryview(data), array.array('B', data)):
            for _ in range(3):
                assert c.sha256(value) == hashlib.sha256(data).digest(), size
    xs = array.array('d', [0.5 * i for i in range(300)])
    for _ in range(3):
        assert c.sum(xs) == sum(xs)
    shared = c.zeros(4, 'i64')
    for i in range(4):
        shared[i] = i + 1
    for _ in range(3):
        c.return_int_array(shared)  # a shared memoryview still goes by reference, written in place
    assert shared.tolist() == [4, 2, 3, 1], shared.tolist()
    seq = ch.seq
    c.sha256(bytes(5000))
    assert ch.seq == seq + 1, "a staged argument costs no round trip of its own"
    print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr


@pytest.mark.parametrize("n", [0, 1, 61, 62, 5000])  # 61 Points (16 B each) fit inline after centroid's record
def test_struct_arrays_go_the_fast_way_shared_or_private(fresh, n):
    ch = channel(fresh)
    rng = np.random.default_rng(n)
    private = np.zeros(n, dtype=fresh.zeros(0, "Point").dtype)
    private["x"], private["y"] = rng.random(n), rng.random(n)
    shared = fresh.asarray(private.copy())
    assert "_copy_points" in fresh.translate.source  # struct arrays have a fast path
    for value in (shared, private):
        if n:
            for _ in range(3):
                got = fresh.centroid(value)
                assert got.x == pytest.approx(private["x"].mean()) and got.y == pytest.approx(private["y"].mean())
                assert calls(ch, lambda: fresh.centroid(value)) == 1
        before = value.copy()
        for _ in range(3):
            fresh.translate(value, 1.0, -2.0)
        np.testing.assert_allclose(value["x"], before["x"] + 3.0)
        np.testing.assert_allclose(value["y"], before["y"] - 6.0)
