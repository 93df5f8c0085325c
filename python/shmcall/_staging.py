"""Array arguments that are not in shared memory (``bytes``, ``bytearray``, ``array.array``, a
memoryview, a numpy array of the process's own) for ``&[T]`` and ``&mut [T]`` parameters.

A small read-only one is copied into the request after the argument record (SPEC §4.1, inline
tail); anything else is copied into the channel's **staging block**, a heap block the channel keeps
from call to call (SPEC §4.1, what does not fit inline), and copied back after the call if the
function writes it. Keeping the block is what makes such an argument cost one copy at memcpy speed:
a block allocated per call costs an allocation round trip, and its pages are new to both processes
(a block of 64 MiB or more is even returned to the system when released, and faulted in again).

The block grows (a new one, twice as large, the old one released after the call) up to
`KEEP_LIMIT`; an argument larger than that gets a block for its call only, as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from . import _layout as L
from ._numpy import HAVE_NUMPY, np

if TYPE_CHECKING:
    from ._channel import Channel
    from ._codecs import Elem
    from ._heap import Block

__all__: list[str] = []

#: The largest staging block a channel keeps (until it closes, with its thread or client); a larger
#: argument gets a block of its own for its call.
KEEP_LIMIT = 256 << 20
#: The first staging block (a multiple of the heap's 64-byte blocks).
FIRST_SIZE = 64 << 10
#: Pieces in the staging block start on cache lines (and so on any element's alignment).
PIECE_ALIGN = 64

#: ``(segment, offset, nbytes)``: where an argument's bytes went, as its buffer reference says.
Ref = tuple[int, int, int]


class NotAnArray:
    """Stands for numpy's ndarray when numpy is absent: no argument is of this type."""


NDARRAY: type = np.ndarray if HAVE_NUMPY else NotAnArray


class Staging:
    """A channel's staging block, and where the current call's pieces are (its owner thread only)."""

    __slots__ = ("block", "size", "used", "end", "backs")

    def __init__(self) -> None:
        self.block: Block | None = None
        self.size = 0
        self.used = 0  # bytes of the block the current call has taken
        self.end = 0  # end of the current request's inline data (its argument record's size if none)
        self.backs: list[tuple[memoryview, Any]] = []  # (staged bytes, the argument's bytes) to copy back

    def begin(self, args_size: int) -> None:
        """A new call, whose argument record is ``args_size`` bytes, starts using the block."""
        self.used = 0
        self.end = args_size
        if self.backs:
            self.backs = []

    def place(self, nbytes: int) -> Block | None:
        """``(segment, offset)`` of ``nbytes`` bytes of the block for this call, None if they do not fit."""
        block = self.block
        at = self.used
        end = at + ((nbytes + PIECE_ALIGN - 1) & ~(PIECE_ALIGN - 1))
        if block is None or end > self.size:
            return None
        self.used = end
        return block[0], block[1] + at

    def grow(self, channel: Channel, nbytes: int, retired: list[Block]) -> None:
        """Replaces the block by one that holds ``nbytes`` more than this call has placed (at least
        twice the old size), allocated through ``channel``; the old block goes to ``retired``, to be
        released once the call's response is in (pieces of this call may be in it)."""
        need = self.used + nbytes
        size = max(FIRST_SIZE, 2 * self.size)
        while size < need:
            size *= 2
        new = channel.alloc(size)
        if self.block is not None:
            retired.append(self.block)
        self.block, self.size = new, size
        self.used = 0

    def release(self, pending: Any) -> None:
        """Hands the block back (queued on ``pending``, the heap's release queue): the channel is closing."""
        if self.block is not None:
            pending.append(self.block)
            self.block, self.size = None, 0

    def copy_back(self, buf: memoryview, response_at: int) -> None:
        """Copies the staged bytes of written arguments back into them if the call succeeded (after an
        error their contents are unspecified, SPEC §4.4, and the arguments are left as they were)."""
        backs, self.backs = self.backs, []
        if L.RESPONSE_HEADER.unpack_from(buf, response_at)[0] == L.STATUS_OK:  # status, length, seq
            for staged, target in backs:
                target[:] = staged


def copier(elem: Elem, mutable: bool, inline: bool) -> Callable[[Channel, Any], Ref | None]:
    """The fast paths' copy of an argument not in shared memory for a ``&[T]`` (``&mut [T]`` if
    ``mutable``) parameter of element ``elem``: returns its reference once copied (inline after the
    record if ``inline`` and it fits, else into the staging block), or None for anything else (the
    general path then places it, explains it, or grows the staging block)."""
    is_u8 = elem.name == "u8"
    dtype = elem.dtype
    fmt = elem.format

    def copy(channel: Channel, value: Any) -> Ref | None:
        kind = type(value)
        if kind is bytes or kind is bytearray:
            if not is_u8 or (mutable and kind is bytes):
                return None
            data: Any = value
            nbytes = len(value)
        elif kind is NDARRAY:
            # A view may be part of a shared array: the general path finds it by address.
            if value.dtype != dtype or value.base is not None or not value.flags.c_contiguous:
                return None
            if mutable and not value.flags.writeable:
                return None
            nbytes = value.nbytes
            try:
                data = memoryview(value).cast("B")
            except (TypeError, ValueError):  # a structured dtype has no single-character format
                data = value.reshape(-1).view(np.uint8)
        else:
            try:
                view = memoryview(value)
            except TypeError:
                return None
            if not view.c_contiguous or (mutable and view.readonly) or channel.heap.locate(value, view.nbytes):
                return None
            if not is_u8 and view.format.lstrip("@=<") != fmt:
                return None
            nbytes = view.nbytes
            data = view.cast("B") if view.format != "B" or view.ndim != 1 else view
        staging = channel.staging
        if nbytes == 0:
            return L.INLINE_SEGMENT, staging.end, 0
        if inline and not mutable:
            at = (staging.end + L.TAIL_ALIGN - 1) & ~(L.TAIL_ALIGN - 1)
            if at + nbytes <= channel.request_capacity:
                start = channel.next_slot[0] + L.REQUEST_HEADER_SIZE + at
                channel.buf[start:start + nbytes] = data
                staging.end = at + nbytes
                return L.INLINE_SEGMENT, at, nbytes
        placed = staging.place(nbytes)
        if placed is None:
            return None
        span = channel.heap.span(placed[0], placed[1], nbytes)
        span[:] = data
        if mutable:
            staging.backs.append((span, data))
        return placed[0], placed[1], nbytes

    return copy


def stage_text(channel: Channel, data: bytes) -> Ref | None:
    """The fast paths' copy of text too long for the request (a ``str``'s UTF-8, or ``bytes``) into
    the staging block: its reference, or None if the block is missing or full (the general path
    then places it, growing the block)."""
    nbytes = len(data)
    placed = channel.staging.place(nbytes)
    if placed is None:
        return None
    channel.heap.span(placed[0], placed[1], nbytes)[:] = data
    return placed[0], placed[1], nbytes
