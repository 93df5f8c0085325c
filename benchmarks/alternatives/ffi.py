"""In-process FFI: the daemon's own Rust kernels built as a cdylib (``benchmarks/ffi``) and called
through ctypes, the article's approach without Go. Owns that library's ctypes declarations, and the
small numpy/ctypes helpers the Go alternative shares.

What a careful ctypes user has to write is written out here on purpose: out parameters for every
result, and every buffer the library allocates copied into Python and handed back to be freed.
"""

from __future__ import annotations

import ctypes
import functools
import subprocess
from ctypes import POINTER, byref, c_char_p, c_double, c_int32, c_int64, c_size_t, c_void_p
from pathlib import Path
from typing import Any

import numpy as np

from .base import Alternative, Session

REPO = Path(__file__).resolve().parents[2]
CRATE = REPO / "benchmarks" / "ffi"
LIB = CRATE / "target" / "release" / "libshmcall_bench_ffi.so"

F64P = POINTER(c_double)


def make_f64_array(n: int) -> np.ndarray:
    """The suite's test array, an ordinary (C-contiguous, float64) numpy array."""
    return (np.arange(n) % 1000) * 0.25


def f64_ptr(xs: np.ndarray) -> Any:
    """A ``double*`` to xs's data. The check is what keeps a wrong array from being read as
    doubles (or scaled into a temporary copy), so it is part of an honest call."""
    if xs.dtype != np.float64 or not xs.flags.c_contiguous:
        raise TypeError("expected a C-contiguous float64 array")
    return xs.ctypes.data_as(F64P)


def copy_f64(ptr: int | None, n: int) -> np.ndarray:
    """A numpy copy of n doubles at ptr (ptr may be null or dangling when n is 0)."""
    if n == 0:
        return np.empty(0, dtype=np.float64)
    return np.ctypeslib.as_array(ctypes.cast(ptr, F64P), (n,)).copy()


# Status codes of benchmarks/ffi/src/lib.rs.
_ERRORS = {
    2: (RuntimeError, "the Rust kernel panicked"),
    3: (UnicodeError, "argument is not UTF-8"),
    4: (ValueError, "null pointer with a non-zero length"),
}


def declare(lib: ctypes.CDLL, sigs: dict[str, tuple[list, Any]]) -> ctypes.CDLL:
    """Sets argtypes/restype of each exported function once: {name: (argtypes, restype)}."""
    for name, (args, res) in sigs.items():
        fn = getattr(lib, name)
        fn.argtypes = args
        fn.restype = res
    return lib


def _error(rc: int, kernel_error: type[Exception], what: str) -> Exception:
    """The exception for a non-zero status (callers test ``if rc:`` first, so a successful call
    pays for nothing else)."""
    if rc == 1:
        return kernel_error(what)
    cls, msg = _ERRORS.get(rc, (RuntimeError, f"unknown status {rc}"))
    return cls(msg)


@functools.cache
def _load() -> ctypes.CDLL:
    lib = ctypes.CDLL(str(LIB))
    # Declared once: without argtypes ctypes would pass every Python int as a C int and every
    # float as a double only by luck; without restype every result would be read as a C int.
    sigs = {
        "add": ([c_int64, c_int64, POINTER(c_int64)], c_int32),
        "hello": ([c_char_p, c_size_t, POINTER(c_void_p), POINTER(c_size_t)], c_int32),
        "hello_person": (
            [c_char_p, c_size_t, c_int64, POINTER(c_void_p), POINTER(c_size_t), POINTER(c_int64)],
            c_int32,
        ),
        "multi_return": ([POINTER(c_int64), POINTER(c_int64)], c_int32),
        "free_buf": ([c_void_p, c_size_t], None),
        "sum_f64": ([F64P, c_size_t, POINTER(c_double)], c_int32),
        "scale_f64": ([F64P, c_size_t, c_double], c_int32),
        "filter_gt_f64": ([F64P, c_size_t, c_double, POINTER(c_void_p), POINTER(c_size_t)], c_int32),
        "free_f64": ([c_void_p, c_size_t], None),
        "sha256": ([c_char_p, c_size_t, c_char_p], c_int32),
    }
    return declare(lib, sigs)


