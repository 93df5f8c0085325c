"""The daemon's functions as methods of a client's own class, each made the first time it is used.

Connecting puts a placeholder for each function on the client's class and generates no code; the
placeholder documents its function when asked (``help(c)``, ``inspect.signature``). A function's call
code (``_fastpath``) is written and compiled when the function is first reached (``c.add``,
``c.functions.add``): it then replaces its placeholder on the class, so later calls find a plain
function there, which CPython specializes (`Client.__new__`). A client that calls one function pays
for that one.
"""

from __future__ import annotations

import functools
import inspect
import threading
import types
from typing import TYPE_CHECKING, Any, Callable

from ._namespaces import Namespace
from ._function import RemoteFunction, annotated, docstring, make_callable, method_signature, signature_text
from ._overloads import Generic, generic_docstring, generic_signature

if TYPE_CHECKING:
    from ._codecs import StructCodec
    from ._connection import Connection

__all__: list[str] = []


class FirstUse:
    # A remote function's placeholder on its client's class, until first reached. It documents the
    # function as the function will (name, docstring, signature: described when first asked, not at
    # connect); reaching it from the client (``c.add``) makes the function, puts it on the class in
    # its place and returns it bound.

    def __init__(self, name: str, describe: Callable[[], tuple[str, inspect.Signature]],
                 make: Callable[[], Callable[..., Any]], owner: type | None) -> None:
        self.__name__ = self.__qualname__ = name
        self.__module__ = "shmcall.remote"
        self._describe = describe
        self._description: tuple[str, inspect.Signature] | None = None
        self._make = make
        self._owner = owner  # the class it stands on (None: reached only through `c.functions`)
        self._made: Callable[..., Any] | None = None
        self._lock = threading.Lock()

    def _described(self) -> tuple[str, inspect.Signature]:
        if self._description is None:
            self._description = self._describe()
        return self._description

    @property
    def __doc__(self) -> str:  # type: ignore[override]  # object's is a plain attribute
        return self._described()[0]

    @property
    def __signature__(self) -> inspect.Signature:
        return self._described()[1]

    def made(self) -> Callable[..., Any]:
        """The function, made on the first call (once, whichever thread asks first)."""
        made = self._made
        if made is None:
            with self._lock:
                made = self._made
                if made is None:
                    made = self._made = self._make()
                    if self._owner is not None:
                        setattr(self._owner, self.__name__, made)
        return made

    def __get__(self, client: object, owner: type | None = None) -> Any:
        if client is None:  # looked up on the class (help, inspect): the placeholder documents it
            return self
        return types.MethodType(self.made(), client)

    def __call__(self, client: object, /, *args: Any, **kwargs: Any) -> Any:
        return self.made()(client, *args, **kwargs)

    def __repr__(self) -> str:
        return f"<shmcall function {self.__name__} (not yet used)>"


def functions(client: object, placeholders: dict[str, FirstUse]) -> Namespace[Callable[..., Any]]:
    """``c.functions``: every function of the daemon by name, bound to the client, including one
    whose name a method of ``Client`` has (``c.functions.close``); a read-only mapping too
    (``c.functions["add"]``, ``"add" in c.functions``). Each is made on first use."""
    return Namespace("function", list(placeholders), lambda name: types.MethodType(placeholders[name].made(), client))


def placeholders(entries: list[dict[str, Any]], structs: dict[str, StructCodec], connection: Connection,
                 owner: type, hidden: type) -> dict[str, FirstUse]:
    """A placeholder per manifest function (plain or generic), each put on ``owner`` (the client's
    own class) unless ``hidden`` (``Client``) has an attribute of that name."""
    found: dict[str, FirstUse] = {}
    for entry in entries:
        name = entry["name"]
        on_class = owner if not hasattr(hidden, name) else None
        generic = "overloads" in entry
        describe = functools.partial(_describe_generic if generic else _describe, entry)
        make = functools.partial(_make_generic if generic else _make, entry, structs, connection)
        found[name] = FirstUse(name, describe, make, on_class)
        if on_class is not None:
            setattr(owner, name, found[name])
    return found


def _describe(entry: dict[str, Any]) -> tuple[str, inspect.Signature]:
    params, returns = annotated(entry)
    doc = docstring(signature_text(entry["name"], params, returns), entry.get("doc", ""))
    return doc, method_signature(params, returns)


def _describe_generic(entry: dict[str, Any]) -> tuple[str, inspect.Signature]:
    params, returns = generic_signature(entry)
    return generic_docstring(entry), method_signature(params, returns)


def _make(entry: dict[str, Any], structs: dict[str, StructCodec], connection: Connection) -> Callable[..., Any]:
    return make_callable(RemoteFunction(entry, structs), connection)


def _make_generic(entry: dict[str, Any], structs: dict[str, StructCodec], connection: Connection) -> Callable[..., Any]:
    return Generic(entry, structs, connection).dispatcher()


def summary(entry: dict[str, Any]) -> list[str]:
    """A manifest function as ``python -m shmcall functions`` lists it (and ``shmcalld functions``):
    its signature, a generic function's overloads one under another, then its doc's first line."""
    name = entry["name"]
    lines = [signature_text(name, *annotated(e)) for e in entry.get("overloads", [entry])]
    lines[1:] = [" " * len(name) + line[len(name):] for line in lines[1:]]
    return lines + ["    " + (entry.get("doc", "").splitlines() or [""])[0]]
