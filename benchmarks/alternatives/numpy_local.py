"""Plain numpy (and hashlib) in the calling process: the reference for array work. The scalar calls
are plain Python functions, the floor any out-of-process call is measured against."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from .base import Alternative, Session


class NumpySession(Session):
    def add(self, a: int, b: int) -> int:
        r = a + b
        if not -(2**63) <= r < 2**63:
            raise OverflowError("i64 overflow")
        return r

    def hello(self, name: str) -> str:
        return "hello " + name

    def hello_person(self, name: str, age: int) -> tuple[str, int]:
        return "xiaohong", age

    def multi_return(self) -> tuple[int, int]:
        return 1, 2

    def make_array(self, n: int) -> Any:
        return (np.arange(n) % 1000) * 0.25

    def sum(self, xs: Any) -> float:
        return float(xs.sum())

    def scale(self, xs: Any, k: float) -> Any:
        xs *= k
        return xs

    def sha256(self, data: bytes) -> bytes:
        return hashlib.sha256(data).digest()

    def filter_gt(self, xs: Any, t: float) -> Any:
        return xs[xs > t]


class Numpy(Alternative):
    name = "numpy"
    label = "numpy / plain Python in-process"

    def setup(self) -> None:
        pass

    def session(self) -> Session:
        return NumpySession()
