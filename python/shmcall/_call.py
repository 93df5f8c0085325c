"""Scratch objects of one general-path call: `Call` while its arguments are encoded (where the
variable-size data goes, what to keep alive, what to do once the response is in), `Resp` while its
results are decoded (where the payload is, and the heap blocks it references).

`CHECKING` and `NO_RESP` stand in for them where values are checked, packed or read outside any
request (array elements, ``Client.ref``, argument diagnostics), so codecs always get one of each.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Callable, TypeAlias

from . import _layout as L
from ._errors import CorruptResponse
from . import _staging

if TYPE_CHECKING:
    from ._channel import Channel
    from ._connection import Connection
    from ._heap import Block

__all__: list[str] = []

#: Bytes to copy into a request: ``str`` encoded, a bytes-like object, an array's bytes.
Data: TypeAlias = "bytes | bytearray | memoryview"
#: Where a value held by a buffer reference went (SPEC §4.3): ``(segment, offset, nbytes, data)``,
#: ``data`` being the bytes still to copy inline once the slot is known, or None if already placed.
Placed: TypeAlias = "tuple[int, int, int, Data | None]"


class Call:
    """Per-call encoding state: inline tail cursor, temporaries, objects to keep alive."""

    __slots__ = ("channel", "cap", "tail", "keep", "temps", "after", "payload")

    def __init__(self, channel: Channel, args_size: int) -> None:
        self.channel: Channel | None = channel  # None: only checking (`checking`)
        self.cap = channel.request_capacity
        self.tail = L.tail_aligned(args_size)
        self.keep: list[object] = []
        self.temps: list[Block] = []
        self.after: list[Callable[[], None]] = []
        self.payload = 0  # absolute offset of the slot's payload, set once the slot is claimed
        channel.staging.begin(args_size)

    @classmethod
    def checking(cls) -> Call:
        """A call that only checks and packs values: it sends nothing, so any data fits inline."""
        call = cls.__new__(cls)
        call.channel = None
        call.cap = sys.maxsize
        call.tail = 0
        call.keep, call.temps, call.after = [], [], []
        call.payload = 0
        return call

    def place(self, data: Data, nbytes: int, align: int = L.TAIL_ALIGN) -> Placed:
        """Where ``data`` goes: inline after the record if it fits, else a temporary heap block."""
        start = (self.tail + align - 1) & ~(align - 1)
        if start + nbytes <= self.cap:
            self.tail = start + nbytes
            return (L.INLINE_SEGMENT, start, nbytes, data)
        seg, off = self.temp(nbytes)
        self.span(seg, off, nbytes)[:] = data
        return (seg, off, nbytes, None)

    def temp(self, nbytes: int) -> Block:
        """Heap memory for this call only: in the channel's staging block (`_staging`), grown if need
        be; a block of its own, released once the response is in, beyond what a channel keeps."""
        channel = self.channel
        if channel is None:
            raise TypeError("shared memory is allocated only for a call")
        staging = channel.staging
        placed = staging.place(nbytes)
        if placed is not None:
            return placed
        if nbytes <= _staging.KEEP_LIMIT:
            staging.grow(channel, nbytes, self.temps)
            placed = staging.place(nbytes)
            assert placed is not None
            return placed
        seg, off = channel.alloc(nbytes)
        self.temps.append((seg, off))
        return seg, off

    def span(self, seg: int, off: int, nbytes: int) -> memoryview:
        """The bytes of a block `temp` allocated."""
        if self.channel is None:
            raise TypeError("shared memory is allocated only for a call")
        return self.channel.heap.span(seg, off, nbytes)


class Resp:
    """Where a response's payload is."""

    __slots__ = ("buf", "payload", "length", "connection")

    def __init__(self, buf: memoryview, payload: int, length: int, connection: Connection | None) -> None:
        self.buf = buf
        self.payload = payload
        self.length = length
        self.connection = connection

    def ref(self, pos: int) -> tuple[int, int, int]:
        """The buffer reference at ``pos``: ``(segment, offset, length)``, checked."""
        seg, reserved, off, length = L.BUF.unpack_from(self.buf, pos)
        if reserved:
            raise CorruptResponse(f"buffer reference reserved word is {reserved}")
        if seg == L.INLINE_SEGMENT and off + length > self.length:
            raise CorruptResponse(f"inline result {off}+{length} exceeds the {self.length}-byte payload")
        return seg, off, length

    def bytes_at(self, pos: int) -> bytes:
        """A copy of the bytes the reference at ``pos`` holds; a heap block is released after."""
        seg, off, length = self.ref(pos)
        if seg == L.INLINE_SEGMENT:
            start = self.payload + off
            return bytes(self.buf[start : start + length])
        heap = self.owner(seg).mapped(seg)
        data = bytes(heap.span(seg, off, length))
        heap.pending.append((seg, off))
        return data

    def text_at(self, pos: int) -> str:
        """The UTF-8 text the reference at ``pos`` holds, decoded straight from shared memory (no
        bytes object in between: for large text, a copy and a fresh allocation fewer); a heap block
        is released after. Raises UnicodeDecodeError."""
        seg, off, length = self.ref(pos)
        if seg == L.INLINE_SEGMENT:
            start = self.payload + off
            return str(self.buf[start : start + length], "utf-8")
        return self.owner(seg).mapped(seg).take_text(seg, off, length)

    def discard_ref(self, pos: int) -> None:
        """Releases the heap block the reference at ``pos`` holds, if any."""
        seg, off, _ = self.ref(pos)
        if seg != L.INLINE_SEGMENT:
            self.owner(seg).heap.pending.append((seg, off))

    def owner(self, seg: int) -> Connection:
        """The connection whose heap holds segment ``seg``, which a reference in this response names."""
        if self.connection is None:
            raise CorruptResponse(f"a reference to heap segment {seg} outside any response")
        return self.connection


#: The `Call` of values checked or packed outside any request.
CHECKING = Call.checking()
#: The `Resp` of values read outside any response: they hold no references (numbers, plain structs).
NO_RESP = Resp(memoryview(b""), 0, 0, None)
