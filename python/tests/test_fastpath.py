"""The generated fast paths (``_fastpath``): they are taken for the common signatures, they agree with
the general encoder on every length of text, and they give way to the general path whenever they
cannot be sure."""

from __future__ import annotations

import inspect
import random
import struct
import threading
import types

import pytest

import shmcall
from conftest import run_threads
from shmcall import _fastpath
from shmcall._function import RemoteFunction, make_callable


class Counting:
    """Counts the fast path's falls to the general path: ``_slow`` (before sending) and ``_finish``
    (decoding the response)."""

    def __init__(self, fn):
        self.g = fn.__globals__
        self.saved = {k: self.g[k] for k in ("_slow", "_finish")}
        self.falls = 0

        def counted(real):
            def wrapper(*args, **kw):
                self.falls += 1
                return real(*args, **kw)
            return wrapper

        for k, real in self.saved.items():
            self.g[k] = counted(real)

    def __enter__(self) -> "Counting":
        return self

    def __exit__(self, *exc: object) -> None:
        self.g.update(self.saved)


def fast(c, name):
    fn = getattr(c, name)
    assert fn.__code__.co_filename == f"<shmcall fast {name}>", f"{name} has no fast path"
    return fn


def test_common_signatures_stay_on_the_fast_path(c):
    c.add(0, 0)  # opens this thread's channel (the general path's job)
    T = c.types
    calls = [
        ("add", (2, 3), 5),
        ("multi_return", (), (1, 2)),
        ("divmod", (17, 5), (3, 2)),
        ("hello", ("Python",), "hello Python"),
        ("reverse_str", ("añb",), ("bña", 4)),
        ("repeat_bytes", (b"ab", 3), b"ababab"),
        ("join_text", ("left", b", ", "right"), "left, right"),
    ]
    for name, args, want in calls:
        f = fast(c, name)
        with Counting(f) as count:
            for _ in range(50):
                assert f(*args) == want
        assert count.falls == 0, f"{name} fell back to the general path"
    f = fast(c, "hello_person")
    with Counting(f) as count:
        for age in range(50):
            p = f(T.Person(name="xiaoming", age=age))
            assert (p.name, p.age) == ("xiaohong", age)
            assert f(("xiaoming", age)) == p  # a tuple of the fields, in order
    assert count.falls == 0


def test_a_struct_argument_the_fast_path_cannot_take_goes_the_general_way(c):
    """A tuple of the wrong length, or any other type, falls to the general path, which raises the
    precise error; a dict is encoded there."""
    f = fast(c, "hello_person")
    f(("warm", 1))
    with Counting(f) as count:
        with pytest.raises(TypeError, match=r"Person needs its 2 fields \(name, age\), got 3"):
            f(("xiaoming", 18, 0))
        with pytest.raises(TypeError, match=r"got 1"):
            f(("xiaoming",))
        with pytest.raises(TypeError, match="expected Person, got list"):
            f(["xiaoming", 18])
        with pytest.raises(TypeError, match="age: expected i64"):
            f(("xiaoming", "18"))
        assert f({"name": "x", "age": 3}) == c.types.Person("xiaohong", 3)
    assert count.falls == 5
    assert f(("xiaoming", 18)).age == 18  # and the channel is fine


def test_fast_and_general_calls_interleave_through_every_slot(c):
    """Each path leaves the channel's next slot where the other looks for it (`Channel.next_slot`):
    a request written to another slot would never be answered, so every call has a timeout."""
    f = fast(c, "hello_person")
    f(("warm", 1))
    ch = c._local.ch
    for i in range(3 * ch.slot_count + 1):
        if i % 3 == 0:
            assert f({"name": "x", "age": i}, timeout=5).age == i  # a dict: the general path
        elif i % 3 == 1:
            assert f(("x", i), timeout=5).age == i
        else:
            assert c.add(i, 1, timeout=5) == i + 1
        assert ch.next_slot == ch.slots[(ch.seq + 1) % ch.slot_count]


