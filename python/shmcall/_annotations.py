"""Python types for the manifest's wire types (SPEC §4.5): what signatures show and stubs declare,
so that editors and type checkers know what a remote function takes and returns. The Rust type
stays in the docstring's first line.

The names used are those a stub imports (`stub_header`): ``NDArray`` and numpy's scalar types,
``Sequence``, ``Any``, ``Buffer`` (any object with the buffer protocol: bytes, bytearray,
memoryview, array.array), ``Ref`` and ``Vec``, and the daemon's struct classes by name.
"""

from __future__ import annotations

import re
from typing import Sequence

from ._scalars import SCALARS

__all__: list[str] = []

_SLICE = re.compile(r"^&(mut )?\[(.+)\]$")
_FIXED = re.compile(r"^\[(.+); (\d+)\]$")


def _element(name: str) -> tuple[str, str]:
    """An element type's Python type and its numpy array type."""
    scalar = SCALARS.get(name)
    if scalar is None:  # a plain struct: a structured array
        return name, "NDArray[Any]"
    return scalar.kind, f"NDArray[numpy.{scalar.dtype_name if scalar.kind != 'bool' else 'bool_'}]"


def param_type(wire: str) -> str:
    """The Python type a parameter of wire type ``wire`` accepts."""
    wire = wire.strip()
    if wire.startswith("Option<"):
        return union([param_type(wire[len("Option<"):-1]), "None"])
    scalar = SCALARS.get(wire)
    if scalar is not None:
        return scalar.kind
    if wire == "str":
        return "str"
    if wire == "bytes":
        return "Buffer"
    if m := _SLICE.match(wire):
        python, array = _element(m[2].strip())
        if m[1]:  # written in place: something writable, updated after the call
            return f"{array} | list[{python}] | Buffer"
        return f"{array} | Sequence[{python}] | Buffer"
    if wire.startswith("&mut Vec<"):
        return f"Vec | list[{_element(wire[len('&mut Vec<'):-1].strip())[0]}]"
    if wire.startswith("&mut "):
        return f"Ref[{_element(wire[len('&mut '):].strip())[0]}]"
    if m := _FIXED.match(wire):
        python = param_type(m[1])
        return f"Sequence[{python}]" + (" | bytes" if m[1].strip() == "u8" else "")
    return f"{wire} | tuple[Any, ...]"  # a struct: an instance, or its fields in order


def result_type(wire: str) -> str:
    """The Python type a result of wire type ``wire`` arrives as."""
    wire = wire.strip()
    if wire.startswith("Option<"):
        return union([result_type(wire[len("Option<"):-1]), "None"])
    scalar = SCALARS.get(wire)
    if scalar is not None:
        return scalar.kind
    if wire in ("str", "bytes"):
        return wire
    if wire.startswith("Vec<"):
        return _element(wire[len("Vec<"):-1].strip())[1]
    if m := _FIXED.match(wire):
        return "bytes" if m[1].strip() == "u8" else f"list[{result_type(m[1])}]"
    return wire  # a struct


def params_annotation(wires: str) -> str:
    """The Python type of a parameter whose wire type is ``wires`` (``a | b`` for a generic one)."""
    return union([param_type(w) for w in wires.split(" | ")])


def returns_annotation(wires: str) -> str:
    """The Python return type for a wire return annotation: ``None``, one type, ``tuple[a, b]``, or
    a union of those (a generic function)."""
    types = []
    for alternative in wires.split(" | "):
        if alternative.startswith("tuple[") and alternative.endswith("]"):
            types.append(f"tuple[{', '.join(result_type(w) for w in alternative[6:-1].split(', '))}]")
        else:
            types.append("None" if alternative == "None" else result_type(alternative))
    return union(types)


def optional(wires: str) -> bool:
    """True for an ``Option<T>`` parameter (of every overload, for a generic one's ``a | b``)."""
    return all(w.strip().startswith("Option<") for w in wires.split(" | "))


def first_default(params: Sequence[tuple[str, str]]) -> int:
    """The index from which every parameter (``(name, wire types)``) is optional: those default to
    None. An optional parameter before a required one takes None but must be given (Python's rule
    for positional parameters)."""
    first = len(params)
    while first and optional(params[first - 1][1]):
        first -= 1
    return first


def parameter_list(params: Sequence[tuple[str, str]]) -> str:
    """``a, b, c=None, ``: the parameters as generated code declares them (`first_default`)."""
    first = first_default(params)
    return "".join(f"{name}=None, " if i >= first else f"{name}, " for i, (name, _) in enumerate(params))


def union(types: list[str]) -> str:
    """``a | b``, each alternative once, in order (the parameter of a generic function)."""
    parts = [part for t in types for part in t.split(" | ")]
    return " | ".join(dict.fromkeys(parts))
