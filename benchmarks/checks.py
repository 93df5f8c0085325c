"""What every approach must answer before anything of it is timed: each operation once, on small
inputs, against a known result."""

from __future__ import annotations

import hashlib
from typing import Any, Callable

import numpy as np

_REF = (np.arange(10_000) % 1000) * 0.25
_DATA = bytes(range(256)) * 4096
CHECKS: dict[str, Callable[[Any], bool]] = {
    "add": lambda s: s.add(2, 3) == 5,
    "hello": lambda s: s.hello("Python") == "hello Python",
    "hello_person": lambda s: tuple(s.hello_person("xiaoming", 18)) == ("xiaohong", 18),
    "multi_return": lambda s: tuple(s.multi_return()) == (1, 2),
    "sum": lambda s: abs(s.sum(s.make_array(10_000)) - _REF.sum()) < 1e-6 * abs(_REF.sum()),
    "scale": lambda s: np.array_equal(np.asarray(s.scale(s.make_array(10_000), 2.0)), _REF * 2),
    "filter_gt": lambda s: np.array_equal(np.asarray(s.filter_gt(s.make_array(10_000), 200.0)), _REF[_REF > 200.0]),
    "sha256": lambda s: s.sha256(_DATA) == hashlib.sha256(_DATA).digest(),
    "add_many": lambda s: list(s.add_many(1000)) == [i + 1 for i in range(1000)],
}


def verify(s: Any) -> set[str]:
    """Every operation's result is checked before anything is timed. Returns the operations the
    approach does not have (they raise NotImplementedError), which the runner skips."""
    missing = set()
    for op, check in CHECKS.items():
        try:
            ok = check(s)
        except NotImplementedError:
            missing.add(op)
            continue
        assert ok, f"{op}: wrong result"
    return missing
