#!/usr/bin/env python3
"""Tasks per second on a Dask LocalCluster: each task calls the machine's daemon, against the same
work done in-process by numpy in the task.

    python benchmarks/dask_tasks.py [--workers 2] [--chunks 400] [--chunk 100000] [--rounds 5]

A dask array of ``--chunks`` chunks of ``--chunk`` f64 is reduced chunk by chunk with ``map_blocks``:
the daemon's way copies the chunk into shared memory, scales it by 2 and sums it (``c.asarray``,
``c.scale``, ``c.sum``, as docs/dask.md does); numpy's way does ``(chunk * 2).sum()``. Both sides
take turns for ``--rounds`` rounds in one run (the VM drifts between minutes), each timed from submit
to result; results are checked against each other. Prints tasks/s of each side per round and the
median ratio. Needs ``pip install shmcall[dask]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

import dask.array as da  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

import shmcall.dask  # noqa: E402


def through_daemon(chunk: np.ndarray) -> np.ndarray:
    c = shmcall.dask.client()
    doubled = c.asarray(chunk)
    c.scale(doubled, 2.0)
    return np.array([c.sum(doubled)])


def in_process(chunk: np.ndarray) -> np.ndarray:
    return np.array([(chunk * 2.0).sum()])


def timed(x: da.Array, task: object) -> tuple[float, float]:
    """(seconds from submit to result, the total) of one reduction."""
    t0 = time.perf_counter()
    total = float(x.map_blocks(task, chunks=(1,), dtype=np.float64, meta=np.empty(0)).sum().compute())
    return time.perf_counter() - t0, total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chunks", type=int, default=400)
    ap.add_argument("--chunk", type=int, default=100_000, help="f64 per chunk")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True) as cluster, \
            Client(cluster) as dask_client:
        dask_client.register_plugin(shmcall.dask.DaemonPlugin())
        # Made on the workers and kept there: the tasks read their chunk from the worker's memory.
        x = da.random.default_rng(1).random(args.chunks * args.chunk, chunks=args.chunk).persist()
        timed(x, through_daemon), timed(x, in_process)  # warm: daemon, connections, code
        rates: dict[str, list[float]] = {"daemon": [], "numpy": []}
        for r in range(args.rounds):
            order = [("daemon", through_daemon), ("numpy", in_process)]
            totals = []
            for name, task in (order if r % 2 == 0 else order[::-1]):
                seconds, total = timed(x, task)
                rates[name].append(args.chunks / seconds)
                totals.append(total)
            if not np.isclose(totals[0], totals[1], rtol=1e-9):
                print(f"results differ: {totals}", file=sys.stderr)
                return 1
            print(f"round {r}: daemon {rates['daemon'][-1]:,.0f} tasks/s, numpy in the task "
                  f"{rates['numpy'][-1]:,.0f} tasks/s")
    ratios = [d / n for d, n in zip(rates["daemon"], rates["numpy"])]
    print(f"{args.workers} workers, {args.chunks} chunks of {args.chunk:,} f64: daemon "
          f"{statistics.median(rates['daemon']):,.0f} tasks/s, numpy {statistics.median(rates['numpy']):,.0f} "
          f"tasks/s; daemon / numpy {statistics.median(ratios):.2f}x (median of {args.rounds} rounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
