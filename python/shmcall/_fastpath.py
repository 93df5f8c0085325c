"""Generated call functions for the common signatures: numbers, ``str``, ``bytes``, shared numpy
arrays, and structs of numbers and text in; numbers, text, bytes, structs of them and ``Vec<T>`` out.
One straight-line Python function per remote function, with the slot layout, struct objects and word
indexes bound as constants, so a call costs a few dozen bytecodes. A result with one piece of text
is read in the same unpack as the response header, at the length the previous response had.

Anything unusual (first call on a thread, a pending late response, queued releases, a value that
needs checking, data too large to go inline, an error status) falls back to
``RemoteFunction.invoke``, which handles every case; the fast path only ever takes the common road.
"""

from __future__ import annotations

import re
import struct
from typing import Any, Callable

from . import _layout as L
from ._channel import FIRST_SPIN, SPIN_ITERATIONS, _STRONG_ORDER
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


#: Names of the generated code's own variables: a parameter named like one gets no fast path.
_LOCALS = re.compile(r"_.*|(ch|seq|base|qw|rw|buf|w|i|sl|st|rb|rp|rlen|pk|gp|gn|glen|gd|i64s|f64s|struct)|[bdefhknrt]\d+(_\d+)*(_sr|_off|_len)?")


def eligible(fn: Any) -> bool:
    """True when every parameter and result has a fast encoding (and no parameter name would
    shadow a variable of the generated code)."""
    if fn.outs or not _STRONG_ORDER or any(_LOCALS.fullmatch(n) for n, _, _ in fn.params):
        return False
    for _, codec, _ in fn.params:
        if not (type(codec) in _NUMBERS + _TEXT or _fast_slice(codec) or _flat_struct(codec)):
            return False
    return all(type(c) in _NUMBERS + _TEXT + (VecCodec,) or _flat_struct(c) for c, _ in fn.returns)


def _leaf_format(codec: Any) -> str:
    """A number's format, or a shared array's reference (segment, reserved, offset, length) with
    the reserved word as pad bytes: pack_into writes them as zeros, one argument fewer."""
    return codec.fmt if type(codec) in _NUMBERS + (BoolCodec,) else "I4xQQ"


def _record_format(items: list[tuple[Any, int]], start: int = 0) -> str:
    """A struct format for fixed parts at the given offsets (explicit padding), from ``start``."""
    fmt, pos = "", start
    for codec, off in items:
        # An inline text reference's segment and reserved word are zero: pad bytes, as above.
        fmt += "x" * (off - pos) + ("8xQQ" if type(codec) in _TEXT else _leaf_format(codec))
        pos = off + codec.size
    return fmt


#: Text up to this many bytes (all pieces together) is packed with the record by a cached format.
PACKED_TEXT_LIMIT = 256
_PACK_CACHE_ENTRIES = 512


def _request_format(leaves: list[tuple[str, Any, int]]) -> str:
    """The format of a request's header and argument record. The seq word is pad bytes: pack_into
    zeroes it with the rest before writing the fields, and the request is published by a separate
    8-byte store (SPEC §5.2)."""
    return "<II8x" + "x" * (L.REQUEST_HEADER_SIZE - 16) + _record_format([(c, o) for _, c, o in leaves])


