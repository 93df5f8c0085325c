"""Arrays and slices: shared arrays are zero-copy and written in place; other buffers are copied
in (and out); growing results arrive without pre-sizing and are released when garbage."""

from __future__ import annotations

import array
import gc
import subprocess
import sys

import numpy as np
import pytest

import shmcall
from conftest import REPO


def test_article_return_int_array_mutates_shared_array_in_place(c):
    a = c.asarray(np.arange(5, dtype=np.int64))
    out = c.return_int_array(a)
    assert a.tolist() == [4, 1, 2, 3, 0]
    assert out.tolist() == list(range(10)) and out.dtype == np.int64


def test_article_return_int_slice_writes_both_arguments(c):
    a, b = c.zeros(7, "i64"), np.full(3, -1, dtype=np.int64)  # one shared, one copied in and out
    out = c.return_int_slice(a, b)
    assert a.tolist() == list(range(7)) and b.tolist() == [0, 1, 2]
    assert out.tolist() == list(range(10))


def test_lists_and_array_module_buffers_are_copied_in_and_out(c):
    lst = [5, 6, 7]
    c.return_int_array(lst)
    assert lst == [7, 6, 5]
    arr = array.array("q", [1, 2, 3, 4])
    c.return_int_array(arr)
    assert arr.tolist() == [4, 2, 3, 1]
    with pytest.raises(TypeError, match="tuple"):
        c.return_int_array((1, 2))
    ro = np.arange(3, dtype=np.int64)
    ro.flags.writeable = False
    with pytest.raises(TypeError, match="read-only"):
        c.return_int_array(ro)


def test_non_contiguous_arrays_are_copied_back(c):
    base = np.arange(10, dtype=np.int64)
    view = base[::2]
    c.return_int_array(view)
    assert base.tolist() == [8, 1, 2, 3, 4, 5, 6, 7, 0, 9]


def test_private_arrays_are_copied_back_whatever_the_function_returns(c):
    # Regression: a function returning nothing (scale) or a struct array left a copied-in private
    # array unchanged; only functions returning arrays or text copied back.
    xs = np.arange(3.0)
    assert c.scale(xs, 2.0) is None
    assert xs.tolist() == [0.0, 2.0, 4.0]
    buf = array.array("d", [1.0, -1.0])
    c.scale(buf, -3.0)  # array.array('d'): the f64 overload, by its format
    assert buf.tolist() == [-3.0, 3.0]


def test_wrong_dtype_is_a_type_error(c):
    with pytest.raises(TypeError, match="i64"):
        c.return_int_array(np.zeros(3, dtype=np.float64))
    with pytest.raises(TypeError):
        c.return_int_array("abc")


def test_overlapping_in_out_arguments_are_refused_by_the_daemon(c):
    a = c.zeros(8, "i64")
    with pytest.raises(shmcall.RequestRejected, match="overlap"):
        c.return_int_slice(a[:5], a[3:])
    c.return_int_slice(a[:4], a[4:])  # adjacent halves do not overlap
    assert a.tolist() == [0, 1, 2, 3, 0, 1, 2, 3]


def test_expand_slice_grows_a_vec_and_a_list(c):
    v = c.vec("i64", [7, 8])
    c.expand_slice(v)
    assert len(v) == 12 and v.tolist() == [7, 8] + list(range(10))
    big = c.vec("i64", range(200_000))
    c.expand_slice(big)
    assert len(big) == 200_010 and big[199_999] == 199_999 and big[-1] == 9
    lst = []
    c.expand_slice(lst)
    assert lst == list(range(10))
    with pytest.raises(TypeError, match="Vec"):
        c.expand_slice(np.zeros(2, dtype=np.int64))


def test_struct_arrays_are_shared_in_place(c):
    Point = c.types.Point
    pts = c.empty(4, Point)
    assert pts.dtype == Point.dtype and pts.dtype.itemsize == 16
    pts["x"] = [0, 2, 2, 0]
    pts["y"] = [0, 0, 2, 2]
    assert c.centroid(pts) == Point(1.0, 1.0)
    c.translate(pts, 10.0, -1.0)
    assert pts["x"].tolist() == [10, 12, 12, 10] and pts["y"].tolist() == [-1, -1, 1, 1]
    box = c.bounding_box(pts)
    assert box == c.types.Rect(min=Point(10, -1), max=Point(12, 1))
    assert c.centroid([Point(1, 1), Point(3, 5)]) == Point(2, 3)


def test_padded_struct_arrays_follow_the_c_layout(c):
    Sample = c.types.Sample
    assert Sample.dtype.fields["value"][1] == 8 and Sample.dtype.fields["channel"][1] == 16 and Sample.size == 24
    s = c.zeros(1000, Sample)
    s["tag"] = np.arange(1000) % 3
    s["value"] = np.arange(1000) * 0.5
    s["channel"] = np.arange(1000)
    out = c.select_samples(s, 1)
    expected = s[s["tag"] == 1]
    assert out.dtype == Sample.dtype and len(out) == len(expected)
    assert (out["value"] == expected["value"]).all() and (out["channel"] == expected["channel"]).all()


def test_struct_array_results(c):
    pts = c.circle_points(10_000)
    angles = 2 * np.pi * np.arange(10_000) / 10_000
    assert np.allclose(pts["x"], np.cos(angles)) and np.allclose(pts["y"], np.sin(angles))
    assert len(c.circle_points(0)) == 0


@pytest.mark.parametrize("n", [0, 1, 100])
def test_small_sizes(c, n):
    a = c.zeros(n, "i64")
    assert c.return_int_array(a).tolist() == list(range(10))
    assert len(a) == n


