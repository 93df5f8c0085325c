"""The generated fast paths (``_fastpath``): they are taken for the common signatures, they agree with
the general encoder on every length of text, they give way to the general path whenever they cannot
be sure, and their source is readable: printed, in tracebacks, and checked as golden text.

The golden files in ``golden/`` are the generated source of a few functions; after a deliberate
change to the generator, rewrite them with ``SHMCALL_UPDATE_GOLDEN=1 pytest python/tests/test_fastpath.py``
and review the diff."""

from __future__ import annotations

import dis
import inspect
import linecache
import os
import random
import re
import struct
import threading
import traceback
import types
from pathlib import Path

import numpy as np
import pytest

import shmcall
from conftest import Counting, run_threads
from shmcall import _fastpath
from shmcall._function import RemoteFunction, make_callable


def is_fast(fn, name):
    """A generated fast path; numbered when another function of that name had other source."""
    return re.fullmatch(rf"<shmcall fast {re.escape(name)}( #\d+)?>", fn.__code__.co_filename) is not None


def fast(c, name):
    """Function ``name`` of ``c`` (an overload: ``sum[f64]``), bound, checked to be a fast path."""
    base, _, element = name.partition("[")
    fn = getattr(c, base) if not element else types.MethodType(getattr(c, base).overloads[element[:-1]], c)
    assert fn.__code__.co_filename == f"<shmcall fast {name}>", f"{name} has no fast path"
    return fn


def entry_of(c, name):
    """The manifest entry of function ``name``; of an overload (``sum[f64]``), as the client makes one."""
    base, _, element = name.partition("[")
    entry = next(e for e in c.manifest["functions"] if e["name"] == base)
    if element:
        overload = next(o for o in entry["overloads"] if o["element"] == element[:-1])
        entry = {**overload, "name": base, "doc": entry["doc"]}
    return entry


def method(c, entry):
    """A method of ``c`` made from manifest entry ``entry``, as the client makes its own."""
    return types.MethodType(make_callable(RemoteFunction(entry, c._structs), c._session), c)


def renamed(c, name, params=None, returns=None):
    """Function ``name`` as a method of ``c`` built from its manifest entry with its parameters
    renamed (``params``) or its results retyped (``returns``)."""
    entry = entry_of(c, name)
    if params is not None:
        entry = {**entry, "params": [{**p, "name": n} for p, n in zip(entry["params"], params)]}
    if returns is not None:
        entry = {**entry, "returns": [{**r, "type": t} for r, t in zip(entry["returns"], returns)]}
    return method(c, entry)


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


def test_nested_structs_and_fixed_arrays_stay_on_the_fast_path(c):
    """A struct holding a struct, text, bytes and a fixed array goes field by field, given as
    instances or as tuples of the fields (a list or tuple for the array); a struct result holding
    structs is made from one unpack of the response."""
    c.add(0, 0)  # opens this thread's channel
    T, P, Point = c.types.Team, c.types.Person, c.types.Point
    f = fast(c, "describe_team")
    rng = random.Random(3)
    with Counting(f) as count:
        for _ in range(200):
            name = "".join(rng.choice("ab汉 ") for _ in range(rng.randrange(40)))
            lead = ("x" * rng.randrange(30), rng.randrange(-(1 << 63), 1 << 63))
            scores = [rng.randrange(-(1 << 31), 1 << 31) for _ in range(3)]
            motto = rng.randbytes(rng.randrange(20))
            want = f"{name}: {lead[0]} ({lead[1]}), {sum(scores)}"
            assert f(T(name=name, lead=P(*lead), scores=scores, motto=motto)) == want
            assert f((name, lead, tuple(scores), motto)) == want
    assert count.falls == 0
    box = fast(c, "bounding_box")
    pts = c.empty(64, Point)
    with Counting(box) as count:
        for _ in range(50):
            pts["x"] = [rng.uniform(-1e6, 1e6) for _ in range(64)]
            pts["y"] = [rng.uniform(-1e6, 1e6) for _ in range(64)]
            got = box(pts)
            assert type(got.min) is Point and type(got.max) is Point
            assert got == c.types.Rect(Point(pts["x"].min(), pts["y"].min()), Point(pts["x"].max(), pts["y"].max()))
    assert count.falls == 0


