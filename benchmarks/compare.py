"""Small calls of two checkouts side by side: is a change neutral for the call path?

    python benchmarks/compare.py OLD_CHECKOUT NEW_CHECKOUT [--rounds N]

Each checkout's own daemon (`target/release/shmcalld`, built beforehand) and own Python package are run
in a process of their own, in alternating rounds (A B B A ...), so that the VM's drift hits both alike.
Prints, per call, each side's median over rounds of the per-round median and the ratio NEW / OLD.
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
import json, time
import shmcall
CALLS = 2000
with shmcall.connect() as c:
    xs = c.empty(64, "f64"); c.prng_fill(xs, 1)
    P = c.types.Person
    ops = {
        "add": lambda: c.add(1, 2),
        "hello": lambda: c.hello("Python"),
        "hello_person": lambda: c.hello_person(("xiaoming", 18)),
        "sum_f64 (64)": lambda: c.sum_f64(xs),
        "sum (64)": lambda: c.sum(xs),
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
    print(json.dumps(out))
"""


def _run(checkout: Path) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(checkout / "python"), SHMCALLD=str(checkout / "target/release/shmcalld"))
    env.pop("SHMCALL_SOCKET", None)
    env["SHMCALL_SOCKET"] = f"/tmp/shmcall-compare-{os.getpid()}-{checkout.name}.sock"
    child = "import statistics\n" + _CHILD
    res = subprocess.run([sys.executable, "-c", child], env=env, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    ap.add_argument("--rounds", type=int, default=6)
    args = ap.parse_args()
    results: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
    order = ["old", "new"]
    for r in range(args.rounds):
        for side in order if r % 2 == 0 else order[::-1]:
            results[side].append(_run(getattr(args, side).resolve()))
    names = list(results["old"][0])
    print(f"{'call':<16}{'old µs':>10}{'new µs':>10}{'new/old':>10}")
    for name in names:
        old = statistics.median(r[name] for r in results["old"])
        new = statistics.median(r[name] for r in results["new"])
        print(f"{name:<16}{old:>10.3f}{new:>10.3f}{new / old:>10.3f}")


if __name__ == "__main__":
    main()
