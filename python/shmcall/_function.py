"""One daemon function on the client: its codecs, compiled once from the manifest, and the call
path: check and encode the arguments, publish, wait, decode the results."""

from __future__ import annotations

import functools
import inspect
import keyword
import struct
from typing import TYPE_CHECKING, Any, Callable, Protocol, TypeAlias, cast

from . import _fastpath
from ._annotations import first_default, parameter_list, params_annotation, returns_annotation
from . import _layout as L
from ._batch import batch
from ._call import CHECKING, Call
from ._codecs import BoolCodec, FloatCodec, InOutCodec, IntCodec, SliceCodec, StructCodec, VecMutCodec, parse
from ._errors import CorruptResponse, status_error

if TYPE_CHECKING:
    from ._batch import BatchRecords
    from ._channel import Channel
    from ._codecs import Codec
    from ._connection import Connection

__all__: list[str] = []

#: A parameter: ``(Python name, codec, offset in the argument record)``.
Param: TypeAlias = "tuple[str, Codec, int]"
#: A result: ``(codec, offset in the result record)``.
Result: TypeAlias = "tuple[Codec, int]"
#: An in-out parameter's new value: ``(index of the parameter, codec, offset in the result record)``.
Out: TypeAlias = "tuple[int, InOutCodec | VecMutCodec, int]"
# Plain tuples: general-path calls unpack them, and CPython unpacks a tuple subclass slower.


def _record_struct(items: list[tuple[Codec, int]]) -> struct.Struct | None:
    """One ``struct.Struct`` for a record of plain numbers (explicit padding), or None."""
    fmt, pos = "<", 0
    for codec, off in items:
        if type(codec) not in (IntCodec, FloatCodec, BoolCodec) or off < pos or codec.fmt is None:
            return None
        fmt += "x" * (off - pos) + codec.fmt
        pos = off + codec.size
    return struct.Struct(fmt)


def _out_codec(codec: Codec, name: str) -> InOutCodec | VecMutCodec:
    if not isinstance(codec, (InOutCodec, VecMutCodec)):
        raise CorruptResponse(f"{name}: an in-out value of type {codec.name}")
    return codec


def python_name(name: str) -> str:
    """A parameter name Python accepts (Rust allows ``from``, ``lambda``, …)."""
    return name + "_" if keyword.iskeyword(name) or name == "timeout" else name


