"""Batched calls (SPEC §3.3, ``FN_BATCH``): many calls of one function in one round trip.

``c.add.map([1, 2, 3], [10, 20, 30])`` packs the argument records back to back (with numpy, column by
column, no Python work per call): into the request itself when they fit (up to 60 ``add`` calls at
the default capacity: one round trip), else into a shared block. The daemon runs every call and
writes the result records back to back, inline when they fit, else into a new block, and the results
come back as arrays (zero-copy views of that block). Only functions whose values are all fixed-size
and that have no in-out parameters can be batched (the manifest's ``batchable``).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from . import _layout as L
from ._call import CHECKING, NO_RESP
from ._channel import LateBlock
from ._codecs import ArrayCodec, BoolCodec, ComplexCodec, FloatCodec, IntCodec, StructCodec, dtype_of
from ._errors import CorruptResponse
from ._numpy import HAVE_NUMPY, np

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from ._codecs import Codec
    from ._connection import Connection
    from ._function import RemoteFunction

__all__: list[str] = []


def _check_column(col: Any, codec: Codec, name: str) -> NDArray[Any]:
    """The column as an array of the parameter's dtype, refusing lossy conversions."""
    src = np.asarray(col)
    rule = _column_rule(codec, src.dtype)
    if rule == "scan" and isinstance(codec, IntCodec):
        if src.size and (int(src.min()) < codec.lo or int(src.max()) > codec.hi):
            raise OverflowError(f"{name}: values outside {codec.name} [{codec.lo}, {codec.hi}]")
    elif rule:
        raise TypeError(f"{name}: {rule}")
    return src


@functools.lru_cache(maxsize=256)
def _column_rule(codec: Codec, dtype: np.dtype[Any]) -> str:
    """What a column of ``dtype`` needs to be a parameter of ``codec``'s type: nothing (""), a scan of
    its values for ones out of range ("scan"), or why it is refused. Worked out once per pair: for
    a 10-call batch, the checks cost as much as the calls."""
    target = dtype_of(codec)
    if isinstance(codec, StructCodec) or isinstance(codec, ArrayCodec):
        return "" if dtype == target else f"expected an array of dtype {target}, got {dtype}"
    kind = dtype.kind
    if isinstance(codec, IntCodec):
        if kind not in "iub":
            return f"expected integers for {codec.name}, got {dtype}"
        # No scan where the column's type has no value out of range (int64 for an i64).
        info = np.iinfo(dtype) if kind != "b" else None
        return "" if info is not None and codec.lo <= info.min and info.max <= codec.hi else "scan"
    if type(codec) is FloatCodec and kind not in "iubf":
        return f"expected numbers for {codec.name}, got {dtype}"
    if type(codec) is ComplexCodec and kind not in "iubfc":
        return f"expected numbers for {codec.name}, got {dtype}"
    if type(codec) is BoolCodec and kind != "b":
        return f"expected bools, got {dtype}"
    return ""


def _strides(fn: RemoteFunction) -> tuple[int, int]:
    """The bytes from one argument record to the next in a batch, and from one result record to the
    next: each record's size rounded up to 8 (SPEC §3.3, batch)."""
    return (fn.args_size + 7) // 8 * 8, (fn.result_size + 7) // 8 * 8


class BatchRecords:
    """A function's batch record types (numpy), made at its first batch rather than per batch: a
    structured dtype costs ~5 µs to build."""

    def __init__(self, fn: RemoteFunction) -> None:
        stride, rstride = _strides(fn)
        self.args = np.dtype({"names": [n for n, _, _ in fn.params], "formats": [dtype_of(c) for _, c, _ in fn.params],
                              "offsets": [o for _, _, o in fn.params], "itemsize": stride})
        self.results = np.dtype({"names": [f"r{j}" for j in range(len(fn.returns))],
                                 "formats": [dtype_of(c) for c, _ in fn.returns],
                                 "offsets": [o for _, o in fn.returns], "itemsize": rstride})

    def wrap(self, raw: memoryview) -> NDArray[Any]:
        """The result records in ``raw`` (for `Heap.own`)."""
        return np.frombuffer(raw, dtype=self.results)