def test_timeout_is_keyword_only_though_the_fast_path_takes_it_by_position(c):
    """The fast function's hidden `_more` parameter catches a positional argument too many, before
    anything is sent; help() and inspect show the real signature."""
    f = fast(c, "add")
    assert str(inspect.signature(f)) == "(a: 'i64', b: 'i64', *, timeout: 'float | None' = None) -> 'i64'"
    assert "(*, timeout" in str(inspect.signature(fast(c, "multi_return")))
    assert f(2, 3, timeout=5) == 5
    ch = c._local.ch
    seq = ch.seq
    for extra in [(3,), (3, 4), (None,)]:
        with pytest.raises(TypeError, match=r"^add\(\) takes 2 positional arguments; timeout only by keyword$"):
            f(2, 3, *extra)
    with pytest.raises(TypeError, match=r"positional arguments but \d+ were given"):  # Python's own
        f(2, 3, 4, 5, 6)
    with pytest.raises(TypeError, match=r"^hello\(\) takes 1 positional argument; timeout only by keyword$"):
        fast(c, "hello")("x", 1.0)
    assert ch.seq == seq
    assert f(2, 3) == 5


def test_remote_functions_are_methods_of_a_class_of_each_clients_own(c):
    """On the class, so CPython specializes the lookup in `c.add(...)`; one class per client, since
    each client's functions are its own."""
    assert "add" in type(c).__dict__ and "add" not in vars(c)
    assert isinstance(c, shmcall.Client) and type(c) is not shmcall.Client
    assert c.add.__self__ is c and c.functions.add.__self__ is c
    with shmcall.connect(c.socket_path, spawn=False) as other:
        assert type(other) is not type(c)
        assert other.add(2, 3) == c.add(2, 3) == 5
        assert other.add.__func__ is not c.add.__func__


def test_eight_byte_results_are_read_as_words_with_their_sign_and_type(c):
    """Results that are all 8-byte numbers are read one word each through a typed view of the
    channel (`_emit_word_results`): i64s keep their sign, f64s their bits, u64s their top bit."""
    c.add(0, 0)  # opens this thread's channel (the general path's job)
    xs = c.asarray([0.5, -1.25, 1e300], "f64")
    ns = c.asarray([-(2**62), -(2**62), 7], "i64")
    calls = [
        ("add", (-(2**63), 2**63 - 1), -1),
        ("add", (2**62, 2**62 - 1), 2**63 - 1),
        ("divmod", (-7, 2), (-4, 1)),
        ("sum_f64", (xs,), 0.5 - 1.25 + 1e300),
        ("sum_i64", (ns,), -(2**63) + 7),
    ]
    for name, args, want in calls:
        f = fast(c, name)
        with Counting(f) as count:
            for _ in range(3):
                got = f(*args)
                assert got == want and type(got) is type(want), (name, args, got)
        assert count.falls == 0, f"{name} fell back to the general path"
    with pytest.raises(shmcall.RemoteError, match="overflow"):  # an error status is not read as a word
        c.add(2**63 - 1, 1)


@pytest.mark.parametrize("names", [("key", "k"), ("k0", "kind"), ("data", "n")])
def test_parameter_names_do_not_collide_with_the_generated_code(c, names):
    """``repeat_bytes(data, n)`` called through its manifest entry with its parameters renamed: a
    name the generated code also uses (``k0``) gets no fast path, and any other (``key``, ``k``,
    ``kind``) must not be mistaken for one of its variables."""
    entry = next(e for e in c.manifest["functions"] if e["name"] == "repeat_bytes")
    entry = {**entry, "params": [{**p, "name": n} for p, n in zip(entry["params"], names)]}
    f = types.MethodType(make_callable(RemoteFunction(entry, c._structs), c._call, c._local), c)
    c.add(0, 0)  # opens this thread's channel (the general path's job)
    assert (f.__code__.co_filename == "<shmcall fast repeat_bytes>") == ("k0" not in names)
    for _ in range(3):
        assert f(b"ab", 3) == b"ababab"
        assert f(**dict(zip(names, (b"xyz", 2)))) == b"xyzxyz"


