"""The bytes a real client and a real daemon leave in a channel's slots are the golden vectors' bytes
(protocol/vectors/<version>/, SPEC §9): the vectors' conversation replayed on a fresh channel, its
first call by the general path and the rest by the generated fast paths."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import shmcall
from shmcall import _layout as L

VECTORS = Path(__file__).resolve().parents[2] / "protocol" / "vectors" / str(L.PROTOCOL_VERSION)


def _vectors() -> dict[str, bytes]:
    listing = json.loads((VECTORS / "vectors.json").read_text())
    return {v["name"]: (VECTORS / v["file"]).read_bytes() for v in listing["vectors"]}


def test_slots_hold_the_golden_conversation(daemon):
    vectors = _vectors()
    halves: dict[int, tuple[bytes, bytes]] = {}
    failure: list[BaseException] = []

    def conversation() -> None:  # a thread of its own: a fresh channel, seq 1 in slot 0
        try:
            with shmcall.connect(daemon.socket, spawn=False) as c:

                def keep() -> None:  # the last call's slot, before a later call reuses it
                    ch = c._session.local.ch
                    base, _, rb, _ = ch.slots[ch.seq % ch.slot_count]
                    halves[ch.seq] = (bytes(ch.buf[base:rb]), bytes(ch.buf[rb:base + ch.slot_size]))

                assert c.add(2, 3) == 5
                keep()
                assert c.hello("Python") == "hello Python"
                keep()
                c.hello_person(c.types.Person("xiaoming", 18))
                keep()
                try:
                    c.add(2**63 - 1, 1)
                except shmcall.RemoteError:
                    pass
                keep()
        except BaseException as e:  # noqa: BLE001 - reported by the test thread
            failure.append(e)

    t = threading.Thread(target=conversation)
    t.start()
    t.join(60)
    assert not t.is_alive() and not failure, failure

    for seq, request, response in [(1, "request_add_2_3", "response_add_5"),
                                   (2, "request_hello_python", "response_hello"),
                                   (3, "request_hello_person", "response_hello_person"),
                                   (4, None, "response_error")]:
        req_half, resp_half = halves[seq]
        if request is not None:
            want = vectors[request]
            # Function ids included: the test daemon serves the built-in manifest the vectors used.
            assert req_half[: len(want)] == want, request
        want = vectors[response]
        assert resp_half[: len(want)] == want, response
        # The seq words that published the call are the slot's seq, each in its half's first line.
        assert int.from_bytes(req_half[L.OFF_REQUEST_SEQ : L.OFF_REQUEST_SEQ + 8], "little") == seq
        assert int.from_bytes(resp_half[L.OFF_RESPONSE_SEQ : L.OFF_RESPONSE_SEQ + 8], "little") == seq
