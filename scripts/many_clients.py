#!/usr/bin/env python3
"""Many clients at once: N client processes connected to one daemon together, each making verified
calls and then staying connected, idle. Prints the daemon's threads (/proc/PID/task) while they
are connected, its resident memory per idle client, and the `add` p50 of one steady client measured
before the crowd connects and while it is connected. Exit status 0 when every call was right and
the daemon's threads stayed within cores + 8 (a daemon of the portable POSIX backend, which has a
thread per socket and per channel, two per client: within cores + 8 + two per client), 1 otherwise.

    .venv/bin/python scripts/many_clients.py                       # 1000 clients
    .venv/bin/python scripts/many_clients.py --clients 150 --json
    .venv/bin/python scripts/many_clients.py --compare OLD_BINARY  # the same run against another build

The design the readiness set replaced (a thread per channel and per connection), built from the same
code: `cargo build --release --features thread-workers --target-dir target/thread-workers`, then
`--compare target/thread-workers/release/shmcalld`. Batched calls of the two designs:
`benchmarks/compare.py`.

Clients are forked from this process, which imports shmcall once but never connects (a client
does not survive a fork), so a client starts in milliseconds rather than a fresh interpreter's
100-200 ms. The run is bounded by --seconds: past it, the clients still missing count as failures.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "python"))

import shmcall  # noqa: E402
from shmcall import _transport  # noqa: E402
from kill_loop import fork  # noqa: E402 - beside this script: a child process per client, as there

THREADS_ALLOWED_OVER_CORES = 8
STEADY_CALLS = 20000


def default_binary() -> str:
    return os.environ.get("SHMCALLD") or str(REPO / "target" / "release" / "shmcalld")


def crowd_client(sock: str, calls: int, seed: int, report_w: int, stop_r: int, stop_w: int, cmd_w: int) -> None:
    """Connects, makes `calls` verified `add`s, reports, then stays connected until `stop_r` closes."""
    os.close(stop_w)  # else the stop pipe never reads end-of-file
    os.close(cmd_w)  # nor the steady client's commands
    rng = random.Random(seed)
    wrong = 0
    try:
        c = shmcall.connect(sock, spawn=False)
        for _ in range(calls):
            a, b = rng.randrange(-2**31, 2**31), rng.randrange(-2**31, 2**31)
            wrong += c.add(a, b) != a + b
        line = f"{os.getpid()} {calls - wrong} {wrong}\n"
    except Exception as e:  # noqa: BLE001 - reported to the parent, which counts it as a failure
        line = f"{os.getpid()} error {type(e).__name__}: {e}"[:400].replace("\n", " ") + "\n"
        c = None
    os.write(report_w, line.encode())
    os.read(stop_r, 1)  # end-of-file: the run is over
    if c is not None:
        c.close()


def steady_client(sock: str, cmd_r: int, cmd_w: int, reply_w: int, stop_w: int) -> None:
    """On each byte from `cmd_r`, makes STEADY_CALLS timed `add`s and replies with their p50 and p99;
    ends when `cmd_r` reads end-of-file."""
    os.close(stop_w)
    os.close(cmd_w)
    c = shmcall.connect(sock, spawn=False)
    assert c.add(1, 2) == 3
    while os.read(cmd_r, 1):
        times = []
        for i in range(STEADY_CALLS):
            t = time.perf_counter_ns()
            r = c.add(i, 1)
            times.append(time.perf_counter_ns() - t)
            assert r == i + 1
        times.sort()
        reply = {"p50_us": times[len(times) // 2] / 1000, "p99_us": times[len(times) * 99 // 100] / 1000}
        os.write(reply_w, (json.dumps(reply) + "\n").encode())
    c.close()


def read_line(fd: int, timeout: float) -> str:
    buf = b""
    deadline = time.monotonic() + timeout
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise TimeoutError("no reply")
        chunk = os.read(fd, 4096)
        if not chunk:
            raise EOFError("closed")
        buf += chunk
    return buf.decode()


def daemon_figures(pid: int) -> dict[str, int]:
    proc = Path(f"/proc/{pid}")
    rss = 0
    for line in (proc / "smaps_rollup").read_text().splitlines():
        if line.startswith("Rss:"):
            rss = int(line.split()[1]) * 1024
    return {"threads": len(os.listdir(proc / "task")), "rss": rss}


def run(binary: str, clients: int, calls: int, seconds: float, seed: int, serve_args: list[str]) -> dict[str, Any]:
    """One daemon, the steady client, then the crowd; the figures."""
    tmp = Path(tempfile.mkdtemp(prefix="shmcall-many-"))
    sock = str(tmp / "d.sock")
    log = open(tmp / "d.log", "wb")
    daemon = subprocess.Popen([binary, "serve", "--socket", sock, "--max-connections-per-uid", str(clients + 16),
                               *serve_args], stdout=log, stderr=subprocess.STDOUT)
    children: list[int] = []
    result: dict[str, Any] = {"binary": binary, "clients": clients, "cores": os.cpu_count()}
    stop_r, stop_w = os.pipe()
    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(sock):
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"daemon did not start: {(tmp / 'd.log').read_text()}")
            time.sleep(0.01)
        probe = _transport.connect(sock)
        result["transport"] = probe.kind
        probe.close()
        cmd_r, cmd_w = os.pipe()
        reply_r, reply_w = os.pipe()
        children.append(fork(steady_client, sock, cmd_r, cmd_w, reply_w, stop_w))
        os.write(cmd_w, b"m")
        result["before"] = json.loads(read_line(reply_r, 120))
        idle = daemon_figures(daemon.pid)
        report_r, report_w = os.pipe()
        started = time.monotonic()
        end = started + seconds
        for k in range(clients):
            children.append(fork(crowd_client, sock, calls, seed + k, report_w, stop_r, stop_w, cmd_w))
        os.close(report_w)
        ok = wrong = 0
        errors: list[str] = []
        max_threads = 0
        pending = b""
        reported = 0
        while reported < clients and time.monotonic() < end:
            max_threads = max(max_threads, daemon_figures(daemon.pid)["threads"])
            if not select.select([report_r], [], [], 0.05)[0]:
                continue
            chunk = os.read(report_r, 65536)
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                reported += 1
                parts = line.decode().split(" ", 2)
                if parts[1] == "error":
                    errors.append(parts[2])
                else:
                    ok, wrong = ok + int(parts[1]), wrong + int(parts[2])
        result["connect_s"] = time.monotonic() - started
        time.sleep(0.5)  # the crowd idle, connected
        crowd = daemon_figures(daemon.pid)
        max_threads = max(max_threads, crowd["threads"])
        os.write(cmd_w, b"m")
        result["during"] = json.loads(read_line(reply_r, 120))
        max_threads = max(max_threads, daemon_figures(daemon.pid)["threads"])
        result.update({
            "reported": reported, "calls_ok": ok, "wrong": wrong, "errors": errors[:10], "error_count": len(errors),
            "threads_idle": idle["threads"], "threads_max": max_threads,
            "rss_per_client": (crowd["rss"] - idle["rss"]) / clients,
        })
        os.close(cmd_w)
    finally:
        os.close(stop_w)  # every client closes and exits
        for pid in children:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        os.close(stop_r)
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def thread_limit(r: dict[str, Any]) -> int:
    """The most daemon threads allowed: cores + 8 for the Linux backend's worker pool, whatever the
    clients; the portable backend (a stream socket) has a thread per socket and per channel on top,
    two per client (the steady one included)."""
    per_client = 2 if r["transport"] == "stream" else 0
    return r["cores"] + THREADS_ALLOWED_OVER_CORES + per_client * (r["clients"] + 1)


def verdict(r: dict[str, Any], calls: int) -> list[str]:
    off = []
    limit = thread_limit(r)
    if r["threads_max"] > limit:
        off.append(f"threads: {r['threads_max']} at most, over the {r['transport']} daemon's limit {limit}")
    if r["reported"] < r["clients"] or r["error_count"]:
        off.append(f"clients: {r['reported']} of {r['clients']} reported, {r['error_count']} failed: {r['errors']}")
    if r["wrong"] or r["calls_ok"] != r["reported"] * calls - r["error_count"] * calls:
        off.append(f"calls: {r['calls_ok']} right, {r['wrong']} wrong")
    return off


def show(name: str, r: dict[str, Any]) -> None:
    print(f"{name}: {r['binary']}")
    print(f"  clients       {r['reported']} of {r['clients']} connected and verified in {r['connect_s']:.1f} s "
          f"({r['calls_ok']} calls right, {r['wrong']} wrong, {r['error_count']} failed)")
    print(f"  threads       {r['threads_idle']} with one client, {r['threads_max']} at most with the crowd "
          f"(cores {r['cores']}, {r['transport']} transport)")
    print(f"  memory        {r['rss_per_client'] / 1024:.1f} KiB resident per idle client")
    print(f"  add p50       {r['before']['p50_us']:.2f} us alone, {r['during']['p50_us']:.2f} us with the crowd "
          f"(p99 {r['before']['p99_us']:.2f} / {r['during']['p99_us']:.2f} us)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--calls", type=int, default=20, help="verified calls per client before it idles")
    ap.add_argument("--seconds", type=float, default=300, help="bound on the crowd's connecting")
    ap.add_argument("--binary", default=default_binary())
    ap.add_argument("--compare", help="another daemon binary (an older build) run the same way after")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--serve-arg", action="append", default=[], metavar="ARG",
                    help="passed to both daemons' serve (repeatable), e.g. --serve-arg=--spin-us=0 for calls "
                         "that always wake a daemon thread")
    ap.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = ap.parse_args()
    gc.freeze()  # fewer pages copied into each forked client
    results = {"new": run(args.binary, args.clients, args.calls, args.seconds, args.seed, args.serve_arg)}
    if args.compare:
        results["old"] = run(args.compare, args.clients, args.calls, args.seconds, args.seed, args.serve_arg)
    off = verdict(results["new"], args.calls)
    show("daemon", results["new"])
    if "old" in results:
        show("compared with", results["old"])
    for line in off:
        print(f"FAIL {line}")
    print("ok" if not off else "NOT OK")
    if args.json:
        print(json.dumps({**results, "ok": not off, "off": off}))
    return 0 if not off else 1


if __name__ == "__main__":
    sys.exit(main())
