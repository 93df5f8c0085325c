"""Calls per second of ``shmcall.aio`` from one event loop, against the sync client, the sync
client run in the loop's thread pool (what asyncio code does without an async client), and the
suite's gRPC and HTTP services (``benchmarks/servers``) called from the same loop through their
async clients.

    python benchmarks/aio_bench.py [--socket PATH] [--rounds N] [--channels N]
                                   [--http-connections N] [--explore] [--out DIR]

Each round times every way once, interleaved (a VM's speed drifts by tens of percent from one
minute to the next; drift then hits every way alike), and the figures are the median and best
rounds. Ways:

- ``sync add``: ``c.add(1, 2)`` in a plain loop (the sync client's fast path; no event loop);
- ``aio sequential``: ``await c.add(1, 2)`` in a loop;
- ``aio gather 1000``: ``await asyncio.gather(*(c.add(i, i) for i in range(1000)))``;
- ``executor gather 1000``: the same gather of ``loop.run_in_executor(None, sync.add, i, i)``;
- ``grpc.aio``: the tonic service's ``Add`` through one ``grpc.aio`` channel to 127.0.0.1 (each
  call builds its ``AddRequest`` and reads ``.result``), sequential and a gather of 1000 (HTTP/2
  streams multiplexed on the channel);
- ``httpx``: the axum service's ``POST /add`` (JSON in and out, status checked, ``result`` read)
  through one ``httpx.AsyncClient`` keeping ``--http-connections`` keep-alive connections (4:
  HTTP/1.1 has one request in flight per connection, and a semaphore admits that many requests
  to httpx at once), sequential and a gather of 1000.

The remote ways need their client package (grpcio and grpcio-tools; httpx: ``pip install -r
benchmarks/requirements.txt``) and their server built (``cargo build --release --manifest-path
benchmarks/servers/Cargo.toml --bin grpc_server --bin http_server``, what the suite's
alternatives run at setup); without them the script says so and skips them. Every way's results
are checked before anything is timed.

``--explore`` also times gathers with pools of 1, 2, 4 and 8 channels (the figures quoted in
``python/shmcall/_aio_pool.py``). ``--out DIR`` also writes ``report.md`` and ``aio.json`` there.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import importlib.util
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"
sys.path.insert(0, str(REPO / "python"))
sys.path.insert(1, str(BENCH))

import shmcall  # noqa: E402
import shmcall.aio  # noqa: E402
from shmcall._aio_pool import DEFAULT_CHANNELS  # noqa: E402

SEQUENTIAL_CALLS = 5_000
REMOTE_SEQUENTIAL_CALLS = 1_000  # gRPC and HTTP take ~0.1-0.5 ms a call
GATHER = 1_000
TARGET = 20.0  # shmcall.aio's calls/s over each remote way's, sequential and gathered
BUILT = BENCH / "servers" / "target" / "release"
SERVERS_BUILD = ("cargo build --release --manifest-path benchmarks/servers/Cargo.toml "
                 "--bin grpc_server --bin http_server")

Add = Callable[[int, int], Awaitable[int]]


async def sequential(add: Add, n: int = SEQUENTIAL_CALLS) -> float:
    start = time.perf_counter()
    for _ in range(n):
        await add(1, 2)
    return n / (time.perf_counter() - start)


async def gather(add: Add, n: int = GATHER) -> float:
    start = time.perf_counter()
    await asyncio.gather(*(add(i, i) for i in range(n)))
    return n / (time.perf_counter() - start)


async def no_op(a: int, b: int) -> int:
    return a + b


async def executor_gather(sync: shmcall.Client, n: int = GATHER) -> float:
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    await asyncio.gather(*(loop.run_in_executor(None, sync.add, i, i) for i in range(n)))
    return n / (time.perf_counter() - start)


async def sync_loop(sync: shmcall.Client, n: int = SEQUENTIAL_CALLS * 4) -> float:
    add = sync.add
    start = time.perf_counter()
    for _ in range(n):
        add(1, 2)
    return n / (time.perf_counter() - start)


async def verify_add(name: str, add: Add) -> None:
    """The checks every async way passes before anything is timed: one call, and a gather of
    GATHER distinct calls whose results come back in order."""
    got = await add(1, 2)
    if got != 3:
        raise AssertionError(f"{name}: add(1, 2) returned {got!r}")
    results = await asyncio.gather(*(add(i, i) for i in range(GATHER)))
    if list(results) != [2 * i for i in range(GATHER)]:
        bad = next(i for i, r in enumerate(results) if r != 2 * i)
        raise AssertionError(f"{name}: gather: add({bad}, {bad}) returned {results[bad]!r}")


async def verify(c: shmcall.aio.AsyncClient, sync: shmcall.Client) -> None:
    await verify_add("shmcall.aio", c.add)
    assert sync.add(1, 2) == 3
    loop = asyncio.get_running_loop()
    results = await asyncio.gather(*(loop.run_in_executor(None, sync.add, i, i) for i in range(GATHER)))
    assert results == [2 * i for i in range(GATHER)]


@dataclass
class Remote:
    """One alternative's service, started for this run, and its async ``add``."""

    name: str
    label: str
    add: Add
    close: Callable[[], Awaitable[None]]


