"""Generated call functions for the common signatures: numbers, ``str``, ``bytes``, shared numpy
arrays, and structs of numbers and text in; numbers, text, bytes, structs of them and ``Vec<T>`` out.
One straight-line Python function per remote function, with the slot layout, struct objects and word
indexes bound as constants, so a call costs a few dozen bytecodes. A result with one piece of text
is read in the same unpack as the response header, at the length the previous response had.

Anything unusual (first call on a thread, a pending late response, queued releases, a value that
needs checking, data too large to go inline, an error status) falls back to
``RemoteFunction.invoke``, which handles every case; the fast path only ever takes the common road.

Reading it: ``c.add.source`` (or ``python -m shmcall source add``) is the generated code, and
tracebacks show its lines (`define` registers it with ``linecache``). The code is written from the
templates below (`_FUNCTION` and its parts), whose words are the function's own names: `Names`
renames any that a parameter has, so a parameter can be called anything. Its globals:
``_this_thread`` (the client's thread-local: ``ch``, this thread's channel), ``_function`` (the
``RemoteFunction``), ``_general_call`` and ``_general_result`` (the general path, before sending and
for the response), ``_pack_request``/``_unpack_response`` (``struct`` methods for the request and
the result record), ``_text_packs``/``_text_guess`` (text formats cached per length), and the struct
types and dtypes the arguments are checked against.

Writing is done once per process for each function shape (`_shape`: its id, name and types): the
source, the compiled code and the recipe of the globals (`_bind`: what every client shares, and what
each has its own of) are kept, so another client's function of that shape is made without writing.
"""

from __future__ import annotations

import builtins
import keyword
import linecache
import re
import struct
import textwrap
from types import CodeType
from typing import TYPE_CHECKING, Any, Callable, Iterable, NamedTuple, Sequence, TypeGuard

from . import _codecache
from . import _layout as L
from ._annotations import parameter_list
from ._channel import FIRST_SPIN, SPIN_ITERATIONS, STRONG_ORDER
from ._numpy import HAVE_NUMPY, np
from ._codecs import (ArrayCodec, BoolCodec, BytesCodec, Codec, ComplexCodec, FloatCodec, InOutCodec, IntCodec, OptionCodec,
                      SliceCodec, StrCodec, StructCodec, VecCodec, VecMutCodec)
from ._scalars import SCALARS
from ._staging import NDARRAY, copier, stage_text
from ._values import Ref, Vec

if TYPE_CHECKING:
    from ._function import RemoteFunction

__all__: list[str] = []

_NUMBERS = (IntCodec, FloatCodec)
_TEXT = (StrCodec, BytesCodec)
_SCALARS = (IntCodec, FloatCodec, BoolCodec, ComplexCodec)


def _is_number(codec: Codec) -> TypeGuard[IntCodec | FloatCodec]:
    """An integer or a float (exactly: not a bool, whose codec is a number codec too)."""
    return type(codec) in _NUMBERS


def _is_scalar(codec: Codec) -> bool:
    """A number, a bool or a complex: a fixed value packed in place (a bool checked to be one, a
    complex as its two floats)."""
    return type(codec) in _SCALARS


def _is_text(codec: Codec) -> TypeGuard[StrCodec | BytesCodec]:
    return type(codec) in _TEXT


def _fast_slice(codec: Codec) -> TypeGuard[SliceCodec]:
    """A ``&[T]`` or ``&mut [T]`` of numbers (or, with numpy, of plain structs), or the array of a
    ``&mut Vec<T>``: shared numpy arrays go by reference on the fast path, other buffers are copied
    (`_staging`)."""
    return isinstance(codec, SliceCodec) and (codec.elem.format != "" or HAVE_NUMPY and type(codec.elem.codec) is StructCodec)


def _fixed_array(codec: Codec) -> TypeGuard[ArrayCodec]:
    """A ``[T; N]`` of numbers: N leaves of the record (a tuple or list of N in Python; ``bytes``
    for ``[u8; N]``, as it reads back)."""
    return type(codec) is ArrayCodec and _is_number(codec.elem)


def _fast_struct(codec: Codec) -> TypeGuard[StructCodec]:
    """A struct whose fields are scalars, text, arrays of numbers or such structs: encoded field by
    field on the fast path, nested structs and arrays flattened into the record's leaves."""
    return type(codec) is StructCodec and all(
        _is_scalar(c) or _is_text(c) or _fixed_array(c) or _fast_struct(c) or _fast_option_result(c) for _, c, _ in codec.fields)


def _struct_types(codecs: Iterable[Codec]) -> dict[str, type[Any]]:
    """The Python types of every struct among ``codecs`` and their fields, by struct name."""
    types: dict[str, type[Any]] = {}
    for codec in codecs:
        if type(codec) is InOutCodec:
            codec = codec.inner
        if type(codec) is StructCodec:
            types[codec.name] = codec.cls
            types.update(_struct_types(c for _, c, _ in codec.fields))
    return types


def _fast_option(codec: Codec) -> TypeGuard[OptionCodec]:
    """An ``Option<T>`` of a scalar, text or an array of numbers: its presence byte and T are two
    leaves of the request (an absent T a stand-in of no length, `_absent`)."""
    if type(codec) is not OptionCodec:
        return False
    inner = codec.inner
    return _is_scalar(inner) or _is_text(inner) or _fast_slice(inner) and inner.elem.format != ""


def _fast_in_out(codec: Codec) -> TypeGuard[InOutCodec | VecMutCodec]:
    """A ``&mut T`` of a number (a ``Ref``) or of a fast struct (an instance, updated in place), or a
    ``&mut Vec<T>`` of numbers (a ``Vec``: its array goes as an array argument, the new one back)."""
    if type(codec) is VecMutCodec:
        return codec.elem.format != ""
    return type(codec) is InOutCodec and (_is_number(codec.inner) or _fast_struct(codec.inner))


def eligible(fn: RemoteFunction) -> bool:
    """True when every parameter and result has a fast encoding (and plain stores are ordered, as
    the fast path's publication assumes)."""
    if not STRONG_ORDER or not all(_fast_in_out(codec) for _, codec, _ in fn.outs):
        return False
    if not all(_is_scalar(c) or _is_text(c) or _fast_slice(c) or _fast_struct(c) or _fixed_array(c) or _fast_option(c)
               or _fast_in_out(c) for _, c, _ in fn.params):
        return False
    return all(_is_scalar(c) or _is_text(c) or type(c) is VecCodec or _fast_struct(c) or _fixed_array(c) or _fast_option_result(c)
               for c, _ in fn.returns)


def _fast_option_result(codec: Codec) -> TypeGuard[OptionCodec]:
    """An ``Option<T>`` of a scalar or text (a result, or a struct's field): its presence byte (0 or 1)
    and T, two leaves; an absent T's bytes are zeros (SPEC §4.6), read and dropped."""
    return type(codec) is OptionCodec and (_is_scalar(codec.inner) or _is_text(codec.inner))


# -- the request's formats -------------------------------------------------------------------------


def _number_format(codec: Codec) -> str:
    assert codec.fmt is not None
    return codec.fmt


def _leaf_format(codec: Codec) -> str:
    """A scalar's format (a complex's two floats), or a shared array's reference (segment, reserved,
    offset, length) with the reserved word as pad bytes: pack_into writes them as zeros, one
    argument fewer."""
    if type(codec) is ComplexCodec:
        return SCALARS[codec.name].struct_format
    return _number_format(codec) if type(codec) in (*_NUMBERS, BoolCodec) else "I4xQQ"


def _record_format(items: list[tuple[Codec, int]], start: int = 0, staged: bool = False) -> str:
    """A struct format for fixed parts at the given offsets (explicit padding), from ``start``;
    ``staged``: with text references to heap blocks (the staging block's), not inline."""
    fmt, pos = "", start
    inline_text = "I4xQQ" if staged else "8xQQ"
    for codec, off in items:
        # An inline text reference's segment and reserved word are zero: pad bytes, as above.
        fmt += "x" * (off - pos) + (inline_text if _is_text(codec) else _leaf_format(codec))
        pos = off + codec.size
    return fmt


