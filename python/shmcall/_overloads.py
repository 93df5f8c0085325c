"""Generic functions (SPEC §7): one callable for a function the manifest gives with overloads, which
calls the overload for the element type of its dispatch argument.

The callable is generated code (``c.sum.source``; tracebacks show its lines): one dict lookup keyed
by the argument's numpy dtype, then a call of that overload's own function, fast path included.
Anything else (a buffer, a list, a Python number, a shmcall ``Vec`` or ``Ref``) is looked up by its
element type name (`element_of`). Each overload's function is made on its first call.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Callable

from . import _fastpath
from ._codecs import buffer_element, dtype_of, parse
from ._errors import CorruptResponse
from ._annotations import parameter_list
from ._function import RemoteFunction, annotated, docstring, make_callable, method_signature, signature_text
from ._numpy import HAVE_NUMPY, np
from ._scalars import SCALARS
from ._values import Ref, Vec

if TYPE_CHECKING:
    from ._codecs import StructCodec
    from ._connection import Connection

__all__: list[str] = []

#: Element type names by numpy dtype (a dtype's hash is cached: a lookup is ~35 ns).
_BY_DTYPE: dict[Any, str] = {np.dtype(spec.dtype_name): name for name, spec in SCALARS.items()} if HAVE_NUMPY else {}
_BY_DTYPE_NAME = {spec.dtype_name: name for name, spec in SCALARS.items()}
#: What a value without an element type of its own (a list, a Python number) calls.
DEFAULTS = {float: "f64", int: "i64", complex: "c128", bool: "bool"}


def element_of(value: object) -> str | None:
    """The element type name of a value: a numpy array's or scalar's dtype; a shmcall ``Vec``'s or
    ``Ref``'s type; ``u8`` for bytes and bytearray; a buffer's format; for a list or tuple, its
    first item's struct type, else ``f64`` if any item is a float, else ``i64``; a Python number's
    default (`DEFAULTS`). None if it has none."""
    if HAVE_NUMPY and isinstance(value, (np.ndarray, np.generic)):
        return _BY_DTYPE.get(value.dtype) or _BY_DTYPE_NAME.get(value.dtype.name)
    if isinstance(value, (Vec, Ref)):
        return value.type_name
    if isinstance(value, (bytes, bytearray)):
        return "u8"
    if isinstance(value, (list, tuple)):
        if value and hasattr(value[0], "_fields"):  # struct objects
            return type(value[0]).__name__
        return "f64" if any(isinstance(x, float) for x in value) else "i64"
    default = DEFAULTS.get(type(value))
    if default is not None:
        return default
    try:
        view = memoryview(value)  # type: ignore[arg-type]
    except TypeError:
        return None
    return buffer_element(view)


# The generated dispatcher. Same calling convention as a remote function's own code (`_fastpath`):
# `timeout` positional inside, keyword-only to callers (`__signature__`); the hidden `_more` is passed
# on, and the overload refuses an argument too many.
_DISPATCH = """
    # {signature}
    # Calls the overload for the element type of {param} (shmcall._overloads): by its numpy dtype,
    # else by the element type of whatever it is (a buffer, a list, a number).
    def {name}(_client, {params}_more=_NO_MORE, timeout=None):
        try:
            overload = _by_dtype[{param}.dtype]
        except (AttributeError, KeyError, TypeError):
            overload = _by_element({param})
        return overload(_client, {args}_more, timeout)
