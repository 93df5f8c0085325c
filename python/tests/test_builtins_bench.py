"""The built-ins benchmark (``benchmarks/builtins.py``) checks every result against its library before
it times anything: that check, at tiny sizes against the test daemon, so a broken benchmark fails
here rather than minutes into a run; and a wrong reference makes it fail."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))


def load_bench():
    # By path: its name would be the interpreter's own `builtins` module.
    spec = importlib.util.spec_from_file_location("builtins_bench", BENCHMARKS / "builtins.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


bench = load_bench()


def test_every_case_agrees_with_its_library(c):
    checked = bench.verify_all(c, bench.TINY)
    assert {"add", "sum", "sort", "sha256", "encrypt", "decrypt", "prng_fill", "select_samples"} <= checked


def test_every_served_function_is_measured(c):
    covered = {case.name for case in bench.cases(c, bench.TINY)}
    assert bench.unmeasured_functions(c, covered) == []


@pytest.mark.parametrize("name, reference, wrong", [
    ("add", "py_add", lambda a, b: a + b + 1),
    ("prng_fill", "splitmix64_f64", lambda seed, n: bench.np.zeros(n)),
    ("promote", "py_promote", lambda team: None),
])
def test_a_wrong_reference_fails_the_check(c, monkeypatch, name, reference, wrong):
    monkeypatch.setattr(bench, reference, wrong)
    with pytest.raises(bench.VerificationError, match=name):
        bench.verify_all(c, bench.TINY, only={name})


def test_a_wrong_library_result_fails_the_check(c, monkeypatch):
    class WrongDigest:
        def __init__(self, data):
            pass

        def digest(self):
            return bytes(32)

    monkeypatch.setattr(bench.hashlib, "sha256", WrongDigest)
    with pytest.raises(bench.VerificationError, match="sha256"):
        bench.verify_all(c, bench.TINY, only={"sha256"})