class RemoteFunction:
    """A compiled manifest entry."""

    def __init__(self, entry: dict[str, Any], structs: dict[str, StructCodec]) -> None:
        self.id: int = entry["id"]
        self.name: str = entry["name"]
        # Where logs, tracebacks and the daemon's counts tell it apart: `sum[f64]` for an overload.
        self.label: str = f"{self.name}[{entry['element']}]" if "element" in entry else self.name
        self.doc: str = entry.get("doc", "")
        self.params: list[Param] = [(python_name(p["name"]), parse(p["type"], structs), p["offset"])
                                    for p in entry["params"]]
        self.args_size: int = entry["args_size"]
        self.returns: list[Result] = [(parse(r["type"], structs), r["offset"]) for r in entry["returns"]]
        names = [p["name"] for p in entry["params"]]
        self.outs: list[Out] = [(names.index(o["name"]), _out_codec(parse(o["type"], structs), self.name), o["offset"])
                                for o in entry["outs"]]
        self.result_size: int = entry["result_size"]
        self.batchable = bool(entry.get("batchable", False))
        for codec, off in [(c, o) for _, c, o in self.params]:
            if off % codec.align or off + codec.size > self.args_size:
                raise CorruptResponse(f"{self.name}: parameter offset {off} breaks the layout rules")
        self.fast_args = None if any(type(c) is BoolCodec for _, c, _ in self.params) else _record_struct([(c, o) for _, c, o in self.params])
        self.fast_results = None if self.outs else _record_struct(self.returns)
        self.where = [f"{self.name}() argument {n!r}" for n, _, _ in self.params]
        # Size classes whose calls (or `map` batches) outlast the client's spin (`Channel.wait`).
        self.long_waits: dict[int, int] = {}
        self.long_batches: dict[int, int] = {}
        self.slices = [i for i, (_, codec, _) in enumerate(self.params) if type(codec) is SliceCodec]
        self.batch_records: BatchRecords | None = None  # made at the first `map` (`_batch`)

    def signature_text(self) -> str:
        params = ", ".join(f"{n}: {c.annotation()}" for n, c, _ in self.params)
        rets = [c.annotation() for c, _ in self.returns]
        ret = "" if not rets else f" -> {rets[0]}" if len(rets) == 1 else f" -> ({', '.join(rets)})"
        return f"{self.name}({params}){ret}"

    def _diagnose(self, args: tuple[Any, ...], error: Exception) -> Exception:
        for (_, codec, _), where, value in zip(self.params, self.where, args):
            codec.prep(value, CHECKING, where)  # raises the precise TypeError / OverflowError
        return error

    def invoke(self, ch: Channel, args: tuple[Any, ...], timeout: float | None) -> Any:
        """Calls the function on channel ``ch``."""
        if ch.done < 0:
            # A closed or forked-away client: raises the reason. A channel given up after a corrupt
            # response: this thread goes on with a new one.
            ch = ch.connection.open_channel()
        if ch.done < ch.seq:
            ch.settle(timeout)
        seq, length, call = self.encode(ch, args)
        size = length + sum(getattr(args[i], "nbytes", 0) for i in self.slices) if self.slices else length
        payload, rlen = ch.roundtrip(seq, self.id, length, timeout, self.name, self, call, None, self.long_waits, size)
        return self.decode(ch, payload, rlen, args, call)

    def encode(self, ch: Channel, args: tuple[Any, ...]) -> tuple[int, int, Call | None]:
        """Checks ``args`` and writes them into the next request of ``ch`` (every earlier response
        consumed), not yet published: ``(seq, request length, the call's scratch or None)``. Shared
        by `invoke` and callers that publish and wait their own way (``shmcall.aio``)."""
        if self.fast_args is not None:
            seq = ch.seq + 1
            try:
                self.fast_args.pack_into(ch.buf, ch.slot_base(seq) + L.REQUEST_HEADER_SIZE, *args)
            except (struct.error, OverflowError, TypeError) as e:
                raise self._diagnose(args, e) from None
            return seq, self.args_size, None
        call = Call(ch, self.args_size)
        tokens = [codec.prep(a, call, w) for (_, codec, _), w, a in zip(self.params, self.where, args)]
        seq = ch.seq + 1  # prep may have allocated through this channel
        payload = ch.slot_base(seq) + L.REQUEST_HEADER_SIZE
        call.payload = payload
        buf = ch.buf
        for (_, codec, off), token in zip(self.params, tokens):
            codec.write(buf, payload + off, token, call)
        return seq, max(self.args_size, call.tail), call

    def received(self, ch: Channel, seq: int, call: Call | None) -> tuple[int, int]:
        """For a caller that published request ``seq`` and waited for it itself: consumes the
        response as `Channel.roundtrip` does once its wait is over (the call's temporary blocks go
        back; an error status raises its exception) and returns ``(payload offset, length)``."""
        ch.done = seq
        status, payload, rlen = ch.response(seq)
        if call is not None and call.temps:
            ch.releases.extend(call.temps)
        if status != L.STATUS_OK:
            raise status_error(status, bytes(ch.buf[payload : payload + rlen]).decode("utf-8", "replace"), self.name)
        return payload, rlen

    def decode(self, ch: Channel, payload: int, rlen: int, args: tuple[Any, ...], call: Call | None) -> Any:
        """The results of a successful response (``rlen`` bytes at ``payload``); in-out arguments
        are updated. Shared by `invoke` and ``shmcall.aio``."""
        if rlen < self.result_size:
            raise CorruptResponse(f"{self.name}: result of {rlen} bytes, the signature needs {self.result_size}")
        if self.fast_results is not None:
            values = self.fast_results.unpack_from(ch.buf, payload)
        else:
            resp = ch.resp(payload, rlen)
            buf = ch.buf
            values = tuple(codec.read(buf, payload + off, resp) for codec, off in self.returns)
            for index, codec, off in self.outs:
                codec.update(args[index], buf, payload + off, resp)
        if call is not None:  # in-out arrays copied in are copied back, whatever the results
            for after in call.after:
                after()
        if len(values) == 1:
            return values[0]
        return values if values else None

    def finish(self, ch: Channel, seq: int, args: tuple[Any, ...] = ()) -> Any:
        """Decodes response ``seq`` the general way (errors, unusual results): used by fast paths,
        which pass their arguments if the function has in-out parameters, to be updated."""
        status, payload, rlen = ch.response(seq)
        if status != L.STATUS_OK:
            message = bytes(ch.buf[payload : payload + rlen]).decode("utf-8", "replace")
            raise status_error(status, message, self.name)
        if rlen < self.result_size:
            raise CorruptResponse(f"{self.name}: result of {rlen} bytes, the signature needs {self.result_size}")
        resp = ch.resp(payload, rlen)
        values = tuple(codec.read(ch.buf, payload + off, resp) for codec, off in self.returns)
        if args:
            for index, codec, off in self.outs:
                codec.update(args[index], ch.buf, payload + off, resp)
        return values[0] if len(values) == 1 else values if values else None

    def discard(self, ch: Channel, payload: int, length: int) -> None:
        """Releases the heap blocks a result owns without decoding it (late responses)."""
        resp = ch.resp(payload, length)
        for codec, off in self.returns:
            codec.discard(ch.buf, payload + off, resp)
        for _, codec, off in self.outs:
            codec.discard(ch.buf, payload + off, resp)


class RemoteMethod(Protocol):
    """A remote function as a method of the client (`make_callable`)."""

    remote: RemoteFunction  # what the manifest says of it
    source: str  # the Python generated to call it
    __signature__: inspect.Signature
    __name__: str
    __qualname__: str

    def __call__(self, client: object, /, *args: Any, **kwargs: Any) -> Any: ...


class BatchableMethod(RemoteMethod, Protocol):
    """A remote method whose calls can be batched: ``f.map(column, ...)``."""

    map: Callable[..., Any]


