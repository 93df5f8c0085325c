"""Every compute built-in against an independent Python reference: numpy for array math, hashlib for
SHA-256, the `cryptography` package and RFC 8439 for ChaCha20-Poly1305, a Python SplitMix64."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

import shmcall

M64 = 2**64 - 1


def splitmix_stream(seed: int, n: int) -> list[int]:
    out = []
    for i in range(1, n + 1):
        z = (seed + i * 0x9E3779B97F4A7C15) & M64
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        out.append(z ^ (z >> 31))
    return out


def splitmix_at(seed: int, i: int) -> int:
    """Element i of the stream, computed on its own."""
    return splitmix_stream((seed + i * 0x9E3779B97F4A7C15) & M64, 1)[0]


@pytest.mark.parametrize("dtype", ["f32", "f64", "i64"])
@pytest.mark.parametrize("n", [0, 1, 1000, 300_001])
def test_sum_scale_sort_filter_match_numpy(c, dtype, n):
    rng = np.random.default_rng(n)
    np_dtype = {"f32": np.float32, "f64": np.float64, "i64": np.int64}[dtype]
    ref = (rng.integers(-1000, 1000, n) if dtype == "i64" else rng.standard_normal(n)).astype(np_dtype)
    xs = c.asarray(ref)
    total = c.sum(xs)
    if dtype == "i64":
        assert total == int(ref.sum())
    else:
        assert math.isclose(total, float(ref.astype(np.float64).sum()), rel_tol=1e-5, abs_tol=1e-3)
    c.scale(xs, np_dtype(3).item())
    assert np.array_equal(xs, ref * np_dtype(3))
    c.sort(xs)
    assert np.array_equal(xs, np.sort(ref * np_dtype(3)))
    out = c.filter_gt(xs, 0)
    assert np.array_equal(out, xs[xs > 0]) and out.dtype == np_dtype


def test_sum_works_on_copied_lists_and_reports_integer_overflow(c):
    assert c.sum([1, 2, 3]) == 6
    assert c.sum([0.5, 0.25]) == 0.75
    with pytest.raises(shmcall.RemoteError, match="overflow"):
        c.sum(np.array([2**62, 2**62], dtype=np.int64))
    xs = c.asarray(np.array([2**62, 1], dtype=np.int64))
    with pytest.raises(shmcall.RemoteError, match="overflow"):
        c.scale(xs, 4)
    assert xs.tolist() == [2**62, 1], "a failed scale leaves the array untouched"
    with pytest.raises(TypeError, match="f32, f64, i64"):
        c.sum(np.zeros(3, dtype=np.int8))


def test_sort_orders_nan_last(c):
    xs = c.asarray(np.array([3.0, np.nan, -1.0, 2.0]))
    c.sort(xs)
    assert xs[:3].tolist() == [-1.0, 2.0, 3.0] and math.isnan(xs[3])


def test_filter_gt_result_of_unknown_length_lives_in_shared_memory(c):
    xs = c.empty(2_000_000, "f64")
    c.prng_fill(xs, 7)
    out = c.filter_gt(xs, 0.25)
    assert np.array_equal(out, xs[xs > 0.25])
    assert c._session.heap.locate(out, out.nbytes) is not None, "large results are shared, not copied"


@pytest.mark.parametrize("n", [0, 1, 100, 5_000, 200_000])
@pytest.mark.parametrize("dtype", ["f32", "f64", "i64"])
def test_filter_gt_written_in_place_at_every_size(c, n, dtype):
    """filter_gt writes its result straight into the response area (small) or a new heap block
    (large), sequentially or on all cores: every size, empty and full results included."""
    xs = c.empty(n, dtype)
    xs[:] = (np.arange(n) % 97) - 40
    for t in (-1000, 0, 10, 1000):
        out = c.filter_gt(xs, t)
        assert np.array_equal(out, xs[xs > t]) and out.dtype == xs.dtype


@pytest.mark.parametrize("data", [b"", b"abc", b"a" * 1_000_000, bytes(range(256)) * 4097])
def test_sha256_matches_hashlib(c, data):
    assert c.sha256(data) == hashlib.sha256(data).digest()
    shared = c.asarray(np.frombuffer(data, dtype=np.uint8)) if data else data
    assert c.sha256(shared) == hashlib.sha256(data).digest()


RFC8439_PLAINTEXT = (b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, "
                     b"sunscreen would be it.")
RFC8439_KEY = bytes(range(0x80, 0xA0))
RFC8439_NONCE = bytes.fromhex("070000004041424344454647")
RFC8439_AAD = bytes.fromhex("50515253c0c1c2c3c4c5c6c7")
RFC8439_TAG = bytes.fromhex("1ae10b594f09e26a7e902ecbd0600691")


def test_chacha20poly1305_rfc8439_vector(c):
    buf = c.asarray(np.frombuffer(RFC8439_PLAINTEXT, dtype=np.uint8))
    tag = c.encrypt(buf, RFC8439_KEY, RFC8439_NONCE, RFC8439_AAD)
    assert tag == RFC8439_TAG
    assert bytes(buf)[:16] == bytes.fromhex("d31a8d34648e60db7b86afbc53ef7ec2")
    c.decrypt(buf, RFC8439_KEY, RFC8439_NONCE, tag, RFC8439_AAD)
    assert bytes(buf) == RFC8439_PLAINTEXT


@pytest.mark.parametrize("n", [0, 1, 64, 100_000, 3_000_001])
def test_encrypt_decrypt_in_place_match_cryptography(c, n):
    rng = np.random.default_rng(n)
    plain = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
    key, nonce, aad = rng.bytes(32), rng.bytes(12), rng.bytes(n % 50)
    buf = c.asarray(np.frombuffer(plain, dtype=np.uint8)) if n else c.empty(0, "u8")
    tag = c.encrypt(buf, key, nonce, aad)
    assert bytes(buf) + tag == ChaCha20Poly1305(key).encrypt(nonce, plain, aad)
    c.decrypt(buf, key, nonce, tag, aad)
    assert bytes(buf) == plain


def test_wrong_tag_is_an_error_and_leaves_the_buffer_untouched(c):
    key, nonce = bytes(32), bytes(12)
    buf = c.asarray(np.frombuffer(b"secret message", dtype=np.uint8))
    tag = c.encrypt(buf, key, nonce)
    sealed = bytes(buf)
    bad = bytes([tag[0] ^ 1]) + tag[1:]
    with pytest.raises(shmcall.RemoteError, match="authentication"):
        c.decrypt(buf, key, nonce, bad)
    assert bytes(buf) == sealed
    with pytest.raises(shmcall.RemoteError, match="32"):
        c.encrypt(buf, b"short key", nonce)


def test_bytearray_is_encrypted_in_place_by_copy_in_and_out(c):
    buf = bytearray(b"plain old bytearray")
    tag = c.encrypt(buf, bytes(32), bytes(12), b"")
    assert bytes(buf) + tag == ChaCha20Poly1305(bytes(32)).encrypt(bytes(12), b"plain old bytearray", b"")
    with pytest.raises(TypeError, match="read-only"):
        c.encrypt(b"immutable", bytes(32), bytes(12), b"")


def test_prng_streams_match_a_python_splitmix64(c):
    ref = splitmix_stream(12345, 1000)
    u = c.zeros(1000, "u64")
    c.prng_fill(u, 12345)
    assert u.tolist() == ref
    f = c.zeros(1000, "f64")
    c.prng_fill(f, 12345)
    assert f.tolist() == [(x >> 11) * 2.0**-53 for x in ref]
    g = c.zeros(1000, "f32")
    c.prng_fill(g, 12345)
    assert g.tolist() == [np.float32((x >> 40) * 2.0**-24) for x in ref]
    i = c.zeros(1000, "i64")
    c.prng_fill(i, 12345)
    assert i.view(np.uint64).tolist() == ref


def test_prng_is_deterministic_across_sizes_and_parallelism(c):
    big = c.empty(5_000_000, "u64")  # large enough to be filled on all cores
    c.prng_fill(big, 99)
    small = c.empty(1000, "u64")  # small enough to be filled sequentially
    c.prng_fill(small, 99)
    assert np.array_equal(big[:1000], small)
    for i in (0, 65_535, 65_536, 2_500_000, 4_999_999):
        assert int(big[i]) == splitmix_at(99, i), i
