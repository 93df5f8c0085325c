#!/usr/bin/env python3
"""Runs every alternative side by side on the same operations and writes a report.

    python3 benchmarks/run.py [--quick] [--only NAME ...] [--out DIR]

Per operation and alternative: median and p99 latency, calls/s, client and server CPU time. Writes
``results.csv``, ``report.md`` and PNG plots into ``benchmarks/results/<date>-<host>/`` (or --out).
Every result is verified before it is timed; every loop is bounded in count and time; servers listen
on loopback or Unix sockets only and are stopped at the end.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import importlib
import multiprocessing
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from checks import verify  # noqa: E402 - after the path is set
from interleaved import run_interleaved  # noqa: E402
from timing import percentile, samples, timed, timer_overhead, warm_up  # noqa: E402

ALTERNATIVES = [
    ("shmcall", "alternatives.shm", "Shm"),
    ("ctypes", "alternatives.ffi", "Ffi"),
    ("raw", "alternatives.raw", "Raw"),  # the floor, a reference line rather than a competitor
    ("numpy", "alternatives.numpy_local", "Numpy"),
    ("pipe", "alternatives.pipe", "Pipe"),
    ("http", "alternatives.http", "Http"),
    # These two leave threads behind in the runner's process (grpcio one, Go's runtime five, which
    # wake on their own), so they run after everything else timed in this process.
    ("grpc", "alternatives.grpc", "Grpc"),
    ("go", "alternatives.go", "Go"),
    ("shmcall-block", "alternatives.shm", "ShmBlocking"),
]
#: The interleaved comparison (`interleaved.py`) runs before this alternative (or at the end).
INTERLEAVED_BEFORE = "grpc"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_of(pids: list[int]) -> float:
    """User + system CPU seconds of processes (and their threads) so far."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / TICKS


