"""Every value kind of the brief in and out: scalars at their limits, text and bytes of any length,
structs (nested, padded, with text and fixed arrays), in-out values, tuples, None."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest

import shmcall

INT_LIMITS = {
    "i8": (-(2**7), 2**7 - 1), "i16": (-(2**15), 2**15 - 1), "i32": (-(2**31), 2**31 - 1),
    "i64": (-(2**63), 2**63 - 1), "u8": (0, 2**8 - 1), "u16": (0, 2**16 - 1), "u32": (0, 2**32 - 1),
    "u64": (0, 2**64 - 1),
}
ORDER = ["i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "f32", "f64", "flag", "c64", "c128"]


def scalars(**over):
    base = dict(i8=1, i16=2, i32=3, i64=4, u8=5, u16=6, u32=7, u64=8, f32=1.5, f64=2.25, flag=True,
                c64=1 + 2j, c128=3 - 4j)
    base.update(over)
    return [base[k] for k in ORDER]


def test_every_scalar_round_trips_at_its_limits(c):
    for name, (lo, hi) in INT_LIMITS.items():
        for v in (lo, hi):
            s = c.echo_scalars(*scalars(**{name: v}))
            assert getattr(s, name) == v and isinstance(getattr(s, name), int)
    s = c.echo_scalars(*scalars(f32=3.4028234663852886e38, f64=-1e308, flag=False, c64=0.5j, c128=complex(1e300, -1e-300)))
    assert s.f32 == struct.unpack("<f", struct.pack("<f", 3.4028234663852886e38))[0]
    assert s.f64 == -1e308 and s.flag is False and s.c64 == 0.5j and s.c128 == complex(1e300, -1e-300)
    s = c.echo_scalars(*scalars(f64=math.inf, f32=math.nan))
    assert s.f64 == math.inf and math.isnan(s.f32)


@pytest.mark.parametrize("name", sorted(INT_LIMITS))
def test_out_of_range_integers_raise_overflow_before_sending(c, name):
    lo, hi = INT_LIMITS[name]
    for bad in (lo - 1, hi + 1):
        with pytest.raises(OverflowError, match=name):
            c.echo_scalars(*scalars(**{name: bad}))


def test_article_add_truncation_is_an_error_not_zero(c):
    with pytest.raises(OverflowError, match="i64"):
        c.add(1 << 63, 0)
    with pytest.raises(shmcall.RemoteError, match="overflow"):
        c.add(2**63 - 1, 1)
    assert c.add(-(2**63), 2**63 - 1) == -1


def test_wrong_types_raise_type_error(c):
    with pytest.raises(TypeError, match="'a'"):
        c.add("1", 2)
    with pytest.raises(TypeError):
        c.add(1.5, 2)
    with pytest.raises(TypeError, match="bool"):
        c.echo_scalars(*scalars(flag=1))
    with pytest.raises(TypeError):
        c.echo_scalars(*scalars(f64="2.0"))
    with pytest.raises(TypeError):
        c.echo_scalars(*scalars(c128="1+2j"))
    with pytest.raises(OverflowError, match="f32"):
        c.echo_scalars(*scalars(f32=1e39))
    with pytest.raises(TypeError):
        c.hello(b"bytes are not text")


def test_wrong_arity_is_a_type_error_naming_the_function(c):
    with pytest.raises(TypeError, match="add"):
        c.add(1)
    with pytest.raises(TypeError):
        c.add(1, 2, 3)
    assert c.add(a=1, b=2) == 3


def test_numpy_scalars_are_accepted(c):
    assert c.add(np.int64(5), np.int32(6)) == 11
    s = c.echo_scalars(*scalars(f64=np.float64(0.125), flag=np.bool_(True), u8=np.uint8(255)))
    assert s.f64 == 0.125 and s.flag is True and s.u8 == 255


def test_struct_in_struct_out_with_every_field_moved(c):
    S = c.types.Scalars
    s = S(*scalars())
    t = c.step_scalars(s)
    assert t == S(i8=2, i16=3, i32=4, i64=5, u8=6, u16=7, u32=8, u64=9, f32=3.0, f64=4.5, flag=False,
                  c64=1 - 2j, c128=3 + 4j)
    wrap = c.step_scalars(S(*scalars(i8=127, u64=2**64 - 1)))
    assert wrap.i8 == -128 and wrap.u64 == 0


@pytest.mark.parametrize("text", ["", "Python", "héllo wörld", "汉字🙂", "nul\x00inside\x00", "x" * 5000, "é" * 300_000])
def test_strings_of_any_length_round_trip(c, text):
    rev, n = c.reverse_str(text)
    assert rev == text[::-1]
    assert n == len(text.encode())


def test_hello_is_the_article_example(c):
    assert c.hello("Python") == "hello Python"
    assert c.hello("") == "hello "
    long = "ü" * 100_000
    assert c.hello(long) == "hello " + long


@pytest.mark.parametrize("data", [b"", b"\x00", b"\x00\xff" * 7, bytes(range(256)) * 100, b"z" * (3 << 20)])
def test_bytes_round_trip(c, data):
    assert c.reverse_bytes(data) == data[::-1]
    assert c.reverse_bytes(bytearray(data)) == data[::-1]
    assert c.reverse_bytes(memoryview(data)) == data[::-1]


@pytest.mark.parametrize("data", [b"", b"a", b"xyz", b"0123456789abcdef", bytes(range(256)) * 3])
def test_repeat_bytes_is_bytes_times_count(c, data):
    for count in (0, 1, 2, 3, 5, 8, 31, 1000, 65_537):
        assert c.repeat_bytes(data, count) == data * count


def test_bytes_result_larger_than_the_initial_heap(c):
    out = c.repeat_bytes(b"0123456789abcdef", 2 << 20)  # 32 MiB > the 16 MiB first segment
    assert len(out) == 32 << 20
    assert out[:32] == b"0123456789abcdef" * 2 and out[-16:] == b"0123456789abcdef"


def test_hello_person_and_struct_types_from_the_manifest(c):
    Person = c.types.Person
    assert Person._fields == ("name", "age")
    assert (Person.size, Person.align) == (32, 8)
    out = c.hello_person(Person(name="xiaoming", age=18))
    assert out == Person(name="xiaohong", age=18)
    assert c.hello_person({"name": "a" * 10_000, "age": -1}) == Person(name="xiaohong", age=-1)
    assert c.hello_person(("a" * 10_000, -2)) == Person(name="xiaohong", age=-2)  # the fields in order
    with pytest.raises(TypeError, match=r"a tuple for Person needs its 2 fields \(name, age\), got 3"):
        c.hello_person(("x", 1, 2))
    with pytest.raises(TypeError, match="expected Person, got list"):
        c.hello_person(["x", 1])
    with pytest.raises(OverflowError):
        c.hello_person(Person(name="x", age=2**63))
    with pytest.raises(TypeError, match="'nam'"):
        Person(nam="x")
    with pytest.raises(TypeError):
        Person("x", 1, 2)
    assert Person() == Person(name="", age=0)


def test_nested_structs_with_text_fixed_arrays_and_bytes(c):
    T = c.types
    team = T.Team(name="Rustaceans", lead=T.Person("Ferris", 7), scores=[10, 20, 30], motto=b"\x00fast\x00")
    assert c.describe_team(team) == "Rustaceans: Ferris (7), 60"
    # Tuples of the fields in order, nested too.
    as_tuples = ("Rustaceans", ("Ferris", 7), (10, 20, 30), b"\x00fast\x00")
    assert c.describe_team(as_tuples) == "Rustaceans: Ferris (7), 60"
    with pytest.raises(TypeError, match="updated in place"):
        c.promote(as_tuples)  # an in-out struct must be an instance, to be updated
    c.promote(team)  # in-out struct: updated in place
    assert team.name == "Rustaceans!" and team.lead == T.Person("Ferris", 8) and team.scores == [20, 40, 60]
    assert team.motto == b"\x00fast\x00"
    with pytest.raises(ValueError, match="exactly 3"):
        c.describe_team(T.Team(name="x", lead=T.Person(), scores=[1, 2], motto=b""))


def test_in_out_scalar_is_splitmix64(c):
    def splitmix64(x):
        z = (x + 0x9E3779B97F4A7C15) & (2**64 - 1)
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & (2**64 - 1)
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & (2**64 - 1)
        return z ^ (z >> 31)

    r = c.ref("i64", 100)
    c.change_int(r)
    assert r.value == struct.unpack("<q", struct.pack("<Q", splitmix64(100)))[0]
    with pytest.raises(TypeError, match="Ref"):
        c.change_int(100)
    with pytest.raises(TypeError, match="i64"):
        c.change_int(c.ref("i32", 1))
    with pytest.raises(OverflowError):
        c.ref("i8", 1000)


def test_refs_of_text_and_structs_are_checked_when_made(c):
    assert c.ref("str", "汉字").value == "汉字"
    assert c.ref("bytes", b"\x00a").value == b"\x00a"
    assert c.ref("Person").value == c.types.Person(name="", age=0)
    with pytest.raises(TypeError, match="expected str"):
        c.ref("str", b"bytes")


def test_multiple_returns_are_tuples_and_no_return_is_none(c):
    assert c.multi_return() == (1, 2)
    assert c.divmod(7, -2) == divmod(7, -2)
    assert c.translate(c.empty(0, c.types.Point), 1.0, 2.0) is None