#: Text up to this many bytes (all pieces together) is packed with the record by a cached format.
PACKED_TEXT_LIMIT = 256
_PACK_CACHE_ENTRIES = 512


def _request_format(leaves: Sequence[tuple[str, Codec, int]], staged: bool = False) -> str:
    """The format of a request's header and argument record (``staged``: its text in heap blocks).
    The seq word is pad bytes: pack_into zeroes it with the rest before writing the fields, and the
    request is published by a separate 8-byte store (SPEC §5.2)."""
    return "<II8x" + "x" * (L.REQUEST_HEADER_SIZE - 16) + _record_format([(c, o) for _, c, o in leaves], staged=staged)


class _Run(NamedTuple):
    """A stretch of a request for `_text_packs`. ``("leaf", format, i)``: leaf i's own values (a
    number, an array's reference). ``("fixed", format, values)``: bytes the text lengths decide (the
    header, text references, padding between them), a value being an int, ``"end"`` (the request's
    length) or ``("t", j)``/``("n", j)`` (text j's start and length). ``("pad", format, None)``:
    padding alone."""

    kind: str
    format: str
    values: Any


def _request_runs(fn_id: int, items: list[tuple[Codec, int]], args_size: int) -> list[_Run]:
    """A request's header and argument record as runs (`_Run`), the leaves' in order."""
    pieces: list[_Run] = [_Run("fixed", "I", fn_id), _Run("fixed", "I", "end"), _Run("pad", "x" * (L.REQUEST_HEADER_SIZE - 8), None)]
    pos, j = 0, 0
    for i, (codec, off) in enumerate(items):
        pieces.append(_Run("pad", "x" * (off - pos), None))
        if _is_text(codec):
            pieces += [_Run("pad", "8x", None), _Run("fixed", "Q", ("t", j)), _Run("fixed", "Q", ("n", j))]
            j += 1
        else:
            pieces.append(_Run("leaf", _leaf_format(codec), i))
        pos = off + codec.size
    pieces.append(_Run("pad", "x" * (args_size - pos), None))
    runs: list[_Run] = []
    fmt, values = "", list[Any]()
    for piece in pieces + [_Run("leaf", "", -1)]:  # a sentinel leaf ends the last run
        if piece.kind == "leaf":
            if fmt:
                runs.append(_Run("fixed", fmt, values) if values else _Run("pad", fmt, None))
            fmt, values = "", []
            runs.append(piece)
        else:
            fmt += piece.format
            values += [piece.values] if piece.kind == "fixed" else []
    return runs[:-1]


def _text_packs(runs: list[_Run], args_size: int) -> tuple[dict[Any, tuple[Any, ...]], Callable[[Any, int], tuple[Any, ...]]]:
    """A cache of packs writing a whole short-text request in one ``pack_into``, keyed by the text
    lengths; and the function that fills it, given the request capacity. An entry is ``(pack_into,
    request length, fixed bytes...)``: the text lengths decide the header, the text references and
    the padding, so each run of them is packed once and passed as one bytes item (`hello`'s request
    is then 2 items, not 5: ~20 ns less). Long text, a request beyond the capacity, or a full cache
    gets the length with None for the rest: the caller then copies the text by slicing (into the
    request, or the staging block if it does not fit)."""
    packs: dict[Any, tuple[Any, ...]] = {}
    fixed = sum(run.kind == "fixed" for run in runs)

    def packfor(key: Any, capacity: int) -> tuple[Any, ...]:
        lengths = key if type(key) is tuple else (key,)
        starts, pos = [], args_size
        for n in lengths:
            starts.append(L.tail_aligned(pos))
            pos = starts[-1] + n
        if pos > capacity:  # never fits inline: kept, so that its next call goes to the staging block at once
            unfit = (None, pos) + (None,) * fixed
            if len(packs) < _PACK_CACHE_ENTRIES:
                packs[key] = unfit
            return unfit
        if sum(lengths) > PACKED_TEXT_LIMIT or len(packs) >= _PACK_CACHE_ENTRIES:
            return (None, pos) + (None,) * fixed
        known: dict[Any, int] = {"end": pos, **{("t", j): t for j, t in enumerate(starts)}, **{("n", j): n for j, n in enumerate(lengths)}}
        fmt, consts = "<", []
        for run in runs:
            if run.kind == "fixed":
                consts.append(struct.pack("<" + run.format, *(known.get(v, v) for v in run.values)))
                fmt += f"{len(consts[-1])}s"
            else:
                fmt += run.format
        end = args_size
        for t, n in zip(starts, lengths):
            fmt += "x" * (t - end) + f"{n}s"
            end = t + n
        found = packs[key] = (struct.Struct(fmt).pack_into, pos, *consts)
        return found

    return packs, packfor


# -- the response's formats ------------------------------------------------------------------------


def _result_fields(fn: RemoteFunction) -> list[tuple[Codec, int]]:
    """The result record's fixed leaves (numbers and text references) as ``(codec, offset)``, the
    in-out values' after the results': structs contribute their fields and arrays their elements,
    ``Vec`` results none (they are read by their codec)."""

    def leaves(codec: Codec, off: int) -> list[tuple[Codec, int]]:
        if type(codec) is StructCodec:
            return [leaf for _, c, o in codec.fields for leaf in leaves(c, off + o)]
        if type(codec) is ArrayCodec:
            return [(codec.elem, off + i * codec.elem.size) for i in range(codec.n)]
        if type(codec) is OptionCodec:
            return [(_PRESENT_RESULT, off)] + leaves(codec.inner, off + codec.value_at)
        return [] if isinstance(codec, (VecCodec, VecMutCodec)) else [(codec, off)]

    outs = [(c.inner if type(c) is InOutCodec else c, o) for _, c, o in fn.outs]  # a &mut Vec: by its codec
    return [leaf for codec, off in fn.returns + outs for leaf in leaves(codec, off)]


def _numbers_only(fn: RemoteFunction) -> bool:
    """True if every result and in-out value is a number."""
    return all(_is_number(c) for c, _ in fn.returns) and all(type(c) is InOutCodec and _is_number(c.inner) for _, c, _ in fn.outs)


def guessed_text(fn: RemoteFunction) -> bool:
    """True if the result has exactly one piece of text (str or bytes, maybe a struct's field) and no
    ``Vec``: its response is read with a guessed text length (`_text_guesses`)."""
    if any(type(c) is VecCodec for c, _ in fn.returns):
        return False
    fields = _result_fields(fn)
    # An option's text is read only if present: a guess would read it whatever its presence byte says.
    optional_text = any(_is_text(c) and i and fields[i - 1][0] is _PRESENT_RESULT for i, (c, _) in enumerate(fields))
    return not optional_text and sum(_is_text(c) for c, _ in fields) == 1


#: Channel views that read an 8-byte result field as one item, by struct format.
_WORD_VIEWS = {"q": "i64s", "Q": "words", "d": "f64s"}


def _word_views(fn: RemoteFunction) -> set[str] | None:
    """The typed views of the channel a result of 8-byte numbers at 8-aligned offsets is read
    through (``add``'s i64, a ``sum``'s f64), or None for any other result. One item of a view
    took 41 ns less than an ``unpack_from`` of the same words and its tuple."""
    if not _numbers_only(fn):
        return None
    fields = _result_fields(fn)
    if not all(_number_format(c) in _WORD_VIEWS and off % 8 == 0 for c, off in fields):
        return None
    return {_WORD_VIEWS[_number_format(c)] for c, _ in fields}


#: Text results up to this many bytes are guessed (`_text_guesses`), with up to this many formats.
GUESSED_TEXT_LIMIT = 256
_GUESS_CACHE_ENTRIES = 512


