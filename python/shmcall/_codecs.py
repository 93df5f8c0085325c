"""Codecs for every wire type (SPEC §4): how a Python value is checked and written into an argument
record, and how a result is read back. Built once per function from the manifest's type names.

A codec has ``size``/``align`` (its fixed part in a record) and:

* ``prep(value, call, where)``: check and convert the value *before* the slot is claimed (this is
  where heap blocks for large data are allocated); returns a token;
* ``write(buf, pos, token, call)``: write the token's fixed part at absolute offset ``pos``;
* ``read(buf, pos, resp)``: decode a result at ``pos``;
* ``discard(buf, pos, resp)``: release any heap block a result at ``pos`` owns, without decoding it.

Outside a request, ``call`` is `_call.CHECKING` and ``resp`` is `_call.NO_RESP`.
"""

from __future__ import annotations

import operator
import re
import struct
from typing import TYPE_CHECKING, Any, Generic, TypeAlias, TypeVar

from . import _layout as L
from ._call import CHECKING, NO_RESP
from ._errors import CorruptResponse
from ._numpy import HAVE_NUMPY, np
from ._scalars import ALIASES, SCALARS, BufferFormat
from ._values import Ref, Vec

if TYPE_CHECKING:
    from numpy.typing import DTypeLike

    from ._call import Call, Data, Placed, Resp
    from ._numpy import Array

__all__: list[str] = []

TokenT = TypeVar("TokenT")


class TypedCodec(Generic[TokenT]):
    """Base: a fixed part of ``size`` bytes at ``align``; ``TokenT`` is what `prep` makes of a value."""

    name = ""
    size = 0
    align = 1
    fmt: str | None = None  # single struct format when the value is one plain number

    def annotation(self) -> str:
        return self.name

    def prep(self, v: Any, call: Call, where: str) -> TokenT:
        raise TypeError(f"{where}: {self.name} cannot be an argument")

    def write(self, buf: memoryview, pos: int, token: TokenT, call: Call) -> None:
        raise TypeError(f"{self.name} cannot be an argument")

    def read(self, buf: memoryview, pos: int, resp: Resp) -> Any:
        raise CorruptResponse(f"{self.name} cannot be a result")

    def discard(self, buf: memoryview, pos: int, resp: Resp) -> None:
        pass


#: A codec of any wire type (its token's type is the codec's business).
Codec: TypeAlias = TypedCodec[Any]
#: A struct's field: ``(name, codec, offset)``. Plain tuples: general-path calls unpack them.
Field: TypeAlias = tuple[str, Codec, int]


def _int_range(name: str) -> tuple[int, int]:
    bits = int(name[1:])
    if name[0] == "u":
        return 0, (1 << bits) - 1
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


NumberT = TypeVar("NumberT", int, float, bool)


class NumberCodec(TypedCodec[NumberT]):
    """A number held in one struct item (``S``)."""

    def __init__(self, name: str) -> None:
        self.name = name
        scalar = SCALARS[name]
        self.fmt, self.size, self.align = scalar.struct_format, scalar.size, scalar.align
        self.S = struct.Struct("<" + self.fmt)

    def write(self, buf: memoryview, pos: int, token: NumberT, call: Call) -> None:
        self.S.pack_into(buf, pos, token)

    def read(self, buf: memoryview, pos: int, resp: Resp) -> Any:
        return self.S.unpack_from(buf, pos)[0]


class IntCodec(NumberCodec[int]):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.lo, self.hi = _int_range(name)

    def prep(self, v: Any, call: Call, where: str) -> int:
        try:
            i = operator.index(v)
        except TypeError:
            raise TypeError(f"{where}: expected {self.name} (an int), got {type(v).__name__}") from None
        if not self.lo <= i <= self.hi:
            raise OverflowError(f"{where}: {i} does not fit in {self.name} [{self.lo}, {self.hi}]")
        return i


class FloatCodec(NumberCodec[float]):
    def prep(self, v: Any, call: Call, where: str) -> float:
        if isinstance(v, (str, bytes, bytearray, complex)) or not hasattr(v, "__float__"):
            raise TypeError(f"{where}: expected {self.name} (a float), got {type(v).__name__}")
        x = float(v)
        if self.fmt == "f":
            try:
                self.S.pack(x)
            except OverflowError:
                raise OverflowError(f"{where}: {x!r} is too large for f32") from None
        return x


