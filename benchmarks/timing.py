"""How the suite times a call: one call at a time with ``perf_counter_ns``, minus what timing an
empty lambda the same way costs (the timer itself), bounded in count and time."""

from __future__ import annotations

import time
from typing import Any, Callable

_OVERHEAD_US: list[float] = []


def timer_overhead() -> float:
    """Median µs of timing an empty lambda the way `samples` times a call (subtracted from every figure)."""
    if not _OVERHEAD_US:
        clock = time.perf_counter_ns
        noop = lambda: None  # noqa: E731
        xs = []
        for _ in range(50_000):
            t0 = clock()
            noop()
            xs.append((clock() - t0) / 1000)
        xs.sort()
        _OVERHEAD_US.append(xs[len(xs) // 2])
    return _OVERHEAD_US[0]


def samples(fn: Callable[[], Any], n: int, budget_s: float) -> list[float]:
    """Per-call µs of up to ``n`` calls (the timer's overhead subtracted), stopping early when the
    budget is spent."""
    overhead = timer_overhead()
    out: list[float] = []
    clock = time.perf_counter_ns
    deadline = time.monotonic() + budget_s
    for i in range(n):
        t0 = clock()
        fn()
        out.append((clock() - t0) / 1000 - overhead)
        if i % 64 == 0 and time.monotonic() > deadline:
            break
    return out


def percentile(xs: list[float], q: float) -> float:
    """The q-quantile (0..1) of xs by rank, floored at zero (a call cannot take negative time)."""
    s = sorted(xs)
    return max(0.0, s[min(len(s) - 1, int(len(s) * q))])


def timed(fn: Callable[[], Any], *, samples_max: int, budget_s: float) -> tuple[float, float, int]:
    """(p50 µs, p99 µs, samples taken) of ``fn``, after one untimed call."""
    fn()
    xs = samples(fn, samples_max, budget_s)
    return percentile(xs, 0.5), percentile(xs, 0.99), len(xs)


def warm_up(fn: Callable[[], Any], seconds: float) -> None:
    """Calls ``fn`` for ``seconds`` without timing it."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for _ in range(100):
            fn()
