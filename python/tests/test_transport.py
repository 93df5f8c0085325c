"""The client's two control transports and two doorbell kinds (SPEC §2.2, §2.6), against sockets and
descriptors these tests make themselves, so every framing case (split frames, frames back to back,
descriptors, lies about lengths) can be produced on purpose; a daemon only for what its log says of its
backend. The daemon's side of the same
framing is tested in Rust (src/sys/posix/stream.rs); the whole suite runs against both daemons."""

from __future__ import annotations

import array
import errno
import json
import os
import socket
import stat
import threading
import time
from pathlib import Path

import pytest

import shmcall
from shmcall import _doorbell, _transport
from shmcall._errors import ConnectionLost, CorruptResponse

from conftest import Daemon, fd_closed, transport_of


def frame(data: bytes) -> bytes:
    return len(data).to_bytes(4, "little") + data


def send_with_fds(sock: socket.socket, data: bytes, fds: list[int]) -> None:
    """One send of ``data`` with ``fds`` attached to its first byte, as the daemon sends a frame."""
    sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])


@pytest.fixture
def listener(tmp_path):
    """A listening socket of a given type on a fresh path: ``listener(socket.SOCK_STREAM)``."""
    made: list[socket.socket] = []

    def make(kind: int) -> tuple[socket.socket, str]:
        path = str(tmp_path / f"l{len(made)}.sock")
        s = socket.socket(socket.AF_UNIX, kind)
        s.bind(path)
        s.listen()
        made.append(s)
        return s, path

    yield make
    for s in made:
        s.close()