def _text_guesses(record: str, start: int) -> tuple[tuple[Any, ...], Callable[[int, int], Any]]:
    """The first guess (empty text), and the function that makes the guess for a response whose text
    had ``n`` bytes at ``start`` and whose length was ``rlen``: ``(unpack, n, rlen)``, where unpack reads
    the header, the record and ``n`` bytes at ``start``. It is called only for a response that passed
    every check, so a later response matching the guess is valid too. Long text, or a full cache,
    gets None (the previous guess stays)."""
    cache: dict[tuple[int, int], tuple[Any, ...]] = {}
    to_text = record + "x" * (L.RESPONSE_HEADER_SIZE + start - struct.calcsize(record))

    def guess(n: int, rlen: int) -> Any:
        found = cache.get((n, rlen))
        if found is None and n <= GUESSED_TEXT_LIMIT and len(cache) < _GUESS_CACHE_ENTRIES:
            found = cache[n, rlen] = (struct.Struct(f"{to_text}{n}s").unpack_from, n, rlen)
        return found

    return (struct.Struct(f"{to_text}0s").unpack_from, 0, -1), guess


# -- writing the source ----------------------------------------------------------------------------


class Names:
    """The generated function's own names: its locals, the globals it runs with and the builtins it
    calls. Each is the word the generator writes unless a parameter has that name; then it is that
    word with underscores appended until it is free. No own name can shadow a parameter (or another
    own name), whatever the manifest calls its parameters."""

    def __init__(self, params: list[str]) -> None:
        self._taken = set(params)
        self.words: dict[str, str] = {}  # the words named so far

    def __getitem__(self, word: str) -> str:
        """The name of a word the templates use: the same each time."""
        name = self.words.get(word)
        if name is None:
            name = self.words[word] = self.new(word)
        return name

    def new(self, word: str) -> str:
        """A name of its own for a variable the generator derives (``name_len``, ``person_age``)."""
        name = word
        while name in self._taken:
            name += "_"
        self._taken.add(name)
        return name

    def renamed_builtins(self) -> dict[str, Any]:
        """The builtins the templates call under another name, for the namespace."""
        return {name: vars(builtins)[word] for name, word in self.renamed_builtin_words().items()}

    def renamed_builtin_words(self) -> dict[str, str]:
        """The builtins the templates call under another name: that name -> the builtin's."""
        return {name: word for word, name in self.words.items() if name != word and word in vars(builtins)}


#: A template's own words (renamed by `Names`) and its ``{fields}``; a word after a dot is an attribute.
_WORD = re.compile(r"\{\w+\}|(?<![.\w])[A-Za-z_]\w*")
#: A line that is only a field: a block of lines, indented as the field is.
_BLOCK_FIELD = re.compile(r"( *)\{(\w+)\}")


class _Template(NamedTuple):
    """A template parsed once: its own words in the order they first appear, and its parts: a
    ``str.format`` string of lines (``indent`` None) with each word as the field ``_w<i>``, or a
    block field (``text`` the field's name, ``indent`` its indentation)."""

    words: tuple[tuple[str, str], ...]  # (format field, word)
    parts: tuple[tuple[str, str | None], ...]  # (text, indent)


_TEMPLATES: dict[str, _Template] = {}


def _parse_template(template: str) -> _Template:
    words: dict[str, str] = {}

    def field(m: re.Match[str]) -> str:
        word = m[0]
        if word[0] == "{" or keyword.iskeyword(word):
            return word
        return "{" + words.setdefault(word, f"_w{len(words)}") + "}"

    parts: list[tuple[str, str | None]] = []
    lines: list[str] = []
    for line in textwrap.dedent(template).strip("\n").split("\n"):
        block = _BLOCK_FIELD.fullmatch(line)
        if block:
            if lines:
                parts.append(("\n".join(lines), None))
                lines = []
            parts.append((block[2], block[1]))
            continue
        code, hash_, comment = line.partition("#")
        lines.append(_WORD.sub(field, code) + hash_ + comment)
    if lines:
        parts.append(("\n".join(lines), None))
    found = _TEMPLATES[template] = _Template(tuple((key, word) for word, key in words.items()), tuple(parts))
    return found


def render(template: str, names: Names, **fields: str) -> str:
    """``template`` (dedented) with its own words named by ``names`` and its fields filled in. The
    fields are code or names made already: they are not renamed. Comments are left as written.
    Each template is parsed once (`_parse_template`): rendering is then a format per run of lines."""
    parsed = _TEMPLATES.get(template) or _parse_template(template)
    known = names.words.get
    for key, word in parsed.words:  # in order of first use, as `Names` hands out names
        fields[key] = known(word) or names[word]
    out: list[str] = []
    for text, indent in parsed.parts:
        if indent is None:
            out.append(text.format_map(fields))
        else:
            out += [indent + part for part in fields[text].split("\n") if part]
    return "\n".join(out)


# The generated function's parameters: `timeout` is keyword-only to its callers (`make_callable`
# gives the function that signature) but not in the code: CPython 3.11 specializes no call of a
# function with keyword-only parameters, and the generic call fills their defaults from a dict
# (`add` 0.62 -> 0.59 µs). A positional argument beyond the parameters lands in `_more` and raises,
# so `c.add(1, 2, 3)` cannot pass for a timeout of 3 s. `_client` is the client the function is a
# method of; the function does not need it.
#
# Order matters for speed: `words` is loaded before the pack so that the request is published
# right after its pack (the daemon polls the slot's line, and a poll between the pack's stores and
# the seq store costs the seq store another trip for the line: `add` 0.58 -> 0.56 µs), and
# `channel.seq` is stored after publishing. What the response's decoding needs that the response
# does not (`prepare_response`) is done after publishing, in the time the daemon takes anyway.
# The channel's `daemon_waiting` word is loaded only if the first spin finds no response: a hot
# daemon answers within it, and a sleeping one loses half a microsecond of the tens it needs.
_FUNCTION = """
    # {signature}
    # The fast path, generated by shmcall._fastpath: anything unusual goes the general way.
    def {name}(_client, {params}_more=_NO_MORE, timeout=None):
        {declare_guess}
        if _more is not _NO_MORE:
            _too_many(_function)
        # This thread's channel (opened by the general path) and the last request sent on it.
        try:
            channel = _this_thread.ch
        except AttributeError:
            {general}
        seq = channel.seq
        # A response not yet read: the general path settles it first.
        if channel.done != seq:
            {general}
        if channel.releases:  # blocks to hand back, before the request (SPEC §5.3)
            channel.flush_releases()
        {unpack_structs}
        seq += 1
        {begin_staging}
        {prepare_arguments}
        {find_text_pack}
        # The slot this call's request goes to (Channel.next_slot).
        request_at, request_word, response_at, response_word = channel.next_slot
        buf = channel.buf
        words = channel.words
        {write_request}
        # Publish: one aligned 8-byte store of the seq word, after the rest (SPEC §5.2). Nothing
        # between it and counting the request is a call, so no signal can come between them.
        words[request_word] = seq
        channel.seq = seq
        channel.next_slot = channel.slots[(seq + 1) % channel.slot_count]
        {prepare_response}
        # Spin until the response's seq word is exactly seq (a later one is a corrupt daemon's,
        # which the wait reports); after the first loads, wait as Channel.wait does (SPEC §5.4).
        spins_left = {first_spin}
        try:
            while words[response_word] != seq:
                spins_left -= 1
                if not spins_left:
                    channel.wait_after_first_spin(seq, timeout, _long_waits, {call_size})
                    break
        except BaseException:
            channel.abandon(seq, _function, None, {args})
            raise
        channel.done = seq
        {copy_back}
        {read_response}
"""

_GENERAL = "return _general_call(_function, {args}, timeout)"

_GLOBAL_GUESS = "global _text_guess  # replaced when the text's length changes"

# A struct parameter takes an instance of its type or a tuple of its fields in order (one of
# another length raises ValueError as it is unpacked: no len() call).
_UNPACK_STRUCT = """
    # {param}: a {type} or a tuple of its fields, in order.
    kind = type({param})
    if kind is {cls}:
        {from_attributes}
    elif kind is tuple:
        try:
            {fields} = {param}
        except ValueError:
            {general}
    else:
        {general}
"""

# An in-out number takes a Ref of its type exactly (`Client.ref`), its value checked as it is packed.
_UNPACK_REF = """
    # {param}: a Ref of {type}, whose value the response replaces.
    if type({param}) is not _Ref or {param}.type_name != "{type}":
        {general}
    {value} = {param}.value
"""

