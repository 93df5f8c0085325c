"""Calls per second of ``shmcall.aio`` from one event loop, against the sync client and the sync
client run in the loop's thread pool (what asyncio code does without an async client).

    python benchmarks/aio_bench.py [--socket PATH] [--rounds N] [--channels N] [--explore]

Each round times every way once, interleaved (a VM's speed drifts by tens of percent from one
minute to the next; drift then hits every way alike), and the figures are the median and best
rounds. Ways:

- ``sync add``: ``c.add(1, 2)`` in a plain loop (the sync client's fast path; no event loop);
- ``aio sequential``: ``await c.add(1, 2)`` in a loop;
- ``aio gather 1000``: ``await asyncio.gather(*(c.add(i, i) for i in range(1000)))``;
- ``executor gather 1000``: the same gather of ``loop.run_in_executor(None, sync.add, i, i)``.

``--explore`` also times gathers with pools of 1, 2, 4 and 8 channels (the figures quoted in
``python/shmcall/_aio_pool.py``).

gRPC (``grpc.aio``) and an async HTTP client are timed only if installed (grpcio; aiohttp or
httpx) and their servers built (``benchmarks/servers``, a cargo build): otherwise the script
says so and skips them. Every result is checked before anything is timed.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "python"))

import shmcall  # noqa: E402
import shmcall.aio  # noqa: E402
from shmcall._aio_pool import DEFAULT_CHANNELS  # noqa: E402

SEQUENTIAL_CALLS = 5_000
GATHER = 1_000


async def sequential(c: shmcall.aio.AsyncClient, n: int = SEQUENTIAL_CALLS) -> float:
    add = c.add
    start = time.perf_counter()
    for _ in range(n):
        await add(1, 2)
    return n / (time.perf_counter() - start)


async def gather(c: shmcall.aio.AsyncClient, n: int = GATHER) -> float:
    add = c.add
    start = time.perf_counter()
    await asyncio.gather(*(add(i, i) for i in range(n)))
    return n / (time.perf_counter() - start)


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


async def verify(c: shmcall.aio.AsyncClient, sync: shmcall.Client) -> None:
    assert await c.add(1, 2) == 3 and sync.add(1, 2) == 3
    assert await asyncio.gather(*(c.add(i, i) for i in range(GATHER))) == [2 * i for i in range(GATHER)]
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(None, sync.add, 2, 2) == 4


def skipped_alternatives() -> list[str]:
    """Why gRPC and HTTP are not timed here (each needs its client package and its built server)."""
    notes = []
    built = REPO / "benchmarks" / "servers" / "target" / "release"
    if importlib.util.find_spec("grpc") is None:
        notes.append("grpc.aio: skipped, grpcio is not installed")
    elif not (built / "grpc_server").is_file():
        notes.append("grpc.aio: skipped, benchmarks/servers is not built (cargo build --release there)")
    if importlib.util.find_spec("aiohttp") is None and importlib.util.find_spec("httpx") is None:
        notes.append("async HTTP: skipped, neither aiohttp nor httpx is installed")
    elif not (built / "http_server").is_file():
        notes.append("async HTTP: skipped, benchmarks/servers is not built (cargo build --release there)")
    return notes


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--socket", help="a running daemon's socket (default: start a private one)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--channels", type=int, default=DEFAULT_CHANNELS)
    parser.add_argument("--explore", action="store_true", help="also time gathers with other pool sizes")
    args = parser.parse_args()

    async with shmcall.aio.connect(args.socket, channels=args.channels) as c:
        sync = shmcall.connect(c.socket_path, spawn=False)
        explore: dict[int, shmcall.aio.AsyncClient] = {}
        if args.explore:
            for size in (1, 2, 4, 8):
                explore[size] = await shmcall.aio.connect(c.socket_path, spawn=False, channels=size)
        try:
            await verify(c, sync)
            ways: list[tuple[str, Callable[[], Awaitable[float]]]] = [
                ("sync add (no event loop)", lambda: sync_loop(sync)),
                ("aio sequential await", lambda: sequential(c)),
                (f"aio gather {GATHER}", lambda: gather(c)),
                (f"executor gather {GATHER}", lambda: executor_gather(sync)),
            ]
            if args.explore:
                for size, client in explore.items():
                    ways.append((f"aio gather {GATHER}, {size} channel{'s' if size > 1 else ''}",
                                 (lambda cl: lambda: gather(cl))(client)))
            rates: dict[str, list[float]] = {name: [] for name, _ in ways}
            for _ in range(args.rounds):
                for name, way in ways:
                    await way()  # warm: the daemon's spin windows, the loop's executor threads
                    rates[name].append(await way())
            report(rates, args)
        finally:
            sync.close()
            for client in explore.values():
                await client.close()


def report(rates: dict[str, list[float]], args: Any) -> None:
    print(f"shmcall.aio, one event loop, {args.rounds} interleaved rounds, {args.channels} channels "
          f"(calls/s: median of rounds, best round)")
    medians = {name: statistics.median(r) for name, r in rates.items()}
    width = max(map(len, rates))
    for name, r in rates.items():
        print(f"  {name:<{width}}  {medians[name]:>10,.0f}  {max(r):>10,.0f}")
    seq, gat = medians["aio sequential await"], medians[f"aio gather {GATHER}"]
    print("ratios (medians):")
    print(f"  aio sequential / sync loop:        {seq / medians['sync add (no event loop)']:.2f}")
    print(f"  aio gather / executor gather:      {gat / medians[f'executor gather {GATHER}']:.1f}")
    print(f"  aio gather / aio sequential:       {gat / seq:.2f}")
    for note in skipped_alternatives():
        print(f"  {note}")


if __name__ == "__main__":
    asyncio.run(main())