def test_fixed_arrays_of_bytes_and_of_one_element_on_the_fast_path(c):
    """``add``'s record seen through types of the same layout: a ``[u8; 8]`` (bytes, or a list of
    ints) and an ``[i64; 1]`` as its parameters, a ``[u8; 8]`` (bytes) and an ``[i32; 2]`` (a list)
    as its result."""
    entry = entry_of(c, "add")

    def retyped(params, result):
        typed = {**entry, "params": [{**p, "type": t} for p, t in zip(entry["params"], params)],
                 "returns": [{**entry["returns"][0], "type": result}]}
        f = method(c, typed)
        assert f.__code__.co_filename.startswith("<shmcall fast add")
        return f

    as_bytes = retyped(["[u8; 8]", "[i64; 1]"], "[u8; 8]")
    halves = retyped(["i64", "i64"], "[i32; 2]")
    c.add(0, 0)  # opens this thread's channel
    rng = random.Random(4)
    with Counting(as_bytes) as count, Counting(halves) as count2:
        for _ in range(100):
            a, b = rng.randrange(-(1 << 62), 1 << 62), rng.randrange(-(1 << 62), 1 << 62)
            total = (a + b).to_bytes(8, "little", signed=True)
            a_bytes = a.to_bytes(8, "little", signed=True)
            assert as_bytes(a_bytes, [b]) == total
            assert as_bytes(list(a_bytes), (b,)) == total
            assert halves(a, b) == list(struct.unpack("<ii", total))
    assert count.falls == count2.falls == 0
    with pytest.raises(OverflowError):
        as_bytes([256] + [0] * 7, [1])  # the general way explains it


def _splitmix64(x):
    z = (x + 0x9E3779B97F4A7C15) & (2**64 - 1)
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & (2**64 - 1)
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & (2**64 - 1)
    z ^= z >> 31
    return z - (1 << 64) if z >> 63 else z


def test_in_out_numbers_and_structs_stay_on_the_fast_path(c):
    """A ``Ref`` of a number and a struct instance given for ``&mut T`` are updated in place by the
    fast path, as the general path updates them: the Ref's value, the struct's fields (a nested
    struct as a new object)."""
    c.add(0, 0)  # opens this thread's channel
    change = fast(c, "change_int")
    rng = random.Random(6)
    with Counting(change) as count:
        r = c.ref("i64", 0)
        for _ in range(200):
            start = rng.randrange(-(1 << 63), 1 << 63)
            r.value = start
            assert change(r) is None
            assert r.value == _splitmix64(start)
    assert count.falls == 0
    T, P = c.types.Team, c.types.Person
    promote = fast(c, "promote")
    with Counting(promote) as count:
        for _ in range(100):
            name, age = "".join(rng.choice("xé汉") for _ in range(rng.randrange(30))), rng.randrange(-1000, 1000)
            scores, motto = [rng.randrange(-(1 << 31), 1 << 31) for _ in range(3)], rng.randbytes(rng.randrange(9))
            lead = P(name * 2, age)
            team = T(name, lead, scores, motto)
            assert promote(team) is None
            want = [(s * 2 + (1 << 31)) % (1 << 32) - (1 << 31) for s in scores]
            assert team == T(name + "!", P(name * 2, age + 1), want, motto)
            assert lead == P(name * 2, age), "the nested struct is replaced, not changed"
    assert count.falls == 0


def test_growable_vectors_stay_on_the_fast_path(fresh):
    """A ``Vec`` for ``&mut Vec<T>``: its array goes as an array argument (by reference if shared,
    copied if not) and the response's array replaces it, inline or in shared memory; a list goes the
    general way, which updates it in place."""
    fresh.add(0, 0)  # opens this thread's channel
    f = fast(fresh, "expand_slice")
    f(fresh.vec("i64", range(50_000)))  # a staging block large enough for the private arrays below
    with Counting(f) as count:
        for n in (0, 1, 2, 100, 5000, 40_000, 200_000):  # inline, staged; then (grown) shared
            v = fresh.vec("i64", range(n))
            for grown in range(1, 4):
                assert f(v) is None
                assert len(v) == n + 10 * grown
                assert v.tolist() == list(range(n)) + list(range(10)) * grown
    assert count.falls == 1, "only the largest private array needed a larger staging block"
    with Counting(f) as count:
        lst = [5]
        f(lst)
        assert lst == [5] + list(range(10))
        with pytest.raises(TypeError, match="Vec of i64"):
            f(fresh.vec("f64", [1.0]))
    assert count.falls == 2