# A growable in-out array takes a Vec of its element type exactly (a list goes the general way).
_UNPACK_VEC = """
    # {param}: a Vec of {type}, whose array goes as an array argument and is replaced by the response's.
    if type({param}) is not _Vec or {param}.type_name != "{type}":
        {general}
    {array} = {param}.array
"""

# A fixed array takes a tuple or a list (bytes too, for u8) of exactly its length; anything else goes
# the general way, which takes it (any sequence) or explains it.
_UNPACK_ARRAY = """
    # {param}: a {type} as a tuple or list of its {n} elements.
    if type({param}) is not tuple and type({param}) is not list{also_bytes}:
        {general}
    try:
        {fields} = {param}
    except ValueError:
        {general}
"""

# Our own arrays (or whole views of them) are found by identity, their reference being the heap's
# (segment, offset, length) of the block; anything else goes the general way.
_PREPARE_ARRAY = """
    # {param}: one of our shared arrays (or a whole view of one) goes as its block's reference; any
    # other buffer is copied, into the request or the channel's staging block (_staging.copier).
    {ref} = None
    if type({param}) is _ndarray and {param}.dtype is {dtype}:
        {ref} = _heap_roots.get(id({param}))
        if {ref} is None or {ref}[2] != {param}.nbytes:
            {base} = {param}.base
            {ref} = _heap_roots.get(id({base})) if {base} is not None else None
            if {ref} is not None and ({ref}[2] != {param}.nbytes or not {param}.flags.c_contiguous):
                {ref} = None
    if {ref} is None:
        {ref} = {copy}(channel, {param})
        if {ref} is None:
            {general}
"""

_BEGIN_STAGING = """
    staging = channel.staging
    staging.begin({args_size})
"""

# Written arguments staged by the copier are copied back once the response is in (if it is a success).
_COPY_BACK = """
    if staging.backs:
        staging.copy_back(channel.buf, response_at)
"""

# A bool or a complex exactly (numpy's bool_, an int for a complex, anything else: the general way,
# which takes or explains it).
_CHECK_TYPE = """
    if type({value}) is not {type}:
        {general}
"""

# A bool result is a byte that must be 0 or 1; a complex one arrives as its two floats.
_READ_BOOL = """
    if {value} > 1:
        return _general_result(channel, seq)
    {value} = {value} == 1
"""

_MAKE_COMPLEX = "{value} = complex({real}, {imag})"

# An option's presence byte, and its value: the argument, or when it is None a stand-in of no
# length that the request carries unread (SPEC §4.6). The parameter itself stays as given, for the
# general path should anything send the call that way.
_PREPARE_OPTION = """
    if {param} is None:
        {present} = 0
        {value} = {absent}
    else:
        {present} = 1
        {value} = {param}
"""

#: The stand-in for an absent option's value, by the value's codec type (arrays: `_absent_array`).
_ABSENT = {IntCodec: "0", FloatCodec: "0.0", BoolCodec: "False", ComplexCodec: "0j", StrCodec: '""', BytesCodec: 'b""'}

#: An option's presence byte, packed as a u8 leaf; read as a bool (a byte that must be 0 or 1).
_PRESENT = IntCodec("u8")
_PRESENT_RESULT = BoolCodec()


def _absent_array(fmt: str) -> Any:
    """An empty buffer of element format ``fmt``: an absent ``Option<&[T]>``'s stand-in."""
    empty: Any = memoryview(b"")  # typeshed knows cast() only with literal formats
    return b"" if fmt == "B" else empty.cast(fmt)

# str.encode unbound: a TypeError for anything not a str, with no separate type check.
_PREPARE_STR = """
    # {value}: its UTF-8, sent inline after the record (SPEC §4.1), or staged if too long.
    try:
        {data} = _str_encode({value})
    except (TypeError, UnicodeError):
        {general}
    {length} = len({data})
"""

_PREPARE_BYTES = """
    # {value}: bytes exactly (anything else goes the general way), sent inline after the record, or
    # staged if too long.
    {data} = {value}
    if type({data}) is not bytes:
        {general}
    {length} = len({data})
"""

# A pack is made only for a request that fits the channel's capacity (the same on every channel of
# a client): a cached pack needs no capacity check; text that does not fit gets None, and the write
# checks then.
_FIND_TEXT_PACK = """
    # The pack for these text lengths, made on their first call (_text_packs), with the bytes the
    # lengths decide prepacked; None (and the request's length) for text too long to pack.
    try:
        {entry} = _text_packs[{key}]
    except KeyError:
        {entry} = _make_text_pack({key}, channel.request_capacity)
"""

_WRITE_REQUEST = """
    # Header and argument record in one pack; the seq word and reserved bytes as pad bytes (zeros).
    try:
        _pack_request(buf, request_at, {request_values})
    except (struct.error, OverflowError, TypeError):
        {general}
"""

_WRITE_REQUEST_WITH_TEXT = """
    # Header, argument record and text in one pack; the seq word and reserved bytes as pad bytes.
    try:
        if pack is not None:
            pack(buf, request_at, {pack_values})
        else:  # the text piece by piece, each 8-aligned after the record (SPEC §4.1)
            {place_text}
            if {end} <= channel.request_capacity:
                _pack_request(buf, request_at, {request_values})
                {copy_text}
            else:  # too long for the request: all of it in the channel's staging block (_staging)
                {stage_text}
                _pack_staged_request(buf, request_at, {staged_values})
                {end} = {staged_size}  # the call's size, for its wait class
                # Copied: not held while the result is made (2 MiB freed made glibc trim and refault).
                {drop_text}
    except (struct.error, OverflowError, TypeError):
        {general}
"""

_STAGE_TEXT = """
    {ref} = _stage_text(channel, {data})
    if {ref} is None:  # the block is missing or full: the general way grows it
        # Not held through that call: a megabyte of text would double its memory.
        {drop_text}
        {general}
"""

_PLACE_TEXT = """
    {at} = {start}
    {end} = {at} + {length}
"""

_COPY_TEXT = "buf[request_at + {header} + {at}:request_at + {header} + {end}] = {data}"

_PREPARE_GUESS = "guess_unpack, guess_text_len, guess_length = _text_guess"

_LOAD_VIEW = "{view} = channel.{attribute}"

_NEW_STRUCT = "{result} = _new({cls})"

# The status (low half) and length read as one word are accepted with one comparison.
_READ_WORDS = """
    # Status 0 with exactly the record's length, as one word; then each result as one item of a
    # typed view of the channel.
    if words[response_word - 1] != {status_and_length}:
        return _general_result(channel, seq)
"""

_READ_WORD = "{result} = {view}[response_word + {word}]"

_READ_NUMBERS = """
    # Header and record in one unpack; status 0 with exactly the record's length, as one word.
    status_and_length, {results} = _unpack_response(buf, response_at)
    if status_and_length != {expected}:
        return _general_result(channel, seq)
"""

_READ_RECORD = """
    status, length{results} = _unpack_response(buf, response_at)
    {check_record}
"""

_CHECK_RECORD = """
    # Status 0, and a length from the record's to the response area's.
    if status or length < {result_size} or length > channel.response_capacity:
        return _general_result(channel, seq)
    record_at = response_at + {header}
"""

_CHECK_TEXT = """
    # {text}: inline (segment 0) and within the response, or a heap block (checked as it is read).
    if not {segment} and {offset} + {size} > length:
        return _general_result(channel, seq)
"""

# Inline text is sliced out of the response; a heap block's is copied out (bytes) or decoded straight
# from shared memory (str: no megabyte-sized bytes in between), and the block handed back.
_SLICE_TEXT = ("(channel.mm[record_at + {offset}:record_at + {offset} + {size}] if not {segment} "
               "else channel.{heap_read}({segment}, {offset}, {size}))")

_DECODE_STR = """
    try:
        {text} = _bytes_decode({data})  # UTF-8, strict; ~50 ns less than str(data, 'utf-8')
    except UnicodeDecodeError:
        return _general_result(channel, seq)
    except TypeError:  # a heap block's text, which Channel.heap_text decoded already
        {text} = {data}
"""

_DECODE_BYTES = "{text} = {data}"

_ASSIGN = "{target} = {value}"

