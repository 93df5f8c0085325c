"""Many Python processes and threads calling one daemon at once: every result verified, bounded in
count and time."""

from __future__ import annotations

import subprocess
import sys
import threading

from conftest import REPO, run_threads

WORKER = r"""
import hashlib, random, sys
sys.path.insert(0, {python!r})
import numpy as np
import shmcall

seed, rounds = int(sys.argv[1]), int(sys.argv[2])
rng = random.Random(seed)
with shmcall.connect({socket!r}, spawn=False) as c:
    Person = c.types.Person
    for i in range(rounds):
        a, b = rng.randrange(-2**40, 2**40), rng.randrange(-2**40, 2**40)
        assert c.add(a, b) == a + b
        name = "".join(rng.choice("abcé汉") for _ in range(rng.randrange(0, 300)))
        assert c.hello(name) == "hello " + name
        assert c.hello_person(Person(name=name, age=i)) == Person(name="xiaohong", age=i)
        if b:
            assert c.divmod(a, b) == divmod(a, b)
        n = rng.randrange(0, 5000)
        xs = c.asarray(np.arange(n, dtype=np.int64) + seed)
        out = c.return_int_array(xs)
        assert out.tolist() == list(range(10))
        if n:
            assert xs[0] == n - 1 + seed and xs[-1] == seed
        v = c.vec("i64", [seed] * (i % 7))
        c.expand_slice(v)
        assert v.tolist() == [seed] * (i % 7) + list(range(10))
        # Batches both inline (up to 60 add calls) and in a heap block, beside the other calls.
        m = rng.choice([rng.randrange(0, 61), rng.randrange(61, 3000)])
        ints = np.random.default_rng(seed * 1000 + i).integers(-2**40, 2**40, size=(2, m))
        assert c.add.map(ints[0], ints[1]).tolist() == (ints[0] + ints[1]).tolist()
        data = rng.randbytes(rng.randrange(0, 20000))
        assert c.reverse_bytes(data) == data[::-1]
        if hasattr(c.functions, "sha256"):
            assert c.sha256(data) == hashlib.sha256(data).digest()
        if i % 50 == 0:
            try:
                c.panic("stress")
            except shmcall.RemotePanic:
                pass
            else:
                raise AssertionError("panic did not raise")
print("ok", rounds)
"""


def test_four_processes_mixed_calls_every_result_verified(daemon):
    code = WORKER.format(python=str(REPO / "python"), socket=daemon.socket)
    procs = [subprocess.Popen([sys.executable, "-c", code, str(seed), "300"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for seed in range(4)]
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
        assert out.split() == ["ok", "300"]


def test_threads_of_one_client_each_get_a_channel(c):
    def work(k: int) -> None:
        for i in range(2000):
            assert c.add(k, i) == k + i
            assert c.hello(str(i)) == f"hello {i}"
        a = c.zeros(1000, "i64")
        c.return_int_slice(a, a[:0])
        assert a.tolist() == list(range(1000))

    run_threads(work, 6, timeout=120)
    assert len(c._session.channels) >= 6


def test_first_allocations_from_many_threads_at_once(fresh):
    """Regression: threads racing to map the first heap segment must not wait for it twice."""
    barrier = threading.Barrier(8)

    def first_alloc(_: int) -> None:
        barrier.wait(timeout=30)
        a = fresh.zeros(1000, "i64")
        fresh.return_int_slice(a, a[:0])
        assert a[-1] == 999

    run_threads(first_alloc, 8, timeout=60)