def test_optional_number_results_stay_on_the_fast_path(c):
    """An ``Option<T>`` result of a number: the value if its presence byte is 1, else None."""
    c.add(0, 0)  # opens this thread's channel
    f = fast(c, "index_of")
    xs = c.asarray(np.arange(100, dtype=np.int64) * 3)
    with Counting(f) as count:
        for x in range(-3, 305):
            assert f(xs, x) == (x // 3 if x % 3 == 0 and 0 <= x < 300 else None)
        assert f(np.empty(0, dtype=np.int64), 0) is None
    assert count.falls == 0


def test_the_shape_of_a_function_includes_the_layout_of_its_in_out_structs(c):
    """Generated code is found by shape (in this process and on disk): two daemons whose ``Team``
    differ must not share ``promote``'s code, whose offsets are the layout's."""
    import copy

    entry = entry_of(c, "promote")
    moved = copy.copy(c._structs["Team"])
    moved.fields = [(n, codec, off) for n, codec, off in reversed(moved.fields)]  # same fields, other order
    assert _fastpath._shape(RemoteFunction(entry, c._structs)) != _fastpath._shape(RemoteFunction(entry, {**c._structs, "Team": moved}))


def test_in_out_values_the_fast_path_cannot_take_go_the_general_way(c):
    """A plain number, a Ref of another type or out of range, a tuple for an in-out struct: the
    general path explains each. And the general decoding a fast path falls back to for an
    unusual response updates the in-out arguments too."""
    change, promote = fast(c, "change_int"), fast(c, "promote")
    with Counting(change) as count:
        with pytest.raises(TypeError, match="Ref"):
            change(100)
        with pytest.raises(TypeError, match="i64"):
            change(c.ref("i32", 1))
        r = c.ref("i64", 0)
        r.value = 1 << 63
        with pytest.raises(OverflowError):
            change(r)
    assert count.falls == 3
    with Counting(promote) as count, pytest.raises(TypeError, match="Team"):
        promote(("t", ("p", 1), [1, 2, 3], b""))
    assert count.falls == 1
    r = c.ref("i64", 5)
    change(r)
    r.value = 0
    ch = c._session.local.ch
    assert c.change_int.remote.finish(ch, ch.seq, (r,)) is None
    assert r.value == _splitmix64(5)


def test_a_fixed_array_the_fast_path_cannot_take_goes_the_general_way(c):
    """Anything but a tuple or list of the right length is the general path's: it takes any
    sequence (a numpy array) and explains the rest."""
    T, P = c.types.Team, c.types.Person
    f = fast(c, "describe_team")
    with Counting(f) as count:
        assert f(T("t", P("p", 1), np.array([1, 2, 3], dtype=np.int32), b"")) == "t: p (1), 6"
        with pytest.raises(ValueError, match="exactly 3"):
            f(T("t", P("p", 1), [1, 2], b""))
        with pytest.raises(OverflowError):
            f(T("t", P("p", 1), [1, 2, 1 << 31], b""))
        with pytest.raises(TypeError):
            f(T("t", ("p", 1, 2), [1, 2, 3], b""))
    assert count.falls == 4


def test_options_stay_on_the_fast_path_absent_or_present(c):
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    c.add(0, 0)  # opens this thread's channel
    f = fast(c, "clamp")
    with Counting(f) as count:
        for args, want in [((5.0,), 5.0), ((5.0, None, 2.5), 2.5), ((5.0, 6.0), 6.0), ((5.0, None, None), 5.0)]:
            for _ in range(20):
                assert f(*args) == want, args
    assert count.falls == 0, "clamp fell back to the general path"
    f = fast(c, "encrypt")
    key, nonce = bytes(range(32)), bytes(12)
    f(bytearray(64), key, nonce)  # the channel's first written array makes its staging block (general path)
    with Counting(f) as count:
        for aad in [None, b"", b"hdr", bytearray(b"header"), memoryview(b"view")]:
            buf = bytearray(b"x" * 64)
            tag = f(buf, key, nonce, aad)
            assert bytes(buf) + tag == ChaCha20Poly1305(key).encrypt(nonce, b"x" * 64, None if aad is None else bytes(aad))
    assert count.falls == 0, "encrypt fell back to the general path"


def test_an_absent_array_option_stands_in_as_an_empty_array_of_its_element():
    for fmt in ["B", "d", "i", "q"]:
        view = memoryview(_fastpath._absent_array(fmt))
        assert (view.nbytes, view.format) == (0, fmt)


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
    ch = c._session.local.ch
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
    assert str(inspect.signature(f)) == "(a: 'int', b: 'int', *, timeout: 'float | None' = None) -> 'int'"
    assert "(*, timeout" in str(inspect.signature(fast(c, "multi_return")))
    assert f(2, 3, timeout=5) == 5
    ch = c._session.local.ch
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
    channel (`_fastpath._READ_WORDS`): i64s keep their sign, f64s their bits, u64s their top bit."""
    c.add(0, 0)  # opens this thread's channel (the general path's job)
    xs = c.asarray([0.5, -1.25, 1e300], "f64")
    ns = c.asarray([-(2**62), -(2**62), 7], "i64")
    calls = [
        ("add", (-(2**63), 2**63 - 1), -1),
        ("add", (2**62, 2**62 - 1), 2**63 - 1),
        ("divmod", (-7, 2), (-4, 1)),
        ("sum[f64]", (xs,), 0.5 - 1.25 + 1e300),
        ("sum[i64]", (ns,), -(2**63) + 7),
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


RENAMED = [  # a function, and names for its parameters that its generated code would use itself
    ("add", ("channel", "seq")), ("add", ("words", "i64s")), ("add", ("_function", "remote")),
    ("add", ("_general_call", "_more")), ("add", ("result", "_client")), ("add", ("spins_left", "request_at")),
    ("add", ("add", "b")),
    ("repeat_bytes", ("data_bytes", "data")), ("repeat_bytes", ("bytes", "type")), ("repeat_bytes", ("len", "pack")),
    ("repeat_bytes", ("fixed0", "_text_packs")), ("repeat_bytes", ("text", "result_len")),
    ("repeat_bytes", ("status", "length")), ("repeat_bytes", ("_text_guess", "guess_unpack")),
    ("hello", ("_str_encode",)), ("hello", ("TypeError",)), ("hello", ("record_at",)),
    ("hello_person", ("kind",)), ("hello_person", ("tuple",)), ("hello_person", ("_Person",)),
    ("hello_person", ("result_name",)), ("hello_person", ("ValueError",)),
    ("sum[f64]", ("id",)), ("sum[f64]", ("_heap_roots",)), ("sum[f64]", ("_float64",)), ("sum[f64]", ("_ndarray",)),
    ("join_text", ("a_len", "a", "a_utf8")), ("join_text", ("pack", "fixed0", "b_end")),
]
ARGUMENTS = {"add": ((2, 3), 5), "repeat_bytes": ((b"ab", 3), b"ababab"), "hello": (("x",), "hello x"),
             "join_text": (("a", b"-", "b"), "a-b")}


@pytest.mark.parametrize("name, params", RENAMED, ids=lambda v: "-".join(v) if isinstance(v, tuple) else v)
def test_parameters_named_like_the_generated_codes_own_names_keep_the_fast_path(c, name, params):
    """The generated code names its own variables, globals and builtins so that none is a
    parameter's name: a function whose parameters are renamed to them keeps its fast path and
    computes the same, called by position and by keyword."""
    f = renamed(c, name, params)
    c.add(0, 0)  # opens this thread's channel (the general path's job)
    assert is_fast(f, name)
    assert not set(params) & {i.argval for i in dis.get_instructions(f) if i.opname == "STORE_FAST"}
    if name == "hello_person":
        args, want = (("x", 7),), c.types.Person("xiaohong", 7)
    elif name == "sum[f64]":
        xs = c.asarray([0.5, 2.0], "f64")
        args, want = (xs,), 2.5
    else:
        args, want = ARGUMENTS[name]
    with Counting(f) as count:
        for _ in range(3):
            assert f(*args) == want
            assert f(**dict(zip(params, args))) == want
    assert count.falls == 0


@pytest.mark.parametrize("alias", ["len", "channel", "_general_call", "remote", "match"])
def test_a_function_named_like_the_generated_codes_own_names_keeps_the_fast_path(c, alias):
    """The generated function is named after the remote one, for tracebacks; a name its code uses
    (or a soft keyword) must change nothing."""
    entry = {**next(e for e in c.manifest["functions"] if e["name"] == "hello"), "name": alias}
    f = method(c, entry)
    c.add(0, 0)  # opens this thread's channel (the general path's job)
    assert is_fast(f, alias) and f.__code__.co_name.rstrip("_") == alias
    with Counting(f) as count:
        assert f("x") == f(name="x") == "hello x"
    assert count.falls == 0


def test_own_names_are_unique_whatever_the_parameters():
    names = _fastpath.Names(["x", "x_", "y"])
    assert [names["x"], names["y"], names["z"], names.new("z"), names.new("x"), names["x"]] == ["x__", "y_", "z", "z_", "x___", "x__"]
    assert names.renamed_builtins() == {}
    names = _fastpath.Names(["len"])
    assert names["len"] == "len_" and names.renamed_builtins() == {"len_": len}


def test_a_u64_result_is_read_through_the_unsigned_words(c):
    """No built-in returns a lone u64, so ``add`` is called through its manifest entry with the
    result retyped: the daemon's i64 bits, read through ``words``, are the two's complement."""
    f = renamed(c, "add", returns=["u64"])
    c.add(0, 0)  # opens this thread's channel (the general path's job)
    assert is_fast(f, "add")
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
    packs = c.join_text.__globals__["_text_packs"]
    assert 0 < len(packs) <= _fastpath._PACK_CACHE_ENTRIES
    assert all(sum(k) <= _fastpath.PACKED_TEXT_LIMIT for k in packs)


def test_a_text_format_is_made_only_for_a_request_that_fits_the_capacity(c):
    """A cached format is used without a capacity check, so a request that would not fit gets the
    pack that refuses (its TypeError sends the call the general way), also cached (``hello``'s text
    starts at 24; the default capacity is larger than any cached format, so a small one is passed here)."""
    g = c.hello.__globals__
    for n in (40, 41):
        g["_text_packs"].pop(n, None)  # made by an earlier test, perhaps
    unfit = g["_make_text_pack"](41, 64)
    assert unfit == (None, 65, None) and g["_text_packs"][41] == unfit  # the write checks, and stages
    pack, length, fixed = g["_make_text_pack"](40, 64)
    assert pack is not None and length == 64 and g["_text_packs"][40] == (pack, length, fixed)
    assert c.hello("x" * 40) == "hello " + "x" * 40
    assert c.hello("x" * 2000) == "hello " + "x" * 2000  # beyond the real capacity: the general way


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
    from shmcall._codecs import BytesCodec, Elem, FloatCodec, IntCodec, SliceCodec, StrCodec

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
    fresh._session.capacities = (fresh._session.capacities[0] - 8, fresh._session.capacities[1])
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
    real, made = g["_make_text_guess"], []
    g["_make_text_guess"] = lambda n, rlen: made.append(n) or real(n, rlen)
    try:
        assert f("ab") == "hello ab"
        made.clear()
        with Counting(f) as count:
            for name in ["ab"] * 4 + ["abcd"] * 5 + ["ab"] * 3 + ["x" * 300] * 3 + ["ab"] * 2 + [""] * 2:
                assert f(name) == "hello " + name
        assert count.falls == 0
    finally:
        g["_make_text_guess"] = real
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
        assert c.sum(xs) == 8.0  # a heap reference at record offset 0, segment not 0
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


def test_a_seq_word_beyond_the_call_is_a_corrupt_response(fresh):
    """The fast paths spin until the response's seq word is exactly their seq and do not read it
    again. The wait they fall back to must then refuse a later value (only a corrupt daemon writes
    one) instead of returning a response that is not theirs (SPEC §5.2), and give the channel up."""
    assert fresh.add(1, 2) == 3
    ch = fresh._session.local.ch
    seq = ch.seq + 1  # not published: the daemon does not touch its slot
    published = ch.slots[seq % ch.slot_count][3]
    ch.words[published] = seq + ch.slot_count  # as if the daemon had answered the next lap
    with pytest.raises(shmcall.CorruptResponse, match=f"expected {seq}"):
        ch.wait_after_first_spin(seq, 1.0)
    assert fresh.add(1, 2) == 3  # the channel is given up: the thread goes on with a new one
    assert fresh._session.local.ch is not ch


GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("name", ["add", "hello", "hello_person", "sum[f64]"])
def test_generated_source_matches_the_golden_text(c, monkeypatch, name):
    """The generated source of a few signatures, as a reader sees it (``c.NAME.source``), against
    ``golden/fastpath_NAME.txt`` (an overload's: ``fastpath_sum_f64.txt``). ``SHMCALL_UPDATE_GOLDEN=1``
    rewrites the files instead."""
    monkeypatch.setattr(_fastpath, "SPIN_ITERATIONS", 500)  # the default, whatever SHMCALL_SPIN says
    f = _fastpath.build(RemoteFunction(entry_of(c, name), c._structs), threading.local(), c._session.call, {})
    assert f is not None, f"{name} has no fast path"
    path = GOLDEN / f"fastpath_{name.replace('[', '_').rstrip(']')}.txt"
    if os.environ.get("SHMCALL_UPDATE_GOLDEN") == "1":
        path.write_text(f.source)
    assert f.source == path.read_text(), f"{name}: generated source differs from {path} (SHMCALL_UPDATE_GOLDEN=1 rewrites it)"


def test_the_source_is_an_attribute_of_every_remote_function(c):
    """The fast path's generated code, or the general call's for a function without one."""
    assert c.add.source.startswith("# add(a: i64, b: i64) -> i64\n") and "def add(_client, a, b," in c.add.source
    assert c.add.source == c.functions.add.source
    compile(c.add.source, "<check>", "exec")
    general = renamed(c, "hello_person", returns=["Option<Person>"])  # an optional struct: no fast path
    assert "_shmcall_call_" in general.source and "def remote(" in general.source


def test_python_m_shmcall_source_prints_it(c, capsys):
    from shmcall.__main__ import main

    assert main(["source", "hello", "--socket", c.socket_path]) == 0
    assert capsys.readouterr().out == c.hello.source
    assert main(["source", "sum", "--socket", c.socket_path]) == 0
    out = capsys.readouterr().out
    assert out.startswith(c.sum.source) and c.sum.overloads["f64"].source in out  # the dispatcher, each overload
    with pytest.raises(SystemExit):
        main(["source", "no_such_function", "--socket", c.socket_path])
    assert "no_such_function" in capsys.readouterr().err


def test_a_traceback_through_generated_code_shows_its_lines(c):
    """The source is in ``linecache`` (kept by ``checkcache``, as for dataclasses), so a traceback
    shows the generated line that raised."""
    c.add(0, 0)
    with pytest.raises(shmcall.RemoteError) as info:
        c.add(2**63 - 1, 1)  # an error status: the fast path hands the response to the general path
    linecache.checkcache()
    text = "".join(traceback.format_exception(info.value))
    assert re.search(r'File "<shmcall fast add>", line \d+, in add\n +return _general_result\(channel, seq\)', text), text
    lineno = c.add.source.splitlines().index("        return _general_result(channel, seq)") + 1
    assert linecache.getline("<shmcall fast add>", lineno).strip() == "return _general_result(channel, seq)"


def test_functions_of_a_name_with_other_source_get_their_own_filename(c):
    """Another daemon's ``add`` (here: its result retyped) must not show this one's lines."""
    other = renamed(c, "add", returns=["u64"])
    filename = other.__code__.co_filename
    assert filename != c.add.__code__.co_filename and is_fast(other, "add")
    assert "".join(linecache.cache[filename][2]) == other.source
    assert "".join(linecache.cache[c.add.__code__.co_filename][2]) == c.add.source


def test_bools_and_complex_numbers_take_the_fast_path(c):
    f = c.echo_scalars
    assert "_general_call(_function, (i8," in f.source and "c64.real, c64.imag" in f.source
    args = (-1, -2, -3, -4, 1, 2, 3, 4, 0.5, 0.25, True, 1.5 - 2j, -3.25 + 4j)
    for _ in range(3):
        got = f(*args)
        assert tuple(got._asdict().values()) == args
    assert f(*args[:10], False, 1j, 2j).flag is False
    # What the fast path leaves to the general one still works: numpy's bool, a real for a complex.
    assert f(*args[:10], np.bool_(True), 2, 3.5).c64 == 2 + 0j
    with pytest.raises(TypeError):
        f(*args[:10], "yes", 1j, 2j)
    s = c.step_scalars(c.echo_scalars(*args))  # a struct of them, in and out
    assert (s.i8, s.u64, s.f32, s.flag, s.c64, s.c128) == (0, 5, 1.0, False, 1.5 + 2j, -3.25 - 4j)
    assert "_general_call(_function, (s," in c.step_scalars.source


def test_a_large_text_result_is_read_from_its_heap_block_and_the_block_handed_back(fresh):
    """A result too large for the response arrives in a heap block: the fast path copies it out and
    queues the block, and the next call (fast too) hands it back before its request."""
    f = fresh.repeat_bytes
    assert "channel.heap_bytes(" in f.source
    fresh.ping()
    ch = fresh._session.local.ch
    for count in (1, 100, 256, 4096, 3):  # 16 B to 64 KiB, inline and heap
        for _ in range(3):
            seq = ch.seq
            assert f(b"0123456789abcdef", count) == b"0123456789abcdef" * count
            assert ch.seq == seq + 1
    assert not ch.releases, "every heap result's block went back with a later request"
    assert fresh.reverse_str("é" * 3000) == ("é" * 3000, 6000)


def test_a_large_str_result_is_decoded_from_its_heap_block_and_the_block_handed_back(fresh):
    """A request that fits with a response that does not (``hello`` adds 6 bytes): the fast path
    decodes the text straight from the heap block, which the next call hands back."""
    f = fresh.hello
    assert "channel.heap_text(" in f.source
    fresh.ping()
    ch = fresh._session.local.ch
    capacity = ch.response_capacity
    for name in ["x" * n for n in range(capacity - 34, capacity - 23)] + ["é" * 490, "汉" * 327, "x" * 984]:
        seq = ch.seq
        assert f(name) == "hello " + name
        assert ch.seq == seq + 1, f"{len(name.encode())} bytes of text took the fast path"
    assert f("x") == "hello x"  # the last block goes back with this request
    assert not ch.releases, "every heap result's block went back with a later request"


def test_text_too_long_for_the_request_goes_through_the_staging_block_on_the_fast_path(fresh):
    """Text beyond the request's capacity is copied into the channel's staging block by the fast
    path itself; only a call that finds the block missing or too small goes the general way (which
    grows it). Every piece of text and the results checked, several texts in one request too."""
    general_calls = []

    def counted(f):
        general = f.__globals__["_general_call"]

        def count(*args, **kwargs):
            general_calls.append(f.__name__)
            return general(*args, **kwargs)

        f.__globals__["_general_call"] = count

    P = fresh.types.Person
    for f in (fresh.hello, fresh.hello_person, fresh.join_text, fresh.reverse_str):
        counted(f)
    rng = random.Random(5)
    for n in (985, 1000, 4096, 70_000, 3000, 200_000, 1 << 20):
        text = "".join(rng.choice("aé汉🙂") for _ in range(n // 3))
        for _ in range(3):
            del general_calls[:]
            assert fresh.hello(text) == "hello " + text
            assert fresh.hello_person(P(text, n)) == P("xiaohong", n)
            assert fresh.join_text(text, b"--", text[::-1]) == text + "--" + text[::-1]
            assert fresh.join_text("a", b"-" * n, text) == "a" + "-" * n + text
            assert fresh.reverse_str(text) == (text[::-1], len(text.encode()))
        assert not general_calls, f"{len(text.encode())} bytes: {general_calls} went the general way"


def test_text_too_long_for_the_request_is_not_held_through_the_call(fresh):
    """The fast path encodes a text argument before it knows it does not fit; the general way
    encodes it again. Held through the call, the first copy doubled the call's memory (and its
    freeing made glibc fault a megabyte's pages in again on every call)."""
    import tracemalloc

    name = "x" * (1 << 20)
    fresh.hello(name)  # the method made and its caches filled before measuring
    tracemalloc.start()
    try:
        for _ in range(3):
            tracemalloc.reset_peak()
            result = fresh.hello(name)
            peak = tracemalloc.get_traced_memory()[1]
            assert result == "hello " + name
            del result
            assert peak < 1.5 * len(name), f"{peak} bytes at most during a call with 1 MiB of text"
    finally:
        tracemalloc.stop()
