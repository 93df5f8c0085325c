"""Codecs for every wire type (SPEC §4): how a Python value is checked and written into an argument
record, and how a result is read back. Built once per function from the manifest's type names.

A codec has ``size``/``align`` (its fixed part in a record) and:

* ``prep(value, call, where)``: check and convert the value *before* the slot is claimed (this is
  where heap blocks for large data are allocated); returns a token;
* ``write(buf, pos, token, call)``: write the token's fixed part at absolute offset ``pos``;
* ``read(buf, pos, resp)``: decode a result at ``pos``;
* ``discard(buf, pos, resp)``: release any heap block a result at ``pos`` owns, without decoding it.
"""

from __future__ import annotations

import operator
import re
import struct
from typing import Any, Callable

from . import _layout as L
from ._errors import CorruptResponse
from ._heap import np

__all__: list[str] = []

# name: (struct format, size, align, kind, numpy dtype name, memoryview format)
SCALARS: dict[str, tuple[str, int, int, str, str, str]] = {
    "i8": ("b", 1, 1, "int", "int8", "b"),
    "i16": ("h", 2, 2, "int", "int16", "h"),
    "i32": ("i", 4, 4, "int", "int32", "i"),
    "i64": ("q", 8, 8, "int", "int64", "q"),
    "u8": ("B", 1, 1, "int", "uint8", "B"),
    "u16": ("H", 2, 2, "int", "uint16", "H"),
    "u32": ("I", 4, 4, "int", "uint32", "I"),
    "u64": ("Q", 8, 8, "int", "uint64", "Q"),
    "f32": ("f", 4, 4, "float", "float32", "f"),
    "f64": ("d", 8, 8, "float", "float64", "d"),
    "bool": ("?", 1, 1, "bool", "bool", "?"),
    "c64": ("ff", 8, 4, "complex", "complex64", ""),
    "c128": ("dd", 16, 8, "complex", "complex128", ""),
}

# Friendly spellings accepted wherever a type name is (``c.empty(3, "float64")``).
ALIASES = {
    "int8": "i8", "int16": "i16", "int32": "i32", "int64": "i64", "uint8": "u8", "uint16": "u16",
    "uint32": "u32", "uint64": "u64", "float32": "f32", "float64": "f64", "complex64": "c64",
    "complex128": "c128", "float": "f64", "int": "i64", "complex": "c128",
}


def _int_range(name: str) -> tuple[int, int]:
    bits = int(name[1:])
    if name[0] == "u":
        return 0, (1 << bits) - 1
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


class Call:
    """Per-call encoding state: inline tail cursor, temporaries, objects to keep alive."""

    __slots__ = ("channel", "cap", "tail", "keep", "temps", "after", "payload")

    def __init__(self, channel: Any, args_size: int) -> None:
        self.channel = channel
        self.cap = channel.request_capacity
        self.tail = L.tail_aligned(args_size)
        self.keep: list[Any] = []
        self.temps: list[tuple[int, int]] = []
        self.after: list[Callable[[], None]] = []
        self.payload = 0  # absolute offset of the slot's payload, set once the slot is claimed

    def place(self, data: Any, nbytes: int, align: int = L.TAIL_ALIGN) -> tuple[int, int, int, Any]:
        """Where ``data`` goes: inline after the record if it fits, else a temporary heap block."""
        start = (self.tail + align - 1) & ~(align - 1)
        if start + nbytes <= self.cap:
            self.tail = start + nbytes
            return (L.INLINE_SEGMENT, start, nbytes, data)
        seg, off = self.temp(nbytes)
        self.channel.client._heap.span(seg, off, nbytes)[:] = data
        return (seg, off, nbytes, None)

    def temp(self, nbytes: int) -> tuple[int, int]:
        """A heap block for this call only; released once the response is in."""
        seg, off = self.channel.alloc(nbytes)
        self.temps.append((seg, off))
        return seg, off


