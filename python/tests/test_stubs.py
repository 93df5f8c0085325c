"""Python types for remote functions: signatures annotated with Python types (the Rust signature in
the docstring), and ``python -m shmcall stubs`` writing a ``.pyi`` that a type checker uses: a
program using the daemon's functions as typed passes ``mypy --strict``, one misusing them fails."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

GOOD = '''
from typing import TYPE_CHECKING, cast
import numpy as np
import shmcall
if TYPE_CHECKING:
    from builtins_stub import Client, Person

def use(c: "Client") -> None:
    total: int = c.add(2, 3)
    text: str = c.hello("x")
    p: "Person" = c.hello_person(("xiaoming", 18))
    age: int = p.age
    digest: bytes = c.sha256(b"abc")
    xs = np.arange(4.0)
    s: float = c.sum(xs)
    i: int = c.sum(np.arange(4))
    big = c.filter_gt(xs, 1.5)
    first: np.float64 = big[0]
    c.scale(xs, 2.0, timeout=1.0)
    r = c.ref("i64", 1)
    c.change_int(r)
    pair: tuple[int, int] = c.multi_return()
    tag: bytes = c.encrypt(bytearray(8), bytes(32), bytes(12), b"")
    tag = c.encrypt(bytearray(8), bytes(32), bytes(12))
    c.decrypt(bytearray(8), bytes(32), bytes(12), tag, aad=None)
    low: float = c.clamp(0.5, hi=0.25)
    found: int | None = c.index_of(np.arange(3), 2)
    print(total, text, age, digest, s, i, first, pair, tag, low, found)

use(cast("Client", shmcall.connect()))
'''

BAD = '''
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from builtins_stub import Client

def misuse(c: "Client") -> None:
    c.add("2", 3)                  # a str for an int
    name: int = c.hello("x")       # a str result taken as int
    c.sha256(3.5)                  # a float for bytes
    c.no_such_function()           # not served
    c.hello("x", timeout="soon")   # timeout is a float
    c.clamp(1.0, "low")            # a str for float | None
    at: int = c.index_of([1], 1)   # int | None taken as int
    c.decrypt(bytearray(8), bytes(32), bytes(12))  # the tag is required
'''


@pytest.fixture(scope="module")
def stubs(daemon, tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("stubs")
    out = subprocess.run([sys.executable, "-m", "shmcall", "stubs", "--socket", daemon.socket, "-o",
                          str(where / "builtins_stub.pyi")], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(REPO / "python")})
    assert out.returncode == 0, out.stderr
    return where


def mypy(where: Path, program: str) -> subprocess.CompletedProcess[str]:
    (where / "program.py").write_text(program)
    return subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", "program.py",
                           "builtins_stub.pyi"], cwd=where, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "MYPYPATH": f"{where}:{REPO / 'python'}"})


def test_a_program_using_the_stubs_passes_mypy_strict(stubs):
    out = mypy(stubs, GOOD)
    assert out.returncode == 0, out.stdout


def test_a_program_misusing_them_fails_on_each_misuse(stubs):
    out = mypy(stubs, BAD)
    assert out.returncode == 1
    for line in (7, 8, 9, 10, 11, 12, 13, 14):
        assert f"program.py:{line}:" in out.stdout, (line, out.stdout)


def test_signatures_carry_python_types_and_the_docstring_rust_types(c):
    assert str(inspect.signature(c.multi_return)) == "(*, timeout: 'float | None' = None) -> 'tuple[int, int]'"
    assert inspect.signature(c.change_int).parameters["x"].annotation == "Ref[int]"
    assert inspect.signature(c.circle_points).return_annotation == "NDArray[Any]"
    assert inspect.signature(c.sha256).parameters["data"].annotation == "NDArray[numpy.uint8] | Sequence[int] | Buffer"
    assert c.sha256.__doc__.startswith("sha256(data: &[u8]) -> bytes")
    assert c.add.__annotations__ == {"a": "int", "b": "int", "timeout": "float | None", "return": "int"}


def test_optional_parameters_default_to_none_where_python_allows(c):
    clamp = inspect.signature(c.clamp).parameters
    assert [(p.annotation, p.default) for p in clamp.values()][:3] == [
        ("float", inspect.Parameter.empty), ("float | None", None), ("float | None", None)]
    decrypt = inspect.signature(c.decrypt).parameters
    assert decrypt["tag"].default is inspect.Parameter.empty and decrypt["aad"].default is None
    assert inspect.signature(c.index_of).return_annotation == "int | None"