async def start_grpc() -> Remote:
    import grpc
    import grpc.aio
    from alternatives.grpc import _stubs, generate_stubs
    from alternatives.http import start_server, stop_server

    generate_stubs()
    pb, pb_grpc = _stubs()
    proc, port = start_server(BUILT / "grpc_server")
    try:
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        await asyncio.wait_for(channel.channel_ready(), 10)
    except BaseException:
        stop_server(proc)
        raise
    stub_add, request = pb_grpc.BenchStub(channel).Add, pb.AddRequest

    async def add(a: int, b: int) -> int:
        return (await stub_add(request(a=a, b=b))).result

    async def close() -> None:
        await channel.close()
        stop_server(proc)

    return Remote("grpc.aio", f"gRPC (tonic) + grpc.aio {grpc.__version__}, one channel", add, close)


async def start_http(connections: int) -> Remote:
    import httpx
    from alternatives.http import start_server, stop_server

    proc, port = start_server(BUILT / "http_server")
    # trust_env=False: no proxy settings from the environment apply to a loopback benchmark.
    client = httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=30,
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections))
    post = client.post
    # At most `connections` requests reach httpx at once: its pool matches queued requests to
    # connections in time quadratic in their number (1,000 queued: minutes for one gather), so
    # asyncio code with many requests in flight bounds them itself, as here.
    admit = asyncio.Semaphore(connections)

    async def add(a: int, b: int) -> int:
        async with admit:
            r = await post("/add", json={"a": a, "b": b})
        if r.status_code != 200:
            raise RuntimeError(f"HTTP {r.status_code}: {r.text[:200]!r}")
        return r.json()["result"]

    async def close() -> None:
        await client.aclose()
        stop_server(proc)

    return Remote("httpx", f"HTTP/1.1 keep-alive (axum) + httpx {httpx.__version__}, "
                  f"up to {connections} connections", add, close)


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # a missing parent package ("google" for google.protobuf)
        return False