# The presence byte is checked to be 0 or 1 after this (`_READ_BOOL`): any other value reads nothing.
_READ_IF_PRESENT = """
    if {present} == 1:
        {read}
    else:
        {text} = None
"""

# Slicing the text out of the mmap after the unpack cost ~110 ns of `hello`'s 1.1 µs (a slice
# object, the mmap's subscript, a bytes object). A guess is made only from a response that passed
# every check (`_text_guesses`), and a client's channels share one response capacity, so a response
# matching the guess needs no other check.
_READ_GUESSED_TEXT = """
    # One unpack reads the header, the record and the text at the length it had in the response
    # the guess was made from. Any other response is checked and sliced, and guessed from.
    status, length, {results}, text = guess_unpack(buf, response_at)
    if status or length != guess_length or {offset} != {start} or {size} != guess_text_len or {segment}:
        {check_record}
        {check_text}
        text = {slice}
        if {offset} == {start} and not {segment}:
            _text_guess = _make_text_guess({size}, length) or _text_guess
    {decode}
"""

_READ_VEC = "{result} = _function.returns[{index}][0].read(buf, record_at + {offset}, channel.resp(record_at, length))"

_UPDATE_VEC = "_function.outs[{index}][1].update({param}, buf, record_at + {offset}, channel.resp(record_at, length))"

_SET_FIELD = "{result}.{field} = {value}"

_RETURN = "return {results}"


#: The default of a remote function's hidden `_more` parameter (fast and general call functions).
NO_MORE = object()


def too_many(fn: RemoteFunction) -> None:
    """Raises for a positional argument beyond the parameters (it cannot pass for a timeout)."""
    n = len(fn.params)
    raise TypeError(f"{fn.name}() takes {n} positional argument{'' if n == 1 else 's'}; timeout only by keyword")


class _Leaf(NamedTuple):
    """A value in the argument or result record: a parameter or result, or a field of one."""

    var: str  # the parameter, or the variable the value is read into
    codec: Codec
    offset: int  # in the record


class _Binding(NamedTuple):
    """Globals of a generated function: ``names`` and how their values are made (`_bind`). The
    value is made of strings, numbers and tuples only, so a recipe can be stored (`_codecache`)."""

    names: tuple[str, ...]
    kind: str  # "std" (`_STANDARD[value]`), "pack" (a pack_into of format ``value``), ...
    value: Any


#: Objects every generated function may use, by the name a recipe gives them.
_STANDARD: dict[str, Any] = {"struct": struct, "new": object.__new__, "str_encode": str.encode,
                             "bytes_decode": bytes.decode, "ndarray": NDARRAY, "no_more": NO_MORE,
                             "too_many": too_many, "stage_text": stage_text, "ref": Ref,
                             "vec": Vec}


def _bind(recipe: list[_Binding], fn: RemoteFunction, local: Any, slow: Callable[..., Any],
          roots: dict[int, tuple[int, int, int]] | None) -> dict[str, Any]:
    """The namespace a generated function runs in, made from its recipe for this client's ``fn``."""
    namespace: dict[str, Any] = {}
    types = _struct_types([c for _, c, _ in fn.params] + [c for c, _ in fn.returns])
    for names, kind, value in recipe:
        if kind == "std":
            made: tuple[Any, ...] = (_STANDARD[value],)
        elif kind == "dtype":  # a scalar's, or a plain struct's (this client's, found by its parameter)
            scalar = SCALARS.get(value)
            made = (None if not HAVE_NUMPY else np.dtype(scalar.dtype_name) if scalar else
                    next(c.elem.dtype for _, c, _ in fn.params if type(c) is SliceCodec and c.elem.name == value),)
        elif kind == "pack":
            made = (struct.Struct(value).pack_into,)
        elif kind == "unpack":
            made = (struct.Struct(value).unpack_from,)
        elif kind == "builtin":
            made = (vars(builtins)[value],)
        elif kind == "struct_type":
            made = (types[value],)
        elif kind == "text_packs":
            runs, args_size = value
            made = _text_packs([_Run(*run) for run in runs], args_size)  # caches of this client's own
        elif kind == "text_guesses":
            made = _text_guesses(*value)
        elif kind == "copier":  # (the array's offset, mutable, inline)
            offset, mutable, inline = value
            codec = _slice_at(fn, offset)
            made = (copier(codec.elem, mutable, inline),)
        elif kind == "absent_array":
            made = (_absent_array(value),)
        else:
            made = ({"local": local, "slow": slow, "function": fn, "finish": fn.finish, "long_waits": fn.long_waits,
                     "roots": roots}[kind],)
        namespace.update(zip(names, made))
    return namespace


def _slice_at(fn: RemoteFunction, offset: int) -> SliceCodec:
    """The array parameter (or option's array) whose reference is at ``offset`` of the record."""
    for _, codec, at in fn.params:
        if isinstance(codec, OptionCodec):
            at += codec.value_at
            codec = codec.inner
        if at == offset and isinstance(codec, SliceCodec):  # a Vec's array too (VecMutCodec): read, not written
            return codec
    raise AssertionError(f"{fn.name}: no array at offset {offset}")


def _shape(fn: RemoteFunction) -> tuple[Any, ...]:
    """What a function's generated code depends on: two functions of one shape get the same source
    and recipe (another client of the same daemon, or of one with the same function)."""

    def of(codec: Codec) -> Any:
        if type(codec) is StructCodec:
            return codec.name, codec.size, tuple((n, of(c), o) for n, c, o in codec.fields)
        if type(codec) is InOutCodec:  # an in-out struct's layout is the code's as much as a struct's
            return codec.name, of(codec.inner)
        return codec.name

    return (fn.id, fn.name, fn.label, fn.args_size, fn.result_size, tuple((n, of(c), o) for n, c, o in fn.params),
            tuple((of(c), o) for c, o in fn.returns), tuple((i, of(c), o) for i, c, o in fn.outs), FIRST_SPIN,
            SPIN_ITERATIONS, HAVE_NUMPY)