def _request_runs(fn_id: int, items: list[tuple[Any, int]], args_size: int) -> list[tuple]:
    """A request's header and argument record as runs for `_text_packs`: ``("leaf", format, i)``
    for leaf i's own values (a number, an array's reference); ``("fixed", format, values)`` for
    bytes the text lengths decide (the header, text references, padding between them), a value
    being an int, ``"end"`` (the request's length) or ``("t", j)``/``("n", j)`` (text j's start
    and length); ``("pad", format)`` for padding alone."""
    pieces: list[tuple] = [("fixed", "I", fn_id), ("fixed", "I", "end"), ("pad", "x" * (L.REQUEST_HEADER_SIZE - 8))]
    pos, j = 0, 0
    for i, (codec, off) in enumerate(items):
        pieces.append(("pad", "x" * (off - pos)))
        if type(codec) in _TEXT:
            pieces += [("pad", "8x"), ("fixed", "Q", ("t", j)), ("fixed", "Q", ("n", j))]
            j += 1
        else:
            pieces.append(("leaf", _leaf_format(codec), i))
        pos = off + codec.size
    pieces.append(("pad", "x" * (args_size - pos)))
    runs: list[tuple] = []
    fmt, values = "", []
    for piece in pieces + [("leaf", "", -1)]:  # a sentinel leaf ends the last run
        if piece[0] == "leaf":
            if fmt:
                runs.append(("fixed", fmt, values) if values else ("pad", fmt))
            fmt, values = "", []
            runs.append(piece)
        else:
            fmt += piece[1]
            values += [piece[2]] if piece[0] == "fixed" else []
    return runs[:-1]


def _text_packs(runs: list[tuple], args_size: int) -> tuple[dict, Callable[[Any, int], tuple]]:
    """A cache of packs writing a whole short-text request in one ``pack_into``, keyed by the text
    lengths; and the function that fills it, given the request capacity. An entry is ``(pack_into,
    request length, fixed bytes...)``: the text lengths decide the header, the text references and
    the padding, so each run of them is packed once and passed as one bytes item (`hello`'s request
    is then 2 items, not 5: ~20 ns less). Long text, a request beyond the capacity, or a full cache
    gets the length with None for the rest: the caller then copies the text by slicing (or gives
    up, if it does not fit)."""
    packs: dict[Any, tuple] = {}
    fixed = sum(run[0] == "fixed" for run in runs)

    def packfor(key: Any, capacity: int) -> tuple:
        lengths = key if type(key) is tuple else (key,)
        starts, pos = [], args_size
        for n in lengths:
            starts.append(L.tail_aligned(pos))
            pos = starts[-1] + n
        if sum(lengths) > PACKED_TEXT_LIMIT or len(packs) >= _PACK_CACHE_ENTRIES or pos > capacity:
            return (None, pos) + (None,) * fixed
        known = {"end": pos, **{("t", j): t for j, t in enumerate(starts)}, **{("n", j): n for j, n in enumerate(lengths)}}
        fmt, consts = "<", []
        for run in runs:
            if run[0] == "fixed":
                consts.append(struct.pack("<" + run[1], *(known.get(v, v) for v in run[2])))
                fmt += f"{len(consts[-1])}s"
            else:
                fmt += run[1]
        end = args_size
        for t, n in zip(starts, lengths):
            fmt += "x" * (t - end) + f"{n}s"
            end = t + n
        found = packs[key] = (struct.Struct(fmt).pack_into, pos, *consts)
        return found

    return packs, packfor


#: The default of a fast function's hidden `_more` parameter (`build`).
_NO_MORE = object()


def _too_many(fn: Any) -> None:
    n = len(fn.params)
    raise TypeError(f"{fn.name}() takes {n} positional argument{'' if n == 1 else 's'}; timeout only by keyword")


