"""The example daemon of ``examples/custom_daemon``: a program of its own functions built on the shmcall
library without the built-ins. Every one of its functions against a Python reference, and the command
line it gets from the library."""

from __future__ import annotations

import math
import os
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

import shmcall

from conftest import REPO, Counting, Daemon, daemon_binary

FUNCTIONS = {"rotate", "normalize", "nearest", "mark", "describe_marker", "polygon_area", "primes_below", "rle_encode",
             "xorshift_fill"}


def custom_binary() -> str:
    """The example daemon built beside the daemon under test (``$SHMCALLD``, or ``target/release``):
    the same build, so the same platform backend."""
    binary = Path(daemon_binary()).parent / "custom_daemon"
    if binary.is_file():
        return str(binary)
    build = "cargo build --release --locked -p custom_daemon"
    if os.environ.get("CI"):
        pytest.fail(f"{binary} is not built; CI must build it (`{build}`, with the same features and target directory)")
    pytest.skip(f"{binary} is not built: `{build}`")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    binary = custom_binary()
    with Daemon(tmp_path_factory.mktemp("custom") / "custom_daemon.sock", binary=binary) as d:
        yield d
        assert d.stop() == 0, "exits cleanly on SIGTERM"


@pytest.fixture(scope="module")
def geo(daemon: Daemon) -> Iterator[shmcall.Client]:
    with shmcall.connect(daemon.socket, spawn=False) as c:
        yield c


def test_it_serves_its_own_functions_and_no_builtin(geo):
    names = {name for name in FUNCTIONS if callable(getattr(geo, name, None))}
    assert names == FUNCTIONS
    assert not hasattr(geo, "add"), "the built-ins are opt-in"
    assert geo.daemon_version == "custom_daemon 0.1.0"


def test_struct_in_and_out(geo):
    Point = geo.types.Point
    for x, y, degrees in [(1.0, 0.0, 90.0), (2.5, -1.0, 30.0), (0.0, 0.0, 45.0), (-3.0, 4.0, -400.0)]:
        p = geo.rotate(Point(x, y), degrees)
        t = math.radians(degrees)
        assert isinstance(p, Point)
        assert p.x == pytest.approx(x * math.cos(t) - y * math.sin(t), abs=1e-12)
        assert p.y == pytest.approx(x * math.sin(t) + y * math.cos(t), abs=1e-12)


def test_array_of_structs_changed_in_place(geo):
    vectors = geo.empty(1000, geo.types.Vec3)
    rng = np.random.default_rng(5)
    for axis in "xyz":
        vectors[axis] = rng.normal(size=1000)
    vectors[7] = (0.0, 0.0, 0.0)
    before = np.stack([vectors[a] for a in "xyz"], axis=1)
    lengths = np.linalg.norm(before, axis=1, keepdims=True)
    expected = np.divide(before, lengths, out=np.zeros_like(before), where=lengths > 0)
    assert geo.normalize(vectors) is None
    after = np.stack([vectors[a] for a in "xyz"], axis=1)
    assert np.allclose(after, expected, rtol=1e-12, atol=1e-15)
    assert after[7].tolist() == [0.0, 0.0, 0.0], "a zero vector stays zero"


def test_array_of_structs_in_scalar_out_and_an_error(geo):
    Point = geo.types.Point
    square = [Point(0, 0), Point(2, 0), Point(2, 2), Point(0, 2)]
    assert geo.polygon_area(square) == 4.0
    assert geo.polygon_area(square[::-1]) == 4.0, "either direction"
    rng = random.Random(3)
    pts = [Point(rng.uniform(-5, 5), rng.uniform(-5, 5)) for _ in range(3)]
    shoelace = abs(sum(a.x * b.y - b.x * a.y for a, b in zip(pts, pts[1:] + pts[:1]))) / 2
    assert geo.polygon_area(pts) == pytest.approx(shoelace, rel=1e-12)
    with pytest.raises(shmcall.RemoteError, match="at least 3 vertices, got 2") as e:
        geo.polygon_area(square[:2])
    assert not isinstance(e.value, shmcall.RemotePanic) and e.value.function == "polygon_area"


def test_optional_argument_and_optional_result(geo):
    Point = geo.types.Point
    rng = random.Random(11)
    for n in [0, 1, 2, 50]:
        points = [Point(rng.uniform(-5, 5), rng.uniform(-5, 5)) for _ in range(n)]
        to = Point(rng.uniform(-5, 5), rng.uniform(-5, 5))
        distances = [math.hypot(p.x - to.x, p.y - to.y) for p in points]
        best = min(range(n), key=distances.__getitem__) if n else None
        assert geo.nearest(points, to) == best, "within left out: any distance"
        assert geo.nearest(points, to, None) == best
        for within in [0.0, 0.5, 3.0, 100.0]:
            want = best if best is not None and distances[best] <= within else None
            assert geo.nearest(points, to, within) == want, (n, within)
            assert geo.nearest(points, to, within=within) == want
    with pytest.raises(TypeError, match="float"):
        geo.nearest([Point(0, 0)], Point(1, 1), "far")


def test_optional_struct_fields(geo):
    Point, Marker = geo.types.Point, geo.types.Marker
    m = geo.mark(Point(1.5, -2.0))
    assert isinstance(m, Marker) and (m.at, m.label, m.weight) == (Point(1.5, -2.0), None, None)
    assert geo.mark(Point(0, 0), "home").label == "home"
    assert geo.mark(Point(0, 0), "").label == "", "an empty label is not a missing one"
    assert Marker().label is None and Marker().weight is None, "an option field defaults to None"
    for label, weight, text in [(None, None, "unlabelled at (1, 2), weight 1"), ("café", 0.5, "café at (1, 2), weight 0.5"),
                                ("", 2.0, " at (1, 2), weight 2")]:
        assert geo.describe_marker(Marker(Point(1, 2), label, weight)) == text
    assert geo.describe_marker(geo.mark(Point(3, 4), "x" * 5000)).startswith("x" * 5000), "a label beyond the request"


