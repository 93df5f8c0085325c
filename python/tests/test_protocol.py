"""The client's layout (``shmcall._constants``, ``shmcall._layout``) against ``protocol/constants.toml`` and the
golden vectors.

The generated constants must be what ``protocol/generate.py`` writes and each must equal the TOML file under the
name the generator gives it; ``HASHED`` must cover exactly the keys outside ``[defaults]``, the layout hash must
equal the vector's, and the precompiled ``struct.Struct`` objects must reproduce the vectors' bytes (SPEC §3,
§4.3, §9). The vectors themselves must be what ``make_vectors.py`` writes.
"""

from __future__ import annotations

import importlib.util
import json
import struct
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from shmcall import _constants as C
from shmcall import _layout as L
from shmcall._call import CHECKING, NO_RESP
from shmcall._codecs import parse
from shmcall._errors import CorruptResponse

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = ROOT / "protocol"
VECTORS = PROTOCOL / "vectors" / str(L.PROTOCOL_VERSION)

with (PROTOCOL / "constants.toml").open("rb") as _f:
    TOML: dict[str, dict[str, int]] = tomllib.load(_f)


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("protocol_generate", PROTOCOL / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


GENERATE = load_generator()
# Every constants.toml key -> the name the generator gives it in _constants.
NAMES: dict[str, str] = {c.toml_key: c.python_name for c in GENERATE.constants(GENERATE.read_sections())}


def toml_constants(*, defaults: bool) -> dict[str, int]:
    return {
        f"{section}.{key}": value
        for section, table in TOML.items()
        if defaults or section != "defaults"
        for key, value in table.items()
    }


def load_vectors() -> dict[str, dict[str, Any]]:
    listing = json.loads((VECTORS / "vectors.json").read_text())
    assert listing["format_version"] == L.PROTOCOL_VERSION
    out = {}
    for v in listing["vectors"]:
        v["bytes"] = (VECTORS / v["file"]).read_bytes()
        assert len(v["bytes"]) == v["size"], v["name"]
        out[v["name"]] = v
    return out


VECTORS_BY_NAME = load_vectors()


def vectors_of(kind: str) -> list[dict[str, Any]]:
    found = [v for v in VECTORS_BY_NAME.values() if v["kind"] == kind]
    assert found, f"no {kind} vectors"
    return found


# --- constants --------------------------------------------------------------------------------------


def test_generated_files_are_current() -> None:
    # A hand edit of src/layout/constants.rs or _constants.py, or a TOML edit without regenerating, fails here.
    done = subprocess.run([sys.executable, str(PROTOCOL / "generate.py"), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_every_toml_constant_has_a_generated_name() -> None:
    assert set(NAMES) == set(toml_constants(defaults=True))
    assert sorted(C.__all__) == sorted([*NAMES.values(), "HASHED"])
    assert {name for name in vars(C) if not name.startswith("_")} - {"Final"} == set(C.__all__)


@pytest.mark.parametrize("key", sorted(toml_constants(defaults=True)))
def test_constant_equals_toml(key: str) -> None:
    section, name = key.split(".")
    assert getattr(C, NAMES[key]) == TOML[section][name], key
    # _layout re-exports every constant: the rest of the client names them _layout.X.
    assert getattr(L, NAMES[key]) == TOML[section][name], key


def test_hashed_covers_exactly_the_toml_constants_except_defaults() -> None:
    assert L.HASHED is C.HASHED
    assert C.HASHED == toml_constants(defaults=False)
    assert list(C.HASHED) == sorted(C.HASHED)
    for key, value in C.HASHED.items():
        assert getattr(C, NAMES[key]) == value, f"HASHED[{key!r}] differs from _constants.{NAMES[key]}"


def test_defaults_are_not_layout() -> None:
    # The client reads sizes from the control header (SPEC §3.5); the defaults only feed the worked example.
    assert not any(key.startswith("defaults.") for key in L.HASHED)


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def test_layout_hash_follows_the_spec_and_the_vector() -> None:
    constants = toml_constants(defaults=False)
    text = "".join(f"{key}={constants[key]}\n" for key in sorted(constants))  # SPEC §3.2
    expected = fnv1a64(text.encode())
    assert L.layout_hash() == expected
    assert L.LAYOUT_HASH == expected
    v = VECTORS_BY_NAME["layout_hash"]
    assert int(v["fields"]["hex"], 16) == expected
    assert struct.unpack("<Q", v["bytes"]) == (expected,)
    assert json.loads((VECTORS / "vectors.json").read_text())["layout_hash"] == f"{expected:016x}"
    assert expected == 0x1F3E8D6D59B64A7F  # SPEC §3.2, version 4


# --- struct layouts ---------------------------------------------------------------------------------


def test_header_struct_matches_the_offsets() -> None:
    # HEADER packs magic .. slots_offset in offset order with no gaps.
    order = ["MAGIC", "VERSION", "HEADER_SIZE", "LAYOUT_HASH", "SLOT_COUNT", "SLOT_SIZE", "REQUEST_CAPACITY",
             "RESPONSE_CAPACITY", "RELEASE_CAPACITY", "CHANNEL_ID", "SEGMENT_SIZE", "SLOTS_OFFSET"]
    fmt = L.HEADER.format[1:]
    assert len(fmt) == len(order)
    for i, name in enumerate(order):
        assert struct.calcsize("<" + fmt[:i]) == getattr(L, f"OFF_{name}"), name
    assert L.HEADER.size == L.CACHE_LINE


def test_slot_and_reference_structs_match_the_offsets() -> None:
    assert (L.OFF_FUNCTION_ID, L.OFF_REQUEST_LEN, L.OFF_REQUEST_SEQ) == (0, struct.calcsize("<I"), struct.calcsize("<II"))
    assert (L.OFF_STATUS, L.OFF_RESPONSE_LEN, L.OFF_RESPONSE_SEQ) == (0, struct.calcsize("<I"), struct.calcsize("<II"))
    # The request header struct stops before the seq word, which publishes the request (SPEC §5.2).
    assert L.REQUEST_HEADER.size == L.OFF_REQUEST_SEQ
    assert L.RESPONSE_HEADER.size == L.OFF_RESPONSE_SEQ + 8 == L.REQUEST_HEADER_SIZE == L.RESPONSE_HEADER_SIZE
    # Each half's seq word shares its cache line with the header and the first 48 payload bytes.
    assert L.CACHE_LINE - L.REQUEST_HEADER_SIZE == L.CACHE_LINE - L.RESPONSE_HEADER_SIZE == 48
    assert L.BUF.size == L.BUF_SIZE
    assert [struct.calcsize("<" + L.BUF.format[1:][:i]) for i in range(4)] == [
        L.BUF_OFF_SEGMENT, L.BUF_OFF_RESERVED, L.BUF_OFF_OFFSET, L.BUF_OFF_LENGTH]
    assert L.RELEASE_ENTRY.size == L.RELEASE_ENTRY_SIZE
    assert L.U64.size == 8


def test_writer_lines_are_separate() -> None:
    line = lambda off: off // L.CACHE_LINE  # noqa: E731
    assert {line(L.OFF_CLIENT_WAITING), line(L.OFF_RELEASE_TAIL)} == {1}
    assert {line(L.OFF_STARTED), line(L.OFF_DAEMON_WAITING), line(L.OFF_RELEASE_HEAD)} == {2}


# --- vectors ----------------------------------------------------------------------------------------


def test_control_header_default() -> None:
    v = VECTORS_BY_NAME["control_header_default"]
    f = v["fields"]
    header = L.HEADER.pack(
        int(f["magic"], 16), f["version"], f["header_size"], int(f["layout_hash"], 16), f["slot_count"],
        f["slot_size"], f["request_capacity"], f["response_capacity"], f["release_capacity"], f["channel_id"],
        f["segment_size"], f["slots_offset"],
    )
    assert header + bytes(L.HEADER_SIZE - L.HEADER.size) == v["bytes"]
    # Unpacking the golden bytes gives what a client checks on attach (SPEC §3.5).
    magic, version, header_size, layout_hash, *_ = L.HEADER.unpack_from(v["bytes"], 0)
    assert (magic, version, header_size, layout_hash) == (L.MAGIC, L.PROTOCOL_VERSION, L.HEADER_SIZE, L.LAYOUT_HASH)
    # The spec's worked example: the default geometry.
    d = TOML["defaults"]
    slot_size = L.REQUEST_HEADER_SIZE + d["request_capacity"] + L.RESPONSE_HEADER_SIZE + d["response_capacity"]
    align = lambda n, a: (n + a - 1) // a * a  # noqa: E731
    slots_offset = align(L.RELEASE_OFFSET + d["release_capacity"] * L.RELEASE_ENTRY_SIZE, L.SLOTS_ALIGN)
    segment_size = align(slots_offset + d["slot_count"] * slot_size, L.SLOTS_ALIGN)
    assert (slot_size, slots_offset, segment_size) == (2048, 20480, 24576)
    assert (f["slot_size"], f["slots_offset"], f["segment_size"]) == (slot_size, slots_offset, segment_size)
    # The client line, the daemon line and the reserved line start zero.
    assert v["bytes"][L.CACHE_LINE :] == bytes(L.HEADER_SIZE - L.CACHE_LINE)


def encode_pieces(pieces: list[dict[str, Any]], length: int) -> bytes:
    """A payload from the vector's pieces, using the client's structs for references."""
    out = bytearray(length)
    scalar = {"i64": struct.Struct("<q"), "u64": L.U64, "u8": struct.Struct("<B"), "f64": struct.Struct("<d")}
    for p in pieces:
        if p["kind"] == "buf":
            L.BUF.pack_into(out, p["at"], p["segment"], 0, p["offset"], p["length"])
        elif p["kind"] == "utf8":
            data = p["value"].encode()
            out[p["at"] : p["at"] + len(data)] = data
        else:
            scalar[p["kind"]].pack_into(out, p["at"], p["value"])
    return bytes(out)


@pytest.mark.parametrize("name", [v["name"] for v in vectors_of("request")])
def test_request_vector(name: str) -> None:
    v = VECTORS_BY_NAME[name]
    f = v["fields"]
    header = L.REQUEST_HEADER.pack(f["function_id"], f["request_len"]) + L.U64.pack(f["seq"])
    assert header + encode_pieces(f["payload"], f["request_len"]) == v["bytes"]
    assert L.REQUEST_HEADER.unpack_from(v["bytes"], 0) == (f["function_id"], f["request_len"])
    assert L.U64.unpack_from(v["bytes"], L.OFF_REQUEST_SEQ) == (f["seq"],)


@pytest.mark.parametrize("name", [v["name"] for v in vectors_of("response")])
def test_response_vector(name: str) -> None:
    v = VECTORS_BY_NAME[name]
    f = v["fields"]
    status, length, seq = L.RESPONSE_HEADER.unpack_from(v["bytes"], 0)
    assert (status, length, seq) == (f["status"], f["response_len"], f["seq"])
    header = L.RESPONSE_HEADER.pack(status, length, seq) + bytes(L.RESPONSE_HEADER_SIZE - L.RESPONSE_HEADER.size)
    assert header + encode_pieces(f["payload"], length) == v["bytes"]
    payload = v["bytes"][L.RESPONSE_HEADER_SIZE :]
    assert len(payload) == length
    if status != L.STATUS_OK:
        assert payload.decode("utf-8") == f["message"]  # SPEC §6.3: the whole payload is the message


def test_hello_decodes_as_a_client_would() -> None:
    # SPEC §4.1 worked example: one buffer reference at 0, inline text at 24.
    req = VECTORS_BY_NAME["request_hello_python"]["bytes"][L.REQUEST_HEADER_SIZE :]
    seg, reserved, off, length = L.BUF.unpack_from(req, 0)
    assert (seg, reserved, off, length) == (L.INLINE_SEGMENT, 0, 24, 6)
    assert req[off : off + length].decode() == "Python"
    resp = VECTORS_BY_NAME["response_hello"]["bytes"][L.RESPONSE_HEADER_SIZE :]
    seg, reserved, off, length = L.BUF.unpack_from(resp, 0)
    assert (seg, off, length) == (L.INLINE_SEGMENT, 24, 12)
    assert off % L.TAIL_ALIGN == 0 and off + length <= len(resp)
    assert resp[off : off + length].decode() == "hello Python"


def test_hello_person_decodes_as_a_client_would() -> None:
    # Person {name: str @0, age: i64 @24}, size 32: the name's bytes follow the record at 32.
    for name, text in [("request_hello_person", "xiaoming"), ("response_hello_person", "xiaohong")]:
        header = L.REQUEST_HEADER_SIZE if name.startswith("request") else L.RESPONSE_HEADER_SIZE
        payload = VECTORS_BY_NAME[name]["bytes"][header:]
        seg, _, off, length = L.BUF.unpack_from(payload, 0)
        (age,) = struct.unpack_from("<q", payload, 24)
        assert (seg, off, age) == (L.INLINE_SEGMENT, 32, 18)
        assert payload[off : off + length].decode() == text


def test_buf_ref_heap() -> None:
    v = VECTORS_BY_NAME["buf_ref_heap"]
    f = v["fields"]
    assert L.BUF.pack(f["segment"], 0, f["offset"], f["length"]) == v["bytes"]


def test_release_entry() -> None:
    v = VECTORS_BY_NAME["release_entry"]
    f = v["fields"]
    assert L.RELEASE_ENTRY.pack(f["segment"], 0, f["offset"]) == v["bytes"]


def test_alloc_uses_the_reserved_id() -> None:
    f = VECTORS_BY_NAME["request_alloc_800"]["fields"]
    assert f["function_id"] == L.FN_ALLOC


def test_vectors_are_what_the_generator_writes() -> None:
    script = PROTOCOL / "vectors" / "make_vectors.py"
    done = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_options_encode_and_decode_as_the_client_does() -> None:
    # SPEC §4.6: a presence byte, then the value at its alignment; an absent value's bytes are zero.
    f64 = parse("Option<f64>", {})
    assert (f64.size, f64.align, f64.value_at) == (16, 8, 8)
    req = VECTORS_BY_NAME["request_clamp_absent"]
    payload = bytearray(req["fields"]["request_len"])
    mv = memoryview(payload)
    parse("f64", {}).write(mv, 0, 5.0, CHECKING)
    for at, value in [(8, None), (24, 2.5)]:
        f64.write(mv, at, f64.prep(value, CHECKING, "bound"), CHECKING)
    assert bytes(payload) == req["bytes"][L.REQUEST_HEADER_SIZE :]
    assert [f64.read(mv, at, NO_RESP) for at in (8, 24)] == [None, 2.5]
    resp = memoryview(VECTORS_BY_NAME["response_index_of_2"]["bytes"][L.RESPONSE_HEADER_SIZE :])
    assert parse("Option<u64>", {}).read(resp, 0, NO_RESP) == 2
    with pytest.raises(CorruptResponse, match="presence byte"):
        parse("Option<u64>", {}).read(memoryview(b"\x02" + bytes(15)), 0, NO_RESP)