def build(fn: Any, local: Any, slow: Callable[..., Any], roots: dict | None = None) -> Callable[..., Any] | None:
    """The fast call function for ``fn``, or None if it is not eligible. ``roots`` is the heap's
    owner-array table (``Heap.roots``)."""
    if not eligible(fn):
        return None
    names = [n for n, _, _ in fn.params]
    args = ", ".join(names)
    argtuple = f"({args}{',' if args else ''})"
    ns: dict[str, Any] = {"_local": local, "_slow": slow, "_fn": fn, "_finish": fn.finish, "struct": struct,
                          "_new": object.__new__, "_long_waits": fn.long_waits,
                          "_encode": str.encode, "_decode": bytes.decode, "_NO_MORE": _NO_MORE, "_too_many": _too_many}
    # `timeout` is keyword-only to its callers (the signature `make_callable` gives the function),
    # but not in the code: CPython 3.11 specializes no call of a function with keyword-only
    # parameters, and the generic call fills their defaults from a dict (`add` 0.62 -> 0.59 µs).
    # A positional argument beyond the parameters lands in `_more` and raises, so `c.add(1, 2, 3)`
    # cannot pass for a timeout of 3 s. `_client` is the client the function is a method of
    # (`make_callable`); the function does not need it.
    lines = [f"def remote(_client, {args}{', ' if args else ''}_more=_NO_MORE, timeout=None):"]
    if guessed_text(fn):
        lines.append("    global _guess  # rebound when a response's text length changes")
    emit = lines.append
    emit("    if _more is not _NO_MORE:")
    emit("        _too_many(_fn)")
    bail = f"        return _slow(_fn, {argtuple}, timeout)"

    # Parameters flattened to leaves: (expression, codec, offset in the argument record).
    leaves: list[tuple[str, Any, int]] = []
    guard = ["ch.done != seq", "ch.releases"]
    structs: list[tuple[str, int, list[str]]] = []  # struct parameters: name, index, field variables
    for i, (n, codec, off) in enumerate(fn.params):
        if type(codec) is StructCodec:
            ns[f"_cls{i}"] = codec.cls
            structs.append((n, i, [f"f{i}_{k}" for k in range(len(codec.fields))]))
            leaves.extend((f"f{i}_{k}", c, off + o) for k, (_, c, o) in enumerate(codec.fields))
        else:
            if _fast_slice(codec):
                ns[f"_dt{i}"] = codec.elem.dtype
                guard.append(f"type({n}) is not _ndarray or {n}.dtype is not _dt{i}")
            leaves.append((n, codec, off))
    emit("    try:")
    emit("        ch = _local.ch")
    emit("    except AttributeError:")
    emit(bail)
    emit("    seq = ch.seq")
    emit(f"    if {' or '.join(guard)}:")
    emit(bail)
    # A struct parameter takes an instance of its type or a tuple of its fields in order (one of
    # another length raises ValueError as it is unpacked: no len() call).
    for n, i, fields in structs:
        emit(f"    f{i} = type({n})")
        emit(f"    if f{i} is _cls{i}:")
        for var, (name, _, _) in zip(fields, fn.params[i][1].fields):
            emit(f"        {var} = {n}.{name}")
        emit(f"    elif f{i} is tuple:")
        emit("        try:")
        emit(f"            {', '.join(fields)}{',' if len(fields) == 1 else ''} = {n}")
        emit("        except ValueError:")
        emit("    " + bail)
        emit("    else:")
        emit(bail)
    emit("    seq += 1")

    # Variable-length data goes inline after the record, each piece 8-aligned (SPEC §4.1).
    values: list[str] = []
    copies: list[tuple[str, str, str]] = []
    own: dict[int, list[str]] = {}  # a number's or an array's leaf: its values in the request
    placing: list[str] = []  # where the text goes, for a request whose text is not packed
    sizes: list[str] = []  # the shared arrays' bytes: with the request's, the call's size (`Channel.wait`)
    end = str(fn.args_size)
    cursor = str(L.tail_aligned(fn.args_size))
    for k, (expr, codec, _) in enumerate(leaves):
        if type(codec) in _NUMBERS:
            values.append(expr)
            own[k] = [expr]
        elif type(codec) is SliceCodec:
            # Our own arrays (or whole views of them) are found by identity; anything else is slow.
            emit(f"    h{k} = _roots.get(id({expr}))")
            emit(f"    if h{k} is None or h{k}[2] != {expr}.nbytes:")
            emit(f"        b{k} = {expr}.base")
            emit(f"        h{k} = _roots.get(id(b{k})) if b{k} is not None else None")
            emit(f"        if h{k} is None or h{k}[2] != {expr}.nbytes or not {expr}.flags.c_contiguous:")
            emit("    " + bail)
            values.extend([f"h{k}[0]", f"h{k}[1]", f"h{k}[2]"])
            own[k] = values[-3:]
            sizes.append(f"h{k}[2]")
        else:
            if type(codec) is StrCodec:
                # str.encode unbound: a TypeError for anything not a str, with no separate type check.
                emit("    try:")
                emit(f"        d{k} = _encode({expr})")
                emit("    except (TypeError, UnicodeError):")
                emit(bail)
            else:
                emit(f"    d{k} = {expr}")
                emit(f"    if type(d{k}) is not bytes:")
                emit(bail)
            emit(f"    n{k} = len(d{k})")
            placing += [f"t{k} = {cursor}", f"e{k} = t{k} + n{k}"]
            values.extend([f"t{k}", f"n{k}"])
            copies.append((f"d{k}", f"t{k}", f"e{k}"))
            cursor = f"((e{k} + 7) & ~7)"
            end = f"e{k}"
    request = _request_format(leaves)
    ns["_reqrec"] = struct.Struct(request).pack_into
    header = f"buf, base, {fn.id}, {end}{''.join(', ' + v for v in values)}"
    if copies:
        # Short text goes into the one pack, cached per tuple of text lengths with the bytes those
        # lengths fix (`_text_packs`). A pack is made only for a request that fits the channel's
        # capacity (the same on every channel of a client), so a cached one needs no capacity check.
        key = ", ".join(f"n{k}" for k, (_, c, _) in enumerate(leaves) if type(c) in _TEXT)
        key = f"({key},)" if len(copies) > 1 else key
        runs = _request_runs(fn.id, [(c, o) for _, c, o in leaves], fn.args_size)
        ns["_packs"], ns["_packfor"] = _text_packs(runs, fn.args_size)
        fixed: list[str] = []  # the cached bytes of each fixed run: k0, k1, ...
        items: list[str] = []  # the pack's arguments after buf and base, text data aside
        for run in runs:
            if run[0] == "fixed":
                fixed.append(f"k{len(fixed)}")
                items.append(fixed[-1])
            elif run[0] == "leaf":
                items += own[run[2]]
        entry = ", ".join(["pk", end] + fixed)
        emit("    try:")
        emit(f"        {entry} = _packs[{key}]")
        emit("    except KeyError:")
        emit(f"        {entry} = _packfor({key}, ch.request_capacity)")
        emit(f"        if pk is None and {end} > ch.request_capacity:")
        emit("    " + bail)
    emit("    base, qw, rb, rw = ch.next_slot")
    emit("    buf = ch.buf")
    # The request is published right after its pack: the daemon polls the slot's line, and a poll
    # between the pack's stores and the seq store costs the seq store another trip for the line
    # (`add` 0.58 -> 0.56 µs with `w` loaded here, and `ch.seq` stored after publishing, rather
    # than both between the pack and the publication).
    emit("    w = ch.words")
    # Request header and argument record in one pack (the header's reserved bytes as padding), and
    # short text with them (above).
    emit("    try:")
    if copies:
        emit("        if pk is not None:")
        emit(f"            pk(buf, base, {', '.join(items + [d for d, _, _ in copies])})")
        emit("        else:")
        for line in placing:
            emit(f"            {line}")
        emit(f"            _reqrec({header})")
        for data, start, stop in copies:
            emit(f"            buf[base + {L.REQUEST_HEADER_SIZE} + {start}:base + {L.REQUEST_HEADER_SIZE} + {stop}] = {data}")
    else:
        emit(f"        _reqrec({header})")
    emit("    except (struct.error, OverflowError, TypeError):")
    emit(bail)
    # ORDERING (SPEC §5.2 "request published"): one aligned 8-byte store of the slot's seq word
    # after the rest of the request half.
    emit("    w[qw] = seq")
    # No check for signals between the two stores (neither is a call), so an interrupt cannot leave
    # a published request uncounted; one after the pack leaves it unpublished, and harmless.
    emit("    ch.seq = seq")
    # The next call's slot, in the time the daemon takes anyway (`Channel.next_slot`).
    emit("    ch.next_slot = ch.slots[(seq + 1) % ch.slot_count]")
    _emit_before_response(emit, ns, fn)
    # daemon_waiting is loaded only if the first spin finds no response (SPEC §5.4): a hot daemon
    # answers within it, and a sleeping one loses half a microsecond of the tens it needs to wake.
    emit(f"    i = {min(FIRST_SPIN, SPIN_ITERATIONS) + 1}")
    emit("    try:")
    # Until the response's seq word is exactly seq (SPEC §5.2): the unpack below need not read it
    # again (~25 ns). A later value is a corrupt daemon's, which `wait_after_first_spin` reports.
    emit("        while w[rw] != seq:")
    emit("            i -= 1")
    emit("            if not i:")
    emit(f"                ch.wait_after_first_spin(seq, timeout, _long_waits, {' + '.join([end] + sizes)})")
    emit("                break")
    emit("    except BaseException:")
    emit(f"        ch.abandon(seq, _fn, None, {argtuple})")
    emit("        raise")
    emit("    ch.done = seq")
    _emit_response(emit, ns, fn)
    if any(_fast_slice(c) for _, c, _ in fn.params):
        ns["_ndarray"] = np.ndarray
        ns["_roots"] = roots
    exec(compile("\n".join(lines) + "\n", f"<shmcall fast {fn.name}>", "exec"), ns)  # noqa: S102 - identifiers only
    return ns["remote"]


