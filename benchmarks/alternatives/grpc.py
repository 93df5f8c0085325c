"""gRPC: the kernels behind a tonic service (``benchmarks/servers/src/bin/grpc_server.rs``,
``benchmarks/servers/proto/bench.proto``) called with grpcio over one channel to 127.0.0.1. Owns
that server's process and the Python stubs, generated at setup with grpc_tools into
``benchmarks/servers/build/grpc_py/`` (not committed).

Arrays travel as ``bytes`` fields of little-endian f64 (``xs.tobytes()`` out, ``np.frombuffer`` in,
so a returned array is read-only). ``add_many`` sends batches of 1000 pairs as the messages of one
bidirectional AddStream call, which grpcio writes from its own thread: batches are pipelined.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from typing import Any

import numpy as np

from .base import Alternative, Session
from .ffi import make_f64_array
from .http import BATCH, SERVERS, build_server, start_server, stop_server

PROTO_DIR = SERVERS / "proto"
STUBS = SERVERS / "build" / "grpc_py"

# The server takes up to 1 GiB per message; grpcio's default cap for receiving is 4 MB.
_OPTIONS = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]


def generate_stubs() -> None:
    """Writes bench_pb2.py and bench_pb2_grpc.py into STUBS unless they are newer than the proto."""
    proto = PROTO_DIR / "bench.proto"
    outs = [STUBS / "bench_pb2.py", STUBS / "bench_pb2_grpc.py"]
    if all(o.exists() and o.stat().st_mtime >= proto.stat().st_mtime for o in outs):
        return
    STUBS.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO_DIR}", f"--python_out={STUBS}",
         f"--grpc_python_out={STUBS}", str(proto)],
        check=True,
    )


def _stubs() -> tuple[Any, Any]:
    # The generated service module imports its message module by its bare name, so the stub
    # directory itself has to be on sys.path.
    if str(STUBS) not in sys.path:
        sys.path.insert(0, str(STUBS))
    import bench_pb2
    import bench_pb2_grpc

    return bench_pb2, bench_pb2_grpc


class GrpcSession(Session):
    def __init__(self, port: int) -> None:
        import grpc

        self._grpc = grpc
        self.pb, pb_grpc = _stubs()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=_OPTIONS)
        grpc.channel_ready_future(self.channel).result(timeout=10)
        self.stub = pb_grpc.BenchStub(self.channel)

    def _overflow(self, e: Exception) -> Exception:
        """OUT_OF_RANGE (the server's i64 overflow) as OverflowError; anything else unchanged."""
        if isinstance(e, self._grpc.RpcError) and e.code() == self._grpc.StatusCode.OUT_OF_RANGE:
            return OverflowError(e.details())
        return e

    def add(self, a: int, b: int) -> int:
        try:
            return self.stub.Add(self.pb.AddRequest(a=a, b=b)).result
        except self._grpc.RpcError as e:
            raise self._overflow(e) from None

    def hello(self, name: str) -> str:
        return self.stub.Hello(self.pb.HelloRequest(name=name)).result

    def hello_person(self, name: str, age: int) -> tuple[str, int]:
        p = self.stub.HelloPerson(self.pb.Person(name=name, age=age))
        return p.name, p.age

    def multi_return(self) -> tuple[int, int]:
        r = self.stub.MultiReturn(self.pb.Empty())
        return r.a, r.b

    def make_array(self, n: int) -> Any:
        return make_f64_array(n)

    @staticmethod
    def _bytes(xs: Any) -> bytes:
        if not isinstance(xs, np.ndarray) or xs.dtype != np.float64:
            raise TypeError("expected a float64 numpy array")
        return xs.tobytes()  # a bytes field takes bytes only: one copy

    def sum(self, xs: Any) -> float:
        return self.stub.Sum(self.pb.F64Array(data=self._bytes(xs))).result

    def scale(self, xs: Any, k: float) -> Any:
        r = self.stub.Scale(self.pb.ScaleRequest(data=self._bytes(xs), k=k))
        return np.frombuffer(r.data, dtype=np.float64)

    def sha256(self, data: bytes) -> bytes:
        return self.stub.Sha256(self.pb.Blob(data=data)).data

    def filter_gt(self, xs: Any, t: float) -> Any:
        r = self.stub.FilterGt(self.pb.FilterRequest(data=self._bytes(xs), t=t))
        return np.frombuffer(r.data, dtype=np.float64)

    def add_many(self, n: int) -> list[int]:
        def batches():
            for lo in range(0, n, BATCH):
                hi = min(n, lo + BATCH)
                yield self.pb.AddBatch(a=range(lo, hi), b=[1] * (hi - lo))

        out: list[int] = []
        try:
            for reply in self.stub.AddStream(batches()):
                out += reply.results
        except self._grpc.RpcError as e:
            raise self._overflow(e) from None
        return out

    def close(self) -> None:
        self.channel.close()


class Grpc(Alternative):
    name = "grpc"
    label = "gRPC (tonic) + grpcio"

    def __init__(self) -> None:
        self.port = 0  # plain data, so the runner can copy it into its client processes
        self._proc = None

    def unavailable(self) -> str | None:
        missing = [m for m in ("grpc", "grpc_tools", "google.protobuf") if not _importable(m)]
        if missing:
            return f"missing {', '.join(missing)} (pip install -r benchmarks/requirements.txt)"
        return None

    def setup(self) -> None:
        generate_stubs()
        self._proc, self.port = start_server(build_server("grpc_server"))

    def session(self) -> Session:
        return GrpcSession(self.port)

    def teardown(self) -> None:
        stop_server(self._proc)
        self._proc = None

    def server_pids(self) -> list[int]:
        return [self._proc.pid] if self._proc else []


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # a missing parent package ("google" for google.protobuf)
        return False
