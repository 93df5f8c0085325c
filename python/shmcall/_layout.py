"""Protocol version 2 layout, mirrored from ``protocol/constants.toml`` (see ``protocol/SPEC.md``).

Every value here is asserted against the TOML file and the golden vectors by
``python/tests/test_protocol.py``; precompiled ``struct.Struct`` objects for every fixed record live
here too so the hot path never parses a format string.
"""

from __future__ import annotations

import struct

__all__: list[str] = []

PROTOCOL_VERSION = 2
MAGIC = 0x004C4C41434D4853  # b"SHMCALL\0" as a little-endian u64
CACHE_LINE = 64

# Control segment header (SPEC §3.1).
HEADER_SIZE = 256
OFF_MAGIC = 0
OFF_VERSION = 8
OFF_HEADER_SIZE = 12
OFF_LAYOUT_HASH = 16
OFF_SLOT_COUNT = 24
OFF_SLOT_SIZE = 28
OFF_REQUEST_CAPACITY = 32
OFF_RESPONSE_CAPACITY = 36
OFF_RELEASE_CAPACITY = 40
OFF_CHANNEL_ID = 44
OFF_SEGMENT_SIZE = 48
OFF_SLOTS_OFFSET = 56
OFF_CLIENT_WAITING = 72  # client line
OFF_RELEASE_TAIL = 80
OFF_STARTED = 128  # daemon line
OFF_DAEMON_WAITING = 136
OFF_RELEASE_HEAD = 144
RELEASE_OFFSET = 256
RELEASE_ENTRY_SIZE = 16
SLOTS_ALIGN = 4096

# Slots (SPEC §3.3): each half is a 16-byte header, then its payload, starting on a cache line; the
# header's seq word publishes the half (SPEC §5.2).
REQUEST_HEADER_SIZE = 16
RESPONSE_HEADER_SIZE = 16
OFF_FUNCTION_ID = 0
OFF_REQUEST_LEN = 4
OFF_REQUEST_SEQ = 8
OFF_STATUS = 0
OFF_RESPONSE_LEN = 4
OFF_RESPONSE_SEQ = 8

# Buffer references (SPEC §4.3).
BUF_SIZE = 24
BUF_ALIGN = 8
BUF_OFF_SEGMENT = 0
BUF_OFF_RESERVED = 4
BUF_OFF_OFFSET = 8
BUF_OFF_LENGTH = 16
INLINE_SEGMENT = 0
TAIL_ALIGN = 8


def tail_aligned(n: int) -> int:
    """``n`` rounded up to where the next piece of inline tail data starts (SPEC §4.1)."""
    return (n + TAIL_ALIGN - 1) // TAIL_ALIGN * TAIL_ALIGN

# Heap (SPEC §4.4).
BLOCK_ALIGN = 64
INITIAL_SEGMENT_SIZE = 16 << 20

# Reserved function ids.
FN_NOP = 0xFFFF0000
FN_ALLOC = 0xFFFF0001
FN_BATCH = 0xFFFF0002

# Response status codes (SPEC §6).
STATUS_OK = 0
STATUS_ERROR = 1
STATUS_PANIC = 2
STATUS_BAD_REQUEST = 3
STATUS_UNKNOWN_FUNCTION = 4
STATUS_OUT_OF_MEMORY = 5

# Every hashed constant as "section.key" -> value (SPEC §3.2); the layout hash covers these.
HASHED: dict[str, int] = {
    "buf.align": BUF_ALIGN,
    "buf.inline_segment": INLINE_SEGMENT,
    "buf.off_length": BUF_OFF_LENGTH,
    "buf.off_offset": BUF_OFF_OFFSET,
    "buf.off_reserved": BUF_OFF_RESERVED,
    "buf.off_segment": BUF_OFF_SEGMENT,
    "buf.size": BUF_SIZE,
    "buf.tail_align": TAIL_ALIGN,
    "control.header_size": HEADER_SIZE,
    "control.off_channel_id": OFF_CHANNEL_ID,
    "control.off_client_waiting": OFF_CLIENT_WAITING,
    "control.off_daemon_waiting": OFF_DAEMON_WAITING,
    "control.off_header_size": OFF_HEADER_SIZE,
    "control.off_layout_hash": OFF_LAYOUT_HASH,
    "control.off_magic": OFF_MAGIC,
    "control.off_release_capacity": OFF_RELEASE_CAPACITY,
    "control.off_release_head": OFF_RELEASE_HEAD,
    "control.off_release_tail": OFF_RELEASE_TAIL,
    "control.off_request_capacity": OFF_REQUEST_CAPACITY,
    "control.off_response_capacity": OFF_RESPONSE_CAPACITY,
    "control.off_segment_size": OFF_SEGMENT_SIZE,
    "control.off_slot_count": OFF_SLOT_COUNT,
    "control.off_slot_size": OFF_SLOT_SIZE,
    "control.off_slots_offset": OFF_SLOTS_OFFSET,
    "control.off_started": OFF_STARTED,
    "control.off_version": OFF_VERSION,
    "control.release_entry_size": RELEASE_ENTRY_SIZE,
    "control.release_offset": RELEASE_OFFSET,
    "control.slots_align": SLOTS_ALIGN,
    "functions.alloc": FN_ALLOC,
    "functions.batch": FN_BATCH,
    "functions.nop": FN_NOP,
    "heap.block_align": BLOCK_ALIGN,
    "heap.initial_segment_size": INITIAL_SEGMENT_SIZE,
    "protocol.cache_line": CACHE_LINE,
    "protocol.magic": MAGIC,
    "protocol.version": PROTOCOL_VERSION,
    "slot.off_function_id": OFF_FUNCTION_ID,
    "slot.off_request_len": OFF_REQUEST_LEN,
    "slot.off_request_seq": OFF_REQUEST_SEQ,
    "slot.off_response_len": OFF_RESPONSE_LEN,
    "slot.off_response_seq": OFF_RESPONSE_SEQ,
    "slot.off_status": OFF_STATUS,
    "slot.request_header_size": REQUEST_HEADER_SIZE,
    "slot.response_header_size": RESPONSE_HEADER_SIZE,
    "status.bad_request": STATUS_BAD_REQUEST,
    "status.error": STATUS_ERROR,
    "status.ok": STATUS_OK,
    "status.out_of_memory": STATUS_OUT_OF_MEMORY,
    "status.panic": STATUS_PANIC,
    "status.unknown_function": STATUS_UNKNOWN_FUNCTION,
}


def layout_hash(constants: dict[str, int] = HASHED) -> int:
    """FNV-1a 64 over ``"key=value\\n"`` for every constant, keys sorted, values in decimal (SPEC §3.2)."""
    h = 0xCBF29CE484222325
    for key in sorted(constants):
        for byte in f"{key}={constants[key]}\n".encode():
            h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


LAYOUT_HASH = layout_hash()

# Precompiled records. "<" everywhere: the protocol is little-endian with explicit padding.
HEADER = struct.Struct("<QIIQIIIIIIQQ")  # magic .. slots_offset (offsets 0..64)
REQUEST_HEADER = struct.Struct("<II")  # function_id, request_len (the seq word is stored apart)
RESPONSE_HEADER = struct.Struct("<IIQ")  # status, response_len, seq
BUF = struct.Struct("<IIQQ")  # segment, reserved, offset, length
RELEASE_ENTRY = struct.Struct("<IIQ")  # segment, reserved, offset
U64 = struct.Struct("<Q")
BATCH = struct.Struct("<IIQIIQQ")  # function, reserved, count, then the args buffer reference