def _result_leaves(fn: Any) -> list[tuple[str, Any, int]]:
    """The result record's fixed leaves (numbers and text references) as ``(variable, codec, offset)``;
    structs contribute their fields, ``Vec`` results none (they are read by their codec)."""
    leaves: list[tuple[str, Any, int]] = []
    for j, (codec, off) in enumerate(fn.returns):
        if type(codec) is StructCodec:
            leaves.extend((f"r{j}_{k}", c, off + o) for k, (_, c, o) in enumerate(codec.fields))
        elif type(codec) is not VecCodec:
            leaves.append((f"r{j}", codec, off))
    return leaves


def _emit_response(emit: Callable[[str], None], ns: dict, fn: Any) -> None:
    """Decodes the response with one unpack of its header and every fixed leaf of the result record.

    For an all-numbers result the header's status and length are read as one u64 (status in the low
    half), so it is accepted with one comparison: status 0 with exactly the record's length (the seq
    word was checked by the spin). Other results read them as two u32s: arithmetic on a u64 above 2^32 (a two-digit int in
    CPython) cost 40 ns more than the extra item. A result with one piece of text reads that too in
    the same unpack, guessing its length (`_text_guesses`). Anything unexpected is left to
    ``_finish``, which decodes (or raises) the general way."""
    leaves = _result_leaves(fn)
    names, fmt, pos = [], "", 0
    for var, codec, off in leaves:
        fmt += "x" * (off - pos)
        if type(codec) in _NUMBERS:
            fmt += codec.fmt
            names.append(var)
        else:  # a buffer reference: segment and reserved as one word, then offset and length
            fmt += "QQQ"
            names.extend([f"{var}_sr", f"{var}_off", f"{var}_len"])
        pos = off + codec.size
    numbers_only = all(type(c) in _NUMBERS for c, _ in fn.returns)
    if _word_views(fn) is not None:
        _emit_word_results(emit, fn, leaves)
        _emit_results(emit, ns, fn)
        return
    header = "<Q8x" if numbers_only else "<II8x"  # the seq word: checked by the spin
    record = header + "x" * (L.RESPONSE_HEADER_SIZE - 16) + fmt
    status = "sl" if numbers_only else "st, rlen"
    texts = [(var, codec) for var, codec, _ in leaves if type(codec) not in _NUMBERS]
    if guessed_text(fn):
        _emit_guessed_text(emit, ns, fn, record, status, names, texts[0])
        _emit_results(emit, ns, fn)
        return
    ns["_resprec"] = struct.Struct(record).unpack_from
    emit(f"    {status}{''.join(', ' + n for n in names)} = _resprec(buf, rb)")
    if numbers_only:
        exact = L.tail_aligned(fn.result_size)
        emit(f"    if sl != {exact << 32}:")
        emit("        return _finish(ch, seq)")
    else:
        _emit_record_checks(emit, fn)
    for var, codec in texts:
        _emit_text_checks(emit, var)
        _emit_text(emit, var, codec, f"ch.mm[rp + {var}_off:rp + {var}_off + {var}_len]")
    _emit_results(emit, ns, fn)