class BoolCodec(NumberCodec[bool]):
    def __init__(self) -> None:
        super().__init__("bool")

    def prep(self, v: Any, call: Call, where: str) -> bool:
        if isinstance(v, bool) or (HAVE_NUMPY and isinstance(v, np.bool_)):
            return bool(v)
        raise TypeError(f"{where}: expected bool, got {type(v).__name__}")

    def read(self, buf: memoryview, pos: int, resp: Resp) -> bool:
        b = buf[pos]
        if b > 1:
            raise CorruptResponse(f"bool result is {b}")
        return bool(b)


class ComplexCodec(TypedCodec[complex]):
    def __init__(self, name: str) -> None:
        self.name = name
        scalar = SCALARS[name]
        self.size, self.align = scalar.size, scalar.align
        self.S = struct.Struct("<" + scalar.struct_format)

    def prep(self, v: Any, call: Call, where: str) -> complex:
        if isinstance(v, (str, bytes, bytearray)) or not hasattr(v, "__complex__") and not hasattr(v, "__float__"):
            raise TypeError(f"{where}: expected {self.name} (a complex), got {type(v).__name__}")
        z = complex(v)
        try:
            self.S.pack(z.real, z.imag)
        except OverflowError:
            raise OverflowError(f"{where}: {z!r} is too large for {self.name}") from None
        return z

    def write(self, buf: memoryview, pos: int, token: complex, call: Call) -> None:
        self.S.pack_into(buf, pos, token.real, token.imag)

    def read(self, buf: memoryview, pos: int, resp: Resp) -> complex:
        re_, im = self.S.unpack_from(buf, pos)
        return complex(re_, im)


class RefCodec(TypedCodec["Placed"]):
    """Base for values held by a buffer reference."""

    size = L.BUF_SIZE
    align = L.BUF_ALIGN

    def write(self, buf: memoryview, pos: int, token: Placed, call: Call) -> None:
        seg, off, nbytes, data = token
        L.BUF.pack_into(buf, pos, seg, 0, off, nbytes)
        if data is not None and nbytes:
            start = call.payload + off
            buf[start : start + nbytes] = data

    def discard(self, buf: memoryview, pos: int, resp: Resp) -> None:
        resp.discard_ref(pos)


class StrCodec(RefCodec):
    name = "str"

    def prep(self, v: Any, call: Call, where: str) -> Placed:
        if not isinstance(v, str):
            raise TypeError(f"{where}: expected str, got {type(v).__name__}")
        data = v.encode("utf-8")
        return call.place(data, len(data))

    def read(self, buf: memoryview, pos: int, resp: Resp) -> str:
        try:
            return resp.text_at(pos)
        except UnicodeDecodeError as e:
            raise CorruptResponse(f"string result is not UTF-8: {e}") from None


class BytesCodec(RefCodec):
    name = "bytes"

    def prep(self, v: Any, call: Call, where: str) -> Placed:
        if isinstance(v, str):
            raise TypeError(f"{where}: expected bytes-like, got str (encode it first)")
        try:
            mv = memoryview(v).cast("B")
        except TypeError:
            raise TypeError(f"{where}: expected a contiguous bytes-like object, got {type(v).__name__}") from None
        return call.place(mv, mv.nbytes)

    def read(self, buf: memoryview, pos: int, resp: Resp) -> bytes:
        return resp.bytes_at(pos)


class Elem:
    """An array element type: scalar or plain struct; knows its numpy dtype and memoryview format."""

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        self.name = codec.name
        self.size = codec.size
        self.align = codec.align
        scalar = SCALARS.get(codec.name)
        self.format: BufferFormat = scalar.buffer_format if scalar is not None else ""
        self.dtype = dtype_of(codec) if HAVE_NUMPY else None

    def wrap(self, raw: memoryview) -> Array:
        """An array over ``raw`` (no copy)."""
        if HAVE_NUMPY:
            return np.frombuffer(raw, dtype=self.dtype)
        if self.format:
            return raw.cast(self.format)
        return raw

    def from_bytes(self, data: bytes) -> Array | list[Any]:
        """A new array owning a copy of ``data`` (without numpy, a list of struct objects if the
        element has no memoryview format)."""
        if HAVE_NUMPY:  # an array of its own (no base): the fast paths copy it as any private array
            return np.frombuffer(data, dtype=self.dtype).copy()
        if self.format:
            return memoryview(bytearray(data)).cast(self.format)
        n = len(data) // self.size if self.size else 0
        mv = memoryview(data)
        return [self.codec.read(mv, i * self.size, NO_RESP) for i in range(n)]

    def pack_sequence(self, values: list[Any] | tuple[Any, ...], where: str) -> bytearray:
        """Packs a Python sequence of elements, checking each."""
        out = bytearray(len(values) * self.size)
        mv = memoryview(out)
        for i, v in enumerate(values):
            token = self.codec.prep(v, CHECKING, f"{where}[{i}]")
            self.codec.write(mv, i * self.size, token, CHECKING)
        return out


