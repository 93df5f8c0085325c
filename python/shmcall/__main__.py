"""``python -m shmcall``: ``status`` (the running daemon's state and counts, as ``shmcalld status``
prints them), ``functions`` (list what the daemon serves), ``bench`` (p50/p99 of a few calls, to
check every change quickly), ``tour`` (every built-in, called once, with its result), ``source
NAME`` (the Python the client generated to call a function: its ``source`` attribute) and ``stubs
[-o FILE]`` (a ``.pyi`` typing the daemon's functions and structs, for editors and type checkers).

Each command takes ``--socket PATH``; without it, ``status`` asks the default daemon and the others
attach to it or start a private one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Callable

from . import _admin
from ._client import Client, connect
from ._daemon import default_socket_path
from ._errors import ShmcallError
from ._methods import summary
from ._stubs import stub

__all__: list[str] = []


def _percentiles(samples: list[float]) -> tuple[float, float]:
    samples.sort()
    p50 = samples[len(samples) // 2]
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return p50, p99


def _raw(fn: Callable[[], Any], calls: int, batch: int) -> list[float]:
    timer = time.perf_counter_ns
    samples: list[float] = []
    for _ in range(max(1, calls // batch)):
        t0 = timer()
        for _ in range(batch):
            fn()
        samples.append((timer() - t0) / batch / 1000)
    return samples


def measure(fn: Callable[[], Any], *, calls: int, batch: int = 1) -> tuple[float, float]:
    """Median and p99 latency in microseconds per call, timing ``batch`` calls per sample. The
    median cost of timing an empty lambda the same way (timer reads and the lambda call) is
    subtracted, so the figures are the call's own."""
    for _ in range(min(calls, 2000)):
        fn()
    overhead = _percentiles(_raw(lambda: None, min(calls, 20_000), batch))[0]
    p50, p99 = _percentiles(_raw(fn, calls, batch))
    return max(0.0, p50 - overhead), max(0.0, p99 - overhead)


def bench(c: Client, calls: int) -> None:
    from ._numpy import HAVE_NUMPY, np

    Person = c.types.Person
    p = Person(name="xiaoming", age=18)
    cases: list[tuple[str, Callable[[], Any]]] = [
        ("ping (nop, general call path)", c.ping),
        ("add(1, 2)", lambda: c.add(1, 2)),
        ("hello('Python')", lambda: c.hello("Python")),
        ("hello_person(p)", lambda: c.hello_person(p)),
        ("multi_return()", c.multi_return),
    ]
    add = c.add
    print(f"{'call':<30}{'p50 µs':>10}{'p99 µs':>10}   ({calls} calls each)")
    for name, fn in cases:
        p50, p99 = measure(fn, calls=calls)
        print(f"{name:<30}{p50:>10.2f}{p99:>10.2f}")
    p50, _ = measure(lambda: add(1, 2), calls=calls, batch=100)
    print(f"{'add, mean of 100-call runs':<30}{p50:>10.2f}{'':>10}   ({1e6 / p50:,.0f} calls/s)")
    n = 100_000
    a = np.arange(n) if HAVE_NUMPY else list(range(n))
    b = np.ones(n, dtype=np.int64) if HAVE_NUMPY else [1] * n
    per_call, _ = measure(lambda: add.map(a, b), calls=20)
    print(f"{'add.map, 100k calls batched':<30}{per_call / n:>10.3f}{'':>10}   ({n * 1e6 / per_call:,.0f} calls/s)")


