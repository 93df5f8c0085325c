"""The Python types of the manifest's structs (``c.types.Person``): their codecs, checked against
the C layout, and a class per struct with the fields as slots."""

from __future__ import annotations

import keyword
import math
from types import CodeType
from typing import Any, Callable

from ._codecs import ArrayCodec, Codec, OptionCodec, StructCodec, parse
from ._errors import CorruptResponse
from ._fastpath import fresh_code
from ._numpy import HAVE_NUMPY
from ._scalars import SCALARS, ZEROS

__all__: list[str] = []


def build_structs(descriptions: list[dict[str, Any]]) -> dict[str, StructCodec]:
    """The codecs of the manifest's structs, in its order (a struct names only earlier ones), each
    with its Python type made (``codec.cls``)."""
    structs: dict[str, StructCodec] = {}
    for desc in descriptions:
        fields = [(f["name"], parse(f["type"], structs), f["offset"]) for f in desc["fields"]]
        codec = StructCodec(desc, fields)
        check_layout(codec)
        make_struct_type(codec, desc.get("doc", ""))
        structs[codec.name] = codec
    return structs


def check_layout(codec: StructCodec) -> None:
    """Recomputes the C layout the manifest states; a disagreement means a corrupt manifest."""
    pos, align = 0, 1
    for name, c, off in codec.fields:
        pos = (pos + c.align - 1) // c.align * c.align
        if off != pos:
            raise CorruptResponse(f"struct {codec.name}: field {name} at {off}, C layout puts it at {pos}")
        pos += c.size
        align = max(align, c.align)
    size = (pos + align - 1) // align * align
    if (size, align) != (codec.size, codec.align):
        raise CorruptResponse(f"struct {codec.name}: size/align {codec.size}/{codec.align}, C layout gives {size}/{align}")


def default_value(codec: Codec) -> object:
    """A field's value when none is given: zero, empty text, None for an option, a default struct, zeros."""
    if isinstance(codec, OptionCodec):
        return None
    scalar = SCALARS.get(codec.name)
    if scalar is not None:
        return ZEROS[scalar.kind]
    if codec.name == "str":
        return ""
    if codec.name == "bytes":
        return b""
    if isinstance(codec, StructCodec):
        return codec.cls()
    if isinstance(codec, ArrayCodec):
        d = default_value(codec.elem)
        return bytes(codec.n) if codec.elem.name == "u8" else [d] * codec.n
    raise TypeError(f"no default for {codec.name}")


def make_struct_type(codec: StructCodec, doc: str) -> type[Any]:
    """The Python type of a struct (``codec.cls``): slots for its fields, keyword or positional
    construction, equality by value, and a numpy dtype if the struct is plain."""
    names = tuple(f[0] for f in codec.fields)

    def __init__(self: object, *args: object, **kwargs: object) -> None:
        if len(args) > len(names):
            raise TypeError(f"{codec.name}() takes at most {len(names)} positional arguments")
        values = dict(zip(names, args))
        for k, v in kwargs.items():
            if k not in names:
                raise TypeError(f"{codec.name}() has no field {k!r}")
            if k in values:
                raise TypeError(f"{codec.name}() got field {k!r} twice")
            values[k] = v
        for name, c, _ in codec.fields:
            object.__setattr__(self, name, values[name] if name in values else default_value(c))

    def __eq__(self: object, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(_same(getattr(self, n), getattr(other, n)) for n in names)

    def __repr__(self: object) -> str:
        return f"{codec.name}({', '.join(f'{n}={getattr(self, n)!r}' for n in names)})"

    def _asdict(self: object) -> dict[str, object]:
        return {n: getattr(self, n) for n in names}

    layout = ", ".join(f"{n}: {c.annotation()} @{off}" for n, c, off in codec.fields)
    ns: dict[str, object] = {
        "__slots__": names, "__init__": _fast_init(codec, names) or __init__, "__eq__": __eq__, "__repr__": __repr__,
        "__hash__": None, "_asdict": _asdict, "_fields": names, "size": codec.size,
        "align": codec.align, "__doc__": f"{doc}\n\nC layout: {layout}; size {codec.size}, align {codec.align}.".strip(),
    }
    if codec.plain and HAVE_NUMPY:
        ns["dtype"] = codec.dtype()
    cls = type(codec.name, (), ns)
    cls.__module__ = "shmcall.types"
    codec.cls = cls
    return cls


_MISSING = object()
#: Compiled ``__init__`` code by source (a struct's field names and defaults).
_INIT_CODE: dict[str, CodeType] = {}


def _fast_init(codec: StructCodec, names: tuple[str, ...]) -> Callable[..., None] | None:
    """A generated ``__init__`` with the fields as parameters: a third of the cost of a generic one.
    Immutable defaults are written in; mutable ones (structs, lists) are made fresh per instance."""
    if any(keyword.iskeyword(n) or not n.isidentifier() or n.startswith("_") for n in names):
        return None
    ns: dict[str, Any] = {"_MISSING": _MISSING}
    params, body = [], []
    for i, (name, c, _) in enumerate(codec.fields):
        default = default_value(c)
        ns[f"_d{i}"] = default
        if isinstance(default, (int, float, complex, str, bytes, bool)):
            params.append(f"{name}=_d{i}")
            body.append(f"    self.{name} = {name}")
        else:
            ns[f"_make{i}"] = (lambda c=c: default_value(c))
            params.append(f"{name}=_MISSING")
            body.append(f"    self.{name} = _make{i}() if {name} is _MISSING else {name}")
    src = f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body or ["    pass"]) + "\n"
    code = _INIT_CODE.get(src)
    if code is None:  # compiled once per process: the next client of the daemon connects faster
        # Compiled, not loaded from the code cache: a few lines compile faster than a file is read.
        code = _INIT_CODE[src] = compile(src, f"<shmcall struct {codec.name}>", "exec")
    exec(fresh_code(code), ns)  # noqa: S102 - identifiers only
    init: Callable[..., None] = ns["__init__"]
    init.__qualname__ = f"{codec.name}.__init__"
    return init


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)
