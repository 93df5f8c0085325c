"""The article's recommendation: the kernels behind an HTTP/1.1 microservice (axum on tokio,
``benchmarks/servers/src/bin/http_server.rs``), called over one keep-alive ``http.client``
connection to 127.0.0.1. Owns that server's build and process, and the helpers the gRPC
alternative shares for building and running a server of ``benchmarks/servers``.

Scalars travel as JSON; arrays as raw little-endian f64 bytes (never JSON), sent straight from the
numpy array's memory and read straight into a new numpy array, so HTTP pays for framing, the socket
and one copy each way, not for number formatting. Requests up to 1 GiB (1e8 f64) are accepted.
"""

from __future__ import annotations

import http.client
import json
import select
import struct
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from .base import Alternative, Session
from .ffi import make_f64_array

REPO = Path(__file__).resolve().parents[2]
SERVERS = REPO / "benchmarks" / "servers"
BATCH = 1000  # pairs per /add_batch request (and per gRPC AddStream message)


def build_server(binary: str) -> Path:
    """Release-builds one server binary of benchmarks/servers and returns its path."""
    subprocess.run(
        ["cargo", "build", "--release", "--quiet", "--manifest-path", str(SERVERS / "Cargo.toml"),
         "--bin", binary],
        cwd=REPO,
        check=True,
    )
    return SERVERS / "target" / "release" / binary


def start_server(exe: Path, timeout_s: float = 30.0) -> tuple[subprocess.Popen, int]:
    """Starts a server and returns it with the port it announced ("LISTENING <port>", its first line
    on stdout). Its stdin stays a pipe from us: the server exits when that pipe closes, so it
    cannot outlive this process even if teardown never runs."""
    proc = subprocess.Popen([str(exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        # Bounded wait: a server that hangs before announcing must not hang the benchmark.
        ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
        line = proc.stdout.readline().decode() if ready else ""
        if not line.startswith("LISTENING "):
            raise RuntimeError(f"{exe.name} announced no port: {line!r}, exit {proc.poll()}")
        return proc, int(line.split()[1])
    except BaseException:
        stop_server(proc)
        raise


def stop_server(proc: subprocess.Popen | None) -> None:
    """Closes the server's stdin (its signal to exit); terminates, then kills it if it lingers."""
    if proc is None:
        return
    for stream in (proc.stdin, proc.stdout):
        if stream:
            stream.close()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def f64_body(xs: Any) -> memoryview:
    """xs's bytes, without copying. The check keeps a wrong array from being sent as doubles."""
    if not isinstance(xs, np.ndarray) or xs.dtype != np.float64 or not xs.flags.c_contiguous:
        raise TypeError("expected a C-contiguous float64 numpy array")
    return memoryview(xs).cast("B")


_JSON = {"Content-Type": "application/json"}
_RAW = {"Content-Type": "application/octet-stream"}


class HttpSession(Session):
    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        self.conn.connect()  # http.client sets TCP_NODELAY on connect

    def _response(self) -> http.client.HTTPResponse:
        resp = self.conn.getresponse()
        if resp.status != 200:
            body = resp.read()
            try:
                err = json.loads(body)
            except ValueError:
                raise RuntimeError(f"HTTP {resp.status}: {body[:200]!r}") from None
            if err.get("error") == "overflow":
                raise OverflowError(err["message"])
            raise ValueError(err.get("message", err))
        return resp

    def _json(self, method: str, path: str, payload: Any = None) -> Any:
        body = None if payload is None else json.dumps(payload)
        self.conn.request(method, path, body, _JSON if body is not None else {})
        return json.loads(self._response().read())

    def _raw(self, path: str, body: Any) -> http.client.HTTPResponse:
        self.conn.request("POST", path, body, _RAW)
        return self._response()

    def _f64_response(self, resp: http.client.HTTPResponse) -> np.ndarray:
        """Reads the f64 body straight into a new (writeable) numpy array."""
        if resp.length is None:  # not sent by this server (it always gives Content-Length)
            return np.frombuffer(resp.read(), dtype=np.float64).copy()
        n = resp.length
        out = np.empty(n // 8, dtype=np.float64)
        view = memoryview(out).cast("B")
        got = 0
        while got < n:
            k = resp.readinto(view[got:])
            if not k:
                raise ConnectionError(f"response ended after {got} of {n} bytes")
            got += k
        if n == 0:
            resp.read()  # marks the (empty) response finished, else the connection stays busy
        return out

    def add(self, a: int, b: int) -> int:
        return self._json("POST", "/add", {"a": a, "b": b})["result"]

    def hello(self, name: str) -> str:
        return self._json("POST", "/hello", {"name": name})["result"]

    def hello_person(self, name: str, age: int) -> tuple[str, int]:
        p = self._json("POST", "/hello_person", {"name": name, "age": age})
        return p["name"], p["age"]

    def multi_return(self) -> tuple[int, int]:
        a, b = self._json("GET", "/multi_return")["result"]
        return a, b

    def make_array(self, n: int) -> Any:
        return make_f64_array(n)

    def sum(self, xs: Any) -> float:
        return struct.unpack("<d", self._raw("/sum", f64_body(xs)).read())[0]

    def scale(self, xs: Any, k: float) -> Any:
        # repr() of a float round-trips exactly and is what the server's parser reads.
        return self._f64_response(self._raw(f"/scale?k={float(k)!r}", f64_body(xs)))

    def sha256(self, data: bytes) -> bytes:
        # A memoryview is sent as is; bytes would first be concatenated onto the headers (a copy).
        return self._raw("/sha256", memoryview(data)).read()

    def filter_gt(self, xs: Any, t: float) -> Any:
        return self._f64_response(self._raw(f"/filter_gt?t={float(t)!r}", f64_body(xs)))

    def add_many(self, n: int) -> list[int]:
        out: list[int] = []
        for lo in range(0, n, BATCH):
            pairs = [[i, 1] for i in range(lo, min(n, lo + BATCH))]
            out += self._json("POST", "/add_batch", pairs)["result"]
        return out

    def close(self) -> None:
        self.conn.close()


class Http(Alternative):
    name = "http"
    label = "HTTP keep-alive (axum) + http.client"

    def __init__(self) -> None:
        self.port = 0  # plain data, so the runner can copy it into its client processes
        self._proc: subprocess.Popen | None = None

    def setup(self) -> None:
        # The port is bound (and listening) before it is announced, so clients can connect at once.
        self._proc, self.port = start_server(build_server("http_server"))

    def session(self) -> Session:
        return HttpSession(self.port)

    def teardown(self) -> None:
        stop_server(self._proc)
        self._proc = None

    def server_pids(self) -> list[int]:
        return [self._proc.pid] if self._proc else []