def tour(c: Client) -> None:
    from ._numpy import HAVE_NUMPY

    def show(label: str, value: object) -> None:
        print(f"  {label:<44} -> {value!r}")

    T = c.types
    print(f"connected: {c!r}")
    print("the article's examples:")
    show("add(2, 3)", c.add(2, 3))
    show("hello('Python')", c.hello("Python"))
    show("hello_person(Person('xiaoming', 18))", c.hello_person(T.Person(name="xiaoming", age=18)))
    r = c.ref("i64", 100)
    c.change_int(r)
    show("change_int(ref(100)) -> ref.value", r.value)
    xs = c.asarray([1, 2, 3, 4], "i64")
    out = c.return_int_array(xs)
    show("return_int_array([1,2,3,4]); xs", (out.tolist(), xs.tolist()))
    a, b = c.zeros(3, "i64"), c.zeros(5, "i64")
    c.return_int_slice(a, b)
    show("return_int_slice(a, b); a, b", (a.tolist(), b.tolist()))
    v = c.vec("i64", [100])
    c.expand_slice(v)
    show("expand_slice(vec([100]))", v.tolist())
    show("multi_return()", c.multi_return())
    show("divmod(-7, 2)", c.divmod(-7, 2))
    print("value kinds:")
    show("reverse_str('汉字🙂')", c.reverse_str("汉字🙂"))
    show("reverse_bytes(b'\\x00ab')", c.reverse_bytes(b"\x00ab"))
    team = T.Team(name="crab", lead=T.Person("Ferris", 7), scores=[1, 2, 3], motto=b"fast")
    c.promote(team)
    show("promote(team) -> team", team)
    pts = c.circle_points(4)
    show("circle_points(4)", [(round(float(p["x"] if HAVE_NUMPY else p.x), 3), round(float(p["y"] if HAVE_NUMPY else p.y), 3)) for p in pts])
    for name in ("sum", "sha256", "encrypt", "prng_fill"):
        if not hasattr(c.functions, name):
            print(f"  ({name} not served by this daemon)")
    if hasattr(c.functions, "sum"):
        print("compute on shared arrays:")
        big = c.empty(1_000_000, "f64")
        c.prng_fill(big, 42)
        show("prng_fill(1e6 f64, seed 42)[:3]", [round(float(x), 6) for x in big[:3]])
        show("sum(that)", round(float(c.sum(big)), 3))
        c.scale(big, 2.0)
        c.sort(big)
        show("scale(x2) then sort: first, last", (round(float(big[0]), 6), round(float(big[-1]), 6)))
        show("len(filter_gt(that, 1.9))", len(c.filter_gt(big, 1.9)))
        show("sha256(b'abc')", c.sha256(b"abc").hex())
        key, nonce = bytes(range(32)), bytes(12)
        msg = c.asarray(b"attack at dawn", "u8")
        tag = c.encrypt(msg, key, nonce)
        show("encrypt('attack at dawn') in place: tag", tag.hex())
        c.decrypt(msg, key, nonce, tag)
        show("decrypt(...) in place", bytes(msg))
    print("errors arrive as exceptions:")
    failing: list[tuple[str, Callable[[], object]]] = [
        ("add(2**63 - 1, 1)", lambda: c.add(2**63 - 1, 1)), ("panic('boom')", lambda: c.panic("boom")),
        ("add(1 << 63, 0)", lambda: c.add(1 << 63, 0))]
    for label, thunk in failing:
        try:
            thunk()
        except Exception as e:  # noqa: BLE001 - shown, not handled
            show(label, f"{type(e).__name__}: {e}")
    show("the daemon keeps serving: add(1, 1)", c.add(1, 1))


def print_source(c: Client, name: str | None, parser: argparse.ArgumentParser) -> None:
    """The Python the client generated to call function ``name`` (``c.NAME.source``)."""
    f = getattr(c.functions, name or "", None)
    if f is None:
        parser.error(f"source needs the name of a function the daemon serves, not {name!r} (see `functions`)")
    print(f.source, end="")
    for element, overload in getattr(f, "overloads", {}).items():  # a generic function's
        print(f"\n# {name}: the overload for {element}\n{overload.source}", end="")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shmcall", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["status", "functions", "bench", "tour", "source", "stubs"])
    parser.add_argument("name", nargs="?", help="the function whose generated call code `source` prints")
    parser.add_argument("--socket", help="daemon socket (default: the default daemon, or a private one)")
    parser.add_argument("--json", action="store_true", help="print JSON, for programs (status, functions)")
    parser.add_argument("--calls", type=int, default=100_000, help="calls per benchmark case")
    parser.add_argument("-o", "--output", help="file to write (stubs; default: standard output)")
    args = parser.parse_args(argv)
    if args.command == "status":
        try:
            report = _admin.status(args.socket or default_socket_path())
        except ShmcallError as e:
            print(f"{parser.prog}: error: {e}", file=sys.stderr)
            return 2
        print(_admin.status_json(report) if args.json else _admin.status_text(report), end="")
        return 0
    with connect(args.socket) as c:
        if args.command == "functions" and args.json:
            print(json.dumps(c.manifest, indent=2, ensure_ascii=False))
        elif args.command == "functions":
            for entry in sorted(c.manifest["functions"], key=lambda e: str(e["name"])):
                print("\n".join(summary(entry)))
        elif args.command == "source":
            print_source(c, args.name, parser)
        elif args.command == "stubs":
            text = stub(c.manifest, f"{c.daemon.name} {c.daemon.version}", set(dir(Client)))
            if args.output:
                with open(args.output, "w", encoding="utf-8") as f:
                    f.write(text)
            else:
                print(text, end="")
        elif args.command == "bench":
            bench(c, args.calls)
        else:
            tour(c)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # `python -m shmcall functions | head`: the reader left early
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