class _Writer:
    """Writes one remote function's fast call function: its source, and the recipe of the namespace
    it runs in (`_bind`)."""

    def __init__(self, fn: RemoteFunction) -> None:
        self.fn = fn
        params = [n for n, _, _ in fn.params]
        # `timeout` keeps its name: callers pass it by keyword (`python_name` renames a parameter).
        assert "timeout" not in params
        self.names = Names(params)
        # Named as the remote function, for tracebacks (a name the function does not use itself).
        usable = fn.name.isidentifier() and not keyword.iskeyword(fn.name)
        self.name = self.names.new(fn.name if usable else "remote")
        # How the namespace is made: from what every client shares (constants) and from the client's
        # own objects (`_bind`), so that the next client's function of this shape needs no writing.
        self.recipe: list[_Binding] = []
        for word, kind, value in [
                ("_this_thread", "local", None), ("_general_call", "slow", None), ("_function", "function", None),
                ("_general_result", "finish", None), ("struct", "std", "struct"), ("_new", "std", "new"),
                ("_long_waits", "long_waits", None), ("_str_encode", "std", "str_encode"),
                ("_bytes_decode", "std", "bytes_decode"), ("_NO_MORE", "std", "no_more"), ("_too_many", "std", "too_many")]:
            self.recipe.append(_Binding((self.names[word],), kind, value))
        if fn.outs:
            self.recipe.append(_Binding((self.names["_Ref"],), "std", "ref"))
            self.recipe.append(_Binding((self.names["_Vec"],), "std", "vec"))
        if any(_fast_slice(c) for _, c, _ in fn.params):
            self.recipe.append(_Binding((self.names["_ndarray"],), "std", "ndarray"))
            self.recipe.append(_Binding((self.names["_heap_roots"],), "roots", None))
        self._globals: dict[tuple[str, str], str] = {}  # (kind, element or struct name) -> its global's name
        self.params = ", ".join(params)
        self.args = f"({self.params}{',' if len(params) == 1 else ''})"
        self.general = self.render(_GENERAL, args=self.args)
        # Parameters flattened to leaves; a struct's fields unpacked into variables of their own.
        self.leaves: list[_Leaf] = []
        self.unpacks: list[str] = []  # each struct's and fixed array's, parents before their fields
        self.present_of: dict[str, str] = {}  # an option result's value variable: its presence byte's
        self.options: list[str] = []  # each option parameter's `_PREPARE_OPTION`
        for name, codec, offset in fn.params:
            if type(codec) is InOutCodec and type(codec.inner) is StructCodec:
                # Updated in place: an instance exactly (a tuple has nowhere to put the new values).
                self.unpacks.append(self.render(_CHECK_TYPE, value=name, general=self.general,
                                                type=self.global_for(f"_{codec.inner.name}", codec.inner.name, struct_type=True)))
                self.flatten(name, codec.inner, offset)
            elif type(codec) is VecMutCodec:
                array = self.names.new(f"{name}_array")
                self.unpacks.append(self.render(_UNPACK_VEC, param=name, array=array, type=codec.elem.name, general=self.general))
                self.leaves.append(_Leaf(array, codec, offset))
            elif type(codec) is InOutCodec:
                value = self.names.new(f"{name}_value")
                self.unpacks.append(self.render(_UNPACK_REF, param=name, value=value, type=codec.inner.name,
                                                general=self.general))
                self.leaves.append(_Leaf(value, codec.inner, offset))
            else:
                self.flatten(name, codec, offset)
        self.texts = [leaf for leaf in self.leaves if _is_text(leaf.codec)]

    def render(self, template: str, **fields: str) -> str:
        return render(template, self.names, **fields)

    def global_for(self, word: str, value: str, struct_type: bool = False) -> str:
        """A global of the namespace holding the numpy dtype of the scalar named ``value``, or if
        ``struct_type`` the client's type of the struct named ``value`` (each client has its own),
        named after ``word``: one per value."""
        kind = "struct_type" if struct_type else "dtype"
        name = self._globals.get((kind, value))
        if name is None:
            name = self._globals[kind, value] = self.names.new(word)
            self.recipe.append(_Binding((name,), kind, value))
        return name

    def source(self) -> str:
        fn = self.fn
        text = self.text_variables()
        arrays = [leaf for leaf in self.leaves if _fast_slice(leaf.codec)]
        refs = {leaf.var: self.names.new(f"{leaf.var}_ref") for leaf in arrays}
        # The request's length: after its inline text, or after the arrays copied inline (`_staging`).
        end = text[-1]["end"] if text else self.names["staging"] + ".end" if arrays else str(fn.args_size)
        mutable = any(_fast_slice(leaf.codec) and leaf.codec.mutable for leaf in arrays)
        results, prepare_response, read_response = self.response()
        source = self.render(
            _FUNCTION,
            signature=fn.signature_text(),
            name=self.name,
            params=parameter_list([(n, c.name) for n, c, _ in fn.params]),
            declare_guess=self.render(_GLOBAL_GUESS) if guessed_text(fn) else "",
            general=self.general,
            args=self.args,
            begin_staging=self.render(_BEGIN_STAGING, args_size=str(fn.args_size)) if arrays else "",
            copy_back=self.render(_COPY_BACK) if mutable else "",
            unpack_structs="\n".join(self.unpacks),
            prepare_arguments="\n".join(self.options + [self.prepare_argument(leaf, refs, text) for leaf in self.leaves]),
            find_text_pack=self.find_text_pack(text, end) if text else "",
            write_request=self.write_request(text, refs, end, bool(arrays)),
            prepare_response=prepare_response,
            first_spin=str(min(FIRST_SPIN, SPIN_ITERATIONS) + 1),
            call_size=" + ".join([end] + [f"{ref}[2]" for ref in refs.values()]),
            read_response=read_response + "\n" + self.render(_RETURN, results=", ".join(results) or "None"),
        )
        if fn.outs:  # the general decoding updates the in-out arguments too, given them
            finish = self.names["_general_result"]
            source = source.replace(f"return {finish}(channel, seq)", f"return {finish}(channel, seq, {self.args})")
        return source

    # -- arguments

    def text_variables(self) -> list[dict[str, str]]:
        """Each text argument's variables: its bytes, length, start and end in the argument area."""
        variables = []
        for leaf in self.texts:
            data = "utf8" if type(leaf.codec) is StrCodec else "bytes"
            suffixes = {"data": data, "length": "len", "at": "at", "end": "end"}
            variables.append({part: self.names.new(f"{leaf.var}_{suffix}") for part, suffix in suffixes.items()})
        return variables

    def flatten(self, var: str, codec: Codec, offset: int) -> None:
        """The leaves of a parameter (or a field of one) at ``offset``: a struct's fields and an
        array's elements unpacked into variables of their own (`unpacks`), recursively."""
        if type(codec) is StructCodec:
            fields = [self.names.new(f"{var}_{field}") for field, _, _ in codec.fields]
            self.unpacks.append(self.render(
                _UNPACK_STRUCT, param=var, type=codec.name, cls=self.global_for(f"_{codec.name}", codec.name, struct_type=True),
                from_attributes="\n".join(f"{v} = {var}.{name}" for v, (name, _, _) in zip(fields, codec.fields)),
                fields=", ".join(fields) + ("," if len(fields) == 1 else ""), general=self.general))
            for v, (_, c, o) in zip(fields, codec.fields):
                self.flatten(v, c, offset + o)
        elif type(codec) is OptionCodec:
            present, value = self.names.new(f"{var}_present"), self.names.new(f"{var}_value")
            inner = codec.inner
            if type(inner) is SliceCodec:
                absent = self.names.new(f"_absent_{inner.elem.format}")
                self.recipe.append(_Binding((absent,), "absent_array", inner.elem.format))
            else:
                absent = _ABSENT[type(inner)]
            self.options.append(self.render(_PREPARE_OPTION, param=var, present=present, value=value, absent=absent))
            self.leaves += [_Leaf(present, _PRESENT, offset), _Leaf(value, inner, offset + codec.value_at)]
        elif type(codec) is ArrayCodec:
            elems = [self.names.new(f"{var}_{i}") for i in range(codec.n)]
            self.unpacks.append(self.render(
                _UNPACK_ARRAY, param=var, type=codec.name, n=str(codec.n), general=self.general,
                fields=", ".join(elems) + ("," if len(elems) == 1 else ""),
                also_bytes=f" and type({var}) is not bytes" if codec.elem.name == "u8" else ""))
            self.leaves += [_Leaf(v, codec.elem, offset + i * codec.elem.size) for i, v in enumerate(elems)]
        else:
            self.leaves.append(_Leaf(var, codec, offset))

    def prepare_argument(self, leaf: _Leaf, refs: dict[str, str], text: list[dict[str, str]]) -> str:
        if type(leaf.codec) in (BoolCodec, ComplexCodec):  # packed as "?" (takes anything) or two floats
            return self.render(_CHECK_TYPE, value=leaf.var, type="bool" if type(leaf.codec) is BoolCodec else "complex",
                               general=self.general)
        if _fast_slice(leaf.codec):
            codec = leaf.codec
            elem = codec.elem
            dtype = self.global_for(f"_{elem.dtype}" if elem.format else f"_{elem.name}_dtype", elem.name)
            copy = self.names.new(f"_copy_{leaf.var}")
            # Copied inline only where no text is: text has the tail after the record to itself.
            self.recipe.append(_Binding((copy,), "copier", (leaf.offset, codec.mutable, not self.texts)))
            return self.render(_PREPARE_ARRAY, param=leaf.var, ref=refs[leaf.var], base=self.names.new(f"{leaf.var}_base"),
                               dtype=dtype, copy=copy, general=self.general)
        if _is_text(leaf.codec):
            template = _PREPARE_STR if type(leaf.codec) is StrCodec else _PREPARE_BYTES
            return self.render(template, value=leaf.var, general=self.general, **text[self.texts.index(leaf)])
        return ""

    def find_text_pack(self, text: list[dict[str, str]], end: str) -> str:
        key = ", ".join(t["length"] for t in text)
        self.recipe.append(_Binding((self.names["_text_packs"], self.names["_make_text_pack"]), "text_packs",
                                    (tuple(tuple(run) for run in self.runs()), self.fn.args_size)))
        return self.render(_FIND_TEXT_PACK, entry=", ".join([self.names["pack"], end] + self.fixed_runs()),
                           key=f"({key})" if len(text) > 1 else key)

    def runs(self) -> list[_Run]:
        return _request_runs(self.fn.id, [(c, o) for _, c, o in self.leaves], self.fn.args_size)

    def fixed_runs(self) -> list[str]:
        """The variables of a text pack's prepacked runs (`_text_packs`)."""
        return [self.names[f"fixed{k}"] for k in range(sum(run.kind == "fixed" for run in self.runs()))]

    def write_request(self, text: list[dict[str, str]], refs: dict[str, str], end: str, arrays: bool) -> str:
        self.recipe.append(_Binding((self.names["_pack_request"],), "pack", _request_format(self.leaves)))
        # Each leaf's values in the request: a number's value, an array's reference, a text's place.
        values: dict[int, list[str]] = {}
        for k, leaf in enumerate(self.leaves):
            if type(leaf.codec) is ComplexCodec:
                values[k] = [f"{leaf.var}.real", f"{leaf.var}.imag"]
            elif _is_scalar(leaf.codec):
                values[k] = [leaf.var]
            elif _fast_slice(leaf.codec):
                values[k] = [f"{refs[leaf.var]}[{i}]" for i in range(3)]
            else:
                t = text[self.texts.index(leaf)]
                values[k] = [t["at"], t["length"]]
        request_values = ", ".join([str(self.fn.id), end] + [v for k in sorted(values) for v in values[k]])
        if not text:
            return self.render(_WRITE_REQUEST, request_values=request_values, general=self.general)
        fixed = iter(self.fixed_runs())
        pack_values = [v for run in self.runs() if run.kind != "pad" for v in ([next(fixed)] if run.kind == "fixed" else values[run.values])]
        place: list[str] = []
        start = str(L.tail_aligned(self.fn.args_size))
        for t in text:
            place.append(self.render(_PLACE_TEXT, start=start, **t))
            start = f"(({t['end']} + 7) & ~7)"
        copies = [self.render(_COPY_TEXT, header=str(L.REQUEST_HEADER_SIZE), **t) for t in text]
        # Staged: the request ends with its record; each text's reference names its staging piece.
        self.recipe.append(_Binding((self.names["_pack_staged_request"],), "pack", _request_format(self.leaves, staged=True)))
        self.recipe.append(_Binding((self.names["_stage_text"],), "std", "stage_text"))
        refs_of_text = [self.names.new(f"{leaf.var}_ref") for leaf in self.texts]
        for k, leaf in enumerate(self.leaves):
            if _is_text(leaf.codec):
                values[k] = [f"{refs_of_text[self.texts.index(leaf)]}[{i}]" for i in range(3)]
        staged_values = ", ".join([str(self.fn.id), str(self.fn.args_size)] + [v for k in sorted(values) for v in values[k]])
        drop = "\n".join(f"{t['data']} = None" for t in text)
        stage = ([self.render(_BEGIN_STAGING, args_size=str(self.fn.args_size))] if not arrays else []) + [
            self.render(_STAGE_TEXT, ref=ref, data=t["data"], drop_text=drop, general=self.general)
            for ref, t in zip(refs_of_text, text)]
        return self.render(_WRITE_REQUEST_WITH_TEXT, pack_values=", ".join(pack_values + [t["data"] for t in text]),
                           place_text="\n".join(place), request_values=request_values, copy_text="\n".join(copies),
                           end=text[-1]["end"], stage_text="\n".join(stage), staged_values=staged_values, drop_text=drop,
                           staged_size=" + ".join([str(self.fn.args_size)] + [t["length"] for t in text]), general=self.general)

    # -- the response

    def response(self) -> tuple[list[str], str, str]:
        """The result variables; what is prepared before the response comes (struct objects, the
        text guess, the typed views: off the call's critical path, and an object made for a call
        that fails is simply dropped); and the reading of the response."""
        fn = self.fn
        results: list[str] = []
        leaves: list[_Leaf] = []
        prepare: list[str] = []
        fields: list[str] = []  # setting each struct result's fields
        if guessed_text(fn):
            prepare.append(self.render(_PREPARE_GUESS))
        for view in sorted((_word_views(fn) or set()) - {"words"}):
            prepare.append(self.render(_LOAD_VIEW, view=self.names[view], attribute=view))

        def read(result: str, codec: Codec, offset: int) -> None:
            """How ``result`` is read: a leaf of the record, or made of leaves (struct, array)."""
            if type(codec) is StructCodec:
                cls = self.global_for(f"_{codec.name}", codec.name, struct_type=True)
                prepare.append(self.render(_NEW_STRUCT, result=result, cls=cls))
                for name, c, o in codec.fields:
                    var = self.names.new(f"{result}_{name}")
                    read(var, c, offset + o)
                    fields.append(self.render(_SET_FIELD, result=result, field=name, value=var))
            elif type(codec) is OptionCodec:  # None unless its presence byte is 1 (a bool: 0 or 1)
                present, value = self.names.new(f"{result}_present"), self.names.new(f"{result}_value")
                leaves.extend([_Leaf(present, _PRESENT_RESULT, offset), _Leaf(value, codec.inner, offset + codec.value_at)])
                self.present_of[value] = present
                fields.append(self.render(_ASSIGN, target=result, value=f"{value} if {present} else None"))
            elif type(codec) is ArrayCodec and codec.elem.name == "u8":  # bytes, one item of the unpack
                leaves.append(_Leaf(result, codec, offset))
            elif type(codec) is ArrayCodec:  # a list, from its elements' items
                elems = [self.names.new(f"{result}_{i}") for i in range(codec.n)]
                leaves.extend(_Leaf(v, codec.elem, offset + i * codec.elem.size) for i, v in enumerate(elems))
                fields.append(self.render(_ASSIGN, target=result, value=f"[{', '.join(elems)}]"))
            else:
                leaves.append(_Leaf(result, codec, offset))

        for j, (codec, offset) in enumerate(fn.returns):
            result = self.names.new("result" if len(fn.returns) == 1 else f"result{j}")
            results.append(result)
            if type(codec) is VecCodec:
                fields.append(self.render(_READ_VEC, result=result, index=str(j), offset=str(offset)))
            else:
                read(result, codec, offset)
        # In-out parameters get their new values as `InOutCodec.update` gives them: a Ref its value, a
        # struct each of its fields (a nested struct as a new object).
        for k, (index, codec, offset) in enumerate(fn.outs):
            param = fn.params[index][0]
            if type(codec) is VecMutCodec:
                fields.append(self.render(_UPDATE_VEC, param=param, index=str(k), offset=str(offset)))
            elif type(codec) is InOutCodec and type(codec.inner) is StructCodec:
                for name, c, o in codec.inner.fields:
                    var = self.names.new(f"{param}_new_{name}")
                    read(var, c, offset + o)
                    fields.append(self.render(_SET_FIELD, result=param, field=name, value=var))
            else:
                assert type(codec) is InOutCodec  # (`eligible`)
                var = self.names.new(f"{param}_new")
                read(var, codec.inner, offset)
                fields.append(self.render(_SET_FIELD, result=param, field="value", value=var))
        return results, "\n".join(prepare), "\n".join([self.read_record(leaves)] + fields)

    def read_record(self, leaves: list[_Leaf]) -> str:
        """Decodes the response with one unpack of its header and every fixed leaf of the result record.

        For an all-numbers result the header's status and length are read as one u64 (status in the
        low half), so it is accepted with one comparison: status 0 with exactly the record's length
        (the seq word was checked by the spin). Other results read them as two u32s: arithmetic on a
        u64 above 2^32 (a two-digit int in CPython) cost 40 ns more than the extra item. A result
        with one piece of text reads that too in the same unpack, guessing its length. Anything
        unexpected is left to the general path (``RemoteFunction.finish``)."""
        fn = self.fn
        exact = str(L.tail_aligned(fn.result_size) << 32)
        if _word_views(fn) is not None:
            assert L.OFF_STATUS == 0 and L.OFF_RESPONSE_LEN == 4 and L.OFF_RESPONSE_SEQ == 8
            reads = [self.render(_READ_WORDS, status_and_length=exact)]
            for leaf in leaves:
                word = (L.RESPONSE_HEADER_SIZE + leaf.offset - L.OFF_RESPONSE_SEQ) // 8
                view = self.names[_WORD_VIEWS[_number_format(leaf.codec)]]
                reads.append(self.render(_READ_WORD, result=leaf.var, view=view, word=str(word)))
            return "\n".join(reads)
        variables: list[str] = []
        texts: list[tuple[_Leaf, dict[str, str]]] = []
        fmt, pos = "", 0
        scalars: list[str] = []  # bool and complex results made from what the unpack read
        for leaf in leaves:
            fmt += "x" * (leaf.offset - pos)
            if _is_number(leaf.codec):
                fmt += _number_format(leaf.codec)
                variables.append(leaf.var)
            elif type(leaf.codec) is BoolCodec:
                fmt += "B"
                variables.append(leaf.var)
                scalars.append(self.render(_READ_BOOL, value=leaf.var))
            elif type(leaf.codec) is ArrayCodec:  # of u8: bytes, read as one item
                fmt += f"{leaf.codec.n}s"
                variables.append(leaf.var)
            elif type(leaf.codec) is ComplexCodec:
                fmt += SCALARS[leaf.codec.name].struct_format
                real, imag = self.names.new(f"{leaf.var}_real"), self.names.new(f"{leaf.var}_imag")
                variables += [real, imag]
                scalars.append(self.render(_MAKE_COMPLEX, value=leaf.var, real=real, imag=imag))
            else:  # a buffer reference: segment and reserved as one word, then offset and length
                fmt += "QQQ"
                parts = {part: self.names.new(f"{leaf.var}_{suffix}") for part, suffix in
                         [("segment", "segment"), ("offset", "offset"), ("size", "len")]}
                texts.append((leaf, parts))
                variables += parts.values()
            pos = leaf.offset + leaf.codec.size
        numbers_only = _numbers_only(fn)
        header = "<Q8x" if numbers_only else "<II8x"  # the seq word: checked by the spin
        record = header + "x" * (L.RESPONSE_HEADER_SIZE - 16) + fmt
        check_record = self.render(_CHECK_RECORD, result_size=str(fn.result_size), header=str(L.RESPONSE_HEADER_SIZE))
        if guessed_text(fn):
            (leaf, parts), = texts
            start = L.tail_aligned(fn.result_size)
            self.recipe.append(_Binding((self.names["_text_guess"], self.names["_make_text_guess"]), "text_guesses", (record, start)))
            return "\n".join([self.render(
                _READ_GUESSED_TEXT, results=", ".join(variables), start=str(start), check_record=check_record,
                check_text=self.render(_CHECK_TEXT, text=leaf.var, **parts), slice=self.slice_text(leaf, parts),
                decode=self.decode(leaf, self.names["text"]), **parts)] + scalars)
        self.recipe.append(_Binding((self.names["_unpack_response"],), "unpack", record))
        if numbers_only:
            return self.render(_READ_NUMBERS, results=", ".join(variables), expected=exact)
        reads = [self.render(_READ_RECORD, results="".join(", " + v for v in variables), check_record=check_record)]
        for leaf, parts in texts:
            read = "\n".join([self.render(_CHECK_TEXT, text=leaf.var, **parts),
                              self.render(_ASSIGN, target=leaf.var, value=self.slice_text(leaf, parts)),
                              self.decode(leaf, leaf.var)])
            if leaf.var in self.present_of:  # an absent option's reference is not examined (SPEC §4.6)
                read = self.render(_READ_IF_PRESENT, present=self.present_of[leaf.var], read=read, text=leaf.var)
            reads.append(read)
        return "\n".join(reads + scalars)

    def slice_text(self, leaf: _Leaf, parts: dict[str, str]) -> str:
        """The expression reading a text result: bytes, or a str already if it is in a heap block."""
        return self.render(_SLICE_TEXT, heap_read="heap_text" if type(leaf.codec) is StrCodec else "heap_bytes", **parts)

    def decode(self, leaf: _Leaf, data: str) -> str:
        """``leaf.var`` from the variable ``data`` (bytes, or a heap block's str): decoded if need be."""
        return self.render(_DECODE_STR if type(leaf.codec) is StrCodec else _DECODE_BYTES, text=leaf.var, data=data)


