"""shmcall itself: a private ``shmcalld`` (release build) and the pure-Python client.

Two variants: spin-then-block (the default) and pure blocking (the daemon never spins,
``--spin-us 0``, and the client sleeps at once, ``SHMCALL_SPIN=0``), to show what spinning buys.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from .base import Alternative, Session

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "python"))


class ShmSession(Session):
    def __init__(self, socket: str) -> None:
        import shmcall

        self.c = shmcall.connect(socket, spawn=False)
        # The client's functions themselves, shadowing the forwarding methods below (see Session).
        self.add, self.hello, self.multi_return = self.c.add, self.c.hello, self.c.multi_return

    def add(self, a: int, b: int) -> int:
        return self.c.add(a, b)

    def hello(self, name: str) -> str:
        return self.c.hello(name)

    def hello_person(self, name: str, age: int) -> tuple[str, int]:
        # The Person as a tuple of its fields, which a struct parameter takes as ctypes does: the
        # cheapest way in, as ctypes' session passes the fields as separate arguments. Building a
        # `Person(name, age)` instead costs 0.1 µs more (positional; by keyword 0.36 µs, since
        # CPython 3.11 routes keywords to any Python class's __init__ through a dict).
        p = self.c.hello_person((name, age))
        return p.name, p.age

    def multi_return(self) -> tuple[int, int]:
        return self.c.multi_return()

    def make_array(self, n: int) -> Any:
        xs = self.c.empty(n, "f64")
        xs[:] = (np.arange(n) % 1000) * 0.25
        return xs

    def sum(self, xs: Any) -> float:
        return self.c.sum(xs)

    def scale(self, xs: Any, k: float) -> Any:
        self.c.scale(xs, k)
        return xs

    def sha256(self, data: bytes) -> bytes:
        return self.c.sha256(data)

    def filter_gt(self, xs: Any, t: float) -> Any:
        return self.c.filter_gt(xs, t)

    def add_many(self, n: int) -> list[int]:
        a = np.arange(n, dtype=np.int64)
        return self.c.add.map(a, np.ones(n, dtype=np.int64)).tolist()

    def close(self) -> None:
        self.c.close()


class Shm(Alternative):
    name = "shmcall"
    label = "shmcall (spin, then block)"
    spin_us = 100
    client_spin = "500"

    def setup(self) -> None:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=True)
        self.dir = tempfile.mkdtemp(prefix="shmcall-bench-")
        self.socket = os.path.join(self.dir, "s.sock")
        os.environ["SHMCALL_SPIN"] = self.client_spin
        self.proc = subprocess.Popen([str(REPO / "target/release/shmcalld"), "serve", "--socket", self.socket,
                                      "--spin-us", str(self.spin_us)], stderr=subprocess.DEVNULL)
        while not os.path.exists(self.socket):
            if self.proc.poll() is not None:
                raise RuntimeError("shmcalld did not start")
            time.sleep(0.01)

    def session(self) -> Session:
        # The client reads SHMCALL_SPIN when imported; sessions in child processes inherit it.
        return ShmSession(self.socket)

    def teardown(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        os.environ.pop("SHMCALL_SPIN", None)

    def server_pids(self) -> list[int]:
        return [self.proc.pid]


class ShmBlocking(Shm):
    name = "shmcall-block"
    label = "shmcall (pure blocking)"
    spin_us = 0
    client_spin = "0"

    def unavailable(self) -> str | None:
        # The client's spin count is fixed when shmcall is imported: run this variant in its own process.
        if "shmcall" in sys.modules and os.environ.get("SHMCALL_SPIN") != "0":
            return "run alone: `python benchmarks/run.py --only shmcall-block`"
        return None
