"""Small calls of two checkouts side by side: is a change neutral for the call path?

    python benchmarks/compare.py OLD_CHECKOUT NEW_CHECKOUT [--rounds N] [--old-daemon BIN] [--new-daemon BIN]

Each checkout's own daemon (`target/release/shmcalld`, built beforehand, or the binary `--old-daemon` /
`--new-daemon` names) and own Python package are run in a process of their own, in alternating rounds
(A B B A ...), so that the VM's drift hits both alike. The two scheduling designs over the same code,
a thread per channel against the readiness set and its worker pool:

    cargo build --release --features thread-workers --target-dir target/thread-workers
    python benchmarks/compare.py . . --old-daemon target/thread-workers/release/shmcalld

Prints, per call (small calls, then text of 4 KiB, a nested struct, in-out values, an optional result),
each side's median over rounds of the per-round median and the ratio NEW / OLD; then
batched calls as README makes them (`add.map` of 10,000 and 100,000 rows, µs a call; and M calls/s of
two processes each making `add.map(...).tolist()` of 10,000 rows, as the benchmark suite's batched row
does), `connect` (µs to connect to the running daemon), `first add, extra` (µs the first call of `add`
costs a new client more than its later ones) and `first add, cold` (the same for the process's first
client). Needs numpy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

# Runs inside each side's process: times the calls as README shows them, returns µs per call.
_CHILD = r"""
import json, os, statistics, time, types
import numpy as np
import shmcall
CALLS = 2000


# M calls/s of one process's `add.map(...).tolist()` batches for `seconds`.
def batched_rate(path, rows, seconds):
    a, ones = np.arange(rows, dtype=np.int64), np.ones(rows, dtype=np.int64)
    with shmcall.connect(path, spawn=False) as k:
        k.add.map(a, ones).tolist()
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            k.add.map(a, ones).tolist()
            n += rows
        return n / (time.perf_counter() - start) / 1e6


# Two client processes' batched calls together (forked before they connect), M calls/s.
def two_processes(path, rows=10_000, seconds=1.0):
    pipes = []
    for _ in range(2):
        r, w = os.pipe()
        if os.fork() == 0:
            os.close(r)
            os.write(w, repr(batched_rate(path, rows, seconds)).encode())
            os._exit(0)
        os.close(w)
        pipes.append(r)
    total = 0.0
    for r in pipes:
        total += float(os.read(r, 64))
        os.close(r)
    for _ in pipes:
        os.wait()
    return total
with shmcall.connect() as c:
    # The first call of add in this process (its channel opened beforehand by a ping), over its later ones.
    c.ping()
    t = time.perf_counter_ns(); c.add(1, 2); cold = time.perf_counter_ns() - t
    t = time.perf_counter_ns(); c.add(1, 2); cold -= time.perf_counter_ns() - t
    xs = c.empty(64, "f64"); c.prng_fill(xs, 1)
    P = c.types.Person
    text, r, ints = "x" * 4096, c.ref("i64", 1), c.asarray(np.arange(64, dtype=np.int64))
    team = c.types.Team("core", P("ada", 36), (1, 2, 3), b"ship it")
    # The f64 sum called directly: the function `sum_f64` where sum is a name-suffix family, the
    # generic sum's f64 overload where sum is one generic function.
    f64 = getattr(c, "sum_f64", None) or types.MethodType(c.sum.overloads["f64"], c)
    ops = {
        "add": lambda: c.add(1, 2),
        "hello": lambda: c.hello("Python"),
        "hello_person": lambda: c.hello_person(("xiaoming", 18)),
        "sum_f64 (64)": lambda: f64(xs),
        "sum (64)": lambda: c.sum(xs),
        "hello (4 KiB)": lambda: c.hello(text),
        "describe_team": lambda: c.describe_team(team),
        "change_int": lambda: c.change_int(r),
        "expand_slice (new Vec)": lambda: c.expand_slice(c.vec("i64", [1, 2])),
        "index_of (64)": lambda: c.index_of(ints, 7),
    }
    out = {}
    for name, op in ops.items():
        for _ in range(200):
            op()
        best = []
        for _ in range(5):
            t = time.perf_counter_ns()
            for _ in range(CALLS):
                op()
            best.append((time.perf_counter_ns() - t) / CALLS / 1000)
        out[name] = statistics.median(best)
    for rows in (10_000, 100_000):
        a, ones = np.arange(rows, dtype=np.int64), np.ones(rows, dtype=np.int64)
        for _ in range(20):
            c.add.map(a, ones)
        times = []
        for _ in range(5):
            t = time.perf_counter_ns()
            for _ in range(20):
                c.add.map(a, ones)
            times.append((time.perf_counter_ns() - t) / 20 / 1000)
        out[f"add.map {rows:,} (µs)"] = statistics.median(times)
    out["2 procs batched (M/s)"] = two_processes(c.socket_path)
    # Connecting to the running daemon, and what the first call of add costs a new client more than
    # its later calls (its thread's channel opened beforehand by a ping).
    connects, first = [], []
    for _ in range(40):
        t = time.perf_counter_ns()
        k = shmcall.connect(c.socket_path, spawn=False)
        connects.append((time.perf_counter_ns() - t) / 1000)
        k.ping()
        t = time.perf_counter_ns(); k.add(1, 2); once = time.perf_counter_ns() - t
        later = []
        for _ in range(20):
            t = time.perf_counter_ns(); k.add(1, 2); later.append(time.perf_counter_ns() - t)
        first.append((once - statistics.median(later)) / 1000)
        k.close()
    out["connect"] = statistics.median(connects)
    out["first add, extra"] = statistics.median(first)
    out["first add, cold"] = cold / 1000
    print(json.dumps(out))
"""


def _run(checkout: Path, daemon: Path | None, side: str) -> dict[str, float]:
    daemon = daemon or checkout / "target/release/shmcalld"
    env = dict(os.environ, PYTHONPATH=str(checkout / "python"), SHMCALLD=str(daemon.resolve()))
    env["SHMCALL_SOCKET"] = f"/tmp/shmcall-compare-{os.getpid()}-{side}.sock"
    res = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--old-daemon", type=Path, help="the old side's daemon binary (default: its checkout's)")
    ap.add_argument("--new-daemon", type=Path, help="the new side's daemon binary (default: its checkout's)")
    args = ap.parse_args()
    results: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
    order = ["old", "new"]
    for r in range(args.rounds):
        for side in order if r % 2 == 0 else order[::-1]:
            results[side].append(_run(getattr(args, side).resolve(), getattr(args, f"{side}_daemon"), side))
    names = list(results["old"][0])
    print(f"{'call (µs unless named)':<26}{'old':>10}{'new':>10}{'new/old':>10}")
    for name in names:
        old = statistics.median(r[name] for r in results["old"])
        new = statistics.median(r[name] for r in results["new"])
        print(f"{name:<26}{old:>10.3f}{new:>10.3f}{new / old:>10.3f}")


if __name__ == "__main__":
    main()
