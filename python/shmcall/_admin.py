"""Administrative connections (SPEC §2.3): a connection of its own whose first message is ``status``
gets the daemon's status report, with no handshake and no channel. The report reads as
``<daemon> status`` prints it."""

from __future__ import annotations

import json
from typing import Any

from ._errors import ConnectionLost, CorruptResponse, DaemonUnavailable, NotPermitted, ProtocolError
from ._transport import close_all, connect

__all__: list[str] = []

ANSWER_TIMEOUT = 10.0  # seconds, as the daemon's own command waits


def ask(socket_path: str, op: str, expected: str, timeout: float = ANSWER_TIMEOUT) -> dict[str, Any]:
    """Sends ``{"op": op}`` as the first message of a new connection, over whichever transport the
    daemon offers, and returns the daemon's answer, which must be a message ``expected``."""
    transport = connect(socket_path)
    try:
        transport.settimeout(timeout)
        transport.send(json.dumps({"op": op}).encode())
        received = transport.recv(block=True)
    except TimeoutError as e:
        raise DaemonUnavailable(f"the daemon on {socket_path} did not answer `{op}` within {timeout} s") from e
    except OSError as e:
        raise ConnectionLost(f"the daemon on {socket_path} did not answer `{op}`: {e}") from e
    finally:
        transport.close()
    assert received is not None  # a blocking receive
    data, fds = received
    close_all(fds)
    if not data:
        raise ConnectionLost(f"the daemon on {socket_path} closed the connection without answering `{op}`")
    try:
        answer = json.loads(data)
        if not isinstance(answer, dict):
            raise ValueError(f"a JSON {type(answer).__name__}, not an object")
    except ValueError as e:
        raise CorruptResponse(f"the daemon's answer to `{op}` is not a JSON object: {e}") from e
    if answer.get("op") == expected:
        return answer
    if answer.get("op") == "error" and answer.get("kind") == "not_permitted":
        raise NotPermitted(f"the daemon refused `{op}`: {answer.get('message')}")
    if answer.get("op") == "error":
        raise ProtocolError(f"the daemon refused `{op}`: {answer.get('kind')}: {answer.get('message')}")
    raise CorruptResponse(f"the daemon answered `{op}` with {answer}, not `{expected}`")


def status(socket_path: str) -> dict[str, Any]:
    """The status report of the daemon on ``socket_path`` (SPEC §2.3 lists its members)."""
    report = ask(socket_path, "status", "status")
    del report["op"]
    return report


def status_json(report: dict[str, Any]) -> str:
    """The report as ``<daemon> status --json`` prints it (keys sorted, two-space indent)."""
    return json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def status_text(r: dict[str, Any]) -> str:
    """The report as a table, as ``<daemon> status`` prints it. A member the daemon did not send
    reads as zero or empty."""
    def get(key: str, default: Any = 0) -> Any:
        return r.get(key, default)

    q: dict[str, int] = get("requests", {})
    lines = [
        f"{get('name', '')} {get('version', '')} (shmcall {get('shmcall', '')}, protocol {get('protocol')}), "
        f"pid {get('pid')}, up {_uptime(float(get('uptime_s')))}",
        f"socket         {get('socket', '')}",
        f"clients        {get('clients')} ({get('channels')} channels)",
        f"calls          {get('calls')} ({get('errors')} errors, {get('panics')} panics)",
        f"shared memory  {_bytes(get('shared_memory_bytes'))} mapped, {_bytes(get('heap_allocated_bytes'))} allocated",
        f"requests       {q.get('batch', 0)} batches, {q.get('alloc', 0)} allocations, {q.get('nop', 0)} no-ops, "
        f"{q.get('unknown_function', 0)} of unknown functions",
    ]
    functions: list[dict[str, Any]] = get("functions", [])
    width = max([len("function"), *(len(f.get("name", "")) for f in functions)])
    row = "{:<%d}  {:>10}  {:>7}  {:>7}  {:>10}  {:>10}" % width
    lines += ["", row.format("function", "calls", "errors", "panics", "total", "mean")]
    for f in functions:
        calls, total = f.get("calls", 0), float(f.get("total_s", 0.0))
        mean = _seconds(total / calls) if calls else "-"
        lines.append(row.format(f.get("name", ""), calls, f.get("errors", 0), f.get("panics", 0), _seconds(total), mean))
    return "\n".join(lines) + "\n"


def _uptime(s: float) -> str:
    """``3d 04h``, ``2h 05m``, ``7m 03s``, ``12.5s``."""
    whole = int(s)
    d, h, m, sec = whole // 86_400, whole // 3600 % 24, whole // 60 % 60, whole % 60
    if d:
        return f"{d}d {h:02}h"
    if h:
        return f"{h}h {m:02}m"
    if m:
        return f"{m}m {sec:02}s"
    return f"{s:.1f}s"


def _seconds(s: float) -> str:
    """Three significant digits or so: ``1.23 µs``, ``45.60 ms``, ``2.00 s``."""
    if s == 0:
        return "0"
    if s < 1e-3:
        return f"{s * 1e6:.2f} µs"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def _bytes(n: int) -> str:
    """Binary units: ``512 B``, ``4.0 KiB``, ``32.0 MiB``."""
    units = ["B", "KiB", "MiB", "GiB", "TiB"]
    v, unit = float(n), 0
    while v >= 1024 and unit + 1 < len(units):
        v /= 1024
        unit += 1
    return f"{n} B" if unit == 0 else f"{v:.1f} {units[unit]}"
