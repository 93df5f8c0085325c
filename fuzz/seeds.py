"""Writes the fuzz targets' seed corpora (fuzz/corpus/<target>/seed-*) from the newest golden vectors
(protocol/vectors/<version>/): request halves for `decode`, batches of a vector's function for
`batch`, handshakes with the vectors' protocol version and layout hash for `control`, and small
allocate-release programs for `release`. Standard library only; run by scripts/fuzz.sh."""

from __future__ import annotations

import json
import struct
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FN_ALLOC, FN_BATCH = 0xFFFF0001, 0xFFFF0002


def newest_vectors() -> Path:
    versions = [d for d in (ROOT / "protocol" / "vectors").iterdir() if d.name.isdigit()]
    return max(versions, key=lambda d: int(d.name))


def seed(target: str, name: str, data: bytes) -> None:
    corpus = ROOT / "fuzz" / "corpus" / target
    corpus.mkdir(parents=True, exist_ok=True)
    (corpus / f"seed-{name}").write_bytes(data)


def half(function: int, payload: bytes, seq: int = 1) -> bytes:
    """A request half: function id, request length, seq, payload (SPEC §3.3)."""
    return struct.pack("<IIQ", function, len(payload), seq) + payload


def buf_ref(segment: int, offset: int, length: int) -> bytes:
    return struct.pack("<IIQQ", segment, 0, offset, length)


def batch(function: int, record: bytes, count: int, segment: int = 0) -> bytes:
    """A batch of `count` copies of `record`, inline at offset 40 (or at 40 of heap segment 1)."""
    stride = -len(record) % 8 + len(record)
    records = record.ljust(stride, b"\0") * count
    return struct.pack("<IIQ", function, 0, count) + buf_ref(segment, 40, len(records)) + records


def alloc(n: int) -> bytes:
    """A `release` program's allocation: op 0, then a size of 2 bytes, or 0xFF and 8 bytes."""
    return bytes([0, 0]) + n.to_bytes(2, "little") if n < 1 << 16 else bytes([0, 0xFF]) + n.to_bytes(8, "little")


def main() -> None:
    vectors = newest_vectors()
    meta = json.loads((vectors / "vectors.json").read_text())
    version, layout_hash = meta["format_version"], meta["layout_hash"]
    requests = {p.stem: p.read_bytes() for p in sorted(vectors.glob("request_*.bin"))}
    for name, data in requests.items():
        seed("decode", name, data)

    for name, data in requests.items():
        function, length = struct.unpack_from("<II", data)
        if function >= FN_ALLOC:
            continue
        record = data[16 : 16 + length]
        for count in (1, 3):
            seed("batch", f"{name}-x{count}", half(FN_BATCH, batch(function, record, count)))
        seed("batch", f"{name}-heap", half(FN_BATCH, batch(function, record, 2, segment=1)))

    hello = json.dumps({"op": "hello", "protocol": version, "layout_hash": layout_hash, "client": "fuzz"})
    lines = {
        "hello": [hello],
        "channels": [hello, '{"op":"open_channel"}', '{"op":"open_channel"}'],
        "status": ['{"op":"status"}'],
        "status-after-hello": [hello, '{"op":"status"}'],
        "channel-first": ['{"op":"open_channel"}'],
        "old-version": [hello.replace(f'"protocol": {version}', '"protocol": 1')],
        "other-layout": [hello.replace(layout_hash, "0" * 16)],
        "extra-member": [hello[:-1] + ', "x": 1}'],
        "stop-after-hello": [hello, '{"op":"stop"}'],
    }
    for name, messages in lines.items():
        seed("control", name, "\n".join(messages).encode())

    entry = (vectors / "release_entry.bin").read_bytes()  # (segment, reserved, offset)
    segment, reserved, offset = struct.unpack("<IIQ", entry)
    garbage = bytes([1, 1, 255, segment & 0xFF, reserved & 0xFF]) + (offset & 0xFFFFFF).to_bytes(3, "little")
    programs = {
        "alloc-release": alloc(64) + alloc(4096) + bytes([1, 2, 0, 1, 4]),
        "release-twice": alloc(800) + bytes([1, 2, 0, 0, 4, 1, 1, 0, 4]),
        "wrap-around": (alloc(64) + bytes([1, 1, 0, 4])) * 20,
        "garbage-entry": alloc(64) + garbage + bytes([4]),
        "impossible-tail": alloc(64) + bytes([1, 1, 0, 2, 0xFF, 4, 3, 4]),
        "large-block": alloc(1 << 23) + bytes([1, 1, 0, 4]),
    }
    for name, program in programs.items():
        seed("release", name, program)


if __name__ == "__main__":
    main()
