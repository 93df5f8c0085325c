"""The floor, not a competitor: the least a call through shared memory can cost a pure-Python client.

A tiny Rust process (``benchmarks/servers/src/bin/raw_echo.rs``) busy-polls a file in /dev/shm
holding one request and one response cache line per client slot. A call is ``struct.pack_into`` of
the arguments, one aligned 8-byte store of the request's sequence number, and a spin on the
response's sequence word, then one ``unpack_from``: no protocol, registry, heap, per-call timeout
or sleeping. A pure-Python client can hardly do less, so whatever shmcall costs above this line is
its protocol and its features. Only ``add`` and ``multi_return`` exist; every other operation
raises NotImplementedError and the runner skips it.

Stores from Python are ordered only by the CPU (the client cannot issue a fence), which is enough on
x86-64, whose stores become visible in program order; elsewhere this alternative reports itself
unavailable.
"""

from __future__ import annotations

import itertools
import mmap
import os
import platform
import select
import shutil
import struct
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from .base import Alternative, Session
from .http import build_server, stop_server

LINE = 64
SLOTS = 8  # client sessions at once: the runner's 4 worker processes and its own, with room to spare
OP_ADD, OP_MULTI_RETURN = 1, 2
SPINS = range(2_000)  # polls (~0.1 ms) before a waiting client yields its core at every poll
TIMEOUT_S = 10.0  # a dead echo process must fail the run, not hang it
ADD_ARGS = struct.Struct("<Qqq")  # op, a, b ("<" still packs each word with one native store)
OP = struct.Struct("<Q")
ADD_RESULT = struct.Struct("<Qq")  # status, r0
PAIR_RESULT = struct.Struct("<Qqq")  # status, r0, r1


def _calls(buf: memoryview, words: memoryview, slot: int) -> tuple[Callable[..., int], Callable[..., tuple[int, int]]]:
    """add and multi_return on one slot, as closures over the mapping: a call looks nothing up on an
    object, so what is timed is the shared-memory round trip and the Python it cannot avoid."""
    req, resp = LINE * (1 + 2 * slot), LINE * (2 + 2 * slot)
    req_seq, resp_seq = req // 8, resp // 8
    next_seq = itertools.count(words[resp_seq] + 1).__next__  # a slot's sequence outlives sessions
    add_args, op_into = ADD_ARGS.pack_into, OP.pack_into
    add_result, pair_result = ADD_RESULT.unpack_from, PAIR_RESULT.unpack_from
    spins = SPINS

    def wait(seq: int) -> None:
        """The slow path, after the spin: yield the core (more clients than cores), then give up."""
        deadline = time.monotonic() + TIMEOUT_S
        while words[resp_seq] != seq:
            os.sched_yield()
            if time.monotonic() > deadline:
                raise TimeoutError(f"raw_echo did not answer within {TIMEOUT_S} s")

    def add(a: int, b: int) -> int:
        add_args(buf, req + 8, OP_ADD, a, b)  # out of i64 range: struct.error, before anything is sent
        seq = next_seq()
        words[req_seq] = seq  # one aligned 8-byte store, the last: the request is complete
        for _ in spins:
            if words[resp_seq] == seq:
                break
        else:
            wait(seq)
        status, r = add_result(buf, resp + 8)
        if status:
            raise OverflowError(f"integer overflow: {a} + {b}")
        return r

    def multi_return() -> tuple[int, int]:
        op_into(buf, req + 8, OP_MULTI_RETURN)
        seq = next_seq()
        words[req_seq] = seq
        for _ in spins:
            if words[resp_seq] == seq:
                break
        else:
            wait(seq)
        status, r0, r1 = pair_result(buf, resp + 8)
        if status:
            raise RuntimeError(f"raw_echo status {status}")
        return r0, r1

    return add, multi_return


def _claim(ring: Path) -> tuple[int, Path]:
    """A free slot, claimed by creating its marker file (O_EXCL: one owner across processes)."""
    for slot in range((ring.stat().st_size // LINE - 1) // 2):
        marker = ring.with_name(f"slot{slot}")
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            continue
        return slot, marker
    raise RuntimeError(f"all slots of {ring} are in use")


class RawSession(Session):
    """add and multi_return are bound per instance in __init__ (the calls themselves, shadowing the
    methods below, which only forward to them)."""

    def __init__(self, ring: Path) -> None:
        self.slot, self.marker = _claim(ring)
        with open(ring, "r+b") as f:
            self.map = mmap.mmap(f.fileno(), 0)
        self.buf = memoryview(self.map)
        self.words = self.buf.cast("Q")  # indexing loads/stores one native 8-byte word
        self.add, self.multi_return = _calls(self.buf, self.words, self.slot)

    def add(self, a: int, b: int) -> int:
        return self.add(a, b)

    def multi_return(self) -> tuple[int, int]:
        return self.multi_return()

    def _missing(self, *_: Any) -> Any:
        raise NotImplementedError("the raw floor implements add and multi_return only")

    hello = hello_person = make_array = sum = scale = sha256 = filter_gt = _missing

    def add_many(self, n: int) -> list[int]:
        """Not implemented on purpose: a loop of single calls is not a floor for batched calls."""
        raise NotImplementedError("the raw floor has no batched calls")

    def close(self) -> None:
        self.words.release()
        self.buf.release()
        self.map.close()
        self.marker.unlink(missing_ok=True)


class Raw(Alternative):
    name = "raw"
    label = "raw mmap echo: the floor for a pure-Python client (reference, not a competitor)"
    dir = ""

    def unavailable(self) -> str | None:
        if platform.machine() not in ("x86_64", "AMD64"):
            return f"needs x86-64 store ordering (this is {platform.machine()})"
        if not os.path.isdir("/dev/shm"):
            return "no /dev/shm"
        return None

    def setup(self) -> None:
        exe = build_server("raw_echo")
        try:
            self._start(exe)
        except BaseException:
            self.teardown()  # the runner tears down only what set up completely
            raise

    def _start(self, exe: Path) -> None:
        self.dir = tempfile.mkdtemp(dir="/dev/shm", prefix="shmcall-bench-raw-")
        self.ring = os.path.join(self.dir, "ring")
        with open(self.ring, "xb") as f:
            f.truncate(LINE * (1 + 2 * SLOTS))
        # stdin stays a pipe from us: the echo process exits when it closes, even if we die.
        self.proc = subprocess.Popen([str(exe), self.ring], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline() if ready else b""
        if line != b"READY\n":
            raise RuntimeError(f"raw_echo did not start: {line!r}, exit {self.proc.poll()}")

    def session(self) -> Session:
        return RawSession(Path(self.ring))

    def teardown(self) -> None:
        stop_server(getattr(self, "proc", None))
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def server_pids(self) -> list[int]:
        return [self.proc.pid]