class Resp:
    """Where a response's payload is."""

    __slots__ = ("buf", "payload", "length", "client")

    def __init__(self, buf: memoryview, payload: int, length: int, client: Any) -> None:
        self.buf = buf
        self.payload = payload
        self.length = length
        self.client = client

    def ref(self, pos: int) -> tuple[int, int, int]:
        seg, reserved, off, length = L.BUF.unpack_from(self.buf, pos)
        if reserved:
            raise CorruptResponse(f"buffer reference reserved word is {reserved}")
        if seg == L.INLINE_SEGMENT and off + length > self.length:
            raise CorruptResponse(f"inline result {off}+{length} exceeds the {self.length}-byte payload")
        return seg, off, length

    def bytes_at(self, pos: int) -> bytes:
        seg, off, length = self.ref(pos)
        if seg == L.INLINE_SEGMENT:
            start = self.payload + off
            return bytes(self.buf[start : start + length])
        heap = self.client._need_segment(seg)
        data = bytes(heap.span(seg, off, length))
        heap.pending.append((seg, off))
        return data

    def discard_ref(self, pos: int) -> None:
        seg, off, _ = self.ref(pos)
        if seg != L.INLINE_SEGMENT:
            self.client._heap.pending.append((seg, off))


class Codec:
    """Base: a fixed part of ``size`` bytes at ``align``."""

    name = ""
    size = 0
    align = 1
    fmt: str | None = None  # single struct format when the value is one plain number

    def annotation(self) -> str:
        return self.name

    def discard(self, buf: memoryview, pos: int, resp: Resp) -> None:
        pass


class IntCodec(Codec):
    def __init__(self, name: str) -> None:
        self.name = name
        self.fmt, self.size, self.align = SCALARS[name][:3]
        self.lo, self.hi = _int_range(name)
        self.S = struct.Struct("<" + self.fmt)

    def prep(self, v: Any, call: Any, where: str) -> int:
        try:
            i = operator.index(v)
        except TypeError:
            raise TypeError(f"{where}: expected {self.name} (an int), got {type(v).__name__}") from None
        if not self.lo <= i <= self.hi:
            raise OverflowError(f"{where}: {i} does not fit in {self.name} [{self.lo}, {self.hi}]")
        return i

    def write(self, buf: memoryview, pos: int, token: int, call: Any) -> None:
        self.S.pack_into(buf, pos, token)

    def read(self, buf: memoryview, pos: int, resp: Resp) -> int:
        return self.S.unpack_from(buf, pos)[0]


class FloatCodec(IntCodec):
    def __init__(self, name: str) -> None:
        self.name = name
        self.fmt, self.size, self.align = SCALARS[name][:3]
        self.S = struct.Struct("<" + self.fmt)

    def prep(self, v: Any, call: Any, where: str) -> float:
        if isinstance(v, (str, bytes, bytearray, complex)) or not hasattr(v, "__float__"):
            raise TypeError(f"{where}: expected {self.name} (a float), got {type(v).__name__}")
        x = float(v)
        if self.fmt == "f":
            try:
                self.S.pack(x)
            except OverflowError:
                raise OverflowError(f"{where}: {x!r} is too large for f32") from None
        return x


class BoolCodec(IntCodec):
    def __init__(self) -> None:
        self.name = "bool"
        self.fmt, self.size, self.align = "?", 1, 1
        self.S = struct.Struct("<?")

    def prep(self, v: Any, call: Any, where: str) -> bool:
        if isinstance(v, bool) or (np is not None and isinstance(v, np.bool_)):
            return bool(v)
        raise TypeError(f"{where}: expected bool, got {type(v).__name__}")

    def read(self, buf: memoryview, pos: int, resp: Resp) -> bool:
        b = buf[pos]
        if b > 1:
            raise CorruptResponse(f"bool result is {b}")
        return bool(b)


class ComplexCodec(Codec):
    def __init__(self, name: str) -> None:
        self.name = name
        fmt, self.size, self.align = SCALARS[name][:3]
        self.S = struct.Struct("<" + fmt)

    def prep(self, v: Any, call: Any, where: str) -> complex:
        if isinstance(v, (str, bytes, bytearray)) or not hasattr(v, "__complex__") and not hasattr(v, "__float__"):
            raise TypeError(f"{where}: expected {self.name} (a complex), got {type(v).__name__}")
        z = complex(v)
        try:
            self.S.pack(z.real, z.imag)
        except OverflowError:
            raise OverflowError(f"{where}: {z!r} is too large for {self.name}") from None
        return z

    def write(self, buf: memoryview, pos: int, token: complex, call: Any) -> None:
        self.S.pack_into(buf, pos, token.real, token.imag)

    def read(self, buf: memoryview, pos: int, resp: Resp) -> complex:
        re_, im = self.S.unpack_from(buf, pos)
        return complex(re_, im)


