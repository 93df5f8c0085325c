"""Generated call functions for the common signatures: numbers, ``str`` and ``bytes`` in; numbers,
``str`` and ``bytes`` out. One straight-line Python function per remote function, with the slot
layout, struct objects and word indexes bound as constants, so a call costs a few dozen bytecodes.

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
from ._types import BoolCodec, BytesCodec, FloatCodec, IntCodec, SliceCodec, StrCodec, VecCodec

__all__: list[str] = []

_NUMBERS = (IntCodec, FloatCodec)
_RESULTS = (IntCodec, FloatCodec, BoolCodec, StrCodec, BytesCodec, VecCodec)


def _fast_slice(codec: Any) -> bool:
    """A ``&[T]`` or ``&mut [T]`` of numbers: shared numpy arrays go by reference on the fast path."""
    return type(codec) is SliceCodec and np is not None and codec.elem.format != ""


def eligible(fn: Any) -> bool:
    """True when every parameter and result has a fast encoding."""
    if fn.outs or not _STRONG_ORDER:
        return False
    for _, codec, _ in fn.params:
        if type(codec) not in _NUMBERS + (StrCodec, BytesCodec) and not _fast_slice(codec):
            return False
    return all(type(codec) in _RESULTS for codec, _ in fn.returns)


def _record_format(items: list[tuple[Any, int]]) -> str:
    fmt, pos = "<", 0
    for codec, off in items:
        fmt += "x" * (off - pos) + (codec.fmt if type(codec) in _NUMBERS + (BoolCodec,) else "IIQQ")
        pos = off + codec.size
    return fmt


def build(fn: Any, local: Any, slow: Callable[..., Any], local_roots: dict | None = None) -> Callable[..., Any] | None:
    """The fast call function for ``fn``, or None if it is not eligible. ``local_roots`` is the heap's
    owner-array table (``Heap.roots``)."""
    if not eligible(fn):
        return None
    names = [n for n, _, _ in fn.params]
    args = ", ".join(names)
    lines = [f"def remote({args}{', ' if args else ''}*, timeout=None):"]
    emit = lines.append
    emit("    try:")
    emit("        ch = _local.ch")
    emit("    except AttributeError:")
    emit(f"        return _slow(_fn, ({args}{',' if args else ''}), timeout)")
    emit("    seq = ch.seq + 1")
    guard = ["ch.done != seq - 1", "ch.releases"]
    for i, (n, codec, _) in enumerate(fn.params):
        if type(codec) is StrCodec:
            guard.append(f"type({n}) is not str")
        elif type(codec) is BytesCodec:
            guard.append(f"type({n}) is not bytes")
        elif type(codec) is SliceCodec:
            guard.append(f"type({n}) is not _ndarray or {n}.dtype is not _dt{i}")
    emit(f"    if {' or '.join(guard)}:")
    emit(f"        return _slow(_fn, ({args}{',' if args else ''}), timeout)")
    # Variable-length data goes inline after the record, each piece 8-aligned (SPEC §4.1).
    tail = (fn.args_size + L.TAIL_ALIGN - 1) // L.TAIL_ALIGN * L.TAIL_ALIGN
    record_values: list[str] = []
    copies: list[tuple[str, str, str]] = []
    end = str(fn.args_size)
    cursor = str(tail)
    for i, (n, codec, _) in enumerate(fn.params):
        if type(codec) in _NUMBERS:
            record_values.append(n)
            continue
        if type(codec) is SliceCodec:
            # Our own arrays (or whole views of them) are found by identity; anything else is slow.
            emit(f"    h{i} = _roots.get(id({n}))")
            emit(f"    if h{i} is None or h{i}[2] != {n}.nbytes:")
            emit(f"        b{i} = {n}.base")
            emit(f"        h{i} = _roots.get(id(b{i})) if b{i} is not None else None")
            emit(f"        if h{i} is None or h{i}[2] != {n}.nbytes or not {n}.flags.c_contiguous:")
            emit(f"            return _slow(_fn, ({args},), timeout)")
            record_values.extend([f"h{i}[0]", "0", f"h{i}[1]", f"h{i}[2]"])
            continue
        data = f"d{i}"
        if type(codec) is StrCodec:
            emit("    try:")
            emit(f"        {data} = {n}.encode()")
            emit("    except UnicodeError:")
            emit(f"        return _slow(_fn, ({args},), timeout)")
        else:
            emit(f"    {data} = {n}")
        emit(f"    t{i} = {cursor}")
        emit(f"    e{i} = t{i} + len({data})")
        record_values.extend(["0", "0", f"t{i}", f"len({data})"])
        copies.append((data, f"t{i}", f"e{i}"))
        cursor = f"((e{i} + 7) & ~7)"
        end = f"e{i}"
    if copies:
        emit(f"    if {end} > ch.request_capacity:")
        emit(f"        return _slow(_fn, ({args},), timeout)")
    emit("    base = ch.bases[seq % ch.slot_count]")
    emit(f"    p = base + {L.REQUEST_HEADER_SIZE}")
    emit("    buf = ch.buf")
    if record_values:
        emit("    try:")
        emit(f"        _rec(buf, p, {', '.join(record_values)})")
        emit("    except (struct.error, OverflowError, TypeError):")
        emit(f"        return _slow(_fn, ({args},), timeout)")
    for data, start, stop in copies:
        emit(f"    buf[p + {start}:p + {stop}] = {data}")
    emit(f"    _req(buf, base, {fn.id}, {end}, seq)")
    emit("    ch.seq = seq")
    emit("    w = ch.words")
    # ORDERING (SPEC §5.2 "request published"): one aligned 8-byte store after the slot's bytes.
    emit(f"    w[{L.OFF_REQ_SEQ // 8}] = seq")
    emit(f"    if w[{L.OFF_DAEMON_WAITING // 8}]:")
    emit("        ch.ring()")
    emit("    try:")
    emit(f"        i = {SPIN_ITERATIONS + 1}")
    emit(f"        while w[{L.OFF_RESP_SEQ // 8}] < seq:")
    emit("            i -= 1")
    emit("            if not i:")
    emit("                ch.wait(seq, timeout)")
    emit("                break")
    emit("    except BaseException:")
    emit(f"        ch.abandon(seq, _fn, None, ({args}{',' if args else ''}))")
    emit("        raise")
    emit("    ch.done = seq")
    emit("    rb = base + ch.response_offset")
    emit("    status, rlen, rseq = _resp(buf, rb)")
    emit(f"    if status or rseq != seq or rlen < {fn.result_size} or rlen > ch.response_capacity:")
    emit("        return _finish(ch, seq)")
    emit(f"    rp = rb + {L.RESPONSE_HEADER_SIZE}")
    results: list[str] = []
    scalars = [(c, o) for c, o in fn.returns if type(c) in _NUMBERS + (BoolCodec,)]
    if len(scalars) == len(fn.returns) and fn.returns:
        emit("    r = _out(buf, rp)")
        if any(type(c) is BoolCodec for c, _ in fn.returns):
            return None  # bools need range checks: leave them to the general path
        emit("    return r[0]" if len(fn.returns) == 1 else "    return r")
    else:
        for j, (codec, off) in enumerate(fn.returns):
            if type(codec) in _NUMBERS + (BoolCodec,):
                if type(codec) is BoolCodec:
                    return None
                emit(f"    r{j} = _s{j}(buf, rp + {off})[0]")
            elif type(codec) is VecCodec:
                emit(f"    r{j} = _fn.returns[{j}][0].read(buf, rp + {off}, ch.resp(rp, rlen))")
            else:
                emit(f"    seg, rsv, off, ln = _buf(buf, rp + {off})")
                emit("    if seg or rsv or off + ln > rlen:")
                emit("        return _finish(ch, seq)")
                if type(codec) is StrCodec:
                    emit("    try:")
                    emit(f"        r{j} = str(buf[rp + off:rp + off + ln], 'utf-8')")
                    emit("    except UnicodeDecodeError:")
                    emit("        return _finish(ch, seq)")
                else:
                    emit(f"    r{j} = bytes(buf[rp + off:rp + off + ln])")
            results.append(f"r{j}")
        if not results:
            emit("    return None")
        elif len(results) == 1:
            emit(f"    return {results[0]}")
        else:
            emit(f"    return ({', '.join(results)})")
    ns: dict[str, Any] = {
        "_local": local,
        "_slow": slow,
        "_fn": fn,
        "_finish": fn.finish,
        "struct": struct,
        "_req": L.REQUEST_HEADER.pack_into,
        "_resp": L.RESPONSE_HEADER.unpack_from,
        "_buf": L.BUF.unpack_from,
    }
    if any(_fast_slice(c) for _, c, _ in fn.params):
        ns["_ndarray"] = np.ndarray
        ns["_roots"] = local_roots
        for i, (_, codec, _) in enumerate(fn.params):
            if _fast_slice(codec):
                ns[f"_dt{i}"] = codec.elem.dtype
    if record_values:
        ns["_rec"] = struct.Struct(_record_format([(c, o) for _, c, o in fn.params])).pack_into
    if fn.returns and all(type(c) in _NUMBERS for c, _ in fn.returns):
        ns["_out"] = struct.Struct(_record_format(fn.returns)).unpack_from
    for j, (codec, _) in enumerate(fn.returns):
        if type(codec) in _NUMBERS:
            ns[f"_s{j}"] = codec.S.unpack_from
    exec(compile("\n".join(lines) + "\n", f"<shmcall fast {fn.name}>", "exec"), ns)  # noqa: S102 - identifiers only
    return ns["remote"]