#: Channel views that read an 8-byte result field as one item, by struct format (`_emit_word_results`).
_WORD_VIEWS = {"q": "i64s", "Q": "words", "d": "f64s"}


def _word_views(fn: Any) -> set[str] | None:
    """The typed views `_emit_word_results` reads the result through (``words`` being ``w``), or
    None if the result is not all 8-byte numbers at 8-aligned offsets."""
    leaves = _result_leaves(fn)
    if not all(type(c) in _NUMBERS for c, _ in fn.returns):
        return None
    if not all(c.fmt in _WORD_VIEWS and off % 8 == 0 for _, c, off in leaves):
        return None
    return {_WORD_VIEWS[c.fmt] for _, c, _ in leaves} - {"words"}


def _emit_word_results(emit: Callable[[str], None], fn: Any, leaves: list[tuple[str, Any, int]]) -> None:
    """Results that are all 8-byte numbers at 8-aligned offsets (``add``'s i64, a ``sum``'s f64): the
    status and length as one word, then each value as one item of a typed view of the channel: `add`
    took 41 ns less than with an ``unpack_from`` of the same words and its tuple."""
    # Status (low half) and length as one word, accepted with one comparison as in `_emit_response`.
    assert L.OFF_STATUS == 0 and L.OFF_RESPONSE_LEN == 4 and L.OFF_RESPONSE_SEQ == 8
    emit(f"    if w[rw - 1] != {L.tail_aligned(fn.result_size) << 32}:")
    emit("        return _finish(ch, seq)")
    for var, codec, off in leaves:  # the views: loaded by `_emit_before_response`
        word = (L.RESPONSE_HEADER_SIZE + off - L.OFF_RESPONSE_SEQ) // 8
        view = _WORD_VIEWS[codec.fmt]
        emit(f"    {var} = {'w' if view == 'words' else view}[rw + {word}]")