class RefCodec(Codec):
    """Base for values held by a buffer reference."""

    size = L.BUF_SIZE
    align = L.BUF_ALIGN

    def write(self, buf: memoryview, pos: int, token: tuple, call: Any) -> None:
        seg, off, nbytes, data = token
        L.BUF.pack_into(buf, pos, seg, 0, off, nbytes)
        if data is not None and nbytes:
            start = call.payload + off
            buf[start : start + nbytes] = data

    def discard(self, buf: memoryview, pos: int, resp: Resp) -> None:
        resp.discard_ref(pos)


class StrCodec(RefCodec):
    name = "str"

    def prep(self, v: Any, call: Call, where: str) -> tuple:
        if not isinstance(v, str):
            raise TypeError(f"{where}: expected str, got {type(v).__name__}")
        data = v.encode("utf-8")
        return call.place(data, len(data))

    def read(self, buf: memoryview, pos: int, resp: Resp) -> str:
        try:
            return resp.bytes_at(pos).decode("utf-8")
        except UnicodeDecodeError as e:
            raise CorruptResponse(f"string result is not UTF-8: {e}") from None


class BytesCodec(RefCodec):
    name = "bytes"

    def prep(self, v: Any, call: Call, where: str) -> tuple:
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
        self.format = SCALARS[codec.name][5] if codec.name in SCALARS else ""
        self.dtype = _dtype(codec) if np is not None else None

    def wrap(self, raw: memoryview, count: int | None = None) -> Any:
        """An array over ``raw`` (no copy)."""
        if np is not None:
            return np.frombuffer(raw, dtype=self.dtype)
        if self.format:
            return raw.cast(self.format)
        return raw

    def from_bytes(self, data: bytes) -> Any:
        """A new array owning a copy of ``data``."""
        if np is not None:
            return np.frombuffer(bytearray(data), dtype=self.dtype)
        if self.format:
            return memoryview(bytearray(data)).cast(self.format)
        n = len(data) // self.size if self.size else 0
        mv = memoryview(data)
        return [self.codec.read(mv, i * self.size, None) for i in range(n)]

    def pack_sequence(self, values: Any, where: str) -> bytearray:
        """Packs a Python sequence of elements, checking each."""
        out = bytearray(len(values) * self.size)
        mv = memoryview(out)
        for i, v in enumerate(values):
            token = self.codec.prep(v, None, f"{where}[{i}]")
            self.codec.write(mv, i * self.size, token, None)
        return out


def _dtype(codec: Codec) -> Any:
    if codec.name in SCALARS:
        return np.dtype(SCALARS[codec.name][4])
    if isinstance(codec, StructCodec):
        return codec.dtype()
    if isinstance(codec, ArrayCodec):
        return np.dtype((_dtype(codec.elem), (codec.n,)))
    raise TypeError(f"{codec.name} cannot be an array element")