#: Code objects compiled from generated source, by (file name, source): another client of the same
#: daemon (or of one with the same function) runs the same code without compiling it again.
_COMPILED: dict[tuple[str, str], CodeType] = {}
_COMPILED_ENTRIES = 4096


def fresh_code(code: CodeType) -> CodeType:
    """A copy of ``code`` and the code objects it holds. CPython keeps its specializations in the
    code object, keyed to one globals dict: two clients' functions sharing code would undo each
    other's."""
    return code.replace(co_consts=tuple(fresh_code(c) if isinstance(c, CodeType) else c for c in code.co_consts))


def define(source: str, filename: str, namespace: dict[str, Any], name: str = "remote",
           code: CodeType | None = None) -> Callable[..., Any]:
    """Runs generated ``source`` in ``namespace`` and returns the function ``name`` it defines,
    with the source as its ``source`` attribute. The source is registered with ``linecache`` (as
    dataclasses and attrs do: no modification time, so ``checkcache`` keeps it), so tracebacks show
    its lines; under ``filename``, or ``filename`` numbered when other source holds that name
    already (another client's function of the same name, from another daemon). ``code``: the
    source compiled already (under any file name)."""
    lines = source.splitlines(keepends=True)
    unique, n = filename, 1
    while (held := linecache.cache.get(unique)) is not None and (len(held) != 4 or held[2] != lines):
        n += 1
        unique = f"{filename[:-1]} #{n}>"
    linecache.cache[unique] = (len(source), None, lines, unique)
    compiled = _COMPILED.get((unique, source))
    if compiled is None:
        compiled = _codecache.compiled(source, unique) if code is None else _codecache.renamed(code, unique)
        if len(_COMPILED) >= _COMPILED_ENTRIES:
            _COMPILED.clear()
        _COMPILED[unique, source] = compiled
    exec(fresh_code(compiled), namespace)  # noqa: S102 - generated from identifiers only
    function: Callable[..., Any] = namespace[name]
    setattr(function, "source", source)  # noqa: B010 - a function attribute the type does not know
    return function