def _emit_record_checks(emit: Callable[[str], None], fn: Any, indent: str = "    ") -> None:
    """Status 0 and a length from the record's to the response area's."""
    emit(f"{indent}if st or rlen < {fn.result_size} or rlen > ch.response_capacity:")
    emit(f"{indent}    return _finish(ch, seq)")
    emit(f"{indent}rp = rb + {L.RESPONSE_HEADER_SIZE}")


def _emit_text_checks(emit: Callable[[str], None], var: str, indent: str = "    ") -> None:
    """A text reference inline (segment 0) and within the response's length."""
    emit(f"{indent}if {var}_sr or {var}_off + {var}_len > rlen:")
    emit(f"{indent}    return _finish(ch, seq)")


def _emit_text(emit: Callable[[str], None], var: str, codec: Any, data: str) -> None:
    """``var`` from the bytes expression ``data``: decoded if the codec is text."""
    if type(codec) is StrCodec:
        emit("    try:")
        emit(f"        {var} = _decode({data})  # UTF-8, strict; ~50 ns less than str(b, 'utf-8')")
        emit("    except UnicodeDecodeError:")
        emit("        return _finish(ch, seq)")
    else:
        emit(f"    {var} = {data}")


def guessed_text(fn: Any) -> bool:
    """True if the result has exactly one piece of text (str or bytes, maybe a struct's field) and no
    ``Vec``: its response is read with a guessed text length (`_emit_guessed_text`)."""
    if any(type(c) is VecCodec for c, _ in fn.returns):
        return False
    return sum(type(c) not in _NUMBERS for _, c, _ in _result_leaves(fn)) == 1