"""


class Overloads(Mapping[str, Callable[..., Any]]):
    """``c.sum.overloads``: each overload's function by element type name (``"f64"``), made on
    first use; called with the client first (``c.sum.overloads["f64"](c, xs)``)."""

    def __init__(self, generic: Generic) -> None:
        self._generic = generic

    def __getitem__(self, element: str) -> Callable[..., Any]:
        return self._generic.made(element)

    def __iter__(self) -> Iterator[str]:
        return iter(self._generic.entries)

    def __len__(self) -> int:
        return len(self._generic.entries)


class Generic:
    """A generic function of one client: its overloads' manifest entries, their functions (made on
    first call) and the tables the dispatcher looks them up in."""

    def __init__(self, entry: dict[str, Any], structs: dict[str, StructCodec], connection: Connection) -> None:
        self.entry = entry
        self.name: str = entry["name"]
        self.doc: str = entry.get("doc", "")
        self.entries: dict[str, dict[str, Any]] = {
            o["element"]: {**o, "name": self.name, "doc": self.doc} for o in entry["overloads"]}
        self.param = _dispatch_index(entry)
        self.structs = structs
        self.connection = connection
        self.functions: dict[str, Callable[..., Any]] = {}
        # Until an overload is made, its entries call `first_call`, which makes it and puts it there.
        self.by_dtype: dict[Any, Callable[..., Any]] = {}
        self.by_name: dict[str, Callable[..., Any]] = {}
        for element in self.entries:
            first = self.first_call(element)
            self.by_name[element] = first
            dtype = self.dtype(element)
            if dtype is not None:
                self.by_dtype[dtype] = first

    def dtype(self, element: str) -> Any:
        """The numpy dtype of an element type (None without numpy, or for one with no dtype)."""
        if not HAVE_NUMPY:
            return None
        try:
            return dtype_of(parse(element, self.structs))
        except TypeError:
            return None

    def first_call(self, element: str) -> Callable[..., Any]:
        def first(client: object, *args: Any) -> Any:
            return self.made(element)(client, *args)

        return first

    def made(self, element: str) -> Callable[..., Any]:
        """The overload for ``element``, made on first use and put in the dispatcher's tables."""
        function = self.functions.get(element)
        if function is None:
            function = make_callable(RemoteFunction(self.entries[element], self.structs), self.connection)
            self.functions[element] = self.by_name[element] = function
            dtype = self.dtype(element)
            if dtype is not None:
                self.by_dtype[dtype] = function
        return function

    def by_element(self, value: object) -> Callable[..., Any]:
        """The overload for a value that is not a numpy array of an overload's dtype; a TypeError
        naming the element types there are overloads for if there is none."""
        element = element_of(value)
        function = self.by_name.get(element) if element is not None else None
        if function is None:
            param = self.entries[next(iter(self.entries))]["params"][self.param]["name"]
            what = (f"{element} elements" if element is not None else f"an array of {value.dtype}"
                    if HAVE_NUMPY and isinstance(value, np.ndarray) else f"a {type(value).__name__}")
            raise TypeError(f"{self.name}() takes {param} with elements of type {', '.join(self.entries)}; got {what}")
        return function

    def dispatcher(self) -> Callable[..., Any]:
        """The function the client calls (generated: `_DISPATCH`)."""
        params, returns = generic_signature(self.entry)
        names = _fastpath.Names([n for n, _ in params])
        name = names.new(self.name)
        source = _fastpath.render(
            _DISPATCH, names, signature=signature_text(self.name, params, returns), name=name,
            param=params[self.param][0], params=parameter_list(params), args="".join(f"{n}, " for n, _ in params)) + "\n"
        namespace: dict[str, Any] = {names["_by_dtype"]: self.by_dtype, names["_by_element"]: self.by_element,
                                     names["_NO_MORE"]: _fastpath.NO_MORE}
        namespace.update(names.renamed_builtins())
        f = _fastpath.define(source, f"<shmcall {self.name}>", namespace, name)
        f.__name__ = f.__qualname__ = self.name
        f.__module__ = "shmcall.remote"
        f.__doc__ = generic_docstring(self.entry)
        f.__signature__ = method_signature(params, returns)  # type: ignore[attr-defined]
        f.overloads = Overloads(self)  # type: ignore[attr-defined]
        return f


def _dispatch_index(entry: dict[str, Any]) -> int:
    """The index of the parameter that picks the overload."""
    names = [p["name"] for p in entry["overloads"][0]["params"]] if entry["overloads"] else []
    if entry.get("dispatch") not in names:
        raise CorruptResponse(f"{entry['name']}: a generic function whose dispatch parameter is not a parameter")
    return names.index(entry["dispatch"])


def generic_signature(entry: dict[str, Any]) -> tuple[tuple[tuple[str, str], ...], str]:
    """A generic function's parameters and result, each annotated as the union of its overloads' types."""
    described = [annotated(o) for o in entry["overloads"]]
    params = tuple((name, _union(p[i][1] for p, _ in described)) for i, (name, _) in enumerate(described[0][0]))
    return params, _union(r for _, r in described)


def generic_docstring(entry: dict[str, Any]) -> str:
    """A generic function's docstring: its signature, its doc, and how the overload is chosen."""
    params, returns = generic_signature(entry)
    elements = ", ".join(o["element"] for o in entry["overloads"])
    chosen = (f"One function for several element types: the overload is chosen by the element type of "
              f"{params[_dispatch_index(entry)][0]} ({elements}; a list or a Python number counts as f64 if it "
              f"holds a float, else as i64).")
    return docstring(signature_text(entry["name"], params, returns), f"{entry.get('doc', '')}\n\n{chosen}".strip())


def _union(names: Any) -> str:
    """``a | b``, each type once, in order."""
    return " | ".join(dict.fromkeys(names))