#: Element type names by buffer format and item size (memoryview, array.array, any buffer): C's
#: ``long`` (``l``, what numpy's int64 exports) is either size.
_BUFFER_ELEMENTS: dict[tuple[str, int], str] = {
    **{(f, struct.calcsize(f)): f"i{8 * struct.calcsize(f)}" for f in "bhilq"},
    **{(f, struct.calcsize(f)): f"u{8 * struct.calcsize(f)}" for f in "BHILQ"},
    ("f", 4): "f32", ("d", 8): "f64", ("?", 1): "bool", ("Zf", 8): "c64", ("Zd", 16): "c128",
}


def buffer_element(view: memoryview) -> str | None:
    """The scalar type name of a buffer's elements (None for a format no scalar has)."""
    return _BUFFER_ELEMENTS.get((view.format.lstrip("@=<"), view.itemsize))


def dtype_of(codec: Codec) -> np.dtype[Any]:
    """The numpy dtype of a number, plain struct or fixed array of them."""
    scalar = SCALARS.get(codec.name)
    if scalar is not None:
        return np.dtype(scalar.dtype_name)
    if isinstance(codec, StructCodec):
        return codec.dtype()
    if isinstance(codec, ArrayCodec):
        return np.dtype((dtype_of(codec.elem), (codec.n,)))
    raise TypeError(f"{codec.name} cannot be an array element")


class SliceCodec(RefCodec):
    """``&[T]`` and ``&mut [T]``: any buffer or sequence; shared arrays go by reference."""

    def __init__(self, elem: Elem, mutable: bool) -> None:
        self.elem = elem
        self.mutable = mutable
        self.name = f"&mut [{elem.name}]" if mutable else f"&[{elem.name}]"

    def prep(self, v: Any, call: Call, where: str) -> Placed:
        elem = self.elem
        if HAVE_NUMPY and isinstance(v, np.ndarray):
            if v.dtype != elem.dtype:
                raise TypeError(f"{where}: expected an array of {elem.name} ({elem.dtype}), got {v.dtype}")
            if self.mutable and not v.flags.writeable:
                raise TypeError(f"{where}: the function writes this array, but it is read-only")
            return self._array(v, v.nbytes, v.flags.c_contiguous, call)
        if isinstance(v, (list, tuple)):
            if not self.mutable:
                data = elem.pack_sequence(v, where)
                return call.place(data, len(data))
            if isinstance(v, tuple):
                raise TypeError(f"{where}: the function writes this array; pass a list or a writable array, not a tuple")
            data = elem.pack_sequence(v, where)
            seg, off = call.temp(len(data))
            span = call.span(seg, off, len(data))
            span[:] = data
            count = len(v)

            def back() -> None:
                v[:] = [elem.codec.read(span, i * elem.size, NO_RESP) for i in range(count)]

            call.after.append(back)
            return (seg, off, len(data), None)
        if isinstance(v, str):
            raise TypeError(f"{where}: expected an array of {elem.name}, got str")
        try:
            mv = memoryview(v)
        except TypeError:
            raise TypeError(f"{where}: expected an array of {elem.name}, got {type(v).__name__}") from None
        if elem.name != "u8" and buffer_element(mv) != elem.name:
            raise TypeError(f"{where}: expected {elem.name} elements, got a buffer of format {mv.format!r}")
        if self.mutable and mv.readonly:
            raise TypeError(f"{where}: the function writes this buffer, but it is read-only")
        return self._array(v, mv.nbytes, mv.c_contiguous, call, mv)

    def _array(self, v: Any, nbytes: int, contiguous: bool, call: Call, mv: memoryview | None = None) -> Placed:
        """``v`` (a numpy array, or a buffer whose memoryview is ``mv``) by reference if it is in
        shared memory, else copied inline or into a temporary block (and copied back after the call
        if the function writes it)."""
        if nbytes == 0:
            return (L.INLINE_SEGMENT, 0, 0, None)
        if call.channel is None:
            raise TypeError("arrays are passed only in a call")
        heap = call.channel.heap
        if contiguous:
            hit = heap.locate(v, nbytes)
            if hit is not None:
                call.keep.append(v)
                return (hit[0], hit[1], nbytes, None)
        data: Data
        if mv is None:
            data = np.ascontiguousarray(v).reshape(-1).view(np.uint8).data
        else:
            data = mv.cast("B") if contiguous else memoryview(mv.tobytes())
        if not self.mutable:
            return call.place(data, nbytes, max(self.elem.align, 1))
        seg, off = call.temp(nbytes)
        span = heap.span(seg, off, nbytes)
        span[:] = data
        if mv is None:
            dtype = self.elem.dtype

            def back() -> None:
                v[...] = np.frombuffer(span, dtype=dtype).reshape(v.shape)

        else:

            def back() -> None:
                if mv.c_contiguous:
                    mv.cast("B")[:] = span
                else:
                    raise TypeError("cannot write back into a non-contiguous buffer")

        call.after.append(back)
        return (seg, off, nbytes, None)

    def read(self, buf: memoryview, pos: int, resp: Resp) -> Any:
        raise CorruptResponse("slices are never results")


