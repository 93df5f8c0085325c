"""shmcall: call compiled Rust functions in the ``shmcalld`` daemon through shared memory.

>>> import shmcall
>>> with shmcall.connect() as c:
...     c.add(2, 3)
5

Pure Python (standard library only; numpy is used when installed). ``pip install`` of the project
installs this package and the ``shmcalld`` binary beside it. See ``protocol/SPEC.md`` for the wire
format and ``README.md`` for the tour.
"""

from __future__ import annotations

from . import _install
from ._client import Client, connect
from ._daemon import DaemonInfo, default_socket_path
from ._errors import (
    ConnectionLost,
    CorruptResponse,
    DaemonUnavailable,
    LimitExceeded,
    NotPermitted,
    ProtocolError,
    RemoteError,
    RemotePanic,
    RequestRejected,
    SharedMemoryExhausted,
    ShmcallError,
    UnknownFunction,
    VersionMismatch,
)
from ._layout import PROTOCOL_VERSION
from ._values import Ref, Vec

__version__ = _install.version()  # Cargo.toml's, as the daemon's `--version`

__all__ = [
    "Client",
    "ConnectionLost",
    "CorruptResponse",
    "DaemonInfo",
    "DaemonUnavailable",
    "LimitExceeded",
    "NotPermitted",
    "PROTOCOL_VERSION",
    "ProtocolError",
    "Ref",
    "RemoteError",
    "RemotePanic",
    "RequestRejected",
    "SharedMemoryExhausted",
    "ShmcallError",
    "UnknownFunction",
    "Vec",
    "VersionMismatch",
    "connect",
    "default_socket_path",
]

for _name in __all__:
    _obj = globals()[_name]
    if hasattr(_obj, "__module__") and not isinstance(_obj, int):
        try:
            _obj.__module__ = "shmcall"
        except (AttributeError, TypeError):
            pass
del _name, _obj