class SliceCodec(RefCodec):
    """``&[T]`` and ``&mut [T]``: any buffer or sequence; shared arrays go by reference."""

    def __init__(self, elem: Elem, mutable: bool) -> None:
        self.elem = elem
        self.mutable = mutable
        self.name = f"&mut [{elem.name}]" if mutable else f"&[{elem.name}]"

    def annotation(self) -> str:
        return self.name

    def prep(self, v: Any, call: Call, where: str) -> tuple:
        elem = self.elem
        if np is not None and isinstance(v, np.ndarray):
            if v.dtype != elem.dtype:
                raise TypeError(f"{where}: expected an array of {elem.name} ({elem.dtype}), got {v.dtype}")
            if self.mutable and not v.flags.writeable:
                raise TypeError(f"{where}: the function writes this array, but it is read-only")
            return self._array(v, v.nbytes, v.flags.c_contiguous, call)
        if isinstance(v, (list, tuple)):
            if self.mutable and isinstance(v, tuple):
                raise TypeError(f"{where}: the function writes this array; pass a list or a writable array, not a tuple")
            data = elem.pack_sequence(v, where)
            if not self.mutable:
                return call.place(data, len(data))
            seg, off = call.temp(len(data))
            span = call.channel.client._heap.span(seg, off, len(data))
            span[:] = data
            count = len(v)

            def back() -> None:
                v[:] = [elem.codec.read(span, i * elem.size, None) for i in range(count)]

            call.after.append(back)
            return (seg, off, len(data), None)
        if isinstance(v, str):
            raise TypeError(f"{where}: expected an array of {elem.name}, got str")
        try:
            mv = memoryview(v)
        except TypeError:
            raise TypeError(f"{where}: expected an array of {elem.name}, got {type(v).__name__}") from None
        fmt = mv.format.lstrip("@=<")
        if elem.name != "u8" and (fmt != elem.format or mv.itemsize != elem.size):
            raise TypeError(f"{where}: expected {elem.name} elements, got a buffer of format {mv.format!r}")
        if self.mutable and mv.readonly:
            raise TypeError(f"{where}: the function writes this buffer, but it is read-only")
        return self._array(v, mv.nbytes, mv.c_contiguous, call, mv)

    def _array(self, v: Any, nbytes: int, contiguous: bool, call: Call, mv: memoryview | None = None) -> tuple:
        if nbytes == 0:
            return (L.INLINE_SEGMENT, 0, 0, None)
        heap = call.channel.client._heap
        if contiguous:
            hit = heap.locate(v, nbytes)
            if hit is not None:
                call.keep.append(v)
                return (hit[0], hit[1], nbytes, None)
        if mv is None:
            data = np.ascontiguousarray(v).reshape(-1).view(np.uint8)
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

    def read(self, buf: memoryview, pos: int, resp: Resp) -> Any:
        seg, off, length = resp.ref(pos)
        if self.elem.size and length % self.elem.size:
            raise CorruptResponse(f"array of {length} bytes is not whole {self.elem.name} elements")
        if seg == L.INLINE_SEGMENT:
            start = resp.payload + off
            return self.elem.from_bytes(bytes(buf[start : start + length]))
        heap = resp.client._need_segment(seg)
        if np is None and not self.elem.format:
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

    def prep(self, v: Any, call: Call, where: str) -> tuple:
        from ._values import Vec

        if isinstance(v, Vec):
            if v.type_name != self.elem.name:
                raise TypeError(f"{where}: expected a Vec of {self.elem.name}, got a Vec of {v.type_name}")
            return super().prep(v.array, call, where)
        if isinstance(v, list):
            return super().prep(v, call, where)
        raise TypeError(f"{where}: expected shmcall.Vec or a list (the function may grow it), got {type(v).__name__}")

    def update(self, target: Any, buf: memoryview, pos: int, resp: Resp) -> None:
        from ._values import Vec

        new = self.result.read(buf, pos, resp)
        if isinstance(target, Vec):
            target.array = new
        else:
            target[:] = new.tolist() if hasattr(new, "tolist") else list(new)


class ArrayCodec(Codec):
    """``[T; N]``: a fixed-length sequence inline (``bytes`` for u8)."""

    def __init__(self, elem: Codec, n: int) -> None:
        self.elem = elem
        self.n = n
        self.name = f"[{elem.name}; {n}]"
        self.size = elem.size * n
        self.align = elem.align

    def prep(self, v: Any, call: Any, where: str) -> list:
        if isinstance(v, str) or not hasattr(v, "__len__"):
            raise TypeError(f"{where}: expected a sequence of {self.n} {self.elem.name}, got {type(v).__name__}")
        if len(v) != self.n:
            raise ValueError(f"{where}: expected exactly {self.n} elements, got {len(v)}")
        return [self.elem.prep(x, call, f"{where}[{i}]") for i, x in enumerate(v)]

    def write(self, buf: memoryview, pos: int, token: list, call: Any) -> None:
        for i, t in enumerate(token):
            self.elem.write(buf, pos + i * self.elem.size, t, call)

    def read(self, buf: memoryview, pos: int, resp: Resp) -> Any:
        items = [self.elem.read(buf, pos + i * self.elem.size, resp) for i in range(self.n)]
        return bytes(items) if self.elem.name == "u8" else items

    def discard(self, buf: memoryview, pos: int, resp: Resp) -> None:
        for i in range(self.n):
            self.elem.discard(buf, pos + i * self.elem.size, resp)