class VecCodec(RefCodec):
    """``Vec<T>`` result: an array the client receives without pre-sizing."""

    def __init__(self, elem: Elem) -> None:
        self.elem = elem
        self.name = f"Vec<{elem.name}>"

    def read(self, buf: memoryview, pos: int, resp: Resp) -> Array | list[Any]:
        seg, off, length = resp.ref(pos)
        if self.elem.size and length % self.elem.size:
            raise CorruptResponse(f"array of {length} bytes is not whole {self.elem.name} elements")
        if seg == L.INLINE_SEGMENT:
            start = resp.payload + off
            return self.elem.from_bytes(bytes(buf[start : start + length]))
        heap = resp.owner(seg).mapped(seg)
        if not HAVE_NUMPY and not self.elem.format:
            data = bytes(heap.span(seg, off, length))
            heap.pending.append((seg, off))
            return self.elem.from_bytes(data)
        return heap.own(seg, off, length, self.elem)


class VecMutCodec(SliceCodec):
    """``&mut Vec<T>``: a ``shmcall.Vec`` or a list; its new contents arrive after the call."""

    def __init__(self, elem: Elem) -> None:
        super().__init__(elem, False)
        self.name = f"&mut Vec<{elem.name}>"
        self.result = VecCodec(elem)

    def prep(self, v: Any, call: Call, where: str) -> Placed:
        if isinstance(v, Vec):
            if v.type_name != self.elem.name:
                raise TypeError(f"{where}: expected a Vec of {self.elem.name}, got a Vec of {v.type_name}")
            return super().prep(v.array, call, where)
        if isinstance(v, list):
            return super().prep(v, call, where)
        raise TypeError(f"{where}: expected shmcall.Vec or a list (the function may grow it), got {type(v).__name__}")

    def update(self, target: Any, buf: memoryview, pos: int, resp: Resp) -> None:
        """Gives the argument ``target`` its new contents."""
        new = self.result.read(buf, pos, resp)
        if isinstance(target, Vec):
            target.array = new
        else:
            target[:] = list(new) if isinstance(new, list) else new.tolist()


class ArrayCodec(TypedCodec[list[Any]]):
    """``[T; N]``: a fixed-length sequence inline (``bytes`` for u8)."""

    def __init__(self, elem: Codec, n: int) -> None:
        self.elem = elem
        self.n = n
        self.name = f"[{elem.name}; {n}]"
        self.size = elem.size * n
        self.align = elem.align

    def prep(self, v: Any, call: Call, where: str) -> list[Any]:
        if isinstance(v, str) or not hasattr(v, "__len__"):
            raise TypeError(f"{where}: expected a sequence of {self.n} {self.elem.name}, got {type(v).__name__}")
        if len(v) != self.n:
            raise ValueError(f"{where}: expected exactly {self.n} elements, got {len(v)}")
        return [self.elem.prep(x, call, f"{where}[{i}]") for i, x in enumerate(v)]

    def write(self, buf: memoryview, pos: int, token: list[Any], call: Call) -> None:
        for i, t in enumerate(token):
            self.elem.write(buf, pos + i * self.elem.size, t, call)

    def read(self, buf: memoryview, pos: int, resp: Resp) -> bytes | list[Any]:
        items = [self.elem.read(buf, pos + i * self.elem.size, resp) for i in range(self.n)]
        return bytes(items) if self.elem.name == "u8" else items

    def discard(self, buf: memoryview, pos: int, resp: Resp) -> None:
        for i in range(self.n):
            self.elem.discard(buf, pos + i * self.elem.size, resp)