@pytest.fixture
def stream_pair():
    """A client `StreamTransport` and the daemon's end of its socket."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    t = _transport.StreamTransport(a)
    yield t, b
    t.close()
    b.close()


def test_connect_speaks_whichever_transport_the_listener_offers(listener, tmp_path):
    for kind, name in [(socket.SOCK_SEQPACKET, "seqpacket"), (socket.SOCK_STREAM, "stream")]:
        server, path = listener(kind)
        t = _transport.connect(path)
        conn, _ = server.accept()
        assert t.kind == name
        t.send(b'{"op":"status"}')
        expected = b'{"op":"status"}' if name == "seqpacket" else frame(b'{"op":"status"}')
        assert conn.recv(100) == expected, "seqpacket sends the message, a stream its frame"
        assert t.peer_pid() == os.getpid()
        conn.close()
        t.close()
    with pytest.raises(shmcall.DaemonUnavailable, match="no daemon is listening on"):
        _transport.connect(str(tmp_path / "nobody.sock"))


def test_a_stream_is_used_where_seqpacket_sockets_cannot_be_made(listener, monkeypatch):
    server, path = listener(socket.SOCK_STREAM)
    real = socket.socket

    def no_seqpacket(family: int = -1, kind: int = -1, *args: object) -> socket.socket:
        if kind == socket.SOCK_SEQPACKET:
            raise OSError(errno.EPROTONOSUPPORT, "Protocol not supported")
        return real(family, kind, *args)

    monkeypatch.setattr(socket, "socket", no_seqpacket)
    t = _transport.connect(path)
    assert t.kind == "stream"
    t.close()


def test_frames_split_or_back_to_back_arrive_whole_with_their_descriptors(stream_pair):
    t, daemon = stream_pair
    assert t.recv(block=False) is None, "nothing has begun to arrive"
    r, w = os.pipe()
    try:
        # Two frames in one send, the second's descriptors riding its first byte.
        send_with_fds(daemon, frame(b'{"op":"a"}'), [])
        send_with_fds(daemon, frame(b'{"op":"b"}'), [r, w])
        daemon.sendall(frame(b'{"op":"c"}'))
        a, b, c = (t.recv(block=True) for _ in range(3))
        assert (a.data, a.fds) == (b'{"op":"a"}', [])
        assert b.data == b'{"op":"b"}' and len(b.fds) == 2
        assert all(stat.S_ISFIFO(os.fstat(fd).st_mode) for fd in b.fds), "the pipe's ends, received"
        _transport.close_all(b.fds)
        assert (c.data, c.fds) == (b'{"op":"c"}', [])
    finally:
        os.close(r)
        os.close(w)

    # A frame in pieces: a non-blocking receive that finds its first byte waits for the rest.
    whole = frame(json.dumps({"op": "welcome", "manifest": "x" * 100_000}).encode())
    cuts = [0, 1, 3, 50, 70_000, len(whole)]

    def trickle() -> None:
        for start, end in zip(cuts, cuts[1:]):
            daemon.sendall(whole[start:end])
            time.sleep(0.02)

    sender = threading.Thread(target=trickle)
    sender.start()
    while (got := t.recv(block=False)) is None:
        time.sleep(0.001)
    sender.join()
    assert got.data == whole[4:]


def test_the_end_of_the_stream_between_frames_and_within_one(stream_pair):
    t, daemon = stream_pair
    daemon.sendall(frame(b'{"op":"last"}'))
    daemon.shutdown(socket.SHUT_WR)
    assert t.recv(block=True).data == b'{"op":"last"}'
    assert t.recv(block=True) == (b"", []), "closed between frames: the end"

    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    cut = _transport.StreamTransport(a)
    b.sendall(frame(b'{"op":"cut short"}')[:9])
    b.close()
    with pytest.raises(ConnectionLost, match="middle of a message"):
        cut.recv(block=True)
    with pytest.raises(CorruptResponse, match="out of step"):
        cut.recv(block=True)
    cut.close()


@pytest.mark.parametrize("length", [0, _transport.MAX_MESSAGE + 1, (1 << 32) - 1])
def test_a_length_out_of_bounds_is_refused_before_reading_on(length):
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    t = _transport.StreamTransport(a)
    b.sendall(length.to_bytes(4, "little") + b'{"op":"x"}')
    with pytest.raises(CorruptResponse, match=f"{length} bytes announced"):
        t.recv(block=True)
    with pytest.raises(CorruptResponse, match="out of step"):
        t.recv(block=True)  # where the next frame starts is unknown: no guessing
    t.close()
    b.close()


def test_too_many_descriptors_are_closed_and_refused(stream_pair):
    t, daemon = stream_pair
    fds = [os.open(os.devnull, os.O_RDONLY) for _ in range(_transport.MAX_FDS + 2)]
    try:
        send_with_fds(daemon, frame(b'{"op":"x"}'), fds)
        with pytest.raises(CorruptResponse, match="more than 4 descriptors"):
            t.recv(block=True)
    finally:
        _transport.close_all(fds)


def test_pipe_doorbells_ring_and_drain_like_eventfds():
    req_r, req_w = os.pipe()
    resp_r, resp_w = os.pipe()
    try:
        bells = _doorbell.doorbells([req_w, resp_r, resp_w])
        assert bells == (req_w, resp_r, resp_w)
        assert not any(os.get_blocking(fd) for fd in (req_w, resp_r, resp_w)), "made non-blocking"
        for _ in range(20_000):  # more than a pipe holds: the surplus is dropped, never waited on
            _doorbell.ring(bells.ring)
        assert len(os.read(req_r, 8)) == 8, "a ring is the 8-byte 1"
        _doorbell.ring(bells.wake)
        _doorbell.ring(bells.wake)
        _doorbell.drain(bells.wait)
        _doorbell.drain(bells.wait)  # nothing left: no wait, no error
        assert not os.get_blocking(resp_r) and not _readable(resp_r)
        os.close(req_r)
        req_r = -1
        _doorbell.ring(bells.ring)  # the daemon dropped the channel: EPIPE is no error here
    finally:
        _transport.close_all([fd for fd in (req_r, req_w, resp_r, resp_w) if fd >= 0])


@pytest.mark.skipif(not hasattr(os, "eventfd"), reason="eventfds are Linux's (os.eventfd)")
def test_eventfd_doorbells_are_rung_and_waited_on_through_one_descriptor():
    req, resp = os.eventfd(0, os.EFD_NONBLOCK), os.eventfd(0, os.EFD_NONBLOCK)
    try:
        bells = _doorbell.doorbells([req, resp])
        assert bells == (req, resp, resp)
        _doorbell.ring(bells.wake)
        _doorbell.ring(bells.wake)
        assert _readable(resp)
        _doorbell.drain(bells.wait)
        assert not _readable(resp), "one read resets the count"
    finally:
        _transport.close_all([req, resp])


def test_doorbell_descriptors_that_are_neither_kind_are_refused():
    files = [os.open(os.devnull, os.O_RDWR) for _ in range(3)]
    try:
        with pytest.raises(CorruptResponse, match="must be pipe ends"):
            _doorbell.doorbells(files)
        with pytest.raises(CorruptResponse, match="1 doorbell descriptors"):
            _doorbell.doorbells(files[:1])
    finally:
        _transport.close_all(files)


def test_a_channel_refused_for_its_descriptors_closes_every_one_of_them():
    """A `channel` message whose doorbells are neither kind, or whose segment is short, is a corrupt
    response, and the channel closes every descriptor it was handed."""
    from types import SimpleNamespace

    from shmcall._channel import Channel
    from shmcall._heap import Heap

    connection = SimpleNamespace(heap=Heap())
    fds = [os.open(os.devnull, os.O_RDWR) for _ in range(4)]
    with pytest.raises(CorruptResponse, match="pipe ends"):
        Channel(connection, 0, fds, 1 << 16)
    assert all(fd_closed(fd) for fd in fds)

    short = os.memfd_create("short") if hasattr(os, "memfd_create") else os.open(os.devnull, os.O_RDWR)
    req_r, req_w = os.pipe()
    resp_r, resp_w = os.pipe()
    with pytest.raises(CorruptResponse, match="announced as 65536"):
        Channel(connection, 0, [short, req_w, resp_r, resp_w], 1 << 16)
    assert all(fd_closed(fd) for fd in (short, req_w, resp_r, resp_w))
    os.close(req_r)


def test_the_daemon_under_test_offers_the_transport_expected(daemon, c):
    """``scripts/test.sh`` names the transport each run's daemon must offer, so that a build that
    quietly fell back to the other backend fails here rather than testing one backend twice."""
    kind = transport_of(daemon.socket)
    assert kind == os.environ.get("SHMCALL_EXPECT_TRANSPORT", kind)
    c.add(1, 2)
    bells = c._session.local.ch.bells
    if kind == "stream":
        assert len(set(bells)) == 3 and all(stat.S_ISFIFO(os.fstat(fd).st_mode) for fd in bells), "pipe doorbells"
    else:
        assert bells.wait == bells.wake != bells.ring, "eventfd doorbells: rung and waited on through one descriptor"


def test_a_frame_left_unfinished_is_refused_and_stalls_nobody_else(daemon, c):
    if transport_of(daemon.socket) != "stream":
        pytest.skip("a seqpacket message arrives whole: there is no frame to leave unfinished")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(daemon.socket)
        s.settimeout(10)
        started = time.monotonic()
        s.sendall(frame(b'{"op":"status"}')[:9])  # the length and half the message, then nothing
        assert c.add(2, 3) == 5, "other connections are served meanwhile"
        refusal = _transport.StreamTransport(s).recv(block=True)
        waited = time.monotonic() - started
    msg = json.loads(refusal.data)
    assert (msg["op"], msg["kind"]) == ("error", "bad_message") and "not completed within 2s" in msg["message"], msg
    assert 1.9 < waited < 8, waited


def _readable(fd: int) -> bool:
    import select

    return bool(select.select([fd], [], [], 0)[0])


def _listening_line(d: Daemon) -> str:
    """The daemon's "listening on" log line (written just after the socket appears)."""
    log = Path(d.socket).with_suffix(".log")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if "listening on" in line:
                return line
        time.sleep(0.01)
    raise AssertionError(f"no 'listening on' line: {log.read_text()}")


def test_the_log_says_whether_large_blocks_get_huge_pages(tmp_path):
    """The Linux backend backs large blocks with huge pages unless told not to; the portable backend
    cannot, and its log says so rather than "on"."""
    with Daemon(tmp_path / "d.sock") as d:
        made = "on" if transport_of(d.socket) == "seqpacket" else "none on this backend"
        assert f"huge pages for large blocks: {made}," in _listening_line(d)
    with Daemon(tmp_path / "e.sock", "--no-huge-pages") as d:
        assert "huge pages for large blocks: off," in _listening_line(d)