def remote_unavailable() -> dict[str, str | None]:
    """Why each remote way cannot run here (its client package or its server missing), or None."""
    why: dict[str, str | None] = {}
    missing = [m for m in ("grpc", "grpc_tools", "google.protobuf") if not _importable(m)]
    if missing:
        why["grpc.aio"] = f"{', '.join(missing)} not installed (pip install -r benchmarks/requirements.txt)"
    elif not (BUILT / "grpc_server").is_file():
        why["grpc.aio"] = f"benchmarks/servers is not built ({SERVERS_BUILD})"
    else:
        why["grpc.aio"] = None
    if not _importable("httpx"):
        why["httpx"] = "httpx is not installed (pip install -r benchmarks/requirements.txt)"
    elif not (BUILT / "http_server").is_file():
        why["httpx"] = f"benchmarks/servers is not built ({SERVERS_BUILD})"
    else:
        why["httpx"] = None
    return why


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--socket", help="a running daemon's socket (default: start a private one)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--channels", type=int, default=DEFAULT_CHANNELS)
    parser.add_argument("--http-connections", type=int, default=DEFAULT_CHANNELS,
                        help="httpx's keep-alive connections, as many as the asyncio pool's channels by "
                             "default (%(default)s); httpx's own default, 100, is 2.4x slower in a gather")
    parser.add_argument("--explore", action="store_true", help="also time gathers with other pool sizes")
    parser.add_argument("--out", help="also write report.md and aio.json into this folder")
    args = parser.parse_args()

    skipped = {name: why for name, why in remote_unavailable().items() if why}
    remotes: list[Remote] = []
    async with shmcall.aio.connect(args.socket, channels=args.channels) as c:
        sync = shmcall.connect(c.socket_path, spawn=False)
        explore: dict[int, shmcall.aio.AsyncClient] = {}
        try:
            if args.explore:
                for size in (1, 2, 4, 8):
                    explore[size] = await shmcall.aio.connect(c.socket_path, spawn=False, channels=size)
            if "grpc.aio" not in skipped:
                remotes.append(await start_grpc())
            if "httpx" not in skipped:
                remotes.append(await start_http(args.http_connections))
            await verify(c, sync)
            for remote in remotes:
                await verify_add(remote.name, remote.add)
            ways: list[tuple[str, Callable[[], Awaitable[float]]]] = [
                ("sync add (no event loop)", lambda: sync_loop(sync)),
                ("aio sequential await", lambda: sequential(c.add)),
                (f"aio gather {GATHER}", lambda: gather(c.add)),
                (f"executor gather {GATHER}", lambda: executor_gather(sync)),
                # asyncio's own ceiling for a gather: coroutines that return at once, no call at all.
                (f"asyncio gather {GATHER} of no-op coroutines", lambda: gather(no_op)),
            ]
            for remote in remotes:
                ways += [
                    (f"{remote.name} sequential await",
                     (lambda add: lambda: sequential(add, REMOTE_SEQUENTIAL_CALLS))(remote.add)),
                    (f"{remote.name} gather {GATHER}", (lambda add: lambda: gather(add))(remote.add)),
                ]
            if args.explore:
                for size, client in explore.items():
                    ways.append((f"aio gather {GATHER}, {size} channel{'s' if size > 1 else ''}",
                                 (lambda cl: lambda: gather(cl.add))(client)))
            rates: dict[str, list[float]] = {name: [] for name, _ in ways}
            for _ in range(args.rounds):
                for name, way in ways:
                    await way()  # warm: the daemon's spin windows, the loop's executor threads
                    rates[name].append(await way())
            daemon = describe_daemon(c.daemon)
        finally:
            sync.close()
            for client in explore.values():
                await client.close()
            for remote in remotes:
                await remote.close()
    lines = report(rates, args, remotes, skipped)
    print("\n".join(lines))
    if args.out:
        write_out(Path(args.out), lines, rates, args, remotes, skipped, daemon)


def describe_daemon(info: Any) -> str:
    """Which daemon was measured: name, version and binary."""
    try:
        path = Path(f"/proc/{info.pid}/exe").resolve()
        exe = str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)
    except OSError:
        exe = "?"
    return f"`{info.name}` {info.version} (`{exe}`, default flags)"


def ratios(medians: dict[str, float], remotes: list[Remote]) -> list[tuple[str, str, float]]:
    """(remote, "sequential" or "gather 1000", shmcall.aio's median calls/s over the remote's)."""
    out = []
    for remote in remotes:
        for kind, ours in (("sequential", "aio sequential await"), (f"gather {GATHER}", f"aio gather {GATHER}")):
            theirs = f"{remote.name} sequential await" if kind == "sequential" else f"{remote.name} gather {GATHER}"
            out.append((remote.name, kind, medians[ours] / medians[theirs]))
    return out