class StructCodec(Codec):
    """A struct by value; ``cls`` is the generated Python type."""

    def __init__(self, desc: dict, fields: list[tuple[str, Codec, int]]) -> None:
        self.name = desc["name"]
        self.size = desc["size"]
        self.align = desc["align"]
        self.plain = desc["plain"]
        self.fields = fields
        self.cls: Any = None
        self._dtype: Any = None

    def dtype(self) -> Any:
        if self._dtype is None:
            self._dtype = np.dtype(
                {
                    "names": [f[0] for f in self.fields],
                    "formats": [_dtype(f[1]) for f in self.fields],
                    "offsets": [f[2] for f in self.fields],
                    "itemsize": self.size,
                }
            )
        return self._dtype

    def prep(self, v: Any, call: Any, where: str) -> list:
        if type(v) is tuple:  # the fields in order, as ctypes takes a tuple for a Structure
            if len(v) != len(self.fields):
                names = ", ".join(f[0] for f in self.fields)
                raise TypeError(f"{where}: a tuple for {self.name} needs its {len(self.fields)} fields ({names}), got {len(v)}")
            v = self.cls(*v)
        elif isinstance(v, dict):
            v = self.cls(**v)
        elif np is not None and isinstance(v, np.void) and v.dtype == self._dtype:
            v = self.cls(*[v[f[0]] for f in self.fields])
        if not isinstance(v, self.cls):
            raise TypeError(f"{where}: expected {self.name}, got {type(v).__name__}")
        return [c.prep(getattr(v, n), call, f"{where}.{n}") for n, c, _ in self.fields]

    def write(self, buf: memoryview, pos: int, token: list, call: Any) -> None:
        for (_, c, off), t in zip(self.fields, token):
            c.write(buf, pos + off, t, call)

    def read(self, buf: memoryview, pos: int, resp: Resp) -> Any:
        obj = self.cls.__new__(self.cls)
        for name, c, off in self.fields:
            object.__setattr__(obj, name, c.read(buf, pos + off, resp))
        return obj

    def discard(self, buf: memoryview, pos: int, resp: Resp) -> None:
        for _, c, off in self.fields:
            c.discard(buf, pos + off, resp)


class InOutCodec(Codec):
    """``&mut T``: a ``shmcall.Ref`` (numbers, text) or a struct instance, updated after the call."""

    def __init__(self, inner: Codec) -> None:
        self.inner = inner
        self.name = f"&mut {inner.name}"
        self.size = inner.size
        self.align = inner.align

    def prep(self, v: Any, call: Any, where: str) -> Any:
        from ._values import Ref

        if isinstance(self.inner, StructCodec) and not isinstance(v, Ref):
            if not isinstance(v, self.inner.cls):
                raise TypeError(f"{where}: expected {self.inner.name} (updated in place), got {type(v).__name__}")
            return self.inner.prep(v, call, where)
        if not isinstance(v, Ref):
            raise TypeError(f"{where}: the function changes this value; pass shmcall.Ref, e.g. c.ref({self.inner.name!r}, value)")
        if v.type_name != self.inner.name:
            raise TypeError(f"{where}: expected a Ref of {self.inner.name}, got a Ref of {v.type_name}")
        return self.inner.prep(v.value, call, where)

    def write(self, buf: memoryview, pos: int, token: Any, call: Any) -> None:
        self.inner.write(buf, pos, token, call)

    def update(self, target: Any, buf: memoryview, pos: int, resp: Resp) -> None:
        new = self.inner.read(buf, pos, resp)
        if isinstance(self.inner, StructCodec) and isinstance(target, self.inner.cls):
            for name, _, _ in self.inner.fields:
                object.__setattr__(target, name, getattr(new, name))
        else:
            target.value = new

    def discard(self, buf: memoryview, pos: int, resp: Resp) -> None:
        self.inner.discard(buf, pos, resp)


_ARRAY = re.compile(r"^\[(.+); (\d+)\]$")


def parse(name: str, structs: dict[str, StructCodec]) -> Codec:
    """The codec for a manifest type name (SPEC §4.5)."""
    name = name.strip()
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
    m = _ARRAY.match(name)
    if m:
        return ArrayCodec(parse(m.group(1), structs), int(m.group(2)))
    if name in SCALARS:
        kind = SCALARS[name][3]
        if kind == "int":
            return IntCodec(name)
        if kind == "float":
            return FloatCodec(name)
        if kind == "bool":
            return BoolCodec()
        return ComplexCodec(name)
    if name == "str":
        return StrCodec()
    if name == "bytes":
        return BytesCodec()
    if name in structs:
        return structs[name]
    raise CorruptResponse(f"the manifest names an unknown type {name!r}")


def element(name: Any, structs: dict[str, StructCodec]) -> Elem:
    """An array element type from a type name, alias, numpy dtype or struct class."""
    if isinstance(name, type) and hasattr(name, "_codec"):
        return Elem(name._codec)
    if np is not None and not isinstance(name, str):
        dt = np.dtype(name)
        for codec in structs.values():
            if codec.plain and codec.dtype() == dt:
                return Elem(codec)
        name = dt.name
    name = ALIASES.get(name, name)
    codec = parse(name, structs)
    if not (codec.name in SCALARS or (isinstance(codec, StructCodec) and codec.plain)) or codec.name == "bool":
        raise TypeError(f"{name!r} cannot be an array element (numbers and plain structs can)")
    return Elem(codec)
