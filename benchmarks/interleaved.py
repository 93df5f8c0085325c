"""shmcall against in-process ctypes on the same Rust kernels, interleaved in one process.

The main tables time each alternative in turn, minutes apart. On this VM the speed of the same loop
drifts by 20-100 % from one minute to the next (the raw floor's `add` ranged 0.37-0.89 µs across
runs), which is as large as the differences the ratio targets are about. Here both clients are open
at once and take turns in short blocks (A B B A ...), so drift hits both alike and their ratio
measures the approaches rather than the minute. Each block starts with two untimed calls, which
absorb what the other approach left running. Every result is checked before anything is timed.
"""

from __future__ import annotations

import statistics
from typing import Any, Callable

import numpy as np

from alternatives.ffi import Ffi
from alternatives.shm import Shm
from checks import verify
from timing import percentile, samples, warm_up

#: The operations: (name, size, the call on a session given its prepared input, calls per block,
#: blocks per alternative). Arrays are made by each session where that approach keeps them.
#: Small calls are timed through the session's callable bound once, as `run.py` times them.
_SMALL = [
    ("add", 1, lambda s, _: (lambda f: lambda: f(1, 2))(s.add), 2_000, 40),
    ("hello", 1, lambda s, _: (lambda f: lambda: f("Python"))(s.hello), 2_000, 40),
    ("hello_person", 1, lambda s, _: (lambda f: lambda: f("xiaoming", 18))(s.hello_person), 2_000, 40),
]


def _arrays(big: bool) -> list[tuple[str, int, Callable, int, int]]:
    # Rounds enough that the median of per-round ratios settles: with 30 rounds of 1e7, runs of one
    # daemon against ctypes gave 0.99-1.15x (pooled p50s) and 1.00-1.04x (per-round) as the VM
    # switched between speeds 1.6x apart. A round of 1e7 takes about 30 ms.
    sizes = [(1_000_000, 20, 60), (10_000_000, 5, 100)] + ([(100_000_000, 2, 20)] if big else [])
    out = []
    for n, block, rounds in sizes:
        out.append(("sum", n, lambda s, xs: lambda: s.sum(xs), block, rounds))
        out.append(("scale", n, lambda s, xs: lambda: s.scale(xs, 1.0), block, rounds))
    return out


def _agree(op: str, results: dict[str, Any]) -> None:
    """Both approaches gave the same answer on the timed input (each was checked against known
    results before, `checks.verify`)."""
    shm, ffi = results["shmcall"], results["ctypes"]
    if op == "sum":
        assert abs(shm - ffi) <= 1e-9 * abs(ffi), f"sum: shmcall {shm} against ctypes {ffi}"
    elif op == "scale":
        assert np.array_equal(np.asarray(shm), np.asarray(ffi)), "scale: the arrays differ"
    else:
        assert tuple(shm) == tuple(ffi) if op == "hello_person" else shm == ffi, f"{op}: {shm!r} against {ffi!r}"


def run_interleaved(quick: bool, big: bool, rows: list[dict], notes: list[str]) -> None:
    """Times every operation of shmcall (spin mode) and ctypes in alternating blocks; appends rows
    with op ``interleaved <op>`` for each approach."""
    alts = {"shmcall": Shm(), "ctypes": Ffi()}
    started = []
    try:
        for alt in alts.values():
            alt.setup()
            started.append(alt)
        sessions = {name: alt.session() for name, alt in alts.items()}
        for s in sessions.values():
            verify(s)
        for op, size, make, block, rounds in _SMALL + _arrays(big):
            if quick:
                block, rounds = max(1, block // 5), max(4, rounds // 4)
            inputs = {name: s.make_array(size) if op in ("sum", "scale") else None for name, s in sessions.items()}
            calls = {name: make(s, inputs[name]) for name, s in sessions.items()}
            _agree(op, {name: call() for name, call in calls.items()})
            for call in calls.values():
                warm_up(call, 0.2 if size < 1_000_000 else 0)
            _time(op, size, calls, block, rounds, {n: a.label for n, a in alts.items()}, rows)
            del inputs, calls
        for s in sessions.values():
            s.close()
    except Exception as e:  # noqa: BLE001 - reported; the rest of the run stands
        notes.append(f"interleaved phase failed: {e!r}")
        print(f"[interleaved] FAILED: {e!r}", flush=True)
    finally:
        for alt in started:
            alt.teardown()


def _time(op: str, size: int, calls: dict[str, Callable[[], Any]], block: int, rounds: int,
          labels: dict[str, str], rows: list[dict]) -> None:
    names = list(calls)
    pooled: dict[str, list[float]] = {n: [] for n in names}
    medians: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            # Two untimed calls first: the first calls after a switch run slower, for either approach
            # (a 1e7 `sum` 20-25 % slower than the fifth of its block, then less; whatever the other
            # left running: its idle rayon workers, the caches, the TLB).
            calls[name]()
            calls[name]()
            xs = samples(calls[name], block, budget_s=5.0)
            pooled[name] += xs
            medians[name].append(statistics.median(xs))
    ratios = [a / b for a, b in zip(medians["shmcall"], medians["ctypes"]) if b > 0]
    p50s = {name: percentile(pooled[name], 0.5) for name in names}
    mid = statistics.median(ratios)
    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    for name, p50 in p50s.items():
        rows.append(dict(alternative=name, label=labels[name], op=f"interleaved {op}", size=size, p50_us=p50,
                         p99_us=percentile(pooled[name], 0.99), calls_per_s=1e6 / p50 if p50 else 0,
                         samples=len(pooled[name]), client_cpu_us=0, server_cpu_us=0))
        if name == "shmcall":
            # The paired comparison: each round's shmcall block over the ctypes block beside it. The
            # pooled p50s above mix the VM's fast and slow spells in whatever share each side drew.
            rows[-1].update(round_ratio_p50=mid, round_ratio_q1=q[0], round_ratio_q3=q[2])
    print(f"[interleaved] {op:<13} {size:>11,}  shmcall {p50s['shmcall']:10.2f} µs  "
          f"ctypes {p50s['ctypes']:10.2f} µs  ratio per round: median {mid:.2f} "
          f"(quartiles {q[0]:.2f}-{q[2]:.2f})", flush=True)