def _emit_guessed_text(emit: Callable[[str], None], ns: dict, fn: Any, record: str, status: str,
                       names: list[str], text: tuple[str, Any]) -> None:
    """The response of a result with one piece of text, read by one unpack that also takes the text
    at its usual place (first after the record) with the length the previous response had.

    Slicing the text out of the mmap after the unpack cost ~110 ns of `hello`'s 1.1 µs (a slice
    object, the mmap's subscript, a bytes object). A guess is taken only when the header, the
    reference and the length all match a response that passed every check before (`_text_guesses`),
    so a hit needs no other check (a client's channels share one response capacity); a miss falls
    back to the checks and the slice, and guesses again."""
    var, codec = text
    start = L.tail_aligned(fn.result_size)
    ns["_guess"], ns["_guessfor"] = _text_guesses(record, start)  # loaded by `_emit_before_response`
    emit(f"    {status}{''.join(', ' + n for n in names)}, gd = gp(buf, rb)")
    emit(f"    if st or rlen != glen or {var}_off != {start} or {var}_len != gn or {var}_sr:")
    _emit_record_checks(emit, fn, "        ")
    _emit_text_checks(emit, var, "        ")
    emit(f"        gd = ch.mm[rp + {var}_off:rp + {var}_off + {var}_len]")
    emit(f"        if {var}_off == {start}:")
    emit(f"            _guess = _guessfor({var}_len, rlen) or _guess")
    _emit_text(emit, var, codec, "gd")


#: Text results up to this many bytes are guessed (`_text_guesses`), with up to this many formats.
GUESSED_TEXT_LIMIT = 256
_GUESS_CACHE_ENTRIES = 512


def _text_guesses(record: str, start: int) -> tuple[tuple, Callable[[int, int], Any]]:
    """The first guess (empty text), and the function that makes the guess for a response whose text
    had ``n`` bytes at ``start`` and whose length was ``rlen``: ``(unpack, n, rlen)``, where unpack reads
    the header, the record and ``n`` bytes at ``start``. It is called only for a response that passed
    every check, so a later response matching the guess is valid too. Long text, or a full cache,
    gets None (the previous guess stays)."""
    cache: dict[tuple[int, int], tuple] = {}
    to_text = record + "x" * (L.RESPONSE_HEADER_SIZE + start - struct.calcsize(record))

    def guess(n: int, rlen: int) -> Any:
        found = cache.get((n, rlen))
        if found is None and n <= GUESSED_TEXT_LIMIT and len(cache) < _GUESS_CACHE_ENTRIES:
            found = cache[n, rlen] = (struct.Struct(f"{to_text}{n}s").unpack_from, n, rlen)
        return found

    return (struct.Struct(f"{to_text}0s").unpack_from, 0, -1), guess


def _emit_before_response(emit: Callable[[str], None], ns: dict, fn: Any) -> None:
    """What the response's decoding needs that the response does not: the result's struct objects,
    the text guess, the channel's typed views. Emitted between publishing the request and waiting
    for the response: the daemon takes longer to answer than these take (~70 ns an object), so they
    are off the call's critical path. An object made for a call that fails is simply dropped."""
    if guessed_text(fn):
        emit("    gp, gn, glen = _guess")
    for view in sorted(_word_views(fn) or ()):
        emit(f"    {view} = ch.{view}")
    for j, (codec, _) in enumerate(fn.returns):
        if type(codec) is StructCodec:
            ns[f"_rcls{j}"] = codec.cls
            emit(f"    r{j} = _new(_rcls{j})")


def _emit_results(emit: Callable[[str], None], ns: dict, fn: Any) -> None:
    """Builds the return value from the leaves (structs field by field, ``Vec``s by their codec)."""
    results = []
    for j, (codec, off) in enumerate(fn.returns):
        var = f"r{j}"
        if type(codec) is VecCodec:
            emit(f"    {var} = _fn.returns[{j}][0].read(buf, rp + {off}, ch.resp(rp, rlen))")
        elif type(codec) is StructCodec:  # made by `_emit_before_response`
            for k, (name, _, _) in enumerate(codec.fields):
                emit(f"    {var}.{name} = {var}_{k}")
        results.append(var)
    emit(f"    return {', '.join(results) if results else 'None'}")
