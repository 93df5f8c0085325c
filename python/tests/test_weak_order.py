"""The client's way for weakly ordered machines (ARM; SPEC §1.4), run here by forcing it on x86 with
``SHMCALL_WEAK_ORDER=1``: no generated fast paths, a fence around every publication and observation.
It cannot show the ordering (x86 gives it anyway), but it runs every fenced path against a real daemon:
plain, text, struct and in-place calls, heap results and their releases, a batch, asyncio and threads,
each result checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

from conftest import REPO

from shmcall._channel import fence

PROGRAM = r"""
import asyncio, json, sys, threading
import numpy as np
import shmcall, shmcall.aio
from shmcall import _channel
assert not _channel.STRONG_ORDER
c = shmcall.connect(sys.argv[1], spawn=False)
assert "fast" not in c.add.__code__.co_filename, "no generated fast path when weakly ordered"
out = {}
out["add"] = [c.add(i, 7) for i in range(200)] == [i + 7 for i in range(200)]
out["hello"] = c.hello("x" * 3000) == "hello " + "x" * 3000
out["person"] = c.hello_person(("xiaoming", 18)).age == 18
xs = c.asarray(np.arange(100_000, dtype=np.float64))
c.scale(xs, 2.0)
out["scale"] = float(xs.sum()) == float(np.arange(100_000).sum() * 2)
out["heap"] = all(len(c.repeat_bytes(b"ab", 5000)) == 10_000 for _ in range(50))  # heap blocks, released
out["map"] = c.add.map([1, 2, 3], [10, 20, 30]).tolist() == [11, 22, 33]
def worker(k, got):
    got[k] = all(c.add(k, i) == k + i for i in range(300))
got = {}
threads = [threading.Thread(target=worker, args=(k, got)) for k in range(4)]
for t in threads: t.start()
for t in threads: t.join()
out["threads"] = all(got.values()) and len(got) == 4
async def main():
    async with shmcall.aio.connect(sys.argv[1], spawn=False) as a:
        return await asyncio.gather(*(a.add(i, i) for i in range(500))) == [2 * i for i in range(500)]
out["aio"] = asyncio.run(main())
print(json.dumps(out))
"""


def test_the_fenced_way_calls_correctly(daemon):
    env = {**os.environ, "SHMCALL_WEAK_ORDER": "1", "PYTHONPATH": str(REPO / "python")}
    out = subprocess.run([sys.executable, "-c", PROGRAM, daemon.socket], capture_output=True, text=True,
                         timeout=120, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads(out.stdout.strip().splitlines()[-1])
    assert all(results.values()), results


def test_fence_keeps_each_threads_lock_held_between_fences():
    errors: list[BaseException] = []

    def many() -> None:
        try:
            for _ in range(10_000):
                fence()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=many) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and not any(t.is_alive() for t in threads)
