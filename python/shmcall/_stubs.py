"""A ``.pyi`` for one daemon's manifest (``python -m shmcall stubs``): a typed client class with every
remote function as a method, and every struct class with its fields, so that editors and type
checkers know what the daemon's functions take and return.

A stub has no module behind it at run time; the type checker finds it on its path::

    from typing import TYPE_CHECKING, cast
    if TYPE_CHECKING:
        from my_daemon import Client      # my_daemon.pyi, written by `python -m shmcall stubs -o my_daemon.pyi`
    c = cast("Client", shmcall.connect())
"""

from __future__ import annotations

import keyword
from typing import Any

from ._annotations import first_default, param_type, params_annotation, result_type, returns_annotation
from ._function import python_name

__all__: list[str] = []

# numpy's array types of two dtypes count as overlapping for the type checker (their shape type is
# Any): numpy's own stubs silence the same check on their dtype overloads.
_HEADER = '''\
"""Types of the functions and structs of {daemon}: generated from its manifest by `python -m shmcall stubs`."""
# mypy: disable-error-code="overload-overlap"

from __future__ import annotations

import array
from typing import Any, Sequence, overload

import numpy
from numpy.typing import NDArray

import shmcall
from shmcall import Ref, Vec

#: Any object with the buffer protocol that shmcall copies from (or into, if writable).
Buffer = bytes | bytearray | memoryview | array.array[Any]
'''


def _identifier(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name)


def _struct(entry: dict[str, Any]) -> list[str]:
    """A struct class: its fields, typed as they read; its constructor, typed as it accepts."""
    name = entry["name"]
    fields = [(f["name"], f["type"]) for f in entry["fields"]]
    lines = ["", "", f"class {name}:", f'    """A `{name}` struct of the daemon."""', ""]
    lines += [f"    {field}: {result_type(wire)}" for field, wire in fields]
    params = "".join(f", {field}: {param_type(wire)} = ..." for field, wire in fields)
    lines += ["    size: int", "    align: int", "", f"    def __init__(self{params}) -> None: ...",
              "    def _asdict(self) -> dict[str, Any]: ..."]
    return lines


def _method(name: str, entry: dict[str, Any], overload: bool = False, arrays_only: str = "") -> list[str]:
    """A method's stub; for one overload of a generic function, its parameter ``arrays_only`` typed
    as the overload's numpy array alone (what tells the overloads apart)."""
    first = first_default([(p["name"], p["type"]) for p in entry["params"]])
    params = "".join(f", {python_name(p['name'])}: "
                     f"{params_annotation(p['type']).split(' | ')[0] if p['name'] == arrays_only else params_annotation(p['type'])}"
                     f"{' = None' if i >= first else ''}"
                     for i, p in enumerate(entry["params"]))
    wires = [r["type"].strip() for r in entry["returns"]]
    returns = "None" if not wires else wires[0] if len(wires) == 1 else f"tuple[{', '.join(wires)}]"
    doc = (entry.get("doc") or "").strip().splitlines()
    lines = ["    @overload"] if overload else []
    lines.append(f"    def {name}(self{params}, *, timeout: float | None = None) -> {returns_annotation(returns)}:")
    if doc and not overload:
        lines.append(f'        """{doc[0]}"""'.replace("\\", "\\\\"))
    lines.append("        ...")
    return lines


def stub(manifest: dict[str, Any], daemon: str, hidden: set[str]) -> str:
    """The ``.pyi`` text for ``manifest`` (of the daemon described by ``daemon``); functions named as
    ``hidden`` names (``shmcall.Client``'s own attributes) are reached only through ``c.functions``."""
    out = [_HEADER.format(daemon=daemon)]
    structs = [s for s in manifest["structs"] if _identifier(s["name"])]
    for entry in structs:
        out += _struct(entry)
    out += ["", "", "class Client(shmcall.Client):", f'    """A client of {daemon}."""', "",
            "    # Every function the daemon serves is declared below: any other name is no function.",
            "    def __getattr__(self, name: str) -> None: ...", ""]
    for entry in sorted(manifest["functions"], key=lambda e: str(e["name"])):
        name = entry["name"]
        if not _identifier(name) or name in hidden:
            continue  # reached only through c.functions
        if "overloads" in entry:
            # A generic function: an overload per element type for its numpy arrays (told apart by
            # dtype), then one for anything else it takes (lists, buffers), returning any of its types.
            overloads = entry["overloads"]
            for overload in overloads:
                out += _method(name, overload, overload=True, arrays_only=entry["dispatch"])
            first = overloads[0]
            out += _method(name, {**first, "params": [
                {**p, "type": " | ".join(o["params"][i]["type"] for o in overloads)} for i, p in enumerate(first["params"])],
                "returns": [{"type": " | ".join(o["returns"][0]["type"] for o in overloads)}] if first["returns"] else []},
                overload=True)
        else:
            out += _method(name, entry)
        out.append("")
    return "\n".join(out).rstrip() + "\n"
