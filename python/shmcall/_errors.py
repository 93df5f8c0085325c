"""The exceptions shmcall raises: the tree, when each is raised and what to do, is
``ShmcallError``'s docstring (``help(shmcall.ShmcallError)``)."""

from __future__ import annotations

from . import _layout

__all__ = [
    "ConnectionLost",
    "CorruptResponse",
    "DaemonUnavailable",
    "LimitExceeded",
    "NotPermitted",
    "ProtocolError",
    "RemoteError",
    "RemotePanic",
    "RequestRejected",
    "SharedMemoryExhausted",
    "ShmcallError",
    "UnknownFunction",
    "VersionMismatch",
]


class ShmcallError(Exception):
    """Base class of every shmcall error. The tree, when each is raised, and whether trying again
    can succeed::

        ShmcallError
        ├── DaemonUnavailable (ConnectionError)   connect(): no daemon listens and none could be started.
        │                                         Retry once one runs (or let connect start one).
        ├── ConnectionLost (ConnectionError)      a call or connect: the daemon exited, crashed or was
        │                                         stopped. The client is done: connect again. A call
        │                                         in flight when it happened may or may not have run.
        ├── NotPermitted (PermissionError)        connect(): the daemon does not admit this user
        │                                         (serve --allow-uid/--allow-gid). Not retryable.
        ├── ProtocolError                         the two sides disagree about the protocol:
        │   ├── VersionMismatch                   connect(): another protocol version or layout.
        │   │                                     Not retryable: match client and daemon versions.
        │   ├── CorruptResponse                   a call: a response broke the layout rules. The
        │   │                                     thread's channel is given up; the next call opens
        │   │                                     a new one. A daemon bug: please report it.
        │   ├── RequestRejected                   a call: the daemon refused the request as malformed.
        │   │                                     A client bug: please report it.
        │   └── UnknownFunction                   a call: the daemon has no function of that id
        │                                         (restarted with another binary?): connect again.
        ├── LimitExceeded                         connect() or a thread's first call: a per-client
        │                                         limit of the daemon (connections, channels, message
        │                                         rate), named with its serve flag. Retry after
        │                                         closing clients or threads, or raise the limit.
        ├── SharedMemoryExhausted (MemoryError)   a call or an array: no shared memory for an argument
        │                                         or result (machine, --heap-limit or --max-blocks).
        │                                         Retry after dropping arrays.
        └── RemoteError                           a call: the function returned an error (message,
            │                                     function). Retrying is the function's business.
            └── RemotePanic                       a call: the function panicked; the daemon caught it
                                                  and keeps serving.

    Argument problems raise the built-in ``TypeError``, ``ValueError`` or ``OverflowError`` before
    anything is sent (nothing ran: fix the call). A call that outlives its ``timeout`` raises the
    built-in ``TimeoutError``: the function may still be running; the client stays usable (the late
    response is discarded when it comes), so the call can be retried."""


class DaemonUnavailable(ShmcallError, ConnectionError):
    """No daemon listens on the socket and none could be started."""


class ConnectionLost(ShmcallError, ConnectionError):
    """The daemon closed the connection (it exited, crashed, or was stopped)."""


class NotPermitted(ShmcallError, PermissionError):
    """The daemon does not admit this process's user: it serves its own user and those it was told
    to allow (``serve --allow-uid``/``--allow-gid``); the message names both sides."""


class ProtocolError(ShmcallError):
    """The client and the daemon disagree about the protocol."""


class VersionMismatch(ProtocolError):
    """The daemon speaks another protocol version or layout; the message names both."""


class CorruptResponse(ProtocolError):
    """A response, segment or control message broke the layout rules."""


class RequestRejected(ProtocolError):
    """The daemon refused a request as malformed (a client bug: please report it)."""


class UnknownFunction(ProtocolError):
    """The daemon has no function with the id the client sent."""


class LimitExceeded(ShmcallError):
    """The daemon refused this client more than a per-client limit allows: connections per user, channels
    (threads) per connection, control messages a second (the daemon then closes the connection). The
    message names the limit and the ``serve`` flag that raises it. Also raised, rarely, when the daemon
    itself lacks the descriptors or memory for a new channel."""


class SharedMemoryExhausted(ShmcallError, MemoryError):
    """The daemon could not supply the shared memory an argument or result needs, or the connection
    holds as many shared blocks as the daemon allows (``serve --max-blocks``); the message says which."""


class RemoteError(ShmcallError):
    """The daemon function returned an error; ``message`` is its text, ``function`` its name."""

    def __init__(self, message: str, function: str = "") -> None:
        super().__init__(f"{function}: {message}" if function else message)
        self.message = message
        self.function = function


class RemotePanic(RemoteError):
    """The daemon function panicked; the daemon caught it and keeps serving."""


# Every non-OK status maps to exactly one class (tested: a status without a class fails the suite).
STATUS_ERRORS: dict[int, type[ShmcallError]] = {
    _layout.STATUS_ERROR: RemoteError,
    _layout.STATUS_PANIC: RemotePanic,
    _layout.STATUS_BAD_REQUEST: RequestRejected,
    _layout.STATUS_UNKNOWN_FUNCTION: UnknownFunction,
    _layout.STATUS_OUT_OF_MEMORY: SharedMemoryExhausted,
}


def refusal_error(kind: object, message: str) -> ShmcallError:
    """The exception for an ``error`` message of the daemon (SPEC §2.3), by its ``kind``."""
    if kind == "not_permitted":
        return NotPermitted(f"daemon refused: {message}")
    if kind in ("version_mismatch", "layout_mismatch"):
        return VersionMismatch(f"daemon refused: {message}")
    if kind == "resources":
        return LimitExceeded(f"daemon refused: {message}")
    return ProtocolError(f"daemon refused: {message}")


def status_error(status: int, message: str, function: str) -> ShmcallError:
    """The exception for a failed response."""
    cls = STATUS_ERRORS.get(status)
    if cls is None:
        return CorruptResponse(f"{function}: unknown response status {status}: {message}")
    if issubclass(cls, RemoteError):
        return cls(message, function)
    return cls(f"{function}: {message}")
