"""The pure-Python out-of-process baseline: a worker process (multiprocessing, "spawn" context) that
computes with numpy and hashlib, one per session, fed ``(op, args)`` tuples over a
``multiprocessing.Pipe``. No compiled code of this project is involved: this measures what leaving
the process costs when both ends are Python. Arrays cross the pipe pickled (numpy arrays are
copied into the pickle and out again); ``add_many`` sends batches of 1000 pairs, one message each.
"""

from __future__ import annotations

import hashlib
import multiprocessing
from typing import Any

import numpy as np

from .base import Alternative, Session
from .ffi import make_f64_array

BATCH = 1000
I64 = range(-(2**63), 2**63)


def _add(a: int, b: int) -> int:
    r = a + b
    if a not in I64 or b not in I64 or r not in I64:
        raise OverflowError(f"integer overflow: {a} + {b} does not fit in i64")
    return r


def _scale(xs: np.ndarray, k: float) -> np.ndarray:
    xs *= k  # the worker's own copy (unpickled), so in place is free here
    return xs


OPS = {
    "add": _add,
    "add_batch": lambda pairs: [_add(a, b) for a, b in pairs],
    "hello": lambda name: "hello " + name,
    "hello_person": lambda name, age: ("xiaohong", age),
    "multi_return": lambda: (1, 2),
    "sum": lambda xs: float(xs.sum()),
    "scale": _scale,
    "sha256": lambda data: hashlib.sha256(data).digest(),
    "filter_gt": lambda xs, t: xs[xs > t],
}


def serve(conn: Any) -> None:
    """The worker: answers each (op, args) with ("ok", value) or (exception name, message) until
    the client sends None or goes away (EOF), so it never outlives its session's process."""
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        op, args = msg
        try:
            reply = ("ok", OPS[op](*args))
        except Exception as e:  # noqa: BLE001 - sent back and raised on the client side
            reply = (type(e).__name__, str(e))
        conn.send(reply)


_RAISE = {"OverflowError": OverflowError, "TypeError": TypeError, "ValueError": ValueError}


class PipeSession(Session):
    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, theirs = ctx.Pipe()
        self.proc = ctx.Process(target=serve, args=(theirs,), daemon=True, name="pipe-worker")
        me = multiprocessing.current_process()
        # multiprocessing refuses children of a daemonic process (the runner's Pool workers are
        # daemonic) because they could be orphaned; this worker exits on EOF when its parent dies,
        # so the flag is lifted for the start only. The public setter is allowed here.
        was_daemon = me.daemon
        if was_daemon:
            me.daemon = False
        try:
            self.proc.start()
        finally:
            if was_daemon:
                me.daemon = True
        theirs.close()  # else our copy of the worker's end would keep EOF from ever arriving

    def _call(self, op: str, *args: Any) -> Any:
        self.conn.send((op, args))
        status, value = self.conn.recv()
        if status != "ok":
            raise _RAISE.get(status, RuntimeError)(value)
        return value

    def add(self, a: int, b: int) -> int:
        return self._call("add", a, b)

    def hello(self, name: str) -> str:
        return self._call("hello", name)

    def hello_person(self, name: str, age: int) -> tuple[str, int]:
        return self._call("hello_person", name, age)

    def multi_return(self) -> tuple[int, int]:
        return self._call("multi_return")

    def make_array(self, n: int) -> Any:
        return make_f64_array(n)

    def sum(self, xs: Any) -> float:
        return self._call("sum", xs)

    def scale(self, xs: Any, k: float) -> Any:
        return self._call("scale", xs, k)

    def sha256(self, data: bytes) -> bytes:
        return self._call("sha256", data)

    def filter_gt(self, xs: Any, t: float) -> Any:
        return self._call("filter_gt", xs, t)

    def add_many(self, n: int) -> list[int]:
        out: list[int] = []
        for lo in range(0, n, BATCH):
            out += self._call("add_batch", [(i, 1) for i in range(lo, min(n, lo + BATCH))])
        return out

    def close(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass  # the worker is already gone
        self.conn.close()
        self.proc.join(timeout=5)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(timeout=5)


class Pipe(Alternative):
    name = "pipe"
    label = "multiprocessing.Pipe to a Python worker"

    def setup(self) -> None:
        pass  # nothing to build; each session starts its own worker

    def session(self) -> Session:
        return PipeSession()

    def server_pids(self) -> list[int]:
        # Deliberately empty: the workers belong to sessions and die with them, and run.py reads
        # the RSS of every pid it got here after the first session has closed (a dead pid there
        # raises). Their CPU time is therefore not counted as server time.
        return []
