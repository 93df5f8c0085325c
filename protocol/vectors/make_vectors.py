#!/usr/bin/env python3
"""Writes the golden vectors of the shmcall protocol into ``protocol/vectors/<version>/``.

``<version>`` is ``protocol.version`` of ``constants.toml`` (now 3). Older version directories are left as
they are, a record of older versions (SPEC §8).

The bytes are encoded straight from ``protocol/SPEC.md`` with :mod:`struct`; every constant comes from
``protocol/constants.toml``. This script deliberately does not import the ``shmcall`` package: the
vectors are an independent third encoding that the Rust (``tests/vectors.rs``) and Python
(``python/tests/test_protocol.py``) suites compare their own encoders and decoders with.

Output, per vector: ``<name>.bin``; for all of them ``vectors.json`` (name, description and the
semantic fields each vector is built from, so a test can rebuild the bytes from the fields) and
``README.md`` (each vector in prose, with a hex dump).

Usage::

    python3 protocol/vectors/make_vectors.py          # (re)write the files
    python3 protocol/vectors/make_vectors.py --check  # exit 1 if the files on disk differ

Only the standard library is used (``tomllib``; ``tomli`` on Python 3.10).
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from pathlib import Path
from typing import Any

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

HERE = Path(__file__).resolve().parent
PROTOCOL = HERE.parent
CONSTANTS = PROTOCOL / "constants.toml"

with CONSTANTS.open("rb") as _f:
    C: dict[str, dict[str, int]] = tomllib.load(_f)

VERSION = C["protocol"]["version"]
OUT = HERE / str(VERSION)

U64_MASK = (1 << 64) - 1


# --- SPEC §3.2: the layout hash -------------------------------------------------------------------


def hashed_constants() -> dict[str, int]:
    """Every ``section.key`` of constants.toml except the ``[defaults]`` table."""
    return {f"{section}.{key}": value for section, table in C.items() if section != "defaults" for key, value in table.items()}


def layout_hash() -> int:
    """FNV-1a 64 over ``"section.key=value\\n"`` for every hashed constant, sorted by key, values in decimal."""
    h = 0xCBF29CE484222325
    constants = hashed_constants()
    for key in sorted(constants):
        for byte in f"{key}={constants[key]}\n".encode("utf-8"):
            h = ((h ^ byte) * 0x100000001B3) & U64_MASK
    return h


LAYOUT_HASH = layout_hash()


def hex64(v: int) -> str:
    """A u64 as the protocol writes it in JSON: 16 lowercase hex digits."""
    return f"{v:016x}"


def align_up(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def slot_of(seq: int) -> int:
    """The slot request ``seq`` uses with the default configuration (SPEC §3.3)."""
    return (seq - 1) % C["defaults"]["slot_count"]


# --- SPEC §3: control segment ---------------------------------------------------------------------

ctl, slot, buf = C["control"], C["slot"], C["buf"]


def geometry(slot_count: int, request_capacity: int, response_capacity: int, release_capacity: int) -> dict[str, int]:
    """The derived sizes of SPEC §3.3."""
    slot_size = slot["request_header_size"] + request_capacity + slot["response_header_size"] + response_capacity
    slots_offset = align_up(ctl["release_offset"] + release_capacity * ctl["release_entry_size"], ctl["slots_align"])
    segment_size = align_up(slots_offset + slot_count * slot_size, ctl["slots_align"])
    return {"slot_size": slot_size, "slots_offset": slots_offset, "segment_size": segment_size}


def control_header(fields: dict[str, Any]) -> bytes:
    """The 256-byte header of a freshly initialized control segment (client and daemon lines zero).

    Bytes 64..72 (version 1's ``req_seq``) are reserved since version 2, and 128..136 (``resp_seq``) hold
    ``started``: the words that publish requests and responses live in the slots (SPEC §3.3, §5.2).
    """
    out = bytearray(ctl["header_size"])
    u32 = ["version", "header_size", "slot_count", "slot_size", "request_capacity", "response_capacity",
           "release_capacity", "channel_id"]
    u64 = ["segment_size", "slots_offset"]
    struct.pack_into("<Q", out, ctl["off_magic"], int(fields["magic"], 16))
    struct.pack_into("<Q", out, ctl["off_layout_hash"], int(fields["layout_hash"], 16))
    for name in u32:
        struct.pack_into("<I", out, ctl[f"off_{name}"], fields[name])
    for name in u64:
        struct.pack_into("<Q", out, ctl[f"off_{name}"], fields[name])
    for name in ["release_tail", "started", "release_head"]:
        struct.pack_into("<Q", out, ctl[f"off_{name}"], fields[name])
    for name in ["client_waiting", "daemon_waiting"]:
        struct.pack_into("<I", out, ctl[f"off_{name}"], fields[name])
    return bytes(out)


# --- SPEC §4: values ------------------------------------------------------------------------------

SCALAR_FORMATS = {"i8": "<b", "i16": "<h", "i32": "<i", "i64": "<q", "u8": "<B", "u16": "<H", "u32": "<I",
                  "u64": "<Q", "f32": "<f", "f64": "<d", "bool": "<B"}


def buf_ref(segment: int, offset: int, length: int) -> bytes:
    """SPEC §4.3: {u32 segment, u32 reserved = 0, u64 offset, u64 length}."""
    out = bytearray(buf["size"])
    struct.pack_into("<I", out, buf["off_segment"], segment)
    struct.pack_into("<I", out, buf["off_reserved"], 0)
    struct.pack_into("<Q", out, buf["off_offset"], offset)
    struct.pack_into("<Q", out, buf["off_length"], length)
    return bytes(out)


def payload(pieces: list[dict[str, Any]], length: int) -> bytes:
    """A payload area of ``length`` bytes built from pieces; bytes no piece covers (padding) are zero."""
    out = bytearray(length)
    for p in pieces:
        at, kind = p["at"], p["kind"]
        if kind == "buf":
            data = buf_ref(p["segment"], p["offset"], p["length"])
        elif kind == "utf8":
            data = p["value"].encode("utf-8")
        elif kind in SCALAR_FORMATS:
            data = struct.pack(SCALAR_FORMATS[kind], p["value"])
        else:
            raise ValueError(f"unknown piece kind {kind}")
        assert at + len(data) <= length, f"piece {p} overruns a {length}-byte payload"
        assert not any(out[at : at + len(data)]), f"piece {p} overlaps another"
        out[at : at + len(data)] = data
    return bytes(out)


def request(fields: dict[str, Any]) -> bytes:
    """The request half of a slot as far as it is used: the 16-byte header, then request_len payload bytes."""
    header = bytearray(slot["request_header_size"])
    struct.pack_into("<I", header, slot["off_function_id"], fields["function_id"])
    struct.pack_into("<I", header, slot["off_request_len"], fields["request_len"])
    struct.pack_into("<Q", header, slot["off_request_seq"], fields["seq"])
    return bytes(header) + payload(fields["payload"], fields["request_len"])


def response(fields: dict[str, Any]) -> bytes:
    """The response half of a slot as far as it is used: the 16-byte header, then response_len payload bytes."""
    header = bytearray(slot["response_header_size"])
    struct.pack_into("<I", header, slot["off_status"], fields["status"])
    struct.pack_into("<I", header, slot["off_response_len"], fields["response_len"])
    struct.pack_into("<Q", header, slot["off_response_seq"], fields["seq"])
    return bytes(header) + payload(fields["payload"], fields["response_len"])


def release_entry(segment: int, offset: int) -> bytes:
    """SPEC §3.4: {u32 segment, u32 reserved = 0, u64 offset}."""
    return struct.pack("<IIQ", segment, 0, offset)


# --- the vectors ----------------------------------------------------------------------------------


def vectors() -> list[dict[str, Any]]:
    d = C["defaults"]
    geo = geometry(d["slot_count"], d["request_capacity"], d["response_capacity"], d["release_capacity"])
    tail = buf["tail_align"]
    overflow_msg = "integer overflow: 9223372036854775807 + 1 does not fit in i64"
    v: list[dict[str, Any]] = []

    v.append({
        "name": "control_header_default",
        "kind": "control_header",
        "description": "The first 256 bytes of a freshly initialized control segment: default configuration "
                       f"({d['slot_count']} slots, {d['request_capacity']}/{d['response_capacity']}-byte "
                       f"capacities, {d['release_capacity']} release entries), channel id 0. The client line "
                       "(64..128) and the daemon line (128..192) are still zero, as is 192..256.",
        "fields": {
            "magic": hex64(C["protocol"]["magic"]),
            "version": VERSION,
            "header_size": ctl["header_size"],
            "layout_hash": hex64(LAYOUT_HASH),
            "slot_count": d["slot_count"],
            "slot_size": geo["slot_size"],
            "request_capacity": d["request_capacity"],
            "response_capacity": d["response_capacity"],
            "release_capacity": d["release_capacity"],
            "channel_id": 0,
            "segment_size": geo["segment_size"],
            "slots_offset": geo["slots_offset"],
            "client_waiting": 0, "release_tail": 0,
            "started": 0, "daemon_waiting": 0, "release_head": 0,
        },
    })

    v.append({
        "name": "request_add_2_3",
        "kind": "request",
        "description": "The request half of slot 0 for add(2, 3), the first call on a channel (seq 1): the "
                       "16-byte request header, then the 16-byte argument record {i64 a @0, i64 b @8}. "
                       "function_id 0 is add's id in the built-in manifest when the vectors were made; real "
                       "clients take ids from the manifest.",
        "fields": {
            "function": "add", "function_id": 0, "request_len": 16, "seq": 1,
            "args": {"a": 2, "b": 3},
            "payload": [{"at": 0, "kind": "i64", "value": 2}, {"at": 8, "kind": "i64", "value": 3}],
        },
    })

    v.append({
        "name": "response_add_5",
        "kind": "response",
        "description": "The response half of slot 0 answering request_add_2_3: status 0, the 8-byte result "
                       "record {i64 @0} = 5.",
        "fields": {
            "function": "add", "args": {"a": 2, "b": 3}, "result": [5],
            "status": 0, "response_len": 8, "seq": 1,
            "payload": [{"at": 0, "kind": "i64", "value": 5}],
        },
    })

    name = "Python"
    at = align_up(24, tail)
    v.append({
        "name": "request_hello_python",
        "kind": "request",
        "description": f"The request half of slot {slot_of(2)} for hello(\"Python\") (seq 2): the argument record is "
                       "one "
                       "buffer reference (24 bytes) to inline text; the text follows the record at the next "
                       "multiple of 8, offset 24, counted from the start of the payload area.",
        "fields": {
            "function": "hello", "function_id": 1, "request_len": at + len(name), "seq": 2,
            "args": {"name": name},
            "payload": [{"at": 0, "kind": "buf", "segment": 0, "offset": at, "length": len(name)},
                        {"at": at, "kind": "utf8", "value": name}],
        },
    })

    greeting = "hello Python"
    v.append({
        "name": "response_hello",
        "kind": "response",
        "description": f"The response half of slot {slot_of(2)} answering request_hello_python: the result record is "
                       "one "
                       "buffer reference to inline text \"hello Python\" (12 bytes) at offset 24; "
                       "response_len 36.",
        "fields": {
            "function": "hello", "args": {"name": name}, "result": [greeting],
            "status": 0, "response_len": at + len(greeting), "seq": 2,
            "payload": [{"at": 0, "kind": "buf", "segment": 0, "offset": at, "length": len(greeting)},
                        {"at": at, "kind": "utf8", "value": greeting}],
        },
    })

    # Person {name: str @0, age: i64 @24}, size 32, align 8 (SPEC §4.2).
    person_in, person_out = "xiaoming", "xiaohong"
    at = align_up(32, tail)
    v.append({
        "name": "request_hello_person",
        "kind": "request",
        "description": f"The request half of slot {slot_of(3)} for "
                       "hello_person(Person{name: \"xiaoming\", age: 18}) "
                       "(seq 3): the record is one Person (size 32: name buffer reference @0, age i64 @24); "
                       "the name's bytes follow the 32-byte record at offset 32.",
        "fields": {
            "function": "hello_person", "function_id": 2, "request_len": at + len(person_in), "seq": 3,
            "args": {"p": {"name": person_in, "age": 18}},
            "payload": [{"at": 0, "kind": "buf", "segment": 0, "offset": at, "length": len(person_in)},
                        {"at": 24, "kind": "i64", "value": 18},
                        {"at": at, "kind": "utf8", "value": person_in}],
        },
    })

    v.append({
        "name": "response_hello_person",
        "kind": "response",
        "description": f"The response half of slot {slot_of(3)} answering request_hello_person: a "
                       "Person{name: "
                       "\"xiaohong\", age: 18}, laid out as in the request; response_len 40.",
        "fields": {
            "function": "hello_person", "args": {"p": {"name": person_in, "age": 18}},
            "result": [{"name": person_out, "age": 18}],
            "status": 0, "response_len": at + len(person_out), "seq": 3,
            "payload": [{"at": 0, "kind": "buf", "segment": 0, "offset": at, "length": len(person_out)},
                        {"at": 24, "kind": "i64", "value": 18},
                        {"at": at, "kind": "utf8", "value": person_out}],
        },
    })

    v.append({
        "name": "response_error",
        "kind": "response",
        "description": f"The response half of slot {slot_of(4)} answering add(9223372036854775807, 1) (seq 4): "
                       "status 1 "
                       "(error); the whole payload is the UTF-8 message, no record, no terminator.",
        "fields": {
            "function": "add", "args": {"a": 9223372036854775807, "b": 1},
            "message": overflow_msg,
            "status": C["status"]["error"], "response_len": len(overflow_msg.encode()), "seq": 4,
            "payload": [{"at": 0, "kind": "utf8", "value": overflow_msg}],
        },
    })

    v.append({
        "name": "request_alloc_800",
        "kind": "request",
        "description": f"The request half of slot {slot_of(5)} for the reserved function alloc (id 0xFFFF0001) "
                       "asking for "
                       "an 800-byte heap block (seq 5): the payload is one u64 size.",
        "fields": {
            "function": "alloc", "function_id": C["functions"]["alloc"], "request_len": 8, "seq": 5,
            "args": {"size": 800},
            "payload": [{"at": 0, "kind": "u64", "value": 800}],
        },
    })

    v.append({
        "name": "response_alloc_800",
        "kind": "response",
        "description": f"The response half of slot {slot_of(5)} answering request_alloc_800 on a connection whose "
                       "heap is "
                       "still empty: a buffer reference to the first block of heap segment 1 {1, 0, offset 0, "
                       "length 800}. The client owns the block until it releases it.",
        "fields": {
            "function": "alloc", "args": {"size": 800}, "result": [{"segment": 1, "offset": 0, "length": 800}],
            "status": 0, "response_len": buf["size"], "seq": 5,
            "payload": [{"at": 0, "kind": "buf", "segment": 1, "offset": 0, "length": 800}],
        },
    })

    # clamp(x: f64, lo: Option<f64>, hi: Option<f64>): each option a presence byte, then its f64 at 8
    # (SPEC §4.6): x @0, lo @8 (value @16), hi @24 (value @32), args_size 40.
    v.append({
        "name": "request_clamp_absent",
        "kind": "request",
        "description": f"The request half of slot {slot_of(6)} for clamp(5.0, None, 2.5) (seq 6): x f64 @0; lo, "
                       "an absent Option<f64> @8 (presence byte 0, its 8 value bytes at 16 zero and unread); hi, "
                       "a present one @24 (presence byte 1, then 2.5 at 32). Each option takes 16 bytes: the "
                       "presence byte, padding to the value's alignment, the value.",
        "fields": {
            "function": "clamp", "function_id": 18, "request_len": 40, "seq": 6,
            "args": {"x": 5.0, "lo": None, "hi": 2.5},
            "payload": [{"at": 0, "kind": "f64", "value": 5.0}, {"at": 24, "kind": "u8", "value": 1},
                        {"at": 32, "kind": "f64", "value": 2.5}],
        },
    })

    v.append({
        "name": "response_clamp",
        "kind": "response",
        "description": f"The response half of slot {slot_of(6)} answering request_clamp_absent: the 8-byte "
                       "result record {f64 @0} = 2.5.",
        "fields": {
            "function": "clamp", "args": {"x": 5.0, "lo": None, "hi": 2.5}, "result": [2.5],
            "status": 0, "response_len": 8, "seq": 6,
            "payload": [{"at": 0, "kind": "f64", "value": 2.5}],
        },
    })

    v.append({
        "name": "response_index_of_2",
        "kind": "response",
        "description": f"The response half of slot {slot_of(7)} answering index_of([5, 7, 9], 9) (seq 7): the "
                       "result is an Option<u64> (16 bytes, SPEC §4.6): presence byte 1 @0, 7 bytes of padding, "
                       "the index 2 @8. Had no element matched, all 16 bytes would be zero (None).",
        "fields": {
            "function": "index_of", "args": {"xs": [5, 7, 9], "x": 9}, "result": [2],
            "status": 0, "response_len": 16, "seq": 7,
            "payload": [{"at": 0, "kind": "u8", "value": 1}, {"at": 8, "kind": "u64", "value": 2}],
        },
    })

    v.append({
        "name": "release_entry",
        "kind": "release_entry",
        "description": "One release queue entry giving back the heap block at segment 3, offset 4096 "
                       "(the block buf_ref_heap points to).",
        "fields": {"segment": 3, "offset": 4096},
    })

    v.append({
        "name": "buf_ref_heap",
        "kind": "buf_ref",
        "description": "A buffer reference to 800 bytes at offset 4096 of heap segment 3.",
        "fields": {"segment": 3, "offset": 4096, "length": 800},
    })

    v.append({
        "name": "layout_hash",
        "kind": "layout_hash",
        "description": f"The layout hash of protocol version {VERSION} as the u64 stored at control header "
                       "offset 16 (little-endian); vectors.json also gives it as 16 hex digits, as the handshake "
                       "does.",
        "fields": {"hex": hex64(LAYOUT_HASH), "constants": len(hashed_constants())},
    })
    return v


def encode(vec: dict[str, Any]) -> bytes:
    f, kind = vec["fields"], vec["kind"]
    if kind == "control_header":
        return control_header(f)
    if kind == "request":
        return request(f)
    if kind == "response":
        return response(f)
    if kind == "release_entry":
        return release_entry(f["segment"], f["offset"])
    if kind == "buf_ref":
        return buf_ref(f["segment"], f["offset"], f["length"])
    if kind == "layout_hash":
        return struct.pack("<Q", int(f["hex"], 16))
    raise ValueError(kind)


def hexdump(data: bytes) -> str:
    lines = []
    for i in range(0, len(data), 16):
        chunk = data[i : i + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk[:8]) + "  " + " ".join(f"{b:02x}" for b in chunk[8:])
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        lines.append(f"{i:08x}  {hexes:<48}  |{text}|")
    return "\n".join(lines)


def ranges(vec: dict[str, Any]) -> list[tuple[int, int, str]]:
    """``(start, end, meaning)`` for every field of a vector, for the README's byte tables."""
    f, kind = vec["fields"], vec["kind"]
    if kind == "control_header":
        rows = []
        for name, size in [("magic", 8), ("version", 4), ("header_size", 4), ("layout_hash", 8), ("slot_count", 4),
                           ("slot_size", 4), ("request_capacity", 4), ("response_capacity", 4),
                           ("release_capacity", 4), ("channel_id", 4), ("segment_size", 8), ("slots_offset", 8),
                           ("client_waiting", 4), ("release_tail", 8), ("started", 8), ("daemon_waiting", 4),
                           ("release_head", 8)]:
            at = ctl[f"off_{name}"]
            value = f[name]
            shown = f"0x{value}" if isinstance(value, str) else str(value)
            rows.append((at, at + size, f"{name} = {shown}"))
        rows.sort()
        out, pos = [], 0

        def gap(start: int, end: int) -> None:
            """Reserved bytes from start to end, split where a cache line (and so the writer) changes."""
            line = C["protocol"]["cache_line"]
            while start < end:
                stop = min(end, (start // line + 1) * line)
                out.append((start, stop, "reserved (zero)"))
                start = stop

        for start, end, text in rows:
            gap(pos, start)
            out.append((start, end, text))
            pos = end
        gap(pos, ctl["header_size"])
        return out
    if kind in ("request", "response"):
        if kind == "request":
            hdr = [("function_id", slot["off_function_id"], 4, f"0x{f['function_id']:x} ({f['function']})"),
                   ("request_len", slot["off_request_len"], 4, f["request_len"]),
                   ("seq", slot["off_request_seq"], 8, f["seq"])]
            size = slot["request_header_size"]
        else:
            hdr = [("status", slot["off_status"], 4, f["status"]),
                   ("response_len", slot["off_response_len"], 4, f["response_len"]),
                   ("seq", slot["off_response_seq"], 8, f["seq"])]
            size = slot["response_header_size"]
        out = [(at, at + n, f"{name} = {value}") for name, at, n, value in hdr]
        used = max(at + n for _, at, n, _ in hdr)
        if size > used:
            out.append((used, size, "reserved"))
        for piece in sorted(f["payload"], key=lambda q: q["at"]):
            at = size + piece["at"]
            if piece["kind"] == "buf":
                n = buf["size"]
                text = f"payload {piece['at']}: buffer reference {{segment {piece['segment']}, reserved 0, " \
                       f"offset {piece['offset']}, length {piece['length']}}}"
            elif piece["kind"] == "utf8":
                n = len(piece["value"].encode())
                text = f"payload {piece['at']}: UTF-8 {piece['value']!r}"
            else:
                n = struct.calcsize(SCALAR_FORMATS[piece["kind"]])
                text = f"payload {piece['at']}: {piece['kind']} {piece['value']}"
            out.append((at, at + n, text))
        return out
    if kind == "release_entry":
        return [(0, 4, f"segment = {f['segment']}"), (4, 8, "reserved = 0"), (8, 16, f"offset = {f['offset']}")]
    if kind == "buf_ref":
        return [(0, 4, f"segment = {f['segment']}"), (4, 8, "reserved = 0"), (8, 16, f"offset = {f['offset']}"),
                (16, 24, f"length = {f['length']}")]
    return [(0, 8, f"u64 0x{f['hex']}")]


def readme(vecs: list[dict[str, Any]], blobs: dict[str, bytes]) -> str:
    out = [
        f"# Golden vectors, protocol version {VERSION}",
        "",
        "Generated by `protocol/vectors/make_vectors.py` from `protocol/constants.toml` and `protocol/SPEC.md`;",
        "do not edit by hand. Each `<name>.bin` is the exact byte image described below; `vectors.json` lists",
        "the semantic fields each was built from, so a test can rebuild the bytes with its own encoder and",
        "decode them with its own decoder. Checked by `tests/vectors.rs` (Rust) and",
        "`python/tests/test_protocol.py` (Python). All integers are little-endian (SPEC §1.2).",
        "",
        f"Layout hash of this version: `{hex64(LAYOUT_HASH)}`.",
        "",
        f"Request and response vectors are the used part of one slot half: the {slot['request_header_size']}-byte "
        "header followed",
        "directly by `request_len` / `response_len` payload bytes (SPEC §3.3). The header's `seq` is the",
        "word that publishes the half (SPEC §5.2): its writer stores it last, with one 8-byte store. The",
        "vectors are one conversation on a fresh channel with the default configuration: seq 1..5 in",
        f"slots {', '.join(str(slot_of(seq)) for seq in range(1, 6))} (seq s in slot (s - 1) mod slot_count). "
        "Function ids",
        "are those of the built-in manifest when the vectors were made; they are not part of what the",
        "vectors pin down. Padding bytes are zero here; a reader must not depend on that (SPEC §1.3).",
        "",
    ]
    for vec in vecs:
        data = blobs[vec["name"]]
        out += [f"## `{vec['name']}` ({len(data)} bytes)", "", vec["description"], ""]
        out += ["| bytes | field |", "|---|---|"]
        out += [f"| {a}..{b} | {text} |" for a, b, text in ranges(vec)]
        out += [""]
        out += ["```text", hexdump(data), "```", ""]
    return "\n".join(out)


def render() -> dict[str, bytes]:
    """Every output file, by name, as bytes."""
    vecs = vectors()
    blobs = {vec["name"]: encode(vec) for vec in vecs}
    listing = {
        "format_version": VERSION,
        "layout_hash": hex64(LAYOUT_HASH),
        "generator": "protocol/vectors/make_vectors.py",
        "vectors": [dict(vec, file=f"{vec['name']}.bin", size=len(blobs[vec["name"]])) for vec in vecs],
    }
    files = {f"{name}.bin": data for name, data in blobs.items()}
    files["vectors.json"] = (json.dumps(listing, indent=2) + "\n").encode()
    files["README.md"] = readme(vecs, blobs).encode()
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the files on disk instead of writing")
    args = parser.parse_args()
    files = render()
    if args.check:
        stale = [name for name, data in files.items() if not (OUT / name).is_file() or (OUT / name).read_bytes() != data]
        extra = sorted(p.name for p in OUT.glob("*") if p.name not in files) if OUT.is_dir() else []
        for name in stale:
            print(f"stale or missing: {OUT / name}", file=sys.stderr)
        for name in extra:
            print(f"not generated by this script: {OUT / name}", file=sys.stderr)
        return 1 if stale or extra else 0
    OUT.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (OUT / name).write_bytes(data)
    print(f"wrote {len(files)} files to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