def test_empty_zeros_asarray(c):
    a = c.empty((3, 4), "f32")
    assert a.shape == (3, 4) and a.dtype == np.float32
    z = c.zeros(5, np.uint16)
    assert z.tolist() == [0] * 5
    src = np.arange(6.0)
    s = c.asarray(src)
    assert s is not src and s.tolist() == src.tolist()
    assert c.asarray(s) is s, "already shared: returned as is"
    with pytest.raises(TypeError):
        c.empty(3, "str")
    with pytest.raises(ValueError):
        c.empty(-1)


def test_blocks_are_released_when_garbage(fresh):
    for _ in range(50):
        a = fresh.empty(1 << 20, "u8")  # 1 MiB each: 50 MiB total if nothing were released
        a[0] = 1
        del a
        gc.collect()
    fresh.ping()
    # Segments grow only when needed: with releases working, 50 MiB of churn fits the first segments.
    total = sum(s.size for s in fresh._session.heap.segments.values())
    assert total <= 64 << 20, f"heap grew to {total} bytes: blocks are not released"


def test_heap_grows_past_the_first_segment(fresh):
    big = fresh.zeros(6 << 20, "f64")  # 48 MiB > the 16 MiB first segment
    big[-1] = 3.0
    out = fresh.return_int_array(big[-3:].view(np.int64))
    assert out.tolist() == list(range(10))
    assert len(fresh._session.heap.segments) >= 1


def test_hundred_million_elements_zero_copy(fresh):
    xs = fresh.empty(100_000_000, "i64")  # 800 MB in shared memory
    xs[0], xs[-1] = 11, 22
    fresh.return_int_array(xs)
    assert xs[0] == 22 and xs[-1] == 11
    del xs
    gc.collect()
    fresh.ping()


def test_without_numpy_arrays_are_memoryviews(daemon):
    code = f"""
import sys
sys.modules['numpy'] = None  # numpy is unavailable in this interpreter
sys.path.insert(0, {str(REPO / 'python')!r})
import shmcall
with shmcall.connect({daemon.socket!r}, spawn=False) as c:
    a = c.zeros(5, 'i64')
    assert isinstance(a, memoryview) and a.format == 'q', a
    a[0] = 9
    out = c.return_int_array(a)
    assert a.tolist() == [0, 0, 0, 0, 9], a.tolist()
    assert isinstance(out, memoryview) and out.tolist() == list(range(10))
    lst = [1, 2, 3]
    c.return_int_array(lst)
    assert lst == [3, 2, 1]
    v = c.vec('i64', [1])
    c.expand_slice(v)
    assert v.tolist() == [1] + list(range(10))
    pts = c.circle_points(3)
    assert isinstance(pts, list) and pts[0] == c.types.Point(1.0, 0.0)
    print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr


def test_without_numpy_a_slice_keeps_its_block(daemon):
    """A slice of a shared memoryview outlives the view it was cut from: the block must not go back
    to the daemon (and to the next array) until the slice is gone too."""
    code = f"""
import gc, sys
sys.modules['numpy'] = None  # numpy is unavailable in this interpreter
sys.path.insert(0, {str(REPO / 'python')!r})
import shmcall
with shmcall.connect({daemon.socket!r}, spawn=False) as c:
    a = c.zeros(1000, 'i64')
    for i in range(1000):
        a[i] = 7
    part = a[10:20]
    del a
    gc.collect()
    assert not c._session.heap.pending, "released while a slice lives"
    others = [c.zeros(1000, 'i64') for _ in range(20)]  # the daemon reuses freed blocks first
    for b in others:
        for i in range(1000):
            b[i] = 99
    assert part.tolist() == [7] * 10, part.tolist()
    assert c.sum(part) == 70
    del part
    gc.collect()
    assert len(c._session.heap.pending) == 1, "released once the last view is gone"
    assert c.add(1, 2) == 3  # the release goes out with the next call
    assert not c._session.heap.pending
    print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr


def test_views_of_shared_arrays_go_by_reference_and_owner_table_is_bounded(fresh):
    xs = fresh.zeros(1000, "f64")
    xs[:] = 1.0
    fresh.scale(xs[500:], 3.0)  # a view: must be written in place, not copied
    assert xs[:500].sum() == 500 and xs[500:].sum() == 1500
    two_d = fresh.zeros((10, 100), "f64")
    fresh.prng_fill(two_d.reshape(-1), 5)
    assert (two_d > 0).all()
    before = len(fresh._session.heap.roots)
    for _ in range(500):
        tmp = fresh.empty(16, "i64")
        fresh.sum(tmp)
        del tmp
    gc.collect()
    assert len(fresh._session.heap.roots) <= before + 1, "owner table forgets dead arrays"


def test_heap_limit_is_a_clean_memory_error(tmp_path):
    from conftest import Daemon

    with Daemon(tmp_path / "limited.sock", "--heap-limit", str(32 << 20)) as d:
        with shmcall.connect(d.socket, spawn=False) as c:
            small = c.zeros(1 << 20, "u8")
            with pytest.raises(shmcall.SharedMemoryExhausted, match="limit"):
                c.empty(64 << 20, "u8")
            with pytest.raises(MemoryError):
                c.repeat_bytes(b"x" * 1024, 40 * 1024)  # a 40 MiB result cannot be placed either
            assert c.add(1, 2) == 3 and small[0] == 0, "the daemon keeps serving"
        assert d.stop() == 0
