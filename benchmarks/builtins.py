#!/usr/bin/env python3
"""Every built-in, called as README shows it, against the in-process library a user would otherwise use.

    python benchmarks/builtins.py [--quick] [--only NAME ...] [--rounds N] [--socket PATH] [--out DIR]

Each built-in runs at a small size (64 elements or bytes), 4 KiB and large sizes (1e6 and 1e7 f64, 1 MiB
and 16 MiB of bytes, text or structs) where size applies, with its data in shared memory (`c.asarray`)
and private (`bytes`, `bytearray`, a numpy array), beside numpy, hashlib, `cryptography` or
plain Python on the same data. The two take turns in short blocks in one process, as in `interleaved.py`
(this VM's speed drifts between minutes by more than the differences in question); a row gives the
median of each side's per-block medians and the median of the per-round ratios. Targets: at most 4 KiB
of data, shmcall costs at most the library's time plus three `add` round trips of the same run; from
1 MiB, at most 1.15x the library's time. Every result is checked against the library (or an exact
reference) before it is timed, and a wrong one aborts the run. Writes ``report.md``, ``builtins.json``
and, with matplotlib, ``ratios.png`` into ``benchmarks/results/<date>-builtins-<host>/`` (or --out).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, astuple, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for _path in (HERE, REPO / "python"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import shmcall  # noqa: E402 - after the path is set
from timing import timer_overhead  # noqa: E402

try:
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
except ImportError:  # the crypto rows are skipped, with a note
    ChaCha20Poly1305 = None

SMALL_BYTES = 4096  # up to here: at most the library's time plus ROUND_TRIPS `add` round trips
LARGE_BYTES = 1 << 20  # from here: at most LARGE_RATIO times the library's time
ROUND_TRIPS = 3
LARGE_RATIO = 1.15
#: Large data not in shared memory must be copied (once in, again out if the function writes it), and
#: a result that becomes a Python object is copied out of the heap: each copy is allowed at memcpy speed.
PRIVATE_VARIANTS = {"numpy", "bytes", "bytearray"}
TEXT_ARGUMENTS = {"hello", "reverse_str"}  # a str is never in shared memory
WRITTEN = {"scale", "sort", "prng_fill", "encrypt", "decrypt", "translate"}
COPIED_RESULTS = {"hello", "reverse_str", "reverse_bytes", "repeat_bytes"}
SEED = 42


class VerificationError(AssertionError):
    """A built-in's result differs from the library's (or the reference's): nothing is timed."""


# ---------------------------------------------------------------------------------------------------
# Sizes and timing settings


@dataclass(frozen=True)
class Sizes:
    """What a run measures: `small` elements (bytes, characters), `medium` bytes, and large ones, as
    bytes for bytes, text and struct arrays and as elements for number arrays."""

    small: int
    medium: int
    large_bytes: tuple[int, ...]
    large_elements: tuple[int, ...]

    def numbers(self) -> list[int]:
        """Element counts of f64 arrays."""
        return [self.small, self.medium // 8, *self.large_elements]

    def counts(self, itemsize: int) -> list[int]:
        """Element counts of arrays of `itemsize`-byte items (1: bytes); large ones rounded up, to
        reach their size in bytes."""
        return [self.small, self.medium // itemsize, *(-(-b // itemsize) for b in self.large_bytes)]


FULL = Sizes(64, 4096, (1 << 20, 16 << 20), (1_000_000, 10_000_000))
QUICK = Sizes(64, 4096, (1 << 20,), (131_072,))
TINY = Sizes(5, 256, (1000,), (300,))  # for checking the cases, not for timing


@dataclass(frozen=True)
class Settings:
    """How long a case is timed: up to `rounds` rounds (at least `min_rounds`, whatever the budget
    `case_s` says) of one block per side, each block two untimed calls and about `block_s` of timed
    ones (3 to `max_block` calls), after `warm_s` of untimed calls per side."""

    rounds: int
    min_rounds: int
    block_s: float
    max_block: int
    case_s: float
    warm_s: float


FULL_RUN = Settings(rounds=20, min_rounds=6, block_s=0.02, max_block=1000, case_s=4.0, warm_s=0.2)
QUICK_RUN = Settings(rounds=4, min_rounds=2, block_s=0.002, max_block=200, case_s=0.1, warm_s=0.01)


# ---------------------------------------------------------------------------------------------------
# What a user would write in plain Python (the counterparts of the article's and value functions).
# Module-level so that the verification compares against exactly what is timed.

M64 = (1 << 64) - 1


def py_add(a: int, b: int) -> int:
    return a + b


def py_hello(name: str) -> str:
    return "hello " + name


@dataclass(slots=True)
class PyPerson:
    name: str
    age: int


def py_hello_person(p: PyPerson) -> PyPerson:
    return PyPerson("xiaohong", p.age)


def splitmix64(x: int) -> int:
    z = (x + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


@dataclass(slots=True)
class PyRef:
    value: int


def py_change_int(r: PyRef) -> None:
    z = splitmix64(r.value & M64)
    r.value = z - (1 << 64) if z >> 63 else z


def py_return_int_array(xs: np.ndarray) -> np.ndarray:
    xs[0], xs[-1] = xs[-1], xs[0]
    return np.arange(10)


def py_return_int_slice(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a[:] = np.arange(len(a))
    b[:] = np.arange(len(b))
    return np.arange(10)


def py_expand_slice(v: list[int]) -> None:
    v.extend(range(10))


def py_clamp(x: float, lo: float | None = None, hi: float | None = None) -> float:
    if lo is not None and x < lo:
        return lo
    if hi is not None and x > hi:
        return hi
    return x


def py_index_of(xs: list[int], x: int) -> int | None:
    try:
        return xs.index(x)
    except ValueError:
        return None


def py_multi_return() -> tuple[int, int]:
    return 1, 2


@dataclass(slots=True)
class PyScalars:
    i8: int
    i16: int
    i32: int
    i64: int
    u8: int
    u16: int
    u32: int
    u64: int
    f32: float
    f64: float
    flag: bool
    c64: complex
    c128: complex


SCALARS = (1, 2, 3, 4, 5, 6, 7, 8, 1.5, 2.25, True, 1 + 2j, 3 - 4j)


def py_echo_scalars(*args: Any) -> PyScalars:
    return PyScalars(*args)


def _wrap(v: int, bits: int, signed: bool) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if signed and v >> (bits - 1) else v


def py_step_scalars(s: PyScalars) -> PyScalars:
    return PyScalars(_wrap(s.i8 + 1, 8, True), _wrap(s.i16 + 1, 16, True), _wrap(s.i32 + 1, 32, True),
                     _wrap(s.i64 + 1, 64, True), _wrap(s.u8 + 1, 8, False), _wrap(s.u16 + 1, 16, False),
                     _wrap(s.u32 + 1, 32, False), _wrap(s.u64 + 1, 64, False), s.f32 * 2, s.f64 * 2,
                     not s.flag, s.c64.conjugate(), s.c128.conjugate())


def py_reverse_str(s: str) -> tuple[str, int]:
    return s[::-1], len(s.encode())


def py_join_text(a: str, sep: bytes, b: str) -> str:
    return a + sep.decode("utf-8", "replace") + b


@dataclass(slots=True)
class PyTeam:
    name: str
    lead: PyPerson
    scores: list[int]
    motto: bytes


def py_describe_team(t: PyTeam) -> str:
    return f"{t.name}: {t.lead.name} ({t.lead.age}), {sum(t.scores)}"


def py_promote(t: PyTeam) -> None:
    t.lead.age += 1
    t.scores = [s * 2 for s in t.scores]
    t.name += "!"


def py_fail(message: str) -> None:
    raise RuntimeError(message)


def splitmix64_f64(seed: int, n: int) -> np.ndarray:
    """`prng_fill`'s f64 stream: (splitmix64(seed + i * golden) >> 11) * 2^-53 for i = 1..n."""
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + np.arange(1, n + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


def np_circle_points(n: int, dtype: np.dtype) -> np.ndarray:
    out = np.empty(n, dtype)
    a = np.arange(n) * (2 * math.pi) / n
    out["x"] = np.cos(a)
    out["y"] = np.sin(a)
    return out


# ---------------------------------------------------------------------------------------------------
# The cases: one built-in call at one size with its data in one place, and its library counterpart


@dataclass
class Pair:
    """A prepared call of each side, and the check of the shmcall result against the library's. A
    `reset` runs untimed before every timed call (to unsort an array, restore a ciphertext, ...)."""

    shm: Callable[[], Any]
    lib: Callable[[], Any]
    verify: Callable[[], None]
    shm_reset: Callable[[], None] | None = None
    lib_reset: Callable[[], None] | None = None


@dataclass
class Case:
    name: str  # the built-in
    call: str  # as a user writes it
    library: str  # the in-process counterpart
    make: Callable[[], Pair]  # builds the inputs when the case runs: large ones exist one case at a time
    variant: str = ""  # where the data lives: shared, numpy (private), bytes, bytearray
    size: str = ""  # e.g. "1,000,000 f64"
    nbytes: int = 0  # the data the call takes or makes, which picks its target
    note: str = ""


def _expect(ok: Any, what: str) -> None:
    if not ok:
        raise VerificationError(what)


def _same_fields(got: Any, want: Any) -> bool:
    """A struct from the daemon holds the same values as a dataclass of the library side."""
    return tuple(got._asdict().values()) == astuple(want)


def _raising(fn: Callable[..., Any], exc: type[BaseException]) -> Callable[..., bool]:
    """`fn` wrapped to catch the error it is expected to raise (both sides are timed through this)."""

    def call(*args: Any) -> bool:
        try:
            fn(*args)
        except exc:
            return True
        return False

    return call


def _bytes_label(n: int) -> str:
    if n >= 1 << 20 and n % (1 << 20) == 0:
        return f"{n >> 20} MiB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n >> 10} KiB"
    return f"{n:,} B"


def _text(target: int) -> str:
    """Text of mixed scripts, `target` UTF-8 bytes long (ASCII fills up to it)."""
    pattern = "héllo wörld, 汉字🙂 "
    text = pattern * (target // len(pattern.encode()))
    return text + "x" * (target - len(text.encode()))


def _scalar_cases(c: Any, sizes: Sizes) -> Iterator[Case]:
    """The article's functions and the value functions at their README size: no data to scale."""
    add, hello_person, multi_return, divmod_ = c.add, c.hello_person, c.multi_return, c.divmod

    def add_pair() -> Pair:
        return Pair(lambda: add(1, 2), lambda: py_add(1, 2),
                    lambda: _expect(add(1, 2) == py_add(1, 2) == 3, "add(1, 2)"))

    yield Case("add", "c.add(1, 2)", "`a + b` in a Python function", add_pair)

    def person_pair(as_tuple: bool) -> Callable[[], Pair]:
        def make() -> Pair:
            P = c.types.Person
            p, q = P(name="xiaoming", age=18), PyPerson("xiaoming", 18)
            shm = (lambda: hello_person(("xiaoming", 18))) if as_tuple else (lambda: hello_person(p))
            return Pair(shm, lambda: py_hello_person(q),
                        lambda: _expect(_same_fields(shm(), py_hello_person(q)), "hello_person"))
        return make

    yield Case("hello_person", 'c.hello_person(P(name="xiaoming", age=18))', "a dataclass", person_pair(False),
               variant="Person")
    yield Case("hello_person", 'c.hello_person(("xiaoming", 18))', "a dataclass", person_pair(True), variant="tuple")

    def change_int_pair() -> Pair:
        change_int = c.change_int
        r, h = c.ref("i64", 100), PyRef(100)

        def verify() -> None:
            r.value = h.value = 100
            change_int(r)
            py_change_int(h)
            _expect(r.value == h.value, f"change_int: {r.value} against {h.value}")

        return Pair(lambda: change_int(r), lambda: py_change_int(h), verify)

    yield Case("change_int", 'c.change_int(r)  # r = c.ref("i64", 100)', "SplitMix64 in Python", change_int_pair)

    def int_array_pair() -> Pair:
        f = c.return_int_array
        xs, ys = c.asarray([1, 2, 3, 4], "i64"), np.array([1, 2, 3, 4], dtype=np.int64)

        def verify() -> None:
            got, want = f(xs), py_return_int_array(ys)
            _expect(np.array_equal(got, want) and np.array_equal(xs, ys), "return_int_array")

        return Pair(lambda: f(xs), lambda: py_return_int_array(ys), verify)

    yield Case("return_int_array", "c.return_int_array(xs)  # 4 i64, shared", "numpy", int_array_pair,
               variant="shared")

    def int_slice_pair() -> Pair:
        f = c.return_int_slice
        a, b = c.zeros(3, "i64"), c.zeros(5, "i64")
        x, y = np.zeros(3, dtype=np.int64), np.zeros(5, dtype=np.int64)

        def verify() -> None:
            got, want = f(a, b), py_return_int_slice(x, y)
            _expect(np.array_equal(got, want) and np.array_equal(a, x) and np.array_equal(b, y), "return_int_slice")

        return Pair(lambda: f(a, b), lambda: py_return_int_slice(x, y), verify)

    yield Case("return_int_slice", "c.return_int_slice(a, b)  # 3 and 5 i64, shared", "numpy", int_slice_pair,
               variant="shared")

    def expand_pair() -> Pair:
        f = c.expand_slice
        v, w = [c.vec("i64", [1, 2])], [[1, 2]]

        def reset_shm() -> None:
            v[0] = c.vec("i64", [1, 2])

        def reset_lib() -> None:
            w[0] = [1, 2]

        def verify() -> None:
            reset_shm()
            reset_lib()
            f(v[0])
            py_expand_slice(w[0])
            _expect(v[0].tolist() == w[0], f"expand_slice: {v[0].tolist()} against {w[0]}")

        return Pair(lambda: f(v[0]), lambda: py_expand_slice(w[0]), verify, reset_shm, reset_lib)

    yield Case("expand_slice", 'c.expand_slice(v)  # v = c.vec("i64", [1, 2])', "list.extend", expand_pair)

    yield Case("multi_return", "c.multi_return()", "a Python function", lambda: Pair(
        lambda: multi_return(), lambda: py_multi_return(),
        lambda: _expect(tuple(multi_return()) == py_multi_return(), "multi_return")))
    yield Case("divmod", "c.divmod(7, 2)", "builtin divmod", lambda: Pair(
        lambda: divmod_(7, 2), lambda: divmod(7, 2),
        lambda: _expect(tuple(divmod_(7, 2)) == divmod(7, 2) and tuple(divmod_(-7, 2)) == divmod(-7, 2), "divmod")))

    def divmod_error_pair() -> Pair:
        shm, lib = _raising(divmod_, shmcall.RemoteError), _raising(divmod, ZeroDivisionError)
        return Pair(lambda: shm(7, 0), lambda: lib(7, 0), lambda: _expect(shm(7, 0) and lib(7, 0), "divmod(7, 0)"))

    yield Case("divmod", "c.divmod(7, 0)  # raises RemoteError, caught", "builtin divmod raising, caught",
               divmod_error_pair, variant="error")

    clamp = c.clamp
    yield Case("clamp", "c.clamp(x, hi=1.0)  # lo left out", "a Python function", lambda: Pair(
        lambda: clamp(2.5, hi=1.0), lambda: py_clamp(2.5, hi=1.0),
        lambda: _expect(all(clamp(x, lo, hi) == py_clamp(x, lo, hi) for x in (-2.0, 0.5, 2.5)
                            for lo in (None, 0.0) for hi in (None, 1.0)), "clamp")))

    def index_pair() -> Pair:
        index_of, xs = c.index_of, c.asarray(np.arange(1000, dtype=np.int64))
        local = xs.tolist()

        def verify() -> None:
            for x in (0, 999, 1000):
                _expect(index_of(xs, x) == py_index_of(local, x), f"index_of({x})")

        return Pair(lambda: index_of(xs, 999), lambda: py_index_of(local, 999), verify)

    yield Case("index_of", "c.index_of(xs, 999)  # 1000 shared i64 -> int | None", "list.index, None if absent",
               index_pair)

    def echo_pair() -> Pair:
        f = c.echo_scalars
        return Pair(lambda: f(*SCALARS), lambda: py_echo_scalars(*SCALARS),
                    lambda: _expect(_same_fields(f(*SCALARS), py_echo_scalars(*SCALARS)), "echo_scalars"))

    yield Case("echo_scalars", "c.echo_scalars(1, 2, ..., 3 - 4j)  # 13 scalars", "a dataclass", echo_pair)

    def step_pair() -> Pair:
        f, S = c.step_scalars, c.types.Scalars
        s, t = S(*SCALARS), PyScalars(*SCALARS)

        def verify() -> None:
            _expect(_same_fields(f(s), py_step_scalars(t)), "step_scalars")
            edge = (127, 2, 3, 4, 5, 6, 7, M64, 1.5, 2.25, False, 1j, -1j)
            _expect(_same_fields(f(S(*edge)), py_step_scalars(PyScalars(*edge))), "step_scalars at the limits")

        return Pair(lambda: f(s), lambda: py_step_scalars(t), verify)

    yield Case("step_scalars", "c.step_scalars(S(...))  # a Scalars", "a dataclass", step_pair)

    def join_pair() -> Pair:
        f = c.join_text
        return Pair(lambda: f("left", b", ", "right"), lambda: py_join_text("left", b", ", "right"),
                    lambda: _expect(f("left", b", ", "right") == py_join_text("left", b", ", "right"), "join_text"))

    yield Case("join_text", 'c.join_text("left", b", ", "right")', "str concatenation", join_pair)

    def team_pair(promote: bool) -> Callable[[], Pair]:
        def make() -> Pair:
            T = c.types
            shm_team = [T.Team(name="crab", lead=T.Person("Ferris", 7), scores=[1, 2, 3], motto=b"fast")]
            py_team = [PyTeam("crab", PyPerson("Ferris", 7), [1, 2, 3], b"fast")]

            def reset_shm() -> None:
                shm_team[0] = T.Team(name="crab", lead=T.Person("Ferris", 7), scores=[1, 2, 3], motto=b"fast")

            def reset_lib() -> None:
                py_team[0] = PyTeam("crab", PyPerson("Ferris", 7), [1, 2, 3], b"fast")

            if not promote:
                f = c.describe_team
                return Pair(lambda: f(shm_team[0]), lambda: py_describe_team(py_team[0]),
                            lambda: _expect(f(shm_team[0]) == py_describe_team(py_team[0]), "describe_team"))
            g = c.promote

            def verify() -> None:
                g(shm_team[0])
                py_promote(py_team[0])
                s, p = shm_team[0], py_team[0]
                _expect((s.name, s.lead.name, s.lead.age, list(s.scores), s.motto)
                        == (p.name, p.lead.name, p.lead.age, p.scores, p.motto), "promote")

            return Pair(lambda: g(shm_team[0]), lambda: py_promote(py_team[0]), verify, reset_shm, reset_lib)
        return make

    yield Case("describe_team", "c.describe_team(team)", "an f-string", team_pair(False))
    yield Case("promote", "c.promote(team)  # in place", "a Python function", team_pair(True))

    def failing_pair(name: str) -> Callable[[], Pair]:
        def make() -> Pair:
            exc = shmcall.RemotePanic if name == "panic" else shmcall.RemoteError
            shm, lib = _raising(getattr(c, name), exc), _raising(py_fail, RuntimeError)
            return Pair(lambda: shm("boom"), lambda: lib("boom"),
                        lambda: _expect(shm("boom") and lib("boom"), f"{name} raises {exc.__name__}"))
        return make

    yield Case("fail", 'c.fail("boom")  # raises RemoteError, caught', "`raise`, caught", failing_pair("fail"),
               variant="error")
    yield Case("panic", 'c.panic("boom")  # raises RemotePanic, caught', "`raise`, caught", failing_pair("panic"),
               variant="error")

    def sleep_pair() -> Pair:
        f = c.sleep_ms
        return Pair(lambda: f(1), lambda: time.sleep(0.001), lambda: _expect(f(0) is None, "sleep_ms"))

    yield Case("sleep_ms", "c.sleep_ms(1)", "time.sleep(0.001)", sleep_pair)


def _text_cases(c: Any, sizes: Sizes) -> Iterator[Case]:
    """Text in and out: README's `hello("Python")`, then 4 KiB and the large sizes."""
    hello, reverse_str = c.hello, c.reverse_str
    for i, n in enumerate(sizes.counts(1)):
        def hello_pair(n: int = n, readme: bool = i == 0) -> Pair:
            name = "Python" if readme else "x" * n
            return Pair(lambda: hello(name), lambda: py_hello(name),
                        lambda: _expect(hello(name) == py_hello(name), "hello"))

        chars = len("Python") if i == 0 else n
        yield Case("hello", 'c.hello("Python")' if i == 0 else "c.hello(name)", "str concatenation", hello_pair,
                   size=_bytes_label(chars), nbytes=chars)

        def reverse_pair(n: int = n) -> Pair:
            text = _text(n)
            return Pair(lambda: reverse_str(text), lambda: py_reverse_str(text),
                        lambda: _expect(tuple(reverse_str(text)) == py_reverse_str(text), "reverse_str"))

        yield Case("reverse_str", "c.reverse_str(text)", "`s[::-1]`, len(s.encode())", reverse_pair,
                   size=_bytes_label(n), nbytes=n)


def _place(c: Any, ref: np.ndarray, variant: str) -> Any:
    """A copy of `ref` where `variant` keeps it."""
    if variant == "shared":
        return c.asarray(ref)
    if variant == "numpy":
        return ref.copy()
    if variant == "bytes":
        return ref.tobytes()
    if variant == "bytearray":
        return bytearray(ref.tobytes())
    raise ValueError(variant)


def _random_f64(n: int) -> np.ndarray:
    return np.random.default_rng(n).random(n)


def _random_bytes(n: int) -> np.ndarray:
    return np.random.default_rng(n).integers(0, 256, n, dtype=np.uint8)


def _points(n: int, dtype: np.dtype) -> np.ndarray:
    out = np.zeros(n, dtype)
    rng = np.random.default_rng(n)
    out["x"], out["y"] = rng.random(n), rng.random(n)
    return out


def _samples(n: int, dtype: np.dtype) -> np.ndarray:
    """Samples with tags 0-3: selecting one tag keeps about a quarter."""
    out = np.zeros(n, dtype)
    rng = np.random.default_rng(n)
    out["tag"], out["value"], out["channel"] = rng.integers(0, 4, n), rng.random(n), rng.integers(0, 9, n)
    return out


def _array_cases(c: Any, sizes: Sizes) -> Iterator[Case]:
    """The dtype-generic array functions on f64, as README calls them, against numpy."""
    for n in sizes.numbers():
        for variant in ("shared", "numpy"):
            common = dict(variant=variant, size=f"{n:,} f64", nbytes=8 * n)

            def sum_pair(n: int = n, variant: str = variant) -> Pair:
                f, ref = c.sum, _random_f64(n)
                xs, ys = _place(c, ref, variant), ref.copy()

                def verify() -> None:
                    got, want = f(xs), ys.sum()
                    _expect(math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12), f"sum of {n}: {got} against {want}")

                return Pair(lambda: f(xs), lambda: ys.sum(), verify)

            yield Case("sum", "c.sum(xs)", "numpy `xs.sum()`", sum_pair, **common)

            def scale_pair(n: int = n, variant: str = variant) -> Pair:
                # -1.0: exact, and the values stay put over thousands of calls
                f, ref = c.scale, _random_f64(n)
                xs, ys = _place(c, ref, variant), ref.copy()

                def verify() -> None:
                    f(xs, -1.0)
                    np.multiply(ys, -1.0, out=ys)
                    _expect(np.array_equal(xs, ys), f"scale of {n}")

                return Pair(lambda: f(xs, -1.0), lambda: np.multiply(ys, -1.0, out=ys), verify)

            yield Case("scale", "c.scale(xs, -1.0)  # in place", "numpy `xs *= -1.0`", scale_pair, **common)

            def sort_pair(n: int = n, variant: str = variant) -> Pair:
                f, ref = c.sort, _random_f64(n)
                xs, ys = _place(c, ref, variant), ref.copy()

                def reset_shm() -> None:
                    xs[:] = ref

                def reset_lib() -> None:
                    ys[:] = ref

                def verify() -> None:
                    reset_shm()
                    reset_lib()
                    f(xs)
                    ys.sort()
                    _expect(np.array_equal(xs, ys), f"sort of {n}")

                return Pair(lambda: f(xs), lambda: ys.sort(), verify, reset_shm, reset_lib)

            yield Case("sort", "c.sort(xs)  # in place", "numpy `xs.sort()`", sort_pair,
                       note="unsorted again, untimed, before every call", **common)

            def filter_pair(n: int = n, variant: str = variant) -> Pair:
                f, ref = c.filter_gt, _random_f64(n)
                xs, ys = _place(c, ref, variant), ref.copy()
                return Pair(lambda: f(xs, 0.5), lambda: ys[ys > 0.5],
                            lambda: _expect(np.array_equal(f(xs, 0.5), ys[ys > 0.5]), f"filter_gt of {n}"))

            yield Case("filter_gt", "c.filter_gt(xs, 0.5)", "numpy `xs[xs > 0.5]`", filter_pair, **common)

            def prng_pair(n: int = n, variant: str = variant) -> Pair:
                f = c.prng_fill
                xs, ys = _place(c, np.zeros(n), variant), np.zeros(n)
                rng = np.random.default_rng(SEED)

                def verify() -> None:
                    f(xs, SEED)
                    _expect(np.array_equal(xs, splitmix64_f64(SEED, n)), f"prng_fill of {n}")

                return Pair(lambda: f(xs, SEED), lambda: rng.random(out=ys), verify)

            yield Case("prng_fill", f"c.prng_fill(xs, {SEED})", "numpy `Generator.random(out=xs)`", prng_pair,
                       note="numpy's stream is another one (PCG64): speed only; checked against SplitMix64",
                       **common)


def _byte_cases(c: Any, sizes: Sizes) -> Iterator[Case]:
    """Bytes in, bytes out: sha256 against hashlib, reverse_bytes and repeat_bytes against `bytes`."""
    sha256, reverse_bytes, repeat_bytes = c.sha256, c.reverse_bytes, c.repeat_bytes
    for n in sizes.counts(1):
        for variant in ("shared", "bytes", "bytearray"):
            common = dict(variant=variant, size=_bytes_label(n), nbytes=n)

            def sha_pair(n: int = n, variant: str = variant) -> Pair:
                ref = _random_bytes(n)
                data, plain = _place(c, ref, variant), ref.tobytes()
                return Pair(lambda: sha256(data), lambda: hashlib.sha256(plain).digest(),
                            lambda: _expect(sha256(data) == hashlib.sha256(plain).digest(), f"sha256 of {len(plain)}"))

            yield Case("sha256", "c.sha256(data)", "hashlib `sha256(data).digest()`", sha_pair, **common)
            if variant == "bytearray":
                continue

            def reverse_pair(n: int = n, variant: str = variant) -> Pair:
                ref = _random_bytes(n)
                data, plain = _place(c, ref, variant), ref.tobytes()
                return Pair(lambda: reverse_bytes(data), lambda: plain[::-1],
                            lambda: _expect(reverse_bytes(data) == plain[::-1], f"reverse_bytes of {len(plain)}"))

            yield Case("reverse_bytes", "c.reverse_bytes(data)", "`data[::-1]`", reverse_pair, **common)
        unit, count = b"0123456789abcdef", max(1, n // 16)
        yield Case("repeat_bytes", f'c.repeat_bytes(b"0123456789abcdef", {count:,})', "`data * count`",
                   lambda count=count: Pair(lambda: repeat_bytes(unit, count), lambda: unit * count,
                                            lambda: _expect(repeat_bytes(unit, count) == unit * count, "repeat_bytes")),
                   size=_bytes_label(16 * count) + " result", nbytes=16 * count)


def _crypto_cases(c: Any, sizes: Sizes) -> Iterator[Case]:
    """ChaCha20-Poly1305 in place against `cryptography` (OpenSSL), which returns a new ciphertext."""
    if ChaCha20Poly1305 is None:
        return
    encrypt, decrypt = c.encrypt, c.decrypt
    key, nonce, aad = bytes(range(32)), bytes(range(12)), b"header"
    aead = ChaCha20Poly1305(key)
    for n in sizes.counts(1):
        for variant in ("shared", "bytearray"):
            common = dict(variant=variant, size=_bytes_label(n), nbytes=n)

            def encrypt_pair(n: int = n, variant: str = variant) -> Pair:
                ref = _random_bytes(n)
                buf, plain = _place(c, ref, variant), ref.tobytes()

                def verify() -> None:
                    tag = encrypt(buf, key, nonce, aad)
                    _expect(bytes(buf) + tag == aead.encrypt(nonce, plain, aad), f"encrypt of {len(plain)}")

                return Pair(lambda: encrypt(buf, key, nonce, aad), lambda: aead.encrypt(nonce, plain, aad), verify)

            yield Case("encrypt", "c.encrypt(buf, key, nonce, aad)  # in place", "cryptography "
                       "`ChaCha20Poly1305(key).encrypt(nonce, data, aad)`", encrypt_pair,
                       note="the library's key set up once, outside the timed call", **common)

            def decrypt_pair(n: int = n, variant: str = variant) -> Pair:
                plain = _random_bytes(n).tobytes()
                sealed = aead.encrypt(nonce, plain, aad)
                body, tag = sealed[:-16], sealed[-16:]
                buf = _place(c, np.frombuffer(body, dtype=np.uint8), variant)
                source = np.frombuffer(body, dtype=np.uint8) if variant == "shared" else body

                def reset_shm() -> None:
                    buf[:] = source

                def verify() -> None:
                    reset_shm()
                    decrypt(buf, key, nonce, tag, aad)
                    _expect(bytes(buf) == plain == aead.decrypt(nonce, sealed, aad), f"decrypt of {len(plain)}")

                return Pair(lambda: decrypt(buf, key, nonce, tag, aad), lambda: aead.decrypt(nonce, sealed, aad),
                            verify, reset_shm)

            yield Case("decrypt", "c.decrypt(buf, key, nonce, tag, aad)  # in place", "cryptography "
                       "`ChaCha20Poly1305(key).decrypt(nonce, data, aad)`", decrypt_pair,
                       note="the ciphertext restored, untimed, before every call", **common)


def _struct_cases(c: Any, sizes: Sizes) -> Iterator[Case]:
    """Arrays of plain structs (Point, Sample) against numpy on the same structured arrays."""
    centroid, bounding_box, translate = c.centroid, c.bounding_box, c.translate
    circle_points, select_samples = c.circle_points, c.select_samples
    point = c.empty(0, c.types.Point).dtype
    sample = c.empty(0, c.types.Sample).dtype
    for n in sizes.counts(point.itemsize):
        for variant in ("shared", "numpy"):
            common = dict(variant=variant, size=f"{n:,} Point", nbytes=n * point.itemsize)

            def centroid_pair(n: int = n, variant: str = variant) -> Pair:
                ref = _points(n, point)
                pts, ys = _place(c, ref, variant), ref.copy()

                def lib() -> tuple[float, float]:
                    return ys["x"].mean(), ys["y"].mean()

                def verify() -> None:
                    got, want = centroid(pts), lib()
                    _expect(all(math.isclose(a, b, rel_tol=1e-9) for a, b in zip((got.x, got.y), want)), "centroid")

                return Pair(lambda: centroid(pts), lib, verify)

            yield Case("centroid", "c.centroid(points)", 'numpy `p["x"].mean(), p["y"].mean()`', centroid_pair,
                       **common)

            def box_pair(n: int = n, variant: str = variant) -> Pair:
                ref = _points(n, point)
                pts, ys = _place(c, ref, variant), ref.copy()

                def lib() -> tuple[float, float, float, float]:
                    x, y = ys["x"], ys["y"]
                    return x.min(), y.min(), x.max(), y.max()

                def verify() -> None:
                    r = bounding_box(pts)
                    _expect((r.min.x, r.min.y, r.max.x, r.max.y) == lib(), "bounding_box")

                return Pair(lambda: bounding_box(pts), lib, verify)

            yield Case("bounding_box", "c.bounding_box(points)", "numpy min and max of each field", box_pair,
                       **common)

            def translate_pair(n: int = n, variant: str = variant) -> Pair:
                ref = _points(n, point)
                pts, ys = _place(c, ref, variant), ref.copy()

                def lib() -> None:
                    x, y = ys["x"], ys["y"]
                    np.add(x, 1.0, out=x)
                    np.add(y, -1.0, out=y)

                def verify() -> None:
                    translate(pts, 1.0, -1.0)
                    lib()
                    _expect(np.array_equal(pts, ys), "translate")

                return Pair(lambda: translate(pts, 1.0, -1.0), lib, verify)

            yield Case("translate", "c.translate(points, 1.0, -1.0)  # in place", 'numpy `p["x"] += dx; p["y"] += dy`',
                       translate_pair, **common)

        def circle_pair(n: int = n) -> Pair:
            def verify() -> None:
                got, want = circle_points(n), np_circle_points(n, point)
                _expect(got.dtype == want.dtype and np.allclose(got["x"], want["x"], rtol=0, atol=1e-12)
                        and np.allclose(got["y"], want["y"], rtol=0, atol=1e-12), f"circle_points({n})")

            return Pair(lambda: circle_points(n), lambda: np_circle_points(n, point), verify)

        yield Case("circle_points", f"c.circle_points({n:,})", "numpy cos and sin into a Point array", circle_pair,
                   size=f"{n:,} Point result", nbytes=n * point.itemsize)
    for n in sizes.counts(sample.itemsize):
        for variant in ("shared", "numpy"):
            def select_pair(n: int = n, variant: str = variant) -> Pair:
                ref = _samples(n, sample)
                ss, ys = _place(c, ref, variant), ref.copy()
                def verify() -> None:
                    _expect(np.array_equal(select_samples(ss, 1), ys[ys["tag"] == 1]), "select_samples")

                return Pair(lambda: select_samples(ss, 1), lambda: ys[ys["tag"] == 1], verify)

            yield Case("select_samples", "c.select_samples(samples, 1)", 'numpy `s[s["tag"] == 1]`', select_pair,
                       variant=variant, size=f"{n:,} Sample", nbytes=n * sample.itemsize)


CASE_GROUPS = (_scalar_cases, _text_cases, _array_cases, _byte_cases, _crypto_cases, _struct_cases)


def cases(c: Any, sizes: Sizes, only: set[str] | None = None) -> list[Case]:
    """Every case at these sizes (of the built-ins in `only`, if given), `add` first."""
    out = [case for group in CASE_GROUPS for case in group(c, sizes)]
    return [case for case in out if not only or case.name in only or case.name == "add"]


def checked(case: Case) -> Pair:
    """The case's inputs, its result checked against the library's; raises VerificationError."""
    pair = case.make()
    try:
        pair.verify()
    except VerificationError as e:
        raise VerificationError(f"{case.call} ({case.size or 'no data'}, {case.variant or '-'}): {e}") from e
    except Exception as e:  # a call that fails is as wrong as a wrong result
        raise VerificationError(f"{case.call} ({case.size or 'no data'}, {case.variant or '-'}): {e!r}") from e
    return pair


def unmeasured_functions(c: Any, covered: set[str]) -> list[str]:
    """The functions the daemon serves that no case measures (a typed member such as `sum_f64` counts
    as its generic function `sum`)."""
    served = list(c.functions)
    return sorted(n for n in served if n not in covered and n.rpartition("_")[0] not in covered)


def verify_all(c: Any, sizes: Sizes = TINY, only: set[str] | None = None) -> set[str]:
    """Checks every case's result at `sizes` against its library; raises VerificationError at the
    first wrong one. Returns the built-ins checked."""
    names = set()
    for case in cases(c, sizes, only):
        checked(case)
        names.add(case.name)
    return names


# ---------------------------------------------------------------------------------------------------
# Timing: the two sides in alternating blocks


@dataclass
class Row:
    name: str
    call: str
    library: str
    variant: str
    size: str
    nbytes: int
    note: str
    shm_us: float  # median of the per-block medians
    lib_us: float
    ratio: float | None  # median of the per-round ratios, shmcall over library
    ratio_q1: float | None
    ratio_q3: float | None
    block: int  # timed calls per block
    rounds: int
    shm_blocks: list[float] = field(default_factory=list)  # the per-block medians, µs
    lib_blocks: list[float] = field(default_factory=list)
    target: str = ""
    met: bool | None = None


def _block(fn: Callable[[], Any], reset: Callable[[], None] | None, n: int, untimed: int) -> list[float]:
    """µs per call of `n` calls after `untimed` ones (which absorb what the other side left running:
    its idle threads, the caches), the timer's own cost subtracted; `reset` runs untimed before each."""
    overhead = timer_overhead()
    clock = time.perf_counter_ns
    for _ in range(untimed):
        if reset is not None:
            reset()
        fn()
    out = []
    for _ in range(n):
        if reset is not None:
            reset()
        t0 = clock()
        fn()
        out.append((clock() - t0) / 1000 - overhead)
    return out


def _warm(fn: Callable[[], Any], reset: Callable[[], None] | None, seconds: float) -> None:
    end = time.monotonic() + seconds
    while True:
        _block(fn, reset, 1, 0)
        if time.monotonic() >= end:
            return


def time_case(case: Case, pair: Pair, settings: Settings) -> Row:
    sides = [(pair.shm, pair.shm_reset), (pair.lib, pair.lib_reset)]
    for fn, reset in sides:
        _warm(fn, reset, settings.warm_s)
    # Block length and rounds from a first look at both sides (resets included in the wall time).
    per_call, wall = 0.0, 0.0
    for fn, reset in sides:
        t0 = time.perf_counter()
        per_call = max(per_call, statistics.median(_block(fn, reset, 3, 0)) / 1e6)
        wall = max(wall, (time.perf_counter() - t0) / 3)
    block = max(3, min(settings.max_block, int(settings.block_s / max(per_call, 1e-7))))
    rounds = max(settings.min_rounds, min(settings.rounds, int(settings.case_s / (2 * (block + 2) * max(wall, 1e-7)))))
    medians: list[list[float]] = [[], []]
    for r in range(rounds):
        for i in ((0, 1) if r % 2 == 0 else (1, 0)):
            fn, reset = sides[i]
            medians[i].append(statistics.median(_block(fn, reset, block, 2)))
    ratios = [a / b for a, b in zip(*medians) if b > 0]
    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    # Floored at zero: a call of a few ns can come out below the timer's own median cost.
    return Row(case.name, case.call, case.library, case.variant, case.size, case.nbytes, case.note,
               max(0.0, statistics.median(medians[0])), max(0.0, statistics.median(medians[1])),
               statistics.median(ratios) if ratios else None, q[0] if ratios else None, q[2] if ratios else None,
               block, rounds, medians[0], medians[1])


def copies(row: Row) -> int:
    """The copies of the row's data a call needs beside the library's work (`PRIVATE_VARIANTS`)."""
    private = row.variant in PRIVATE_VARIANTS or row.name in TEXT_ARGUMENTS
    return ((2 if row.name in WRITTEN else 1) if private else 0) + (row.name in COPIED_RESULTS)


#: What keeps a built-in from its targets where it misses them, as far as it is understood (the report
#: prints it beside the missed rows of that built-in; a row that meets its target needs none).
MISS_REASONS = {
    "sort": "numpy sorts f64 with AVX-512 vector quicksort (x86-simd-sort); the daemon runs Rust's "
            "pattern-defeating quicksort, 3-6x slower per element on this CPU",
    "encrypt": "the default build's `ring` has no AVX-512 ChaCha20 (1.9 GB/s against OpenSSL's 3.4); "
               "the `openssl` feature build meets the large-size target (docs/performance-notes.md); "
               "small sizes pay for three argument references beside the AEAD",
    "decrypt": "as encrypt; `ring` also decrypts while it authenticates, so the ciphertext is copied "
               "first to leave a buffer whose tag fails unchanged",
    "hello": "text crosses five times (argument encoded and copied into the staging block, validated and "
             "formatted by the daemon, copied to a heap block, decoded by the client), between two cores' caches, "
             "where the library concatenates once",
    "reverse_str": "as hello: text is copied in, validated, reversed, copied out and decoded",
    "repeat_bytes": "a result larger than the response goes to a new heap block and is copied into a "
                    "bytes object; the library's `data * count` writes it once",
    "panic": "unwinding a Rust panic costs tens of µs, a Python raise under one",
    "sleep_ms": "the daemon's timer sleep overshoots 1 ms by tens of µs more than Python's",
    "divmod/error": "an error status leaves the generated fast path: the general path reads the message and "
                    "raises `RemoteError` (the successful call meets)",
    "fail": "as `divmod` raising: an error status is raised by the general path",
    "return_int_array": "two arrays a call, the shared argument by reference and the `Vec<i64>` result copied "
                        "out of the response into a new numpy array; at its target's edge (2.9 µs in each run, "
                        "met or missed by the library's own drift)",
    "filter_gt/shared": "a result of unknown length is written into a new heap block when it outgrows the "
                        "response area (512 f64); the client wraps it and hands the block back on a later call",
    "sha256": "data beyond the request area (4 KiB) is copied into the channel's staging block, then read by "
              "the daemon on another core: it crosses between the cores' caches, which the in-process "
              "library on one warm core never pays; at 1 MiB that crossing is most of the excess",
    "reverse_bytes": "as `sha256`: 4 KiB of `bytes` is staged and read across cores, and the 4 KiB result "
                     "outgrows the response area, so it comes back through a heap block",
    "*/numpy": "a private array is copied into the request or the staging block (and back when the function "
               "writes it), then read by the daemon on another core: small, the copies cost 0.3-1 µs beyond "
               "the shared row, which meets; large, the copy into shared memory runs slower than a private "
               "memcpy (8 MB: 580 µs) and the daemon reads lines the client's core has just written (its sum "
               "15 % slower than on the same data unchanged), which the in-process library on one warm core "
               "never pays",
    "expand_slice": "the vector grows by 10 at every call of a round, and each call's result is a new array: "
                    "once past the response area a new heap block (allocated, wrapped, the previous one released) "
                    "beyond the fast path's microsecond",
}


#: Why a function's first call in a process costs more than its target (profiled in a new process).
FIRST_CALL_REASON = (
    "The first call makes the client's method: it reads the function's cached code from disk and "
    "unmarshals it (about a third of the extra time), builds the function's codecs and binds its namespace "
    "(a third), and makes its `inspect` signature (a fifth); the rest is the call itself on cold caches. "
    "Making every method at connect instead would spend that for all functions there and break the 2 ms "
    "connect target; a process pays it once per function it uses.")


def miss_reason(row: Row) -> str:
    """Why a row misses its target: `MISS_REASONS` for the built-in and the row's data, else for the
    built-in, else for the data (`*/numpy`: any built-in's private arrays)."""
    for key in (f"{row.name}/{row.variant}", row.name, f"*/{row.variant}"):
        if key in MISS_REASONS:
            return MISS_REASONS[key]
    return "not yet known"


_MEMCPY_US: dict[int, float] = {}


def memcpy_us(nbytes: int) -> float:
    """A copy of `nbytes` between two private buffers in this run, µs (the median of 9)."""
    if nbytes not in _MEMCPY_US:
        src, dst = bytes(nbytes), memoryview(bytearray(nbytes))
        times = []
        for _ in range(9):
            t0 = time.perf_counter_ns()
            dst[:] = src
            times.append((time.perf_counter_ns() - t0) / 1000)
        _MEMCPY_US[nbytes] = statistics.median(times)
    return _MEMCPY_US[nbytes]


def judge(row: Row, add_us: float) -> None:
    """Sets the row's target and whether it is met: small data, at most the library plus three `add`
    round trips; large data, at most 1.15x the library (the median of the per-round ratios), or for
    data not in shared memory 1.15x the library plus the copies the call needs at memcpy speed."""
    n = copies(row) if row.nbytes >= LARGE_BYTES else 0
    if n:
        limit = LARGE_RATIO * (row.lib_us + n * memcpy_us(row.nbytes))
        row.target = f"≤ {LARGE_RATIO:.2f}× (library + {n} cop{'y' if n == 1 else 'ies'}) = {limit:,.0f} µs"
        row.met = row.shm_us <= limit
    elif row.nbytes >= LARGE_BYTES:
        row.target = f"≤ {LARGE_RATIO:.2f}× library"
        row.met = row.ratio is not None and row.ratio <= LARGE_RATIO
    elif row.nbytes <= SMALL_BYTES:
        limit = row.lib_us + ROUND_TRIPS * add_us
        row.target = f"≤ library + {ROUND_TRIPS} add = {limit:,.2f} µs"
        row.met = row.shm_us <= limit
    else:
        row.target, row.met = "—", None


def _ahead(row: Row) -> bool:
    return row.nbytes >= LARGE_BYTES and row.ratio is not None and row.ratio < 1


def _where(row: Row) -> str:
    """The row's built-in, size and data, for lists."""
    return " ".join(part for part in (f"`{row.name}`", row.size, row.variant) if part)


def _line(row: Row) -> str:
    ratio = f"{row.ratio:.2f}× ({row.ratio_q1:.2f}–{row.ratio_q3:.2f})" if row.ratio is not None else "—"
    met = "met" if row.met else "MISSED" if row.met is False else "no target"
    return (f"{row.name:<16} {row.size:>22} {row.variant:<9} shmcall {row.shm_us:11,.2f} µs  "
            f"library {row.lib_us:11,.2f} µs  ratio {ratio:<20} {row.target}: {met}{', ahead' if _ahead(row) else ''}")


# ---------------------------------------------------------------------------------------------------
# Connect, and the first call of a function


#: Run in a new process by `time_connect`: connect, open the thread's channel, then each probe's first
#: call and 20 later ones; prints JSON.
_FIRST_CALLS = """
import json, statistics, sys, time
sys.path.insert(0, {python!r})
import numpy as np
import shmcall
clock = time.perf_counter
t0 = clock()
k = shmcall.connect({socket!r}, spawn=False)
out = {{"connect_ms": (clock() - t0) * 1e3}}
k.ping()  # the thread's channel: opened once per thread, not per function
xs = np.ones(64)
probes = {{"add": lambda: k.add(1, 2), "hello_person": lambda: k.hello_person(("xiaoming", 18)),
          "sum": lambda: k.sum(xs), "sha256": lambda: k.sha256(b"abc")}}
for name, probe in probes.items():
    t0 = clock()
    probe()
    first = clock() - t0
    later = []
    for _ in range(20):
        t0 = clock()
        probe()
        later.append(clock() - t0)
    out[name] = (first - statistics.median(later)) * 1e6
k.close()
print(json.dumps(out))
"""


def time_connect(socket_path: str, times: int) -> dict[str, Any]:
    """Median ms of `shmcall.connect` to the running daemon, and µs the first call of a few functions
    costs over its later calls (looking the method up included), each in a new process as a program
    starting meets them: with the generated code cached on disk by an earlier process (the usual
    case), and with the cache off (`SHMCALL_CACHE_DIR=`)."""
    program = _FIRST_CALLS.format(python=str(REPO / "python"), socket=socket_path)
    runs: dict[str, list[dict[str, float]]] = {"cached": [], "uncached": []}
    for i in range(times + 1):
        for kind, setting in (("cached", None), ("uncached", "")):
            env = dict(os.environ)
            if setting is not None:
                env["SHMCALL_CACHE_DIR"] = setting
            out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120,
                                 env=env, check=True)
            if i:  # the first cached run fills the cache
                runs[kind].append(json.loads(out.stdout))

    def medians(kind: str) -> dict[str, float]:
        return {name: statistics.median(r[name] for r in runs[kind]) for name in runs[kind][0] if name != "connect_ms"}

    return {"connect_ms": statistics.median(r["connect_ms"] for r in runs["cached"]),
            "connect_runs_ms": [r["connect_ms"] for r in runs["cached"]],
            "first_call_extra_us": medians("cached"), "first_call_extra_uncached_us": medians("uncached")}


# ---------------------------------------------------------------------------------------------------
# Report


def _versus(row: Row, add_us: float) -> str:
    """A missed row in brief: its ratio for large data, its time and the time allowed for small."""
    if row.nbytes >= LARGE_BYTES:
        return f"{row.ratio:.2f}×" + (f" ({row.shm_us:,.0f} µs, target {row.target})" if "cop" in row.target else "")
    return f"{row.shm_us:,.1f} µs, allowed {row.lib_us + ROUND_TRIPS * add_us:,.1f}"


def write_report(out: Path, result: dict[str, Any]) -> None:
    rows = [Row(**r) for r in result["rows"]]
    add_us = result["add_us"]
    judged = [r for r in rows if r.met is not None]
    missed = [r for r in judged if not r.met]
    ahead = [r for r in rows if _ahead(r)]
    lines = ["# The built-ins as users call them, against in-process libraries", "",
             f"- command: `{result['command']}`", f"- machine: {result['machine']}",
             f"- daemon: {result['daemon']}",
             f"- `add` round trip in this run: {add_us:.3f} µs, so small data may cost the library's time "
             f"+ {ROUND_TRIPS * add_us:.2f} µs", "",
             "## Targets", "",
             f"- at most 4 KiB of data: shmcall ≤ library + {ROUND_TRIPS} `add` round trips; from 1 MiB: "
             f"≤ {LARGE_RATIO:.2f}× the library (median of the per-round ratios), and ahead where it can use "
             "every core; for data not in shared memory (a numpy array of the process's own, `bytes`, "
             f"`bytearray`, `str`) ≤ {LARGE_RATIO:.2f}× the library plus the copies the call makes at memcpy "
             "speed (measured in this run): in, out again if the function writes it, and out of the heap for "
             "a result that becomes a Python object",
             f"- met in {len(judged) - len(missed)} of {len(judged)} rows; shmcall ahead at large sizes in "
             f"{len(ahead)}" + (f": {', '.join(f'{_where(r)} ({r.ratio:.2f}×)' for r in ahead)}" if ahead else "")]
    conn = result.get("connect")
    if conn:
        firsts = ", ".join(f"`{k}` {v:,.0f} µs" for k, v in conn["first_call_extra_us"].items())
        uncached = ", ".join(f"`{k}` {v:,.0f} µs" for k, v in conn.get("first_call_extra_uncached_us", {}).items())
        lines += [f"- `connect()` to the running daemon, in a new process: {conn['connect_ms']:.2f} ms (target ≤ 2 ms: "
                  f"{'met' if conn['connect_ms'] <= 2 else 'missed'}); a function's first call over its later "
                  f"ones in a new process, its code cached on disk by an earlier one: {firsts} (target ≤ 50 µs: "
                  f"{'met' if max(conn['first_call_extra_us'].values()) <= 50 else 'missed'}); with the cache off: "
                  f"{uncached}. {FIRST_CALL_REASON}"]
    lines += ["", "| built-in | rows met | missed (size, data: shmcall) | why it misses |", "|---|---:|---|---|"]
    for name in dict.fromkeys(r.name for r in rows):
        mine = [r for r in judged if r.name == name]
        missed = [r for r in mine if not r.met]
        misses = [f"{r.size or 'no data'} {r.variant}".strip() + f": {_versus(r, add_us)}" for r in missed]
        why = "; ".join(dict.fromkeys(miss_reason(r) for r in missed))
        lines.append(f"| `{name}` | {len(mine) - len(misses)} of {len(mine)} | {'; '.join(misses) or '—'} | {why} |")
    lines += ["", "## Every call", "",
              "| built-in call | size | data | shmcall µs | library | library µs | shmcall / library per round "
              "(quartiles) | target | met |", "|---|---|---|---:|---|---:|---:|---|---|"]
    for r in rows:
        ratio = f"{r.ratio:.2f}× ({r.ratio_q1:.2f}–{r.ratio_q3:.2f})" if r.ratio is not None else "—"
        met = "yes" if r.met else "**no**" if r.met is False else "—"
        if _ahead(r):
            met += ", ahead"
        lines.append(f"| `{r.call}` | {r.size or '—'} | {r.variant or '—'} | {r.shm_us:,.2f} | {r.library} | "
                     f"{r.lib_us:,.2f} | {ratio} | {r.target} | {met} |")
    notes = sorted({f"`{r.name}`: {r.note}" for r in rows if r.note}) + result["notes"]
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    lines += ["", "Method: one client of the daemon and the library, in one process. Each case is checked against "
              "the library (or an exact reference) first, warmed up, then timed in rounds of one block per side, "
              "the order alternating (A B, B A, ...): each block two "
              "untimed calls, then timed calls one at a time with `time.perf_counter_ns`, minus the cost of "
              "timing an empty call. shmcall and library µs are the medians of the per-block medians; the ratio "
              "is the median of each round's shmcall block over the library block beside it, so the VM's drift "
              "between minutes falls on both sides alike. \"shared\": the data was made with `c.asarray` (in "
              "shared memory); \"numpy\", \"bytes\", \"bytearray\": private data, which the client copies. The "
              "library always works on private data of its own. Figures for every block are in `builtins.json`.",
              ""]
    if result.get("plot"):
        lines += [f"![shmcall's time over the library's per call and size]({result['plot']})", ""]
    else:
        lines += ["(matplotlib not installed: no plot)", ""]
    (out / "report.md").write_text("\n".join(lines))


def plot(out: Path, rows: list[Row], add_us: float) -> str | None:
    """ratios.png: each row's median per-round ratio on a log axis, with its target; None without matplotlib."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r.ratio is not None]
    fig, ax = plt.subplots(figsize=(10, 1.5 + 0.17 * len(rows)))
    ys = list(range(len(rows)))[::-1]
    colors = ["tab:green" if r.met else "tab:red" if r.met is False else "tab:gray" for r in rows]
    ax.barh(ys, [r.ratio for r in rows], color=colors, height=0.7, left=0)
    quartiles = [[r.ratio - r.ratio_q1 for r in rows], [r.ratio_q3 - r.ratio for r in rows]]
    ax.errorbar([r.ratio for r in rows], ys, xerr=quartiles, fmt="none", ecolor="black", elinewidth=0.6, capsize=1.5)
    # Each row's target as a ratio: 1.15 for large data; (library + 3 add) / library for small.
    limits = [LARGE_RATIO if r.nbytes >= LARGE_BYTES else (r.lib_us + ROUND_TRIPS * add_us) / r.lib_us if r.lib_us > 0
              else None for r in rows]
    ax.scatter([v for v in limits if v], [y for y, v in zip(ys, limits) if v], marker="|", s=60, color="black",
               label="target of the row", zorder=3)
    ax.axvline(1.0, color="gray", linewidth=0.8)
    ax.axvline(LARGE_RATIO, color="tab:blue", linestyle="--", linewidth=0.8, label=f"{LARGE_RATIO}× (large data)")
    ax.set_xscale("log")
    ax.set_yticks(ys)
    ax.set_yticklabels([f"{r.name} {r.size} {r.variant}".strip() for r in rows], fontsize=6)
    ax.set_ylim(-1, len(rows))
    ax.set_xlabel("shmcall time / library time (median of per-round ratios, log; quartiles as bars)")
    ax.set_title("The built-ins against in-process libraries (green: target met, red: missed)")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(out / "ratios.png", dpi=110)
    plt.close(fig)
    return "ratios.png"


# ---------------------------------------------------------------------------------------------------
# The run


class PrivateDaemon:
    """A release `shmcalld` with its default flags on a temporary socket (built first, as the suite does)."""

    def __enter__(self) -> "PrivateDaemon":
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=True)
        self.dir = tempfile.mkdtemp(prefix="shmcall-builtins-")
        self.socket = os.path.join(self.dir, "s.sock")
        # Its stderr is dropped: the `panic` rows make it log thousands of panics.
        self.proc = subprocess.Popen([str(REPO / "target/release/shmcalld"), "serve", "--socket", self.socket],
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not os.path.exists(self.socket):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("shmcalld did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


def run(socket_path: str, sizes: Sizes, settings: Settings, only: set[str] | None, connects: int) -> dict[str, Any]:
    notes: list[str] = []
    if ChaCha20Poly1305 is None:
        notes.append("`cryptography` not installed: encrypt and decrypt not measured")
    timer_overhead()  # measured once, before anything else runs
    with shmcall.connect(socket_path, spawn=False) as c:
        covered = {case.name for case in cases(c, TINY)}
        if only and only - covered:
            raise SystemExit(f"no such built-in: {', '.join(sorted(only - covered))} "
                             f"(of: {', '.join(sorted(covered))})")
        unmeasured = unmeasured_functions(c, covered)
        if unmeasured:
            notes.append(f"served but not measured: {', '.join(unmeasured)}")
        verify_all(c, TINY, only)  # every case's logic, fast, before anything large is made
        rows: list[Row] = []
        for case in cases(c, sizes, only):
            pair = checked(case)  # again on the very inputs that are timed
            row = time_case(case, pair, settings)
            del pair
            rows.append(row)
            judge(row, rows[0].shm_us)
            print(_line(row), flush=True)
    result: dict[str, Any] = {"add_us": rows[0].shm_us, "rows": [asdict(r) for r in rows], "notes": notes}
    if connects:
        result["connect"] = time_connect(socket_path, connects)
        print(f"connect {result['connect']['connect_ms']:.2f} ms; first call over later ones (µs): "
              f"{result['connect']['first_call_extra_us']}", flush=True)
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer sizes and rounds (a smoke run, well under a minute)")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="these built-ins only (add is always measured)")
    ap.add_argument("--rounds", type=int, help="rounds per case (default 20, quick 4; at least 6 / 2 however long)")
    ap.add_argument("--socket", help="use the daemon running at this socket instead of starting one")
    ap.add_argument("--out", help="output directory")
    ap.add_argument("--render", metavar="DIR", help="only write DIR/report.md again from DIR/builtins.json "
                    "(after the reasons for misses were revised)")
    args = ap.parse_args()
    if args.render:
        write_report(Path(args.render), json.loads((Path(args.render) / "builtins.json").read_text()))
        print(f"report: {Path(args.render) / 'report.md'}")
        return 0
    sizes, settings = (QUICK, QUICK_RUN) if args.quick else (FULL, FULL_RUN)
    if args.rounds:
        settings = Settings(**{**asdict(settings), "rounds": args.rounds,
                               "min_rounds": min(args.rounds, settings.min_rounds)})
    stamp = datetime.date.today().isoformat()
    out = Path(args.out) if args.out else HERE / "results" / f"{stamp}-builtins-{socket.gethostname()}"
    only = set(args.only) if args.only else None
    started = time.monotonic()
    try:
        if args.socket:
            result = run(args.socket, sizes, settings, only, 5 if args.quick else 20)
            result["daemon"] = f"the one running at `{args.socket}`"
        else:
            with PrivateDaemon() as d:
                result = run(d.socket, sizes, settings, only, 5 if args.quick else 20)
            result["daemon"] = "a private `shmcalld serve` with its default flags (release build)"
    except VerificationError as e:
        print(f"wrong result, nothing reported: {e}", file=sys.stderr)
        return 1
    from run import machine  # the suite's description of the machine

    result.update(command=" ".join([Path(sys.argv[0]).name] + sys.argv[1:]), machine=machine(),
                  seconds=round(time.monotonic() - started, 1), sizes=asdict(sizes), settings=asdict(settings))
    out.mkdir(parents=True, exist_ok=True)
    result["plot"] = plot(out, [Row(**r) for r in result["rows"]], result["add_us"])
    (out / "builtins.json").write_text(json.dumps(result, indent=1))
    write_report(out, result)
    print(f"report: {out / 'report.md'} ({result['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
