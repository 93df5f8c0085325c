"""The daemon's functions as coroutine functions of an async client (``shmcall.aio``).

Each has the name, signature and docstring of the sync client's method (`_function.method_signature`,
`_function.docstring`) and calls through the client's channel pools (`_aio_pool`) with the sync
client's own encoding and decoding code (`RemoteFunction.encode`, `received`, `decode`). As on the
sync client, a placeholder documents each function on the client's class until it is first reached
(`_methods.FirstUse`); then its code is generated: a small ``async def`` with the real parameters.
"""

from __future__ import annotations

import functools
import inspect
from typing import TYPE_CHECKING, Any, Callable

from . import _fastpath
from ._annotations import parameter_list
from ._function import RemoteFunction, annotated, docstring, method_signature, signature_text
from ._methods import FirstUse
from ._overloads import Generic, element_of, generic_docstring, generic_signature

if TYPE_CHECKING:
    from ._aio_pool import LoopPools
    from ._codecs import StructCodec
    from ._connection import Connection

__all__: list[str] = []

# `timeout` is a plain keyword-only parameter here: the sync fast paths hide it behind a positional
# one for CPython's call specialization, which buys nothing next to a coroutine's own cost.
_PLAIN = """async def {name}({me}, {params}*, timeout=None):
    return await _shmcall_call_(_shmcall_fn_, ({args}), timeout)
"""

# A generic function: the overload for the element type of the dispatch argument, as the sync
# client's dispatcher picks it (`_overloads.element_of`).
_GENERIC = """async def {name}({me}, {params}*, timeout=None):
    return await _shmcall_call_(_shmcall_pick_({param}), ({args}), timeout)
"""


def _describe(entry: dict[str, Any]) -> tuple[str, inspect.Signature]:
    params, returns = annotated(entry)
    return docstring(signature_text(entry["name"], params, returns), entry.get("doc", "")), method_signature(params, returns)


def _describe_generic(entry: dict[str, Any]) -> tuple[str, inspect.Signature]:
    return generic_docstring(entry), method_signature(*generic_signature(entry))


def _define(template: str, entry: dict[str, Any], params: tuple[tuple[str, str], ...], namespace: dict[str, Any],
            described: tuple[str, inspect.Signature], **fields: str) -> Callable[..., Any]:
    """The coroutine function of ``template`` for ``entry``, documented as ``described`` says."""
    names = [n for n, _ in params]
    me = "self" if "self" not in names else "_shmcall_self_"
    source = template.format(name=entry["name"], me=me, params=parameter_list(params),
                             args="".join(f"{n}, " for n in names), **fields)
    f = _fastpath.define(source, f"<shmcall async {entry['name']}>", namespace, entry["name"])
    f.__qualname__ = entry["name"]
    f.__module__ = "shmcall.remote"
    f.__doc__, signature = described
    f.__signature__ = signature  # type: ignore[attr-defined]
    f.__annotations__ = {**{p.name: p.annotation for p in list(signature.parameters.values())[1:]},
                         "return": signature.return_annotation}
    return f


def _make(entry: dict[str, Any], structs: dict[str, StructCodec], pools: LoopPools) -> Callable[..., Any]:
    fn = RemoteFunction(entry, structs)
    params, _ = annotated(entry)
    f = _define(_PLAIN, entry, params, {"_shmcall_call_": pools.call, "_shmcall_fn_": fn}, _describe(entry))
    f.remote = fn  # type: ignore[attr-defined]
    return f


def _make_generic(entry: dict[str, Any], structs: dict[str, StructCodec], connection: Connection,
                  pools: LoopPools) -> Callable[..., Any]:
    generic = Generic(entry, structs, connection)  # the overloads' entries, and the sync client's errors
    made: dict[str | None, RemoteFunction] = {}

    def pick(value: object) -> RemoteFunction:
        element = element_of(value)
        fn = made.get(element)
        if fn is None:
            if element is None or element not in generic.entries:
                generic.by_element(value)  # raises the TypeError naming the element types there are
                raise AssertionError("unreachable")
            fn = made[element] = RemoteFunction(generic.entries[element], structs)
        return fn

    params, _ = generic_signature(entry)
    f = _define(_GENERIC, entry, params, {"_shmcall_call_": pools.call, "_shmcall_pick_": pick},
                _describe_generic(entry), param=params[generic.param][0])
    return f


def async_placeholders(entries: list[dict[str, Any]], structs: dict[str, StructCodec], connection: Connection,
                       pools: LoopPools, owner: type, hidden: type) -> dict[str, FirstUse]:
    """A placeholder per manifest function, each put on ``owner`` (the async client's own class)
    unless ``hidden`` (``AsyncClient``) has an attribute of that name."""
    found: dict[str, FirstUse] = {}
    for entry in entries:
        name = entry["name"]
        on_class = owner if not hasattr(hidden, name) else None
        if "overloads" in entry:
            describe = functools.partial(_describe_generic, entry)
            make = functools.partial(_make_generic, entry, structs, connection, pools)
        else:
            describe = functools.partial(_describe, entry)
            make = functools.partial(_make, entry, structs, pools)
        found[name] = FirstUse(name, describe, make, on_class)
        if on_class is not None:
            setattr(owner, name, found[name])
    return found