def _records(fn: RemoteFunction) -> BatchRecords:
    """``fn``'s batch record types, made at its first batch."""
    records = fn.batch_records
    if records is None:
        records = fn.batch_records = BatchRecords(fn)
    return records


def batch(connection: Connection, fn: RemoteFunction, columns: tuple[Any, ...], timeout: float | None) -> Any:
    """Runs ``fn`` once per row of ``columns`` (one sequence per parameter) in one request."""
    if not fn.batchable:
        raise TypeError(f"{fn.name} cannot be batched: it has variable-size or in-out values")
    if len(columns) != len(fn.params):
        raise TypeError(f"{fn.name}.map() takes {len(fn.params)} columns, got {len(columns)}")
    lengths = {len(c) for c in columns}
    if len(lengths) > 1:
        raise ValueError(f"{fn.name}.map(): columns differ in length: {sorted(lengths)}")
    count = lengths.pop() if lengths else 0
    stride, rstride = _strides(fn)
    records = _records(fn) if HAVE_NUMPY else None
    ch = connection.channel()
    if count == 0:
        return _empty_result(fn)
    nbytes = count * stride
    # Records that fit the request go inline after its 40-byte header: no `alloc` round trip.
    inline = L.BATCH.size + nbytes <= ch.request_capacity
    if inline:
        seq = ch.next_seq(timeout)
        seg, off = L.INLINE_SEGMENT, L.BATCH.size
        start = ch.slot_base(seq) + L.REQUEST_HEADER_SIZE + off
        block = ch.buf[start : start + nbytes]
    else:
        seg, off = ch.alloc(nbytes)
        block = connection.heap.span(seg, off, nbytes)
    try:
        if records is not None:
            table = np.frombuffer(block, dtype=records.args, count=count)
            for (name, codec, _), col, where in zip(fn.params, columns, fn.where):
                table[name] = _check_column(col, codec, where)
            del table
        else:
            for i, row in enumerate(zip(*columns)):
                for (_, codec, o), value, where in zip(fn.params, row, fn.where):
                    codec.write(block, i * stride + o, codec.prep(value, CHECKING, f"{where}[{i}]"), CHECKING)
        if not inline:
            seq = ch.next_seq(timeout)
        L.BATCH.pack_into(ch.buf, ch.slot_base(seq) + L.REQUEST_HEADER_SIZE, fn.id, 0, count, seg, 0, off, nbytes)
        length = L.BATCH.size + (nbytes if inline else 0)
        payload, rlen = ch.roundtrip(seq, L.FN_BATCH, length, timeout, fn.name, fn=LateBlock,
                                     long_waits=fn.long_batches, size=nbytes)
    finally:
        block.release()
        if not inline:
            ch.releases.append((seg, off))  # queued: written to the daemon only before the next request
    rseg, rsv, roff, rlength = L.BUF.unpack_from(ch.buf, payload)
    if rlength != count * rstride or rsv:
        raise CorruptResponse(f"{fn.name}.map(): {rlength} result bytes for {count} calls")
    if records is None:
        data = ch.resp(payload, rlen).bytes_at(payload)
        mv = memoryview(data)
        rows = [tuple(c.read(mv, i * rstride + o, NO_RESP) for c, o in fn.returns) for i in range(count)]
        if len(fn.returns) == 1:
            return [r[0] for r in rows]
        return list(zip(*rows)) if fn.returns else None
    results: NDArray[Any]
    if rseg == L.INLINE_SEGMENT:
        start = payload + roff
        results = np.frombuffer(bytearray(ch.buf[start : start + rlength]), dtype=records.results)
    else:
        results = connection.mapped(rseg).own(rseg, roff, rlength, records)
    if not fn.returns:
        return None
    cols = tuple(results[f"r{j}"] for j in range(len(fn.returns)))
    return cols[0] if len(cols) == 1 else cols


def _empty_result(fn: RemoteFunction) -> Any:
    if not fn.returns:
        return None
    if not HAVE_NUMPY:
        return [] if len(fn.returns) == 1 else tuple([] for _ in fn.returns)
    cols = tuple(np.empty(0, dtype=dtype_of(c)) for c, _ in fn.returns)
    return cols[0] if len(cols) == 1 else cols
