"""The protocol layout computed from the generated constants (``protocol/SPEC.md``).

The constants themselves are generated into ``_constants`` from ``protocol/constants.toml`` and re-exported
here, so the rest of the client names everything ``_layout.X``. What is computed from them lives here: the
layout hash, tail alignment, and precompiled ``struct.Struct`` objects for every fixed record so the hot path
never parses a format string. ``python/tests/test_protocol.py`` checks all of it against the TOML file and
the golden vectors.
"""

from __future__ import annotations

import struct

from ._constants import *  # noqa: F403 (every protocol constant, re-exported)
from ._constants import HASHED, TAIL_ALIGN

__all__: list[str] = []


def tail_aligned(n: int) -> int:
    """``n`` rounded up to where the next piece of inline tail data starts (SPEC §4.1)."""
    return (n + TAIL_ALIGN - 1) // TAIL_ALIGN * TAIL_ALIGN


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
