"""Batched calls: many calls of one function in one request (``fn.map``), results as arrays."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import shmcall
from conftest import REPO


def test_map_matches_single_calls(c):
    a = np.arange(-500, 500, dtype=np.int64)
    b = np.arange(1000, dtype=np.int64) * 3 + 1
    assert c.add.map(a, b).tolist() == [c.add(int(x), int(y)) for x, y in zip(a, b)]
    q, r = c.divmod.map(a, b)
    assert list(zip(q.tolist(), r.tolist())) == [divmod(int(x), int(y)) for x, y in zip(a, b)]


def test_map_of_a_million_calls_returns_shared_arrays(c):
    n = 1_000_000
    out = c.add.map(np.arange(n), np.full(n, 7))
    assert out.dtype == np.int64 and out[0] == 7 and out[-1] == n + 6
    table = out.base  # the result records; `out` is one column of them
    assert c._session.heap.locate(table, table.nbytes) is not None, "a large result stays in shared memory"


def test_map_reports_the_failing_call(c):
    with pytest.raises(shmcall.RemoteError, match="call 2: integer division by zero"):
        c.divmod.map([1, 2, 3], [1, 1, 0])
    with pytest.raises(shmcall.RemoteError, match="call 1: integer overflow"):
        c.add.map([0, 2**63 - 1], [0, 1])
    assert c.add(1, 1) == 2


def test_map_checks_columns_before_sending(c):
    with pytest.raises(OverflowError):
        c.add.map([2**63], [0])
    with pytest.raises(TypeError, match="integers"):
        c.add.map([1.5], [0])
    with pytest.raises(ValueError, match="length"):
        c.add.map([1, 2], [1])
    with pytest.raises(TypeError, match="2 columns"):
        c.add.map([1, 2])
    assert not hasattr(c.hello, "map"), "str parameters cannot be batched"


@pytest.mark.parametrize("copies", [1, 300], ids=["inline", "heap"])
def test_map_with_struct_and_float_values(c, copies):
    S = c.types.Scalars
    s = np.zeros(3 * copies, dtype=c._structs["Scalars"].dtype())
    s["i8"] = [1, 2, 127] * copies
    s["f64"] = [0.5, 1.5, 2.5] * copies
    s["flag"] = [True, False, True] * copies
    out = c.step_scalars.map(s)
    assert out["i8"].tolist() == [2, 3, -128] * copies and out["f64"].tolist() == [1.0, 3.0, 5.0] * copies
    assert out["flag"].tolist() == [False, True, False] * copies
    assert S is c.types.Scalars


def test_map_records_go_inline_while_they_fit_the_request(c, monkeypatch):
    """Up to the request capacity the records travel in the request itself (no `alloc` round trip);
    one record more goes through a heap block. Both give the same results."""
    ch = c._session.channel()
    fits = (ch.request_capacity - shmcall._layout.BATCH.size) // 16  # add's records are 16 bytes
    allocs = []
    real = type(ch).alloc
    monkeypatch.setattr(type(ch), "alloc", lambda self, n: allocs.append(n) or real(self, n))
    for n in (1, fits, fits + 1):
        a = np.arange(n, dtype=np.int64) - 3
        assert c.add.map(a, a * 5).tolist() == (a * 6).tolist()
    assert allocs == [(fits + 1) * 16]
    with pytest.raises(shmcall.RemoteError, match="call 0: integer overflow"):
        c.add.map([2**63 - 1], [1])  # an inline batch's failure
    assert c.add.map([1], [2]).tolist() == [3]


def test_map_of_nothing(c):
    assert len(c.add.map([], [])) == 0
    first, second = c.multi_return.map()  # no columns: zero calls
    assert len(first) == len(second) == 0


def test_map_without_numpy(daemon):
    code = f"""
import sys
sys.modules['numpy'] = None
sys.path.insert(0, {str(REPO / 'python')!r})
import shmcall
with shmcall.connect({daemon.socket!r}, spawn=False) as c:
    assert c.add.map([1, 2, 3], [4, 5, 6]) == [5, 7, 9]
    assert c.divmod.map([7, -7], [2, 2]) == [(3, -4), (1, 1)]
    n = 1000  # past the request's capacity: the records go through a heap block
    assert c.add.map(list(range(n)), [5] * n) == [i + 5 for i in range(n)]
    print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr
