#!/usr/bin/env python3
"""Kill loop: clients SIGKILLed at random points while two steady clients check every result, then
the daemon's descriptors, threads and memory compared with what they were before.

Each victim is a client process doing one kind of work, killed at a random moment of it:

  idle       connected, one call made, doing nothing
  request    inside long calls (``sleep_ms``)
  response   calls whose results are heap blocks (``repeat_bytes``, ``circle_points``)
  holding    holding daemon-allocated arrays (``zeros``, ``return_int_array`` results)
  alloc      allocating and dropping arrays, some larger than a heap segment
  batch      ``add.map`` of up to 100,000 rows (inline and in shared blocks)
  threads    four threads, each doing one of the kinds above (four channels)

Figures are taken with only the steady clients connected: at first, after a warm-up of every kind
of kill, and at the end, once the daemon's status shows only the steady clients again (it has
noticed every death). Its open descriptors (/proc/PID/fd), threads (/proc/PID/task) and
shared-memory mappings must be the same all three times; its resident and accessible mapped memory
may exceed the warmed-up figures by at most the tolerances below. The steady clients must get every
result right and no error. Exit status 0 when every figure holds, 1 otherwise.

    .venv/bin/python scripts/kill_loop.py                 # 1000 kills, about a minute on 2 cores
    .venv/bin/python scripts/kill_loop.py --kills 50 --seconds 40
    .venv/bin/python scripts/kill_loop.py --socket PATH   # a daemon already running there

Victims are forked from this process, which imports shmcall and numpy once but never connects (a
client does not survive a fork), so a victim starts in milliseconds rather than a fresh
interpreter's 100-200 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # this process forks: keep it single-threaded

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "python"))

import numpy as np  # noqa: E402

import shmcall  # noqa: E402

STEADY_CLIENTS = 2
KINDS = ("idle", "request", "response", "holding", "alloc", "batch", "threads")
# How long after a victim says it is at work it may be killed: long enough to land anywhere in its
# loop (a long call lasts up to 200 ms, the others a few ms), short enough for many kills a second.
KILL_WITHIN_S = {"idle": 0.02, "request": 0.25, "threads": 0.1}
DEFAULT_KILL_WITHIN_S = 0.05
# Kills before the baseline is taken, every kind in turn (below).
WARM_UP_KILLS = 3 * len(KINDS)
READY_TIMEOUT_S = 20.0
SETTLE_TIMEOUT_S = 30.0
# A daemon this script starts runs with the C library's memory caches off: freed memory goes back
# to the system at once (fixed mmap and trim thresholds of 64 KiB) and freed thread stacks are
# unmapped rather than kept for reuse. What it still holds after its clients are gone is then what
# it has not freed, plus the fragmentation of its small allocations: 0.1-1.5 MiB over 300-1000 kills
# here. 4 MiB is 4 KiB a kill over a thousand kills.
MALLOC_WITHOUT_CACHES = (
    "glibc.malloc.mmap_threshold=65536:glibc.malloc.trim_threshold=65536:glibc.pthread.stack_cache_size=0"
)
TIGHT_TOLERANCE = {"rss": 4 << 20, "mapped": 4 << 20}
# A daemon started elsewhere (`--socket`) keeps the C library's caches: up to 8 malloc arenas a core,
# each keeping freed memory up to its trim threshold, which rises with the largest block freed (2-3
# MiB each in this loop), and up to 40 MiB of freed thread stacks. They do not grow with the number
# of kills (300 and 1000 kills end alike), and the next clients reuse them.
LOOSE_TOLERANCE = {"rss": 48 << 20, "mapped": 96 << 20}


# -- the daemon, seen from outside --------------------------------------------------------------


def daemon_binary(given: str | None) -> str:
    for candidate in (given, os.environ.get("SHMCALLD"), str(REPO / "target" / "release" / "shmcalld")):
        if candidate and os.path.isfile(candidate):
            return candidate
    found = shutil.which("shmcalld")
    if found is None:
        sys.exit("no shmcalld: build it (cargo build --release) or pass --daemon")
    return found


def status(binary: str, sock: str) -> dict[str, Any] | None:
    out = subprocess.run([binary, "status", "--socket", sock, "--json"], capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        return None
    report: dict[str, Any] = json.loads(out.stdout)
    return report


def figures(pid: int) -> dict[str, int]:
    """What the daemon holds now: descriptors, threads, resident memory, mapped memory (all
    accessible mappings, and the shared-memory ones among them)."""
    proc = Path(f"/proc/{pid}")
    mapped = shared = 0
    for line in (proc / "maps").read_text().splitlines():
        parts = line.split(maxsplit=5)
        lo, hi = (int(x, 16) for x in parts[0].split("-"))
        if parts[1].startswith("---"):
            continue  # reserved address space (malloc arenas, guard pages): nothing is mapped there
        mapped += hi - lo
        # memfds (the Linux backend), or shared memory objects (the portable backend's shm_open)
        if len(parts) == 6 and parts[5].startswith(("/memfd:", "/dev/shm/")):
            shared += hi - lo
    rss = 0
    for line in (proc / "smaps_rollup").read_text().splitlines():
        if line.startswith("Rss:"):
            rss = int(line.split()[1]) * 1024
    return {
        "fds": len(os.listdir(proc / "fd")),
        "threads": len(os.listdir(proc / "task")),
        "rss": rss,
        "mapped": mapped,
        "shared_mapped": shared,
    }


# -- client work ----------------------------------------------------------------------------------


def steady(sock: str, stop_r: int, report_w: int, seed: int) -> None:
    """A client that keeps calling and checks every result, until `stop_r` becomes readable; then
    writes its counts to `report_w`. Its allocations are small and alike, so its heap and channel
    stay as they were at the baseline."""
    rng = random.Random(seed)
    counts = {"calls": 0, "wrong": 0, "errors": []}

    def check(ok: bool) -> None:
        counts["calls"] += 1
        if not ok:
            counts["wrong"] += 1

    with shmcall.connect(sock, spawn=False) as c:
        i = 0
        while not select.select([stop_r], [], [], 0)[0]:
            try:
                n = rng.randrange(1, 1 << 40)
                check(c.add(n, i) == n + i)
                check(c.hello(str(n)) == f"hello {n}")
                check(c.sum(c.zeros(1000, "i64")) == 0)
                xs = c.asarray(np.arange(10, dtype=np.int64) + n)
                check(c.return_int_array(xs).tolist() == list(range(10)) and xs[0] == n + 9 and xs[9] == n)
                check(c.add.map(np.arange(100), np.full(100, n)).tolist() == list(range(n, n + 100)))
                check(c.repeat_bytes(b"ab", i % 100) == b"ab" * (i % 100))
                if i % 10 == 0:
                    check(c.sleep_ms(2) is None)
            except Exception as e:  # noqa: BLE001 - a steady client reports, never stops, on an error
                counts["errors"].append(f"{type(e).__name__}: {e}")
                if len(counts["errors"]) > 20:
                    break
            i += 1
            time.sleep(0.002)  # leaves the victims some of the two cores
    os.write(report_w, json.dumps(counts).encode())


def work_idle(c: Any, rng: random.Random, ready: Callable[[], None]) -> None:
    assert c.add(1, 2) == 3
    ready()
    time.sleep(3600)


def work_request(c: Any, rng: random.Random, ready: Callable[[], None]) -> None:
    ready()
    while True:
        c.sleep_ms(rng.randrange(20, 200))


def work_response(c: Any, rng: random.Random, ready: Callable[[], None]) -> None:
    ready()
    while True:
        count = rng.randrange(1, 100_000)
        assert len(c.repeat_bytes(b"0123456789abcdef", count)) == 16 * count
        n = rng.randrange(1, 50_000)
        assert len(c.circle_points(n)) == n


def work_holding(c: Any, rng: random.Random, ready: Callable[[], None]) -> None:
    held = [c.zeros(rng.randrange(1, 1 << 20), "f64") for _ in range(rng.randrange(1, 8))]
    held += [c.return_int_array(c.zeros(10, "i64")) for _ in range(rng.randrange(1, 8))]
    held += [c.circle_points(rng.randrange(1000, 50_000)) for _ in range(rng.randrange(1, 4))]
    ready()
    time.sleep(3600)
    del held


def work_alloc(c: Any, rng: random.Random, ready: Callable[[], None]) -> None:
    ready()
    while True:
        # Now and then larger than a whole segment: the daemon makes and announces a new one.
        n = rng.randrange(1, 3 << 20) if rng.random() < 0.05 else rng.randrange(1, 1 << 16)
        a = c.empty(n, "f64")
        a[0] = 1.0
        del a


def work_batch(c: Any, rng: random.Random, ready: Callable[[], None]) -> None:
    ready()
    while True:
        n = rng.randrange(1, 100_000)
        xs = np.arange(n, dtype=np.int64)
        assert c.add.map(xs, xs)[-1] == 2 * (n - 1)


def work_threads(c: Any, rng: random.Random, ready: Callable[[], None]) -> None:
    workers = [WORK[k] for k in ("request", "response", "alloc", "batch")]
    for w in workers:
        seed = rng.random()
        threading.Thread(target=w, args=(c, random.Random(seed), lambda: None), daemon=True).start()
    ready()
    time.sleep(3600)


WORK: dict[str, Callable[[Any, random.Random, Callable[[], None]], None]] = {
    "idle": work_idle,
    "request": work_request,
    "response": work_response,
    "holding": work_holding,
    "alloc": work_alloc,
    "batch": work_batch,
    "threads": work_threads,
}


def victim(kind: str, sock: str, ready_w: int, seed: int) -> None:
    rng = random.Random(seed)
    c = shmcall.connect(sock, spawn=False)
    WORK[kind](c, rng, lambda: os.write(ready_w, b"r") and None)


def fork(target: Callable[..., None], *args: Any) -> int:
    """Runs `target(*args)` in a child process; the child exits 0 when it returns, 1 if it raised."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        target(*args)
        code = 0
    except BaseException:  # noqa: BLE001 - the child's end: reported on stderr
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)


# -- the loop ---------------------------------------------------------------------------------------


@dataclass
class Victim:
    kind: str
    ready_r: int
    started: float
    kill_at: float | None = None


@dataclass
class Tally:
    kills: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    failures: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.kills.values())


def spawn(sock: str, rng: random.Random, kind: str) -> tuple[int, Victim]:
    ready_r, ready_w = os.pipe()
    pid = fork(victim, kind, sock, ready_w, rng.randrange(1 << 30))
    os.close(ready_w)
    return pid, Victim(kind, ready_r, time.monotonic())


def reap(pid: int, v: Victim, tally: Tally, killed: bool) -> None:
    _, status = os.waitpid(pid, 0)
    os.close(v.ready_r)
    if killed and os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
        tally.kills[v.kind] += 1
    else:
        tally.failures.append(f"{v.kind} victim {pid} ended by itself (wait status {status:#x})")


def kill_loop(sock: str, kills: int, until: float, parallel: int, rng: random.Random, every_kind: bool = False) -> Tally:
    """Spawns victims, `parallel` at a time, and kills each at a random moment of its work; with
    `every_kind`, the kinds in turn rather than at random."""
    tally = Tally()
    live: dict[int, Victim] = {}
    spawned = 0
    while (tally.total + len(tally.failures) < kills or live) and (time.monotonic() < until or live):
        while len(live) < parallel and spawned < kills and time.monotonic() < until:
            kind = KINDS[spawned % len(KINDS)] if every_kind else rng.choice(KINDS)
            pid, v = spawn(sock, rng, kind)
            live[pid] = v
            spawned += 1
        waiting = [v.ready_r for v in live.values() if v.kill_at is None]
        select.select(waiting, [], [], 0.005)
        now = time.monotonic()
        for pid, v in list(live.items()):
            if v.kill_at is None:
                if select.select([v.ready_r], [], [], 0)[0]:
                    v.kill_at = now + rng.uniform(0, KILL_WITHIN_S.get(v.kind, DEFAULT_KILL_WITHIN_S))
                elif os.waitpid(pid, os.WNOHANG)[0] == pid:
                    os.close(v.ready_r)
                    tally.failures.append(f"{v.kind} victim {pid} exited before it was at work")
                    del live[pid]
                    continue
                elif now - v.started > READY_TIMEOUT_S:
                    tally.failures.append(f"{v.kind} victim {pid} not at work after {READY_TIMEOUT_S} s")
                    v.kill_at = now
            if v.kill_at is not None and (v.kill_at <= now or now >= until):
                os.kill(pid, signal.SIGKILL)
                reap(pid, v, tally, killed=True)
                del live[pid]
    return tally


def settle(binary: str, sock: str, pid: int, baseline: dict[str, int]) -> tuple[dict[str, int], float]:
    """Waits until the daemon has noticed every death (its status counts only the steady clients)
    and its threads have ended; returns the figures then and how long that took."""
    start = time.monotonic()
    deadline = start + SETTLE_TIMEOUT_S
    while time.monotonic() < deadline:
        report = status(binary, sock)
        if report is not None and report["clients"] == STEADY_CLIENTS:
            break
        time.sleep(0.05)
    # A connection's thread ends just after the status stops counting it.
    now = figures(pid)
    while time.monotonic() < deadline and (now["threads"], now["fds"]) != (baseline["threads"], baseline["fds"]):
        time.sleep(0.05)
        now = figures(pid)
    return now, time.monotonic() - start


def verdicts(cold: dict[str, int], before: dict[str, int], after: dict[str, int], tolerance: dict[str, int]) -> list[str]:
    """Every figure that is off, in words: the exact ones against the daemon before any client
    died, the others against the daemon after the warm-up."""
    off = []
    for name in ("fds", "threads", "shared_mapped"):
        if not cold[name] == before[name] == after[name]:
            off.append(f"{name}: {cold[name]} at first, {before[name]} after the warm-up, {after[name]} at the end")
    for name, allowed in tolerance.items():
        if after[name] > before[name] + allowed:
            off.append(f"{name}: grew by {after[name] - before[name]} bytes (tolerance {allowed})")
    return off


