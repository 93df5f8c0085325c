"""Generated call functions for the common signatures: numbers, ``str``, ``bytes``, shared numpy
arrays, and structs of numbers and text in; numbers, text, bytes, structs of them and ``Vec<T>`` out.
One straight-line Python function per remote function, with the slot layout, struct objects and word
indexes bound as constants, so a call costs a few dozen bytecodes.

Anything unusual (first call on a thread, a pending late response, queued releases, a value that
needs checking, data too large to go inline, an error status) falls back to
``RemoteFunction.invoke``, which handles every case; the fast path only ever takes the common road.
"""

from __future__ import annotations

import struct
from typing import Any, Callable

from . import _layout as L
from ._channel import SPIN_ITERATIONS, _STRONG_ORDER
from ._heap import np
from ._types import BoolCodec, BytesCodec, FloatCodec, IntCodec, SliceCodec, StrCodec, StructCodec, VecCodec

__all__: list[str] = []

_NUMBERS = (IntCodec, FloatCodec)
_TEXT = (StrCodec, BytesCodec)


def _fast_slice(codec: Any) -> bool:
    """A ``&[T]`` or ``&mut [T]`` of numbers: shared numpy arrays go by reference on the fast path."""
    return type(codec) is SliceCodec and np is not None and codec.elem.format != ""


def _flat_struct(codec: Any) -> bool:
    """A struct whose fields are all numbers or text: encoded field by field on the fast path."""
    return type(codec) is StructCodec and all(type(c) in _NUMBERS + _TEXT for _, c, _ in codec.fields)


def eligible(fn: Any) -> bool:
    """True when every parameter and result has a fast encoding."""
    if fn.outs or not _STRONG_ORDER:
        return False
    for _, codec, _ in fn.params:
        if not (type(codec) in _NUMBERS + _TEXT or _fast_slice(codec) or _flat_struct(codec)):
            return False
    return all(type(c) in _NUMBERS + _TEXT + (VecCodec,) or _flat_struct(c) for c, _ in fn.returns)


def _record_format(items: list[tuple[Any, int]], start: int = 0) -> str:
    """A struct format for fixed parts at the given offsets (explicit padding), from ``start``."""
    fmt, pos = "", start
    for codec, off in items:
        fmt += "x" * (off - pos) + (codec.fmt if type(codec) in _NUMBERS + (BoolCodec,) else "IIQQ")
        pos = off + codec.size
    return fmt