def report(rates: dict[str, list[float]], args: Any, remotes: list[Remote], skipped: dict[str, str]) -> list[str]:
    lines = [f"shmcall.aio, one event loop, {args.rounds} interleaved rounds, {args.channels} channels "
             f"(calls/s: median of rounds, best round)"]
    medians = {name: statistics.median(r) for name, r in rates.items()}
    width = max(map(len, rates))
    for name, r in rates.items():
        lines.append(f"  {name:<{width}}  {medians[name]:>10,.0f}  {max(r):>10,.0f}")
    seq, gat = medians["aio sequential await"], medians[f"aio gather {GATHER}"]
    lines.append("ratios (medians):")
    lines.append(f"  aio sequential / sync loop:                {seq / medians['sync add (no event loop)']:.2f}")
    lines.append(f"  aio gather / executor gather:              {gat / medians[f'executor gather {GATHER}']:.1f}")
    lines.append(f"  aio gather / aio sequential:               {gat / seq:.2f}")
    for name, kind, ratio in ratios(medians, remotes):
        label = f"aio {kind} / {name} {kind}:"
        lines.append(f"  {label:<42} {ratio:.1f}  (target >= {TARGET:.0f}: {'met' if ratio >= TARGET else 'missed'})")
    for remote in remotes:
        lines.append(f"  {remote.name}: {remote.label}")
    for name, why in skipped.items():
        lines.append(f"  {name}: skipped, {why}")
    return lines


def write_out(out: Path, lines: list[str], rates: dict[str, list[float]], args: Any, remotes: list[Remote],
              skipped: dict[str, str], daemon: str) -> None:
    from run import machine  # the suite's description of the machine

    out.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip() or "unknown"
    command = " ".join(["aio_bench.py"] + sys.argv[1:])
    medians = {name: statistics.median(r) for name, r in rates.items()}
    md = ["# shmcall.aio calls per second from one event loop", "",
          f"- command: `{command}`",
          f"- date: {datetime.date.today().isoformat()}; commit measured: {commit}",
          f"- machine: {machine()}",
          f"- daemon: {daemon}; the asyncio pool: {args.channels} channels",
          *[f"- {r.name}: {r.label}" for r in remotes],
          *[f"- {name}: skipped, {why}" for name, why in skipped.items()],
          "", "## Calls per second", "",
          f"Median and best of {args.rounds} interleaved rounds (each way timed once a round after a warm-up run).",
          "", "| way | median calls/s | best round |", "|---|---:|---:|"]
    md += [f"| {name} | {medians[name]:,.0f} | {max(r):,.0f} |" for name, r in rates.items()]
    if remotes:
        md += ["", f"## shmcall.aio against the async clients (target ≥ {TARGET:.0f}×)", "",
               "| against | sequential await | gather of 1,000 |", "|---|---:|---:|"]
        by = {(name, kind): ratio for name, kind, ratio in ratios(medians, remotes)}
        for remote in remotes:
            cells = [by[(remote.name, kind)] for kind in ("sequential", f"gather {GATHER}")]
            md.append(f"| {remote.name} | " + " | ".join(
                f"{ratio:.1f}× ({'met' if ratio >= TARGET else 'missed'})" for ratio in cells) + " |")
    md += ["", "## Output", "", "```", *lines, "```", ""]
    (out / "report.md").write_text("\n".join(md))
    (out / "aio.json").write_text(json.dumps(dict(
        command=command, commit=commit, machine=machine(), rounds=args.rounds, channels=args.channels,
        http_connections=args.http_connections, remotes={r.name: r.label for r in remotes}, skipped=skipped,
        calls_per_s=rates, medians=medians,
        ratios=[dict(against=name, kind=kind, ratio=ratio) for name, kind, ratio in ratios(medians, remotes)],
    ), indent=1) + "\n")
    print(f"wrote {out / 'report.md'}")


if __name__ == "__main__":
    asyncio.run(main())