class FfiSession(Session):
    def __init__(self, lib: ctypes.CDLL) -> None:
        self.lib = lib

    def add(self, a: int, b: int) -> int:
        out = c_int64()
        rc = self.lib.add(a, b, byref(out))
        if rc:
            raise _error(rc, OverflowError, f"integer overflow: {a} + {b}")
        return out.value

    def _take_str(self, ptr: c_void_p, n: c_size_t) -> str:
        # Copy out, then give the buffer back: Python cannot free Rust's allocation itself.
        try:
            return ctypes.string_at(ptr, n.value).decode()
        finally:
            self.lib.free_buf(ptr, n)

    def hello(self, name: str) -> str:
        b = name.encode()
        ptr, n = c_void_p(), c_size_t()
        rc = self.lib.hello(b, len(b), byref(ptr), byref(n))
        if rc:
            raise _error(rc, RuntimeError, "hello")
        return self._take_str(ptr, n)

    def hello_person(self, name: str, age: int) -> tuple[str, int]:
        b = name.encode()
        ptr, n, out_age = c_void_p(), c_size_t(), c_int64()
        rc = self.lib.hello_person(b, len(b), age, byref(ptr), byref(n), byref(out_age))
        if rc:
            raise _error(rc, RuntimeError, "hello_person")
        return self._take_str(ptr, n), out_age.value

    def multi_return(self) -> tuple[int, int]:
        a, b = c_int64(), c_int64()
        rc = self.lib.multi_return(byref(a), byref(b))
        if rc:
            raise _error(rc, RuntimeError, "multi_return")
        return a.value, b.value

    def make_array(self, n: int) -> Any:
        return make_f64_array(n)

    def sum(self, xs: Any) -> float:
        out = c_double()
        rc = self.lib.sum_f64(f64_ptr(xs), len(xs), byref(out))
        if rc:
            raise _error(rc, ArithmeticError, "sum_f64")
        return out.value

    def scale(self, xs: Any, k: float) -> Any:
        if not xs.flags.writeable:
            raise ValueError("scale needs a writeable array")
        rc = self.lib.scale_f64(f64_ptr(xs), len(xs), k)
        if rc:
            raise _error(rc, ArithmeticError, "scale_f64")
        return xs

    def sha256(self, data: bytes) -> bytes:
        out = ctypes.create_string_buffer(32)
        rc = self.lib.sha256(data, len(data), out)
        if rc:
            raise _error(rc, RuntimeError, "sha256")
        return out.raw

    def filter_gt(self, xs: Any, t: float) -> Any:
        ptr, n = c_void_p(), c_size_t()
        rc = self.lib.filter_gt_f64(f64_ptr(xs), len(xs), t, byref(ptr), byref(n))
        if rc:
            raise _error(rc, RuntimeError, "filter_gt_f64")
        try:
            return copy_f64(ptr.value, n.value)
        finally:
            self.lib.free_f64(ptr, n)


class Ffi(Alternative):
    name = "ctypes"
    label = "in-process Rust cdylib + ctypes"

    def setup(self) -> None:
        subprocess.run(
            ["cargo", "build", "--release", "--quiet", "--manifest-path", str(CRATE / "Cargo.toml")],
            cwd=REPO,
            check=True,
        )
        _load()

    def session(self) -> Session:
        # The library lives in a module-level cache, not on self, so this object stays picklable
        # for runners that spawn their workers. Fork is unsafe once this process has run a kernel
        # on rayon's pool (>= 2^17 elements): the child's next parallel kernel waits forever for
        # worker threads it did not inherit.
        return FfiSession(_load())
