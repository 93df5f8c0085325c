#!/usr/bin/env python3
"""The layout experiment: what one call's cache-line layout costs a pure-Python client, apart from
any protocol work. Times the same busy-polled `add` echo (``servers/src/bin/layout_echo.rs``) over
three layouts, interleaved in one process, and repeats that with a fresh server and client process
each round, because this VM runs a whole process at one of two speeds (docs/performance-notes.md):

- one line each way: the raw floor (sequence word beside the arguments, and beside the result);
- protocol v1: ``req_seq`` and ``resp_seq`` on lines of their own, the slot's header and data on
  others, so each direction is two dependent line transfers;
- the sequence word in the slot's first line, beside the header and the inline data;
- the sequence word in the slot's header line, the data in the next line (a 128-byte pair).

    python3 benchmarks/layout.py [--rounds N]
"""

from __future__ import annotations

import argparse
import itertools
import mmap
import os
import platform
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from alternatives.http import build_server, stop_server  # noqa: E402 - after the path is set

LINES = 17
CALLS_PER_BLOCK, BLOCKS = 5_000, 60


def _calls(buf: memoryview, w: memoryview) -> dict:
    """The three layouts' add(a, b), as closures over the mapping (see layout_echo.rs for the words)."""
    one_args, one_res = struct.Struct("<qq").pack_into, struct.Struct("<Qq").unpack_from
    v1_req = struct.Struct("<IIQ" + "x" * 48 + "qq").pack_into
    v1_res = struct.Struct("<QQ" + "x" * 48 + "q").unpack_from
    in_req, in_res = struct.Struct("<IIqq").pack_into, struct.Struct("<QQq").unpack_from
    next_req = struct.Struct("<II" + "x" * 48 + "qq").pack_into
    next_res = struct.Struct("<QQ" + "x" * 48 + "q").unpack_from
    seqs = [itertools.count(1).__next__ for _ in range(4)]

    def one_line(a: int, b: int) -> int:
        one_args(buf, 8, a, b)
        seq = seqs[0]()
        w[0] = seq
        while w[8] != seq:
            pass
        return one_res(buf, 80)[1]

    def v1(a: int, b: int) -> int:
        seq = seqs[1]()
        v1_req(buf, 256, 0, 16, seq, a, b)
        w[16] = seq
        while w[24] != seq:
            pass
        return v1_res(buf, 384)[2]

    def seq_in_slot(a: int, b: int) -> int:
        seq = seqs[2]()
        in_req(buf, 648, 0, 16, a, b)
        w[80] = seq
        while w[88] != seq:
            pass
        return in_res(buf, 704)[2]

    def seq_in_header(a: int, b: int) -> int:
        seq = seqs[3]()
        next_req(buf, 776, 0, 16, a, b)
        w[96] = seq
        while w[112] != seq:
            pass
        return next_res(buf, 896)[2]

    return {"one line (raw floor)": one_line, "protocol v1": v1, "seq in the slot": seq_in_slot,
            "seq in the header": seq_in_header}


def one_round(exe: Path) -> dict[str, float]:
    """Median ns per call of each layout, with a fresh server process."""
    with tempfile.TemporaryDirectory(dir="/dev/shm", prefix="shmcall-layout-") as d:
        path = os.path.join(d, "ring")
        with open(path, "xb") as f:
            f.truncate(LINES * 64)
        proc = subprocess.Popen([str(exe), path], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            if proc.stdout.readline() != b"READY\n":
                raise RuntimeError("layout_echo did not start")
            with open(path, "r+b") as f:
                mm = mmap.mmap(f.fileno(), 0)
            buf = memoryview(mm)
            w = buf.cast("Q")
            calls = _calls(buf, w)
            for name, fn in calls.items():
                assert fn(2, 3) == 5 and fn(-7, 2) == -5, name
            times: dict[str, list[float]] = {k: [] for k in calls}
            names = list(calls)
            deadline = time.monotonic() + 60
            for block in range(BLOCKS):
                for name in names if block % 2 == 0 else reversed(names):
                    fn = calls[name]
                    t0 = time.perf_counter_ns()
                    for _ in range(CALLS_PER_BLOCK):
                        fn(1, 2)
                    times[name].append((time.perf_counter_ns() - t0) / CALLS_PER_BLOCK)
                if time.monotonic() > deadline:
                    break
            w.release()
            buf.release()
            mm.close()
            return {k: statistics.median(v) for k, v in times.items()}
        finally:
            stop_server(proc)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=6, help="fresh server and client processes (default 6)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if platform.machine() not in ("x86_64", "AMD64"):
        print(f"needs x86-64 store ordering (this is {platform.machine()})")
        return 1
    exe = build_server("layout_echo")
    if args.child:
        print(" ".join(f"{v:.0f}" for v in one_round(exe).values()))
        return 0
    print(f"ns per add call, median of {BLOCKS} interleaved blocks of {CALLS_PER_BLOCK:,}; one line per fresh process")
    print(f"{'one line (raw floor)':>22} {'protocol v1':>12} {'seq in the slot':>16} {'seq in header':>14} {'v1 - seq in slot':>17}")
    for _ in range(args.rounds):
        out = subprocess.run([sys.executable, __file__, "--child"], capture_output=True, text=True, check=True, timeout=300)
        one, v1, inslot, inheader = (float(x) for x in out.stdout.split())
        print(f"{one:22.0f} {v1:12.0f} {inslot:16.0f} {inheader:14.0f} {v1 - inslot:17.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