class StructCodec(TypedCodec[list[Any]]):
    """A struct by value."""

    cls: type[Any]  # the generated Python type (`_structs.make_struct_type`), set once it is made

    def __init__(self, desc: dict[str, Any], fields: list[Field]) -> None:
        self.name: str = desc["name"]
        self.size: int = desc["size"]
        self.align: int = desc["align"]
        self.plain: bool = desc["plain"]
        self.fields = fields
        self._dtype: np.dtype[Any] | None = None

    def dtype(self) -> np.dtype[Any]:
        if self._dtype is None:
            self._dtype = np.dtype(
                {
                    "names": [f[0] for f in self.fields],
                    "formats": [dtype_of(f[1]) for f in self.fields],
                    "offsets": [f[2] for f in self.fields],
                    "itemsize": self.size,
                }
            )
        return self._dtype

    def prep(self, v: Any, call: Call, where: str) -> list[Any]:
        if type(v) is tuple:  # the fields in order, as ctypes takes a tuple for a Structure
            if len(v) != len(self.fields):
                names = ", ".join(f[0] for f in self.fields)
                raise TypeError(f"{where}: a tuple for {self.name} needs its {len(self.fields)} fields ({names}), got {len(v)}")
            v = self.cls(*v)
        elif isinstance(v, dict):
            v = self.cls(**v)
        elif HAVE_NUMPY and isinstance(v, np.void) and v.dtype == self._dtype:
            v = self.cls(*[v[f[0]] for f in self.fields])
        if not isinstance(v, self.cls):
            raise TypeError(f"{where}: expected {self.name}, got {type(v).__name__}")
        return [c.prep(getattr(v, n), call, f"{where}.{n}") for n, c, _ in self.fields]

    def write(self, buf: memoryview, pos: int, token: list[Any], call: Call) -> None:
        for (_, c, off), t in zip(self.fields, token):
            c.write(buf, pos + off, t, call)

    def read(self, buf: memoryview, pos: int, resp: Resp) -> Any:
        obj = object.__new__(self.cls)
        for name, c, off in self.fields:
            object.__setattr__(obj, name, c.read(buf, pos + off, resp))
        return obj

    def discard(self, buf: memoryview, pos: int, resp: Resp) -> None:
        for _, c, off in self.fields:
            c.discard(buf, pos + off, resp)


class InOutCodec(TypedCodec[Any]):
    """``&mut T``: a ``shmcall.Ref`` (numbers, text) or a struct instance, updated after the call."""

    def __init__(self, inner: Codec) -> None:
        self.inner = inner
        self.name = f"&mut {inner.name}"
        self.size = inner.size
        self.align = inner.align

    def prep(self, v: Any, call: Call, where: str) -> Any:
        if isinstance(self.inner, StructCodec) and not isinstance(v, Ref):
            if not isinstance(v, self.inner.cls):
                raise TypeError(f"{where}: expected {self.inner.name} (updated in place), got {type(v).__name__}")
            return self.inner.prep(v, call, where)
        if not isinstance(v, Ref):
            raise TypeError(f"{where}: the function changes this value; pass shmcall.Ref, e.g. c.ref({self.inner.name!r}, value)")
        if v.type_name != self.inner.name:
            raise TypeError(f"{where}: expected a Ref of {self.inner.name}, got a Ref of {v.type_name}")
        return self.inner.prep(v.value, call, where)

    def write(self, buf: memoryview, pos: int, token: Any, call: Call) -> None:
        self.inner.write(buf, pos, token, call)

    def update(self, target: Any, buf: memoryview, pos: int, resp: Resp) -> None:
        """Gives the argument ``target`` (a ``Ref`` or a struct object) its new value."""
        new = self.inner.read(buf, pos, resp)
        if isinstance(self.inner, StructCodec) and isinstance(target, self.inner.cls):
            for name, _, _ in self.inner.fields:
                object.__setattr__(target, name, getattr(new, name))
        else:
            target.value = new

    def discard(self, buf: memoryview, pos: int, resp: Resp) -> None:
        self.inner.discard(buf, pos, resp)


