"""The article's own approach: Go functions exported with cgo as a c-shared library
(``benchmarks/go``), called in process through ctypes. Owns that library's build and its ctypes
declarations, including the structs cgo generates. Needs a Go toolchain
(``apt-get install golang-go``); without one it reports itself unavailable.
"""

from __future__ import annotations

import ctypes
import functools
import shutil
import subprocess
from ctypes import POINTER, Structure, byref, c_char_p, c_double, c_int, c_longlong, c_void_p
from typing import Any

from .base import Alternative, Session
from .ffi import F64P, REPO, copy_f64, declare, f64_ptr, make_f64_array

MODULE = REPO / "benchmarks" / "go"
LIB = MODULE / "build" / "libshmcallbench.so"


class PersonIn(Structure):
    """The article's ``struct Person``, as sent: ctypes keeps the name bytes alive."""

    _fields_ = [("name", c_char_p), ("age", c_longlong)]


class PersonOut(Structure):
    """The same layout, as returned. The name is read as a raw pointer: a ``c_char_p`` field would
    copy the text and drop the pointer, leaking Go's C.CString (the article's version does)."""

    _fields_ = [("name", c_void_p), ("age", c_longlong)]


class MultiReturn(Structure):
    """cgo's ``struct MultiReturn_return`` for a Go function returning two values."""

    _fields_ = [("r0", c_longlong), ("r1", c_longlong)]


@functools.cache
def _load() -> ctypes.CDLL:
    lib = ctypes.CDLL(str(LIB))
    sigs = {
        "Add": ([c_longlong, c_longlong, POINTER(c_int)], c_longlong),
        "Hello": ([c_char_p], c_void_p),  # c_void_p, not c_char_p: the pointer must reach FreeString
        "HelloPerson": ([PersonIn], PersonOut),
        "MultiReturn": ([], MultiReturn),
        "FreeString": ([c_void_p], None),
        "SumF64": ([F64P, c_longlong], c_double),
        "ScaleF64": ([F64P, c_longlong, c_double], None),
        "FilterGtF64": ([F64P, c_longlong, c_double, POINTER(c_longlong)], c_void_p),
        "FreeF64": ([c_void_p], None),
        "Sha256": ([c_char_p, c_longlong, c_char_p], None),
    }
    return declare(lib, sigs)


class GoSession(Session):
    def __init__(self, lib: ctypes.CDLL) -> None:
        self.lib = lib

    def add(self, a: int, b: int) -> int:
        overflow = c_int()
        r = self.lib.Add(a, b, byref(overflow))
        if overflow.value:
            raise OverflowError(f"integer overflow: {a} + {b}")
        return r

    def _take_str(self, ptr: int | None) -> str:
        try:
            return ctypes.string_at(ptr).decode()
        finally:
            self.lib.FreeString(ptr)

    def hello(self, name: str) -> str:
        # A C string ends at the first NUL, so (as in the article) a name cannot contain one.
        return self._take_str(self.lib.Hello(name.encode()))

    def hello_person(self, name: str, age: int) -> tuple[str, int]:
        p = self.lib.HelloPerson(PersonIn(name.encode(), age))
        return self._take_str(p.name), p.age

    def multi_return(self) -> tuple[int, int]:
        r = self.lib.MultiReturn()
        return r.r0, r.r1

    def make_array(self, n: int) -> Any:
        return make_f64_array(n)

    def sum(self, xs: Any) -> float:
        return self.lib.SumF64(f64_ptr(xs), len(xs))

    def scale(self, xs: Any, k: float) -> Any:
        if not xs.flags.writeable:
            raise ValueError("scale needs a writeable array")
        self.lib.ScaleF64(f64_ptr(xs), len(xs), k)
        return xs

    def sha256(self, data: bytes) -> bytes:
        out = ctypes.create_string_buffer(32)
        self.lib.Sha256(data, len(data), out)
        return out.raw

    def filter_gt(self, xs: Any, t: float) -> Any:
        n = c_longlong()
        ptr = self.lib.FilterGtF64(f64_ptr(xs), len(xs), t, byref(n))
        try:
            return copy_f64(ptr, n.value)
        finally:
            self.lib.FreeF64(ptr)


class Go(Alternative):
    name = "go"
    label = "in-process Go c-shared + ctypes (the article)"

    def unavailable(self) -> str | None:
        if shutil.which("go") is None:
            return "no Go toolchain on PATH (apt-get install golang-go)"
        return None

    def setup(self) -> None:
        # Built but not loaded here: loading starts the Go runtime, and a process forked after that
        # inherits a runtime without its threads (simple calls still work; the first garbage
        # collection hangs). Each session loads the library in its own process.
        LIB.parent.mkdir(exist_ok=True)
        subprocess.run(
            ["go", "build", "-buildmode=c-shared", "-o", str(LIB), "."], cwd=MODULE, check=True
        )

    def session(self) -> Session:
        return GoSession(_load())
