"""Generic functions (SPEC §7): one callable per function the manifest gives with overloads, with a
real signature and docstring, calling the overload for the element type of its dispatch argument:
numpy arrays by dtype, buffers by format, lists and Python numbers by their documented defaults."""

from __future__ import annotations

import array
import inspect
import types

import numpy as np
import pytest

import shmcall
from shmcall import _fastpath
from test_fastpath import Counting


def test_a_generic_function_is_one_manifest_entry_with_an_overload_per_type(c):
    entry = next(e for e in c.manifest["functions"] if e["name"] == "sum")
    assert entry["dispatch"] == "xs" and "id" not in entry
    assert [o["element"] for o in entry["overloads"]] == ["f32", "f64", "i64"]
    assert [o["params"][0]["type"] for o in entry["overloads"]] == ["&[f32]", "&[f64]", "&[i64]"]
    ids = [o["id"] for o in entry["overloads"]]
    assert ids == list(range(ids[0], ids[0] + 3)), "consecutive ids of their own"
    names = {e["name"] for e in c.manifest["functions"]}
    assert {"sum", "scale", "sort", "filter_gt", "prng_fill"} <= names
    assert not any(n.endswith(("_f32", "_f64", "_i64", "_u64")) for n in names), "no name-suffix families"


def test_signature_annotates_each_parameter_with_the_union_of_its_types(c):
    assert str(inspect.signature(c.sum)) == "(xs: 'NDArray[numpy.float32] | Sequence[float] | Buffer | NDArray[numpy.float64] | NDArray[numpy.int64] | Sequence[int]', *, timeout: 'float | None' = None) -> 'float | int'"
    assert str(inspect.signature(c.scale)) == (
        "(xs: 'NDArray[numpy.float32] | list[float] | Buffer | NDArray[numpy.float64] | NDArray[numpy.int64] | list[int]', "
        "k: 'float | int', *, timeout: 'float | None' = None) -> 'None'")
    assert str(inspect.signature(c.prng_fill)).startswith(
        "(xs: 'NDArray[numpy.uint64] | list[int] | Buffer | NDArray[numpy.int64] | NDArray[numpy.float64] | list[float] "
        "| NDArray[numpy.float32]', seed: 'int',")
    doc = c.sum.__doc__
    assert doc.startswith("sum(xs: &[f32] | &[f64] | &[i64]) -> f32 | f64 | i64\n\nSum of the elements")
    assert "element type of xs (f32, f64, i64; a list or a Python number counts as f64 if it holds a float" in doc


@pytest.mark.parametrize("dtype, want", [(np.float32, np.float32(6.0)), (np.float64, 6.0), (np.int64, 6)])
def test_each_dtype_calls_its_own_overload(c, dtype, want):
    xs = c.asarray([1, 2, 3], dtype)
    got = c.sum(xs)
    assert got == want and type(got) is type(float(want) if dtype != np.int64 else 6)
    c.scale(xs, 2)
    c.sort(xs[::-1].copy())  # a private array: copied in and back
    assert c.filter_gt(xs, 3).tolist() == [4, 6] and c.filter_gt(xs, 3).dtype == dtype


def test_buffers_lists_and_views_are_dispatched_by_their_element_type(c):
    assert c.sum(array.array("d", [1.5, 2.5])) == 4.0
    assert c.sum(array.array("q", [2**62, 2**62 - 1])) == 2**63 - 1  # exact: i64
    assert c.sum(array.array("l", [1, 2])) == 3
    assert c.sum(array.array("f", [0.5, 0.25])) == 0.75
    assert c.sum(memoryview(np.arange(4, dtype=np.int64))) == 6
    assert c.sum([1, 2, 3]) == 6 and type(c.sum([1, 2, 3])) is int  # ints: i64
    assert c.sum([1, 2.5]) == 3.5  # any float: f64
    assert c.sum([]) == 0
    buf = array.array("d", [1.0, 2.0])
    c.scale(buf, 3.0)  # written back in place
    assert buf.tolist() == [3.0, 6.0]
    u = c.zeros(4, "u64")
    c.prng_fill(u, 1)
    f = c.zeros(4, "f64")
    c.prng_fill(f, 1)
    assert (f == (u >> np.uint64(11)) * 2.0**-53).all()


def test_an_element_type_without_an_overload_is_a_type_error_naming_those_there_are(c):
    with pytest.raises(TypeError, match=r"sum\(\) takes xs with elements of type f32, f64, i64; got i32 elements"):
        c.sum(np.zeros(3, np.int32))
    with pytest.raises(TypeError, match=r"got u8 elements"):
        c.sum(b"bytes")
    with pytest.raises(TypeError, match=r"got a str"):
        c.sum("text")
    with pytest.raises(TypeError, match=r"got a object"):
        c.sum(object())
    with pytest.raises(TypeError, match=r"expected an array of f64"):  # f64, but big-endian
        c.sum(np.zeros(3, ">f8"))


def test_timeout_by_keyword_and_no_argument_too_many(c):
    xs = c.asarray([1.0, 2.0], "f64")
    assert c.sum(xs, timeout=1.0) == 3.0
    with pytest.raises(TypeError, match="timeout only by keyword"):
        c.sum(xs, 1.0)
    with pytest.raises(TypeError):
        c.sum()


def test_the_dispatcher_calls_the_overloads_fast_path(c):
    xs = c.asarray(np.arange(64.0))
    c.sum(xs)
    f64 = c.sum.overloads["f64"]
    assert f64.__code__.co_filename == "<shmcall fast sum[f64]>" and f64.remote.label == "sum[f64]"
    with Counting(f64) as count:
        for _ in range(50):
            assert c.sum(xs) == 2016.0
    assert count.falls == 0
    ids = {c.sum.overloads[t].remote.id for t in ("f32", "f64", "i64")}
    assert len(ids) == 3, "each overload is called by its own id"
    assert "_by_dtype[xs.dtype]" in c.sum.source and c.sum.__code__.co_filename == "<shmcall sum>"


def test_overloads_are_made_when_first_called(daemon, monkeypatch):
    made = []
    real = _fastpath.define
    monkeypatch.setattr(_fastpath, "define", lambda source, filename, *a: made.append(filename) or real(source, filename, *a))
    with shmcall.connect(daemon.socket, spawn=False) as k:
        assert made == []
        k.sum(k.asarray([1.0, 2.0], "f64"))
        assert made == ["<shmcall sum>", "<shmcall fast sum[f64]>"]
        k.sum(k.asarray([1, 2], "i64"))
        k.sum(k.asarray([3.0], "f64"))
        assert made == ["<shmcall sum>", "<shmcall fast sum[f64]>", "<shmcall fast sum[i64]>"]
        assert sorted(k.sum.overloads) == ["f32", "f64", "i64"]


def test_a_generic_export_of_a_custom_daemon_is_called_the_same_way(c):
    """The generic built-ins are `export!` generics; the client knows no built-in by name."""
    method = types.MethodType(c.sum.overloads["i64"], c)
    assert method(c.asarray([5, 6], "i64")) == 11