def build(fn: Any, local: Any, slow: Callable[..., Any], roots: dict | None = None) -> Callable[..., Any] | None:
    """The fast call function for ``fn``, or None if it is not eligible. ``roots`` is the heap's
    owner-array table (``Heap.roots``)."""
    if not eligible(fn):
        return None
    names = [n for n, _, _ in fn.params]
    args = ", ".join(names)
    argtuple = f"({args}{',' if args else ''})"
    ns: dict[str, Any] = {"_local": local, "_slow": slow, "_fn": fn, "_finish": fn.finish, "struct": struct,
                          "_resp": L.RESPONSE_HEADER.unpack_from, "_buf": L.BUF.unpack_from, "_new": object.__new__}
    lines = [f"def remote({args}{', ' if args else ''}*, timeout=None):"]
    emit = lines.append
    bail = f"        return _slow(_fn, {argtuple}, timeout)"

    # Parameters flattened to leaves: (expression, codec, offset in the argument record).
    leaves: list[tuple[str, Any, int]] = []
    guard = ["ch.done != seq - 1", "ch.releases"]
    for i, (n, codec, off) in enumerate(fn.params):
        if type(codec) is StructCodec:
            ns[f"_cls{i}"] = codec.cls
            guard.append(f"type({n}) is not _cls{i}")
            leaves.extend((f"{n}.{f}", c, off + o) for f, c, o in codec.fields)
        else:
            if _fast_slice(codec):
                ns[f"_dt{i}"] = codec.elem.dtype
                guard.append(f"type({n}) is not _ndarray or {n}.dtype is not _dt{i}")
            leaves.append((n, codec, off))
    emit("    try:")
    emit("        ch = _local.ch")
    emit("    except AttributeError:")
    emit(bail)
    emit("    seq = ch.seq + 1")
    emit(f"    if {' or '.join(guard)}:")
    emit(bail)

    # Variable-length data goes inline after the record, each piece 8-aligned (SPEC §4.1).
    values: list[str] = []
    copies: list[tuple[str, str, str]] = []
    end = str(fn.args_size)
    cursor = str((fn.args_size + L.TAIL_ALIGN - 1) // L.TAIL_ALIGN * L.TAIL_ALIGN)
    for k, (expr, codec, _) in enumerate(leaves):
        if type(codec) in _NUMBERS:
            values.append(expr)
        elif type(codec) is SliceCodec:
            # Our own arrays (or whole views of them) are found by identity; anything else is slow.
            emit(f"    h{k} = _roots.get(id({expr}))")
            emit(f"    if h{k} is None or h{k}[2] != {expr}.nbytes:")
            emit(f"        b{k} = {expr}.base")
            emit(f"        h{k} = _roots.get(id(b{k})) if b{k} is not None else None")
            emit(f"        if h{k} is None or h{k}[2] != {expr}.nbytes or not {expr}.flags.c_contiguous:")
            emit("    " + bail)
            values.extend([f"h{k}[0]", "0", f"h{k}[1]", f"h{k}[2]"])
        else:
            if type(codec) is StrCodec:
                emit(f"    if type({expr}) is not str:")
                emit(bail)
                emit("    try:")
                emit(f"        d{k} = {expr}.encode()")
                emit("    except UnicodeError:")
                emit(bail)
            else:
                emit(f"    d{k} = {expr}")
                emit(f"    if type(d{k}) is not bytes:")
                emit(bail)
            emit(f"    t{k} = {cursor}")
            emit(f"    e{k} = t{k} + len(d{k})")
            values.extend(["0", "0", f"t{k}", f"len(d{k})"])
            copies.append((f"d{k}", f"t{k}", f"e{k}"))
            cursor = f"((e{k} + 7) & ~7)"
            end = f"e{k}"
    if copies:
        emit(f"    if {end} > ch.request_capacity:")
        emit(bail)
    emit("    base = ch.bases[seq % ch.slot_count]")
    emit("    buf = ch.buf")
    # Request header and argument record in one pack (the header's reserved bytes as padding).
    emit("    try:")
    emit(f"        _reqrec(buf, base, {fn.id}, {end}, seq{''.join(', ' + v for v in values)})")
    emit("    except (struct.error, OverflowError, TypeError):")
    emit(bail)
    ns["_reqrec"] = struct.Struct("<IIQ" + "x" * (L.REQUEST_HEADER_SIZE - 16)
                                  + _record_format([(c, o) for _, c, o in leaves])).pack_into
    for data, start, stop in copies:
        emit(f"    buf[base + {L.REQUEST_HEADER_SIZE} + {start}:base + {L.REQUEST_HEADER_SIZE} + {stop}] = {data}")
    emit("    ch.seq = seq")
    emit("    w = ch.words")
    # ORDERING (SPEC §5.2 "request published"): one aligned 8-byte store after the slot's bytes.
    emit(f"    w[{L.OFF_REQ_SEQ // 8}] = seq")
    # A sleeping daemon needs tens of µs to wake: then sleep at once rather than take its core.
    emit(f"    i = {SPIN_ITERATIONS + 1}")
    emit(f"    if w[{L.OFF_DAEMON_WAITING // 8}]:")
    emit("        ch.ring()")
    emit("        i = 1")
    emit("    try:")
    emit(f"        while w[{L.OFF_RESP_SEQ // 8}] < seq:")
    emit("            i -= 1")
    emit("            if not i:")
    emit("                ch.wait(seq, timeout, False)  # the loop above was the spin")
    emit("                break")
    emit("    except BaseException:")
    emit(f"        ch.abandon(seq, _fn, None, {argtuple})")
    emit("        raise")
    emit("    ch.done = seq")
    emit("    rb = base + ch.response_offset")
    check = f"status or rseq != seq or rlen < {fn.result_size} or rlen > ch.response_capacity"
    if fn.returns and all(type(c) in _NUMBERS for c, _ in fn.returns):
        # Response header and result record in one unpack; the values are used only if all is well.
        ns["_resprec"] = struct.Struct("<IIQ" + "x" * (L.RESPONSE_HEADER_SIZE - 16) + _record_format(fn.returns)).unpack_from
        emit("    status, rlen, rseq, *r = _resprec(buf, rb)")
        emit(f"    if {check}:")
        emit("        return _finish(ch, seq)")
        emit("    return r[0]" if len(fn.returns) == 1 else "    return tuple(r)")
    else:
        emit("    status, rlen, rseq = _resp(buf, rb)")
        emit(f"    if {check}:")
        emit("        return _finish(ch, seq)")
        emit(f"    rp = rb + {L.RESPONSE_HEADER_SIZE}")
        results = [_emit_result(emit, ns, j, codec, off) for j, (codec, off) in enumerate(fn.returns)]
        if not results:
            emit("    return None")
        elif len(results) == 1:
            emit(f"    return {results[0]}")
        else:
            emit(f"    return ({', '.join(results)})")
    if any(_fast_slice(c) for _, c, _ in fn.params):
        ns["_ndarray"] = np.ndarray
        ns["_roots"] = roots
    exec(compile("\n".join(lines) + "\n", f"<shmcall fast {fn.name}>", "exec"), ns)  # noqa: S102 - identifiers only
    return ns["remote"]


def _emit_leaf(emit: Callable[[str], None], ns: dict, var: str, codec: Any, off: int) -> None:
    """Reads one number, text or bytes result at record offset ``off`` into ``var``."""
    if type(codec) in _NUMBERS:
        ns[f"_s_{var}"] = codec.S.unpack_from
        emit(f"    {var} = _s_{var}(buf, rp + {off})[0]")
        return
    emit(f"    seg, rsv, off, ln = _buf(buf, rp + {off})")
    emit("    if seg or rsv or off + ln > rlen:")
    emit("        return _finish(ch, seq)")
    if type(codec) is StrCodec:
        emit("    try:")
        emit(f"        {var} = str(buf[rp + off:rp + off + ln], 'utf-8')")
        emit("    except UnicodeDecodeError:")
        emit("        return _finish(ch, seq)")
    else:
        emit(f"    {var} = bytes(buf[rp + off:rp + off + ln])")


def _emit_result(emit: Callable[[str], None], ns: dict, j: int, codec: Any, off: int) -> str:
    """Reads result ``j``; returns the variable holding it."""
    var = f"r{j}"
    if type(codec) is VecCodec:
        emit(f"    {var} = _fn.returns[{j}][0].read(buf, rp + {off}, ch.resp(rp, rlen))")
    elif type(codec) is StructCodec:
        for k, (name, c, o) in enumerate(codec.fields):
            _emit_leaf(emit, ns, f"{var}_{k}", c, off + o)
        ns[f"_rcls{j}"] = codec.cls
        emit(f"    {var} = _new(_rcls{j})")
        for k, (name, _, _) in enumerate(codec.fields):
            emit(f"    {var}.{name} = {var}_{k}")
    else:
        _emit_leaf(emit, ns, var, codec, off)
    return var