#: Generated source, function name and namespace recipe by function shape (`_shape`).
_WRITTEN: dict[tuple[Any, ...], tuple[str, str, list[_Binding], CodeType]] = {}


def build(fn: RemoteFunction, local: Any, slow: Callable[..., Any],
          roots: dict[int, tuple[int, int, int]] | None = None) -> Callable[..., Any] | None:
    """The fast call function for ``fn``, or None if it is not eligible. ``local`` is the client's
    thread-local (its ``ch``, this thread's channel), ``slow`` the general call, ``roots`` the
    heap's owner-array table (``Heap.roots``). Its ``source`` attribute is the generated code,
    written once per process for functions of one shape: writing took most of a first call."""
    if not eligible(fn):
        return None
    key = _shape(fn)
    written = _WRITTEN.get(key)
    if written is None:
        # Written by an earlier process (`_codecache`), else now.
        stored = _codecache.load("fast", key)
        try:
            source, name, bindings, code = stored
            recipe = [_Binding(*binding) for binding in bindings]
            assert type(code) is CodeType
        except (TypeError, ValueError, AssertionError):
            writer = _Writer(fn)
            source, name = writer.source() + "\n", writer.name
            recipe = writer.recipe + [_Binding((renamed,), "builtin", word)
                                      for renamed, word in writer.names.renamed_builtin_words().items()]
            code = compile(source, f"<shmcall fast {fn.label}>", "exec")
            _codecache.store("fast", key, (source, name, tuple(tuple(binding) for binding in recipe), code))
        if len(_WRITTEN) >= _COMPILED_ENTRIES:
            _WRITTEN.clear()
        written = _WRITTEN[key] = (source, name, recipe, code)
    source, name, recipe, code = written
    return define(source, f"<shmcall fast {fn.label}>", _bind(recipe, fn, local, slow, roots), name, code)