def start_daemon(binary: str, sock: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "GLIBC_TUNABLES": MALLOC_WITHOUT_CACHES}
    proc = subprocess.Popen([binary, "serve", "--socket", sock], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env)
    deadline = time.monotonic() + 20
    while status(binary, sock) is None:
        if proc.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"the daemon did not start on {sock}")
        time.sleep(0.05)
    return proc


def mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


def print_figures(result: dict[str, Any]) -> None:
    b, a = result["before"], result["after"]
    print(f"warm-up      {WARM_UP_KILLS} kills, every kind in turn, before the baseline")
    print(f"kills        {result['kills_total']} in {result['seconds']:.1f} s: "
          + ", ".join(f"{k} {n}" for k, n in result["kills"].items()))
    print(f"steady       {result['calls_verified']} calls verified, {result['wrong']} wrong, "
          f"{len(result['errors'])} errors")
    print(f"settled in   {result['settle_s']:.2f} s (status back to {STEADY_CLIENTS} clients)")
    c = result["cold"]
    print(f"{'':13} {'at first':>12} {'warmed up':>12} {'at the end':>12}")
    for name in ("fds", "threads"):
        print(f"{name:13} {c[name]:>12} {b[name]:>12} {a[name]:>12}")
    for name in ("rss", "mapped", "shared_mapped"):
        allowed = result["tolerance"].get(name, 0)
        print(f"{name:13} {mib(c[name]):>12} {mib(b[name]):>12} {mib(a[name]):>12}   (+{mib(allowed)} allowed)")
    for line in result["failures"] + result["errors"] + result["off"]:
        print(f"FAIL {line}")
    print("ok" if result["ok"] else "NOT OK")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=1000, help="victims to kill (default 1000)")
    ap.add_argument("--seconds", type=float, default=900.0, help="stop killing after this long (default 900)")
    ap.add_argument("--socket", help="a running daemon's socket, or where to start one (default: a temporary one)")
    ap.add_argument("--daemon", help="the shmcalld to start (default $SHMCALLD, then the checkout's release build)")
    ap.add_argument("--parallel", type=int, default=2, help="victims alive at once (default 2)")
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: from the clock, printed)")
    ap.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else int(time.time())
    rng = random.Random(seed)
    binary = daemon_binary(args.daemon)
    tmp = None
    sock = args.socket
    if sock is None:
        tmp = tempfile.mkdtemp(prefix="shmcall-kill-loop-")
        sock = os.path.join(tmp, "shmcalld.sock")
    started = None if status(binary, sock) else start_daemon(binary, sock)
    try:
        return run(args, binary, sock, seed, rng, TIGHT_TOLERANCE if started else LOOSE_TOLERANCE)
    finally:
        if started is not None:
            subprocess.run([binary, "stop", "--socket", sock], capture_output=True, timeout=60)
            started.wait(timeout=30)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def run(args: argparse.Namespace, binary: str, sock: str, seed: int, rng: random.Random,
        tolerance: dict[str, int]) -> int:
    first = status(binary, sock)
    assert first is not None
    pid = first["pid"]
    if first["clients"]:
        sys.exit(f"the daemon on {sock} has {first['clients']} clients: the figures need it to itself")
    print(f"daemon pid {pid} on {sock}, seed {seed}")
    stop_r, stop_w = os.pipe()
    steadies = []
    for k in range(STEADY_CLIENTS):
        report_r, report_w = os.pipe()
        steadies.append((fork(steady, sock, stop_r, report_w, seed + k), report_r))
        os.close(report_w)
    # Baseline once both steady clients are at work and the daemon has made their threads.
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while (report := status(binary, sock)) is None or report["channels"] < STEADY_CLIENTS:
        if time.monotonic() > deadline:
            sys.exit("the steady clients did not connect")
        time.sleep(0.05)
    time.sleep(1.0)
    cold = figures(pid)
    warm_up = kill_loop(sock, WARM_UP_KILLS, time.monotonic() + 60, args.parallel, rng, every_kind=True)
    before, _ = settle(binary, sock, pid, cold)
    start = time.monotonic()
    tally = kill_loop(sock, args.kills, start + args.seconds, args.parallel, rng)
    seconds = time.monotonic() - start
    after, settle_s = settle(binary, sock, pid, before)
    os.write(stop_w, b"s")
    counts = [steady_report(spid, report_r) for spid, report_r in steadies]
    result = {
        "seed": seed,
        "warm_up_kills": warm_up.kills,
        "kills": tally.kills,
        "kills_total": tally.total,
        "seconds": seconds,
        "calls_verified": sum(c["calls"] for c in counts) - sum(c["wrong"] for c in counts),
        "wrong": sum(c["wrong"] for c in counts),
        "errors": [e for c in counts for e in c["errors"]],
        "failures": warm_up.failures + tally.failures,
        "settle_s": settle_s,
        "cold": cold,
        "before": before,
        "after": after,
        "tolerance": tolerance,
        "off": verdicts(cold, before, after, tolerance),
    }
    result["ok"] = not (result["wrong"] or result["errors"] or result["failures"] or result["off"])
    print_figures(result)
    if args.json:
        print(json.dumps(result))
    return 0 if result["ok"] else 1


def steady_report(pid: int, report_r: int) -> dict[str, Any]:
    _, status_ = os.waitpid(pid, 0)
    data = b""
    while chunk := os.read(report_r, 1 << 16):
        data += chunk
    os.close(report_r)
    if not data:
        return {"calls": 0, "wrong": 0, "errors": [f"steady client {pid} reported nothing (wait status {status_:#x})"]}
    report: dict[str, Any] = json.loads(data)
    return report


if __name__ == "__main__":
    sys.exit(main())