def annotated(entry: dict[str, Any]) -> tuple[tuple[tuple[str, str], ...], str]:
    """A manifest signature's parameters as ``(Python name, annotation)`` and its return annotation:
    the wire type names (SPEC §4.5), read without making codecs."""
    params = tuple((python_name(p["name"]), p["type"].strip()) for p in entry["params"])
    rets = [r["type"].strip() for r in entry["returns"]]
    return params, "None" if not rets else rets[0] if len(rets) == 1 else f"tuple[{', '.join(rets)}]"


def signature_text(name: str, params: tuple[tuple[str, str], ...], returns: str) -> str:
    """``name(a: i64, b: i64) -> i64``, as docstrings and generated code begin."""
    ret = "" if returns == "None" else f" -> ({returns[6:-1]})" if returns.startswith("tuple[") else f" -> {returns}"
    return f"{name}({', '.join(f'{n}: {a}' for n, a in params)}){ret}"


@functools.lru_cache(maxsize=1024)
def method_signature(params: tuple[tuple[str, str], ...], returns: str) -> inspect.Signature:
    """``(self, <params>, *, timeout: float | None = None) -> <returns>``: what callers see of a remote
    method (`help`, `inspect.signature`), whatever parameters its code has. Made once per signature
    (a signature is immutable): the next client of the same daemon finds it made."""
    P = inspect.Parameter
    me = "self" if all(n != "self" for n, _ in params) else "_shmcall_self_"
    first = first_default(params)
    # Annotated with Python types (`_annotations`): the wire types stay in the docstring.
    return inspect.Signature(
        [P(me, P.POSITIONAL_OR_KEYWORD)]
        + [P(n, P.POSITIONAL_OR_KEYWORD, annotation=params_annotation(a), default=None if i >= first else P.empty)
           for i, (n, a) in enumerate(params)]
        + [P("timeout", P.KEYWORD_ONLY, default=None, annotation="float | None")],
        return_annotation=returns_annotation(returns))


def docstring(signature: str, doc: str) -> str:
    """A remote function's docstring: its signature, its doc, what a call does."""
    return f"{signature}\n\n{doc}\n\nRuns in the shmcall daemon; ``timeout`` (seconds) raises TimeoutError."


# The general call function: the fast path's calling convention (`_fastpath._FUNCTION`: `timeout`
# positional inside, keyword-only to callers through `__signature__`), so that a generic function's
# dispatcher (`_overloads`) calls either kind the same way.
_GENERAL = """def remote({me}, {params}_shmcall_more_=_shmcall_no_more_, timeout=None):
    if _shmcall_more_ is not _shmcall_no_more_:
        _shmcall_too_many_(_shmcall_fn_)
    return _shmcall_call_(_shmcall_fn_, ({args}), timeout)
"""


def make_callable(fn: RemoteFunction, connection: Connection) -> RemoteMethod:
    """A method of the client (its first parameter the client, unused) with the remote function's
    real signature, name and docstring; a generated fast path (``_fastpath``) when the signature
    allows one. A method rather than an attribute of the instance: CPython 3.11 specializes
    `c.add(...)` only for a function found on the class (`Client.__new__`)."""
    names = [n for n, _, _ in fn.params]
    call = connection.call
    f = cast("RemoteMethod | None", _fastpath.build(fn, connection.local, call, connection.heap.roots))
    if f is None:
        params = parameter_list([(n, c.name) for n, c, _ in fn.params])
        me = "self" if "self" not in names else "_shmcall_self_"
        namespace: dict[str, Any] = {"_shmcall_call_": call, "_shmcall_fn_": fn, "_shmcall_no_more_": _fastpath.NO_MORE,
                                     "_shmcall_too_many_": _fastpath.too_many}
        source = _GENERAL.format(me=me, params=params, args="".join(f"{n}, " for n in names))
        f = cast("RemoteMethod", _fastpath.define(source, f"<shmcall {fn.label}>", namespace))
    typed = [(n, c.annotation()) for n, c, _ in fn.params]
    rets = [c.annotation() for c, _ in fn.returns]
    returns = "None" if not rets else rets[0] if len(rets) == 1 else f"tuple[{', '.join(rets)}]"
    f.__name__ = f.__qualname__ = fn.name
    f.__doc__ = docstring(fn.signature_text(), fn.doc)
    f.__module__ = "shmcall.remote"
    f.remote = fn
    # The code takes `timeout` behind a hidden positional parameter; help() and inspect show the
    # signature callers have.
    f.__signature__ = signature = method_signature(tuple(typed), returns)
    f.__annotations__ = {**{p.name: p.annotation for p in list(signature.parameters.values())[1:]},
                         "return": signature.return_annotation}
    if fn.batchable:

        def map_(*columns: Any, timeout: float | None = None) -> Any:
            return batch(connection, fn, columns, timeout)

        map_.__doc__ = (f"{fn.name}.map(*columns, timeout=None): one call per row of the columns (one sequence "
                        f"per parameter: {', '.join(names)}), all in one request; returns an array per result.")
        cast("BatchableMethod", f).map = map_
    return f
