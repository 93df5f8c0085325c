"""The client's view of its connection's heap (SPEC §4.4): the shared segments the daemon sent,
arrays that live in them, and the release of blocks whose last Python reference died.

Blocks are allocated only by the daemon. A block handed to Python (by ``Client.empty`` or as a
result) is owned by exactly one Python object (a numpy array, or without numpy a ctypes array that
exports the block to the memoryviews over it); a ``weakref.finalize`` on that owner queues the block
for release when it and every view derived from it are gone, and the next call on any channel
writes the queue into its release ring.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import weakref
from collections import deque
from typing import TYPE_CHECKING, Protocol, TypeAlias, TypeVar

from ._errors import CorruptResponse
from ._numpy import HAVE_NUMPY, np

if TYPE_CHECKING:
    from ._numpy import Array

__all__: list[str] = []

#: A block: ``(segment id, offset)``, as the release ring takes it (SPEC §5.3).
Block: TypeAlias = tuple[int, int]
#: An owned block: ``(segment id, offset, length)``. Plain tuples: the fast paths index them per call.
Extent: TypeAlias = tuple[int, int, int]


ArrayT = TypeVar("ArrayT", bound="Array")
ArrayT_co = TypeVar("ArrayT_co", bound="Array", covariant=True)


class Wraps(Protocol[ArrayT_co]):
    """What `Heap.own` needs of an element type: an array over a block's bytes."""

    def wrap(self, raw: memoryview) -> ArrayT_co: ...


class Segment:
    """One mapped heap segment."""

    __slots__ = ("id", "size", "mm", "view", "address")

    def __init__(self, seg_id: int, fd: int, size: int) -> None:
        try:
            actual = os.fstat(fd).st_size
            # Mapped at exactly the announced length (a length of 0 would map whatever the file
            # holds), which the object must have: a shared memory object may be page-rounded.
            if size <= 0 or actual < size:
                raise CorruptResponse(f"segment {seg_id} is {actual} bytes, announced as {size}")
            self.mm = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fd)
        self.id = seg_id
        self.size = size
        self.view = memoryview(self.mm)
        probe = ctypes.c_char.from_buffer(self.mm)
        self.address = ctypes.addressof(probe)
        del probe  # release the export so the mapping can close later


def _release_root(pending: deque[Block], roots: dict[int, Extent], root: int, key: Block) -> None:
    roots.pop(root, None)
    pending.append(key)


class Heap:
    """The segments of one connection and the queue of blocks to release."""

    def __init__(self) -> None:
        self.segments: dict[int, Segment] = {}
        self.pending: deque[Block] = deque()
        self._by_view: dict[int, Block] = {}
        # id(owner numpy array) -> its extent: finds our own arrays without asking numpy for a data
        # pointer (``__array_interface__`` costs microseconds).
        self.roots: dict[int, Extent] = {}

    def add(self, seg_id: int, fd: int, size: int) -> None:
        """Maps a segment the daemon announced."""
        self.segments[seg_id] = Segment(seg_id, fd, size)

    def _segment(self, seg_id: int, offset: int, length: int) -> Segment:
        """The segment holding ``length`` bytes at ``offset`` (bounds-checked)."""
        seg = self.segments.get(seg_id)
        if seg is None or offset < 0 or length < 0 or offset + length > seg.size:
            raise CorruptResponse(f"reference {offset}+{length} outside heap segment {seg_id}")
        return seg

    def span(self, seg_id: int, offset: int, length: int) -> memoryview:
        """A memoryview of ``length`` bytes at ``offset`` in segment ``seg_id`` (bounds-checked)."""
        return self._segment(seg_id, offset, length).view[offset : offset + length]

    def take_text(self, seg_id: int, offset: int, length: int) -> str:
        """The UTF-8 text of a result's block, decoded straight from shared memory (no bytes object
        in between: for large text, a copy and a fresh allocation fewer); the block is queued for
        release, whether it decodes or not. Raises UnicodeDecodeError."""
        try:
            return str(self.span(seg_id, offset, length), "utf-8")
        finally:
            self.pending.append((seg_id, offset))

    def own(self, seg_id: int, offset: int, length: int, elem: Wraps[ArrayT]) -> ArrayT:
        """Wraps an owned block as an array of ``elem`` whose death, and that of every view cut from
        it, releases the block."""
        key = (seg_id, offset)
        if not HAVE_NUMPY:
            raw, owner = self._exported(self._segment(seg_id, offset, length), offset, length)
            arr = elem.wrap(raw)
            # The exporter, not the array, lives as long as the last view: release with it.
            weakref.finalize(owner, self.pending.append, key)
        else:
            arr = elem.wrap(self.span(seg_id, offset, length))
            self.roots[id(arr)] = (seg_id, offset, length)
            weakref.finalize(arr, _release_root, self.pending, self.roots, id(arr), key)
        if not HAVE_NUMPY or not isinstance(arr, np.ndarray):
            self._by_view[id(arr)] = key
            weakref.finalize(arr, self._by_view.pop, id(arr), None)
        return arr

    @staticmethod
    def _exported(seg: Segment, offset: int, length: int) -> tuple[memoryview, ctypes.Array[ctypes.c_char]]:
        """The block as bytes, exported by an object of its own, and that object.

        A slice of a memoryview keeps the exporter alive, not the view it was cut from; a view of the
        segment's mmap would let the block go while a slice of it lives on (and the daemon hand the
        memory to another array). A ctypes array over the block is the exporter here, so every view
        and slice of the array keeps it. A ctypes array type is made per length, and making one costs
        9 µs where a length seen recently is found in ctypes' cache (0.8 µs for the whole wrapping),
        so the exporter spans a power of two of bytes from the block (or up to the segment's end, at
        most the whole segment): a few dozen lengths in all, however many sizes the arrays have."""
        mm = seg.mm
        size = min(1 << max(0, length - 1).bit_length(), len(mm))
        start = min(offset, len(mm) - size)
        owner = (ctypes.c_char * size).from_buffer(mm, start)
        return memoryview(owner).cast("B")[offset - start:offset - start + length], owner

    def locate(self, obj: object, nbytes: int) -> Block | None:
        """``(segment, offset)`` if ``obj``'s ``nbytes`` bytes lie inside one of our segments."""
        if HAVE_NUMPY and isinstance(obj, np.ndarray):
            hit = self.roots.get(id(obj))
            if hit is None and obj.base is not None:
                hit = self.roots.get(id(obj.base))
                # A contiguous view as large as its owner starts where the owner starts.
                if hit is not None and not (hit[2] == nbytes and obj.flags.c_contiguous):
                    hit = None
            if hit is not None and nbytes <= hit[2]:
                return hit[0], hit[1]
            address: int = obj.__array_interface__["data"][0]
        else:
            return self._by_view.get(id(obj))
        for seg in self.segments.values():
            if seg.address <= address and address + nbytes <= seg.address + seg.size:
                return seg.id, address - seg.address
        return None

    def close(self) -> None:
        """Forgets the segments; mappings stay alive while arrays still use them."""
        self.segments.clear()
        self.pending.clear()
        self.roots.clear()