def rss_kib(pid: int) -> int:
    """Resident memory of a process, 0 if it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


#: Seconds of untimed calls before an alternative's first timed operation. The first figures of a
#: fresh process (its threads not yet spread over the cores, caches and branch predictors cold) came
#: out 20-80 % above the same operation timed a second later.
WARM_UP_S = 1.0


def proc_worker(args: tuple) -> float:
    """One client process of a multi-process run, for `seconds`: single add calls (`batch` 0) or
    add_many(batch) batches; returns calls/s over the time it actually took."""
    modname, clsname, state, seconds, batch = args
    cls = getattr(importlib.import_module(modname), clsname)
    alt = cls.__new__(cls)
    alt.__dict__.update(state)
    s = alt.session()
    if batch:
        s.add_many(batch)
    else:
        s.add(1, 1)
    n, start = 0, time.monotonic()
    end = start + seconds
    while time.monotonic() < end:
        if batch:
            s.add_many(batch)
            n += batch
        else:
            for i in range(200):
                s.add(i, 1)
            n += 200
    rate = n / (time.monotonic() - start)
    s.close()
    return rate


def picklable_state(alt: Any) -> dict:
    """What a worker process needs to rebuild the alternative (its paths and ports, no handles)."""
    return {k: v for k, v in vars(alt).items() if isinstance(v, (str, int, float, bytes, type(None), list, tuple, dict))}


def record_batched(name: str, label: str, s: Any, scale: float, rows: list[dict]) -> None:
    """Batched add throughput of one session: add_many(100,000) a few times."""
    batch = 100_000
    c0 = time.perf_counter()
    reps = 0
    while reps < 5 and time.perf_counter() - c0 < 10 * scale:
        s.add_many(batch)
        reps += 1
    per_call = (time.perf_counter() - c0) / (reps * batch) * 1e6
    rows.append(dict(alternative=name, label=label, op="add_many", size=batch, p50_us=per_call, p99_us=per_call,
                     calls_per_s=1e6 / per_call, samples=reps, client_cpu_us=0, server_cpu_us=0))
    print(f"[{name}] add_many       {batch:>11,} {1e6 / per_call:12,.0f} calls/s", flush=True)


PROC_BATCH = 10_000  # calls per add_many in the batched multi-process runs


def record_procs(name: str, alt: Any, mod: str, cls: str, batch: int, scale: float, rows: list[dict],
                 notes: list[str]) -> None:
    """Total add calls/s from 1, 2 and 4 client processes: single calls (`batch` 0, rows "add xN
    procs") or add_many(batch) batches (rows "batched add xN procs"). Each count runs three times,
    in turn with the others, and reports its median: a spell of the VM's slow state then falls on
    every count alike instead of making one look slow (see `record_rounds`)."""
    state = picklable_state(alt)
    ctx = multiprocessing.get_context("fork")
    kind = "batched add" if batch else "add"
    seconds = 1.0 * scale + 0.3
    totals: dict[int, list[float]] = {1: [], 2: [], 4: []}
    for _ in range(3):
        for procs in totals:
            try:
                with ctx.Pool(procs) as pool:
                    totals[procs].append(sum(pool.map(proc_worker, [(mod, cls, state, seconds, batch)] * procs)))
            except Exception as e:  # noqa: BLE001 - reported, the run goes on
                notes.append(f"{name}: {procs}-process {kind} run failed: {e!r}")
    for procs, runs in totals.items():
        if runs:
            total = statistics.median(runs)
            rows.append(dict(alternative=name, label=alt.label, op=f"{kind} x{procs} procs", size=procs, p50_us=1e6 / total,
                             p99_us=0, calls_per_s=total, samples=len(runs), client_cpu_us=0, server_cpu_us=0))
            print(f"[{name}] {procs} processes: {total:12,.0f} {kind} calls/s"
                  f" (runs: {', '.join(f'{r / 1e6:.2f}' for r in runs)} M/s)", flush=True)


def run_alternative(name: str, mod: str, cls: str, quick: bool, big: bool, rows: list[dict], notes: list[str]) -> None:
    try:
        alt = getattr(importlib.import_module(mod), cls)()
    except ImportError as e:
        notes.append(f"{name}: skipped ({e})")
        return
    why = alt.unavailable()
    if why:
        notes.append(f"{name}: skipped ({why})")
        print(f"[{name}] skipped: {why}", flush=True)
        return
    print(f"[{name}] setting up", flush=True)
    alt.setup()
    try:
        s = alt.session()
        missing = verify(s)
        if missing:
            notes.append(f"{name}: not implemented, skipped: {', '.join(sorted(missing))}")
            print(f"[{name}] not implemented, skipped: {', '.join(sorted(missing))}", flush=True)
        servers = alt.server_pids()
        scale = 0.2 if quick else 1.0

        def report(op: str, size: int, p50: float, p99: float, n: int, client_cpu: float, server_cpu: float) -> None:
            rows.append(dict(alternative=name, label=alt.label, op=op, size=size, p50_us=p50, p99_us=p99,
                             calls_per_s=1e6 / p50 if p50 else 0, samples=n,
                             client_cpu_us=client_cpu / n * 1e6, server_cpu_us=server_cpu / n * 1e6))
            print(f"[{name}] {op:<14} {size:>11,} p50 {p50:10.2f} µs  p99 {p99:10.2f} µs", flush=True)

        def record(op: str, size: int, fn: Callable[[], Any], samples: int, budget: float) -> None:
            if op in missing:
                return
            c0, s0 = time.process_time(), cpu_of(servers)
            p50, p99, n = timed(fn, samples_max=max(20, int(samples * scale)), budget_s=budget * scale)
            c1, s1 = time.process_time(), cpu_of(servers)
            report(op, size, p50, p99, n, c1 - c0, s1 - s0)

        def record_rounds(ops: dict[str, Callable[[], Any]], samples_max: int, budget: float, rounds: int = 10) -> None:
            """Times single-value operations in turn, `rounds` times round, with one p50 and p99 per
            operation over all its rounds. This VM has a slow state that comes and goes for seconds
            at a time (the raw floor's `add` 0.4 against 0.6 µs): timed one after another, whichever
            operation it fell on looked 50 % slower than the rest (`add` at 1.00 µs against
            `multi_return`'s 0.56 in one run); in rounds it falls on all of them alike."""
            ops = {op: fn for op, fn in ops.items() if op not in missing}
            taken = {op: [] for op in ops}
            cpu = {op: [0.0, 0.0] for op in ops}
            for fn in ops.values():
                fn()  # one untimed call each
            for _ in range(rounds):
                for op, fn in ops.items():
                    c0, s0 = time.process_time(), cpu_of(servers)
                    taken[op] += samples(fn, max(2, int(samples_max * scale / rounds)), budget * scale / rounds)
                    c1, s1 = time.process_time(), cpu_of(servers)
                    cpu[op][0] += c1 - c0
                    cpu[op][1] += s1 - s0
            for op, xs in taken.items():
                report(op, 1, percentile(xs, 0.5), percentile(xs, 0.99), len(xs), *cpu[op])

        # Each call as a caller holding it makes it: bound once, as in a loop. CPython 3.11 looks up
        # `s.add` fast for a method of the session's class (ctypes') but not for a callable the
        # session keeps as an attribute (shmcall's: `Session`), which cost that ~30 ns a call.
        add, hello, hello_person, multi_return = s.add, s.hello, s.hello_person, s.multi_return
        warm_up(lambda: add(1, 2), WARM_UP_S * scale)
        record_rounds({
            "add": lambda: add(1, 2),
            "hello": lambda: hello("Python"),
            # Arguments written out, as above: star-unpacking a tuple into the method (`*person`, as
            # until 2026-11-24) cost every approach ~0.1 µs more in CPython 3.11.
            "hello_person": lambda: hello_person("xiaoming", 18),
            "multi_return": lambda: multi_return(),  # a lambda, as the timer's overhead
        }, 100_000, 4)
        sizes = [1_000, 1_000_000, 10_000_000] + ([100_000_000] if big else [])
        for n in sizes:
            if not {"sum", "scale"} - missing:
                break  # neither is implemented: no arrays to make
            xs = s.make_array(n)
            reps = 5_000 if n <= 1_000 else 200 if n <= 1_000_000 else 20
            record("sum", n, lambda: s.sum(xs), reps, 6)
            record("scale", n, lambda: s.scale(xs, 1.0), reps, 6)
            del xs
        mib = bytes(range(256)) * 4096
        record("sha256", len(mib), lambda: s.sha256(mib), 500, 4)
        if "filter_gt" not in missing:
            ys = s.make_array(1_000_000)
            record("filter_gt", 1_000_000, lambda: s.filter_gt(ys, 125.0), 200, 6)
            del ys
        if "add_many" not in missing:
            record_batched(name, alt.label, s, scale, rows)
        s.close()
        for batch in (0, PROC_BATCH):
            if ("add_many" if batch else "add") not in missing:
                record_procs(name, alt, mod, cls, batch, scale, rows, notes)
        if servers and "add" not in missing:
            c0 = cpu_of(servers)
            time.sleep(3)
            idle = (cpu_of(servers) - c0) / 3 * 100
            rows.append(dict(alternative=name, label=alt.label, op="idle server CPU %", size=0, p50_us=idle, p99_us=0,
                             calls_per_s=0, samples=1, client_cpu_us=0, server_cpu_us=0))
            print(f"[{name}] idle server CPU {idle:.2f} %", flush=True)
            s2 = alt.session()
            for _ in range(20_000):
                s2.add(1, 2)
            before = [rss_kib(p) for p in servers] + [rss_kib(os.getpid())]
            calls, end = 0, time.monotonic() + 15 * scale
            while calls < 200_000 and time.monotonic() < end:
                for _ in range(1000):
                    s2.add(1, 2)
                calls += 1000
            after = [rss_kib(p) for p in servers] + [rss_kib(os.getpid())]
            s2.close()
            growth = sum(after) - sum(before)
            rows.append(dict(alternative=name, label=alt.label, op="RSS growth KiB", size=calls, p50_us=growth,
                             p99_us=0, calls_per_s=0, samples=1, client_cpu_us=0, server_cpu_us=0))
            print(f"[{name}] RSS growth over {calls} calls after warm-up: {growth} KiB", flush=True)
    finally:
        alt.teardown()


def machine() -> str:
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("model name")), "?")
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    try:  # 4 KiB pages for shared memory under `never`: large array passes a few per cent slower
        shmem = Path("/sys/kernel/mm/transparent_hugepage/shmem_enabled").read_text().split("[")[1].split("]")[0]
    except (OSError, IndexError):
        shmem = "unknown"
    return (f"{os.cpu_count()} vCPU {cpu}; {platform.platform()}; Python {platform.python_version()}; "
            f"numpy {np.__version__}; {rustc}; shared memory huge pages (shmem_enabled): {shmem}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    ap.add_argument("--big", action="store_true", help="also 1e8-element arrays (needs ~3 GB)")
    ap.add_argument("--only", nargs="*", choices=[n for n, _, _ in ALTERNATIVES], metavar="NAME",
                    help=f"alternatives to run, of: {' '.join(n for n, _, _ in ALTERNATIVES)}")
    ap.add_argument("--out", help="output directory")
    args = ap.parse_args()
    stamp = datetime.date.today().isoformat()
    out = Path(args.out) if args.out else HERE / "results" / f"{stamp}-{socket.gethostname()}"
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    notes: list[str] = []
    # Measured once, with nothing else running: measuring it in the gap before the first timed
    # operation of an alternative let that alternative's daemon go idle right before it.
    timer_overhead()
    interleaved = not args.only or {"shmcall", "ctypes"} <= set(args.only)
    for name, mod, cls in ALTERNATIVES:
        if name == INTERLEAVED_BEFORE and interleaved:
            run_interleaved(args.quick, args.big, rows, notes)
            interleaved = False
        if args.only and name not in args.only:
            continue
        if name == "shmcall-block" and not args.only:
            # the client's spin count is fixed at import: the blocking variant runs in its own process
            subprocess.run([sys.executable, __file__, "--only", "shmcall-block", "--out", str(out / "block")]
                           + (["--quick"] if args.quick else []), check=False)
            continue
        try:
            run_alternative(name, mod, cls, args.quick, args.big, rows, notes)
        except Exception as e:  # noqa: BLE001 - one broken alternative must not lose the others
            notes.append(f"{name}: failed: {e!r}")
            print(f"[{name}] FAILED: {e!r}", flush=True)
    if interleaved:
        run_interleaved(args.quick, args.big, rows, notes)
    block_csv = out / "block" / "results.csv"
    if block_csv.exists():
        rows.extend(csv.DictReader(block_csv.open()))
    fields = ["alternative", "label", "op", "size", "p50_us", "p99_us", "calls_per_s", "samples", "client_cpu_us", "server_cpu_us",
              "round_ratio_p50", "round_ratio_q1", "round_ratio_q3"]
    with (out / "results.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    from report import write_report

    write_report(out, rows, notes, machine(), " ".join([Path(sys.argv[0]).name] + sys.argv[1:]))
    print(f"report: {out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