class OptionCodec(TypedCodec["tuple[bool, Any]"]):
    """``Option<T>`` (SPEC §4.6): ``None``, or a value of T; a presence byte, then T at its alignment."""

    def __init__(self, inner: Codec) -> None:
        self.inner = inner
        self.name = f"Option<{inner.name}>"
        self.value_at = max(inner.align, 1)
        self.align = self.value_at
        self.size = self.value_at + inner.size

    def prep(self, v: Any, call: Call, where: str) -> tuple[bool, Any]:
        if v is None:
            return False, None
        return True, self.inner.prep(v, call, where)

    def write(self, buf: memoryview, pos: int, token: tuple[bool, Any], call: Call) -> None:
        present, inner = token
        if present:
            buf[pos] = 1
            self.inner.write(buf, pos + self.value_at, inner, call)
        else:  # an absent value's bytes are not read (written as zeros, as the daemon does)
            buf[pos : pos + self.size] = bytes(self.size)

    def read(self, buf: memoryview, pos: int, resp: Resp) -> Any:
        present = buf[pos]
        if present > 1:
            raise CorruptResponse(f"{self.name}: presence byte must be 0 or 1, found {present}")
        return self.inner.read(buf, pos + self.value_at, resp) if present else None

    def discard(self, buf: memoryview, pos: int, resp: Resp) -> None:
        if buf[pos] == 1:
            self.inner.discard(buf, pos + self.value_at, resp)


_ARRAY = re.compile(r"^\[(.+); (\d+)\]$")


#: Codecs of the types that hold no struct, by name: immutable, so every client shares them.
_SHARED: dict[str, Codec] = {}


def parse(name: str, structs: dict[str, StructCodec]) -> Codec:
    """The codec for a manifest type name (SPEC §4.5)."""
    codec = _SHARED.get(name)
    if codec is None:
        codec = _parse(name.strip(), structs)
        if not _holds_struct(codec) and len(_SHARED) < 4096:
            _SHARED[name] = codec
    return codec


def _holds_struct(codec: Codec) -> bool:
    if isinstance(codec, StructCodec):
        return True
    if isinstance(codec, (SliceCodec, VecCodec, ArrayCodec)):
        return _holds_struct(codec.elem.codec if isinstance(codec.elem, Elem) else codec.elem)
    return isinstance(codec, (InOutCodec, OptionCodec)) and _holds_struct(codec.inner)


def _parse(name: str, structs: dict[str, StructCodec]) -> Codec:
    if name.startswith("&mut Vec<") and name.endswith(">"):
        return VecMutCodec(Elem(parse(name[9:-1], structs)))
    if name.startswith("&mut [") and name.endswith("]"):
        return SliceCodec(Elem(parse(name[6:-1], structs)), True)
    if name.startswith("&[") and name.endswith("]"):
        return SliceCodec(Elem(parse(name[2:-1], structs)), False)
    if name.startswith("Vec<") and name.endswith(">"):
        return VecCodec(Elem(parse(name[4:-1], structs)))
    if name.startswith("&mut "):
        return InOutCodec(parse(name[5:], structs))
    if name.startswith("Option<") and name.endswith(">"):
        return OptionCodec(parse(name[7:-1], structs))
    m = _ARRAY.match(name)
    if m:
        return ArrayCodec(parse(m.group(1), structs), int(m.group(2)))
    scalar = SCALARS.get(name)
    if scalar is not None:
        if scalar.kind == "int":
            return IntCodec(name)
        if scalar.kind == "float":
            return FloatCodec(name)
        if scalar.kind == "bool":
            return BoolCodec()
        return ComplexCodec(name)
    if name == "str":
        return StrCodec()
    if name == "bytes":
        return BytesCodec()
    if name in structs:
        return structs[name]
    raise CorruptResponse(f"the manifest names an unknown type {name!r}")


def element(name: DTypeLike, structs: dict[str, StructCodec]) -> Elem:
    """An array element type from a type name, alias, numpy dtype or struct class."""
    found: Codec | None = None
    if isinstance(name, type):
        found = next((codec for codec in structs.values() if codec.cls is name), None)
    if found is None and HAVE_NUMPY and not isinstance(name, str):
        dt = np.dtype(name)
        found = next((codec for codec in structs.values() if codec.plain and codec.dtype() == dt), None)
        name = dt.name
    if found is None:
        if not isinstance(name, str):
            raise TypeError(f"{name!r} is no type name")
        found = parse(ALIASES.get(name, name), structs)
    if not (found.name in SCALARS or (isinstance(found, StructCodec) and found.plain)) or found.name == "bool":
        raise TypeError(f"{found.name!r} cannot be an array element (numbers and plain structs can)")
    return Elem(found)