def test_a_u64_result_is_read_through_the_unsigned_words(c):
    """No built-in returns a lone u64, so ``add`` is called through its manifest entry with the
    result retyped: the daemon's i64 bits, read through ``words``, are the two's complement."""
    entry = next(e for e in c.manifest["functions"] if e["name"] == "add")
    entry = {**entry, "returns": [{**entry["returns"][0], "type": "u64"}]}
    f = types.MethodType(make_callable(RemoteFunction(entry, c._structs), c._call, c._local), c)
    c.add(0, 0)  # opens this thread's channel (the general path's job)
    assert f.__code__.co_filename == "<shmcall fast add>"
    with Counting(f) as count:
        assert f(-5, 2) == 2**64 - 3
        assert f(2**62, 2**62 - 1) == 2**63 - 1
    assert count.falls == 0


@pytest.mark.parametrize("unit", ["a", "é", "😀"])
def test_text_of_every_length_around_the_packed_limit(c, unit):
    """Short text is packed with the record by a cached format, long text is copied by slicing:
    every length up to past the limit must round-trip, in one piece and in several."""
    limit = _fastpath.PACKED_TEXT_LIMIT
    for n in list(range(0, 40)) + list(range(limit - 10, limit + 10)):
        s = unit * (n // len(unit.encode()))
        assert c.hello(s) == "hello " + s
        assert c.reverse_str(s) == (s[::-1], len(s.encode()))
        assert c.join_text(s, b"|" * (n % 9), s[:n % 7]) == s + "|" * (n % 9) + s[:n % 7]


def test_text_pack_cache_is_bounded(c):
    for n in range(0, 2 * _fastpath.PACKED_TEXT_LIMIT):
        c.join_text("x" * n, b"", "y" * (n % 13))
    packs = c.join_text.__globals__["_packs"]
    assert 0 < len(packs) <= _fastpath._PACK_CACHE_ENTRIES
    assert all(sum(k) <= _fastpath.PACKED_TEXT_LIMIT for k in packs)


def test_a_text_format_is_made_only_for_a_request_that_fits_the_capacity(c):
    """A cached format is used without a capacity check, so none is made for a request that would
    not fit (``hello``'s text starts at 24; the default capacity is larger than any cached format,
    so a small one is passed here)."""
    g = c.hello.__globals__
    for n in (40, 41):
        g["_packs"].pop(n, None)  # made by an earlier test, perhaps
    assert g["_packfor"](41, 64) == (None, 65, None) and 41 not in g["_packs"]
    pack, length, fixed = g["_packfor"](40, 64)
    assert pack is not None and length == 64 and g["_packs"][40] == (pack, length, fixed)
    assert c.hello("x" * 40) == "hello " + "x" * 40


LAYOUTS = [  # parameter codecs, in order: the record puts each at its alignment
    ["str"], ["i64", "str"], ["str", "u8", "bytes", "f64"], ["u16", "str", "slice", "i32", "bytes", "str"],
    ["slice", "str"], ["str", "str", "i8"],
]


@pytest.mark.parametrize("layout", LAYOUTS, ids="-".join)
def test_a_packed_short_text_request_matches_the_request_written_piece_by_piece(layout):
    """A cached pack writes the bytes the text lengths fix (header, text references, padding) as
    prepacked runs: its request must equal, byte for byte, the one written by the record's format
    and slice copies, for text of every short length and numbers at every place."""
    from shmcall import _layout as L
    from shmcall._types import BytesCodec, Elem, FloatCodec, IntCodec, SliceCodec, StrCodec

    def codec(name):
        if name == "str":
            return StrCodec()
        if name == "bytes":
            return BytesCodec()
        if name == "slice":
            return SliceCodec(Elem(FloatCodec("f64")), False)
        return (FloatCodec if name[0] == "f" else IntCodec)(name)

    leaves, off = [], 0
    for i, name in enumerate(layout):
        c = codec(name)
        off = (off + c.align - 1) // c.align * c.align
        leaves.append((f"a{i}", c, off))
        off += c.size
    args_size = L.tail_aligned(off)
    runs = _fastpath._request_runs(7, [(c, o) for _, c, o in leaves], args_size)
    packs, packfor = _fastpath._text_packs(runs, args_size)
    reqrec = struct.Struct(_fastpath._request_format(leaves)).pack_into
    rng = random.Random(len(layout))
    for _ in range(200):
        texts = [rng.randbytes(rng.randrange(40)) for _, c, _ in leaves if type(c) in (StrCodec, BytesCodec)]
        key = tuple(len(t) for t in texts)
        pack, end, *fixed = packfor(key if len(key) > 1 else key[0], 4096)
        own, values, starts, pos = {}, [], [], args_size
        for i, (_, c, _) in enumerate(leaves):
            if type(c) in (StrCodec, BytesCodec):
                starts.append(L.tail_aligned(pos))
                pos = starts[-1] + len(texts[len(starts) - 1])
                values += [starts[-1], len(texts[len(starts) - 1])]
            elif type(c) is SliceCodec:
                own[i] = [rng.randrange(1, 9), rng.randrange(1 << 40), rng.randrange(1 << 40)]
                values += own[i]
            else:
                own[i] = [rng.uniform(-1e9, 1e9) if c.fmt == "d" else rng.randrange(-(1 << (8 * c.size - 1)), 1 << (8 * c.size - 1))
                          if c.name[0] == "i" else rng.randrange(1 << (8 * c.size))]
                values += own[i]
        assert end == pos
        # Stale bytes around the request: the pack must write its pads as zeros and nothing past it.
        expected = bytearray(b"\xee" * 64 + bytes(L.REQUEST_HEADER_SIZE + end) + b"\xee" * (4096 - 64 - L.REQUEST_HEADER_SIZE - end))
        reqrec(expected, 64, 7, end, *values)
        for t, data in zip(starts, texts):
            expected[64 + L.REQUEST_HEADER_SIZE + t:64 + L.REQUEST_HEADER_SIZE + t + len(data)] = data
        got = bytearray(b"\xee" * 4096)
        consts = iter(fixed)
        pack(got, 64, *[a for run in runs if run[0] != "pad" for a in ([next(consts)] if run[0] == "fixed" else own[run[2]])], *texts)
        assert got == expected, (layout, key)


def test_a_channel_with_other_capacities_is_refused(fresh):
    """Every channel of a client must have the capacities of its first (the fast paths' caches rely
    on it); a daemon that hands out another is corrupt."""
    assert fresh.add(1, 2) == 3
    fresh._capacities = (fresh._capacities[0] - 8, fresh._capacities[1])
    errors = []
    t = threading.Thread(target=lambda: errors.append(pytest.raises(shmcall.CorruptResponse, fresh.add, 1, 2)))
    t.start()
    t.join(10)
    assert errors and "capacities" in str(errors[0].value)


def test_a_text_result_is_read_in_one_unpack_once_its_length_repeats(c):
    """The text of a result is read with the header at the length the previous response had: a
    repeated length makes no new guess, a changed one is read by slicing and becomes the guess, and
    text past the limit is never guessed (the previous guess stays)."""
    f = fast(c, "hello")
    g = f.__globals__
    real, made = g["_guessfor"], []
    g["_guessfor"] = lambda n, rlen: made.append(n) or real(n, rlen)
    try:
        assert f("ab") == "hello ab"
        made.clear()
        with Counting(f) as count:
            for name in ["ab"] * 4 + ["abcd"] * 5 + ["ab"] * 3 + ["x" * 300] * 3 + ["ab"] * 2 + [""] * 2:
                assert f(name) == "hello " + name
        assert count.falls == 0
    finally:
        g["_guessfor"] = real
    assert made == [10, 8, 306, 306, 306, 6]


def test_threads_sharing_a_text_guess_all_get_their_own_text(c):
    """The guess is one per function, shared by every thread: threads whose texts have different
    lengths keep replacing it under each other, and each must still read its own response."""
    def work(k: int) -> None:
        rng = random.Random(k)
        for i in range(1500):
            name = "é" * (k + 1) if i % 3 else "x" * rng.randrange(0, 300)
            assert c.hello(name) == "hello " + name
            p = c.hello_person(c.types.Person(name, i))
            assert (p.name, p.age) == ("xiaohong", i)

    run_threads(work, 4, timeout=120)


def test_an_error_is_not_read_as_a_guessed_text(c):
    f = fast(c, "repeat_bytes")
    assert f(b"ab", 3) == b"ababab"  # now the guess: 6 bytes
    with pytest.raises(shmcall.RemoteError, match="exceed 1 GiB"):
        f(b"ab", 2**40)
    assert f(b"ab", 3) == b"ababab"


def test_inline_text_references_are_written_with_zero_segments(c):
    """The fast path leaves an inline text reference's segment and reserved word to the format's pad
    bytes, which pack_into writes as zeros: a slot that last carried an array reference (a non-zero
    segment at the same place) must still be read as inline text."""
    xs = c.empty(8, "f64")
    xs[:] = 1.0
    for _ in range(3 * 64):  # every slot of the ring, several times
        assert c.sum_f64(xs) == 8.0  # a heap reference at record offset 0, segment not 0
        assert fast(c, "hello")("x") == "hello x"  # an inline text reference at the same offset


def test_wrong_types_take_the_general_path_and_raise(c):
    with pytest.raises(TypeError, match="expected str"):
        c.hello(b"bytes")
    with pytest.raises(TypeError):
        c.join_text("a", "not bytes", "b")
    with pytest.raises(OverflowError):
        c.add(2**63, 0)
    with pytest.raises(UnicodeEncodeError):
        c.hello("\ud800")

    class Text(str):
        pass

    assert c.hello(Text("subclass")) == "hello subclass"
    assert c.add(1, 1) == 2


@pytest.mark.parametrize("name", ["seq", "buf", "ch", "base", "w", "i", "d0", "n3", "r0_1_len", "_private", "struct", "gd", "glen"])
def test_parameters_named_like_generated_variables_get_no_fast_path(name):
    assert _fastpath._LOCALS.fullmatch(name)


@pytest.mark.parametrize("name", ["a", "b", "name", "xs", "data", "count", "sequence", "width"])
def test_ordinary_parameter_names_keep_the_fast_path(name):
    assert not _fastpath._LOCALS.fullmatch(name)


def test_a_seq_word_beyond_the_call_is_a_corrupt_response(fresh):
    """The fast paths spin until the response's seq word is exactly their seq and do not read it
    again. The wait they fall back to must then refuse a later value (only a corrupt daemon writes
    one) instead of returning a response that is not theirs (SPEC §5.2), and give the channel up."""
    assert fresh.add(1, 2) == 3
    ch = fresh._local.ch
    seq = ch.seq + 1  # not published: the daemon does not touch its slot
    published = ch.slots[seq % ch.slot_count][3]
    ch.words[published] = seq + ch.slot_count  # as if the daemon had answered the next lap
    with pytest.raises(shmcall.CorruptResponse, match=f"expected {seq}"):
        ch.wait_after_first_spin(seq, 1.0)
    assert fresh.add(1, 2) == 3  # the channel is given up: the thread goes on with a new one
    assert fresh._local.ch is not ch
