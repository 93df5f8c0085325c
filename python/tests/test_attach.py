"""Attaching to a control segment (SPEC §3.5): the client checks the header against the `channel`
message and the geometry formulas of §3.1 before trusting any other byte, refuses a segment that is
not ready, of another version or inconsistent, each with its own error, and then closes every
descriptor it was handed and unmaps the segment. The segments here are made by the test from the
golden default header (`protocol/vectors/<version>/control_header_default.bin`), so each field can
be wrong on purpose; no daemon."""

from __future__ import annotations

import os
import socket
import struct
from pathlib import Path
from types import SimpleNamespace

import pytest

from shmcall import _constants as C
from shmcall._channel import Channel
from shmcall._errors import CorruptResponse, VersionMismatch
from shmcall._heap import Heap

from conftest import fd_closed

REPO = Path(__file__).resolve().parents[2]
GOLDEN = (REPO / "protocol" / "vectors" / str(C.PROTOCOL_VERSION) / "control_header_default.bin").read_bytes()
# magic, version, header_size, layout_hash, slot_count, slot_size, request_capacity, response_capacity,
# release_capacity, channel_id, segment_size, slots_offset
FIELDS = struct.Struct("<QIIQIIIIIIQQ")
DEFAULT = FIELDS.unpack_from(GOLDEN)
SIZE = DEFAULT[10]
SOCKETS = socket.socketpair()  # the control socket a channel watches beside its doorbell


def attach(fields: tuple, size: int = SIZE, channel_id: int = 0) -> Channel:
    """A channel over a fresh segment whose header holds ``fields``; asserts that a refusal closed
    every descriptor."""
    seg = os.memfd_create("attach-test")
    os.ftruncate(seg, max(size, C.HEADER_SIZE))
    os.pwrite(seg, FIELDS.pack(*fields), 0)
    req_r, req_w = os.pipe()
    resp_r, resp_w = os.pipe()
    fds = [seg, req_w, resp_r, resp_w]
    control, _ = SOCKETS
    try:
        return Channel(SimpleNamespace(heap=Heap(), fileno=control.fileno), channel_id, fds, size)
    except BaseException:
        assert all(fd_closed(fd) for fd in fds), "a refused channel closes what it was handed"
        raise
    finally:
        os.close(req_r)


def changed(**kw: int) -> tuple:
    names = ["magic", "version", "header_size", "layout_hash", "slot_count", "slot_size", "request_capacity",
             "response_capacity", "release_capacity", "channel_id", "segment_size", "slots_offset"]
    values = list(DEFAULT)
    for k, v in kw.items():
        values[names.index(k)] = v
    return tuple(values)


pytestmark = pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="the segments here are memfds")


def test_the_golden_default_header_is_accepted():
    ch = attach(DEFAULT)
    assert (ch.slot_count, ch.request_capacity, ch.response_capacity, ch.release_capacity) == DEFAULT[4:5] + DEFAULT[6:9]
    ch.close()


def test_another_version_or_layout_is_incompatible_not_corrupt():
    with pytest.raises(VersionMismatch, match="protocol 3"):
        attach(changed(version=3))
    with pytest.raises(VersionMismatch, match="layout"):
        attach(changed(layout_hash=DEFAULT[3] ^ 1))
    with pytest.raises(VersionMismatch, match="header of 128 bytes"):
        attach(changed(header_size=128))


def test_a_segment_not_ready_or_not_shmcall_is_refused():
    with pytest.raises(CorruptResponse, match="not ready"):
        attach(changed(magic=0))


# Each a header that passes every other check: one field (or a consistent set) off its formula or bound.
ALIGN = C.SLOTS_ALIGN
BAD = {
    "segment_size not the announced size": dict(segment_size=SIZE + ALIGN),
    "slots_offset past the formula": dict(slots_offset=DEFAULT[11] + ALIGN, segment_size=SIZE),
    "slots_offset before the release queue's end": dict(slots_offset=DEFAULT[11] - ALIGN),
    "slot_size off its formula": dict(slot_size=DEFAULT[5] + 64),
    "no slots": dict(slot_count=0),
    "more slots than 4096": dict(slot_count=4097),
    "a capacity under a line": dict(request_capacity=16, slot_size=DEFAULT[5] - 1008 + 16),
    "a half not whole lines": dict(response_capacity=1000, slot_size=DEFAULT[5] - 8),
    "a half over 1 MiB": dict(request_capacity=(1 << 20) + 48, slot_size=DEFAULT[5] - 1008 + (1 << 20) + 48),
    "release capacity not a power of two": dict(release_capacity=1000),
    "release capacity over 65536": dict(release_capacity=1 << 17),
    "another channel's segment": dict(channel_id=7),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_header_off_its_formulas_is_corrupt(case):
    with pytest.raises(CorruptResponse):
        attach(changed(**BAD[case]))


def test_a_slot_count_consistent_with_a_larger_segment_is_accepted():
    """The formulas, not the defaults: three slots make a larger segment, announced as such."""
    seg_size = -(-(DEFAULT[11] + 3 * DEFAULT[5]) // ALIGN) * ALIGN
    ch = attach(changed(slot_count=3, segment_size=seg_size, channel_id=5), size=seg_size, channel_id=5)
    assert ch.slot_count == 3 and len(ch.slots) == 3
    ch.close()