def test_every_function_has_a_fast_path_and_option_fields_stay_on_it(geo):
    """A struct with optional fields (text and a number), in and out, present and absent, on the
    generated fast path with no fall to the general one; an absent text's reference is not read."""
    for name in FUNCTIONS:
        assert "_shmcall_call_" not in getattr(geo, name).source, f"{name} has no fast path"
    Point, Marker = geo.types.Point, geo.types.Marker
    geo.mark(Point(0, 0))  # this thread's channel opened
    rng = random.Random(12)
    with Counting(geo.mark) as marks, Counting(geo.describe_marker) as described:
        for _ in range(200):
            at = Point(rng.uniform(-9, 9), rng.uniform(-9, 9))
            label = rng.choice([None, "", "é" * rng.randrange(1, 40)])
            weight = rng.choice([None, rng.uniform(0, 5)])
            m = geo.mark(at, label)
            assert m == Marker(at, label, None)
            m.weight = weight
            text = geo.describe_marker(m)
            want = f"{'unlabelled' if label is None else label} at ({at.x}, {at.y}), weight {1.0 if weight is None else weight}"
            assert text.split(" at ")[0] == want.split(" at ")[0] and text.endswith(f"weight {_rust_f64(1.0 if weight is None else weight)}")
    assert marks.falls == described.falls == 0


def _rust_f64(x: float) -> str:
    """``x`` as Rust's ``{}`` writes an f64: no ".0" for a whole number, else the shortest repr."""
    return str(int(x)) if x == int(x) else repr(x)


def primes_reference(n: int) -> list[int]:
    return [k for k in range(2, n) if all(k % d for d in range(2, math.isqrt(k) + 1))]


def test_result_of_unknown_length(geo):
    for n in [0, 1, 2, 3, 20, 1000, 30_000]:
        assert geo.primes_below(n).tolist() == primes_reference(n), n
    assert len(geo.primes_below(10_000_000)) == 664_579
    with pytest.raises(shmcall.RemoteError, match="above the limit"):
        geo.primes_below(100_000_001)


def rle_reference(data: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(data):
        j = i
        while j < len(data) and data[j] == data[i] and j - i < 255:
            j += 1
        out += bytes([j - i, data[i]])
        i = j
    return bytes(out)


def test_bytes_of_unknown_length(geo):
    rng = random.Random(9)
    data = b"".join(bytes([rng.choice(b"ab\x00")]) * rng.choice([1, 2, 7, 255, 256, 600]) for _ in range(200))
    for sample in [b"", b"a", b"aaab", bytes(300), data]:
        out = geo.rle_encode(sample)
        assert isinstance(out, bytes) and out == rle_reference(sample)


def xorshift_reference(seed: int, n: int) -> list[int]:
    out, x, mask = [], seed, (1 << 64) - 1
    for _ in range(n):
        x ^= (x << 13) & mask
        x ^= x >> 7
        x ^= (x << 17) & mask
        out.append(x)
    return out


def test_panic_on_a_documented_condition_and_serving_goes_on(geo, daemon):
    xs = geo.zeros(1000, "u64")
    assert geo.xorshift_fill(xs, 88172645463325252) is None
    assert xs.tolist() == xorshift_reference(88172645463325252, 1000)
    with pytest.raises(shmcall.RemotePanic, match="xorshift64 needs a non-zero seed"):
        geo.xorshift_fill(xs, 0)
    assert geo.rotate(geo.types.Point(1, 0), 180.0).x == -1.0, "the daemon still serves"
    status = subprocess.run([custom_binary(), "status", "--socket", daemon.socket], capture_output=True, text=True,
                            timeout=30)
    assert status.returncode == 0 and status.stdout.startswith("custom_daemon 0.1.0 "), status
    assert "panics" in status.stdout and " 0 panics" not in status.stdout


def test_command_line_names_the_daemon():
    out = subprocess.run([custom_binary(), "--help"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "custom_daemon serve [--socket PATH]" in out.stdout
    assert "custom_daemon.sock" in out.stdout and "shmcalld" not in out.stdout
    out = subprocess.run([custom_binary(), "--version"], capture_output=True, text=True, timeout=30)
    assert out.stdout.startswith("custom_daemon 0.1.0 (shmcall ")
    out = subprocess.run([custom_binary(), "functions"], capture_output=True, text=True, timeout=30)
    assert "rotate(p: Point, degrees: f64) -> Point" in out.stdout and "add(" not in out.stdout


def test_readme_snippet_prints_what_it_says(tmp_path):
    """The Python block of examples/custom_daemon/README.md, run as written: each ``print`` prints its comment."""
    binary = custom_binary()
    readme = (REPO / "examples" / "custom_daemon" / "README.md").read_text()
    match = re.search(r"```python\n(.*?)```", readme, re.S)
    assert match, "the README has a Python block"
    code = match.group(1)
    expected = [line.split("# ", 1)[1] for line in code.splitlines() if line.strip().startswith("print(")]
    for shown, real in [('"/tmp/cd.sock"', repr(str(tmp_path / "cd.sock"))),
                        ('"target/release/custom_daemon"', repr(binary))]:
        assert shown in code
        code = code.replace(shown, real)
    env = {**os.environ, "PYTHONPATH": str(REPO / "python")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == expected
