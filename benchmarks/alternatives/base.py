"""The interface every compared approach implements, so the runner times identical operations.

An ``Alternative`` is set up once per run (build, start servers) and torn down at the end; a
``Session`` is one client (one per process in the multi-process runs, created inside that process).
Every operation returns its result so the runner can verify it before timing anything.
"""

from __future__ import annotations

import abc
from typing import Any


class Session(abc.ABC):
    """One client of an approach. All methods do one real call (or one batch) each.

    The runner takes ``s.add``, ``s.hello``, ``s.hello_person`` and ``s.multi_return`` once and
    times calls of them: where one callable of the approach is the whole operation (shmcall's
    ``c.add``, not several ctypes calls plus checks), a session binds it in ``__init__`` as an
    instance attribute of the same name, shadowing the method, so the figure is the call and not a
    method forwarding to it (one more Python call, ~80 ns). ``hello_person`` always stays a method: building and unpacking the struct is part of it.
    An operation an approach does not have raises NotImplementedError (at verification, before
    anything is timed); the runner then skips it for that approach with a note.
    """

    @abc.abstractmethod
    def add(self, a: int, b: int) -> int: ...

    @abc.abstractmethod
    def hello(self, name: str) -> str: ...

    @abc.abstractmethod
    def hello_person(self, name: str, age: int) -> tuple[str, int]:
        """Returns ("xiaohong", age)."""

    @abc.abstractmethod
    def multi_return(self) -> tuple[int, int]: ...

    @abc.abstractmethod
    def make_array(self, n: int) -> Any:
        """An f64 array of n elements with x[i] = (i % 1000) * 0.25, where this approach wants it
        (shared memory for shmcall, a numpy array otherwise). Not timed."""

    @abc.abstractmethod
    def sum(self, xs: Any) -> float: ...

    @abc.abstractmethod
    def scale(self, xs: Any, k: float) -> Any:
        """Scales by k; returns the scaled array as the caller sees it afterwards (in place where
        the approach allows it, else the array sent back)."""

    @abc.abstractmethod
    def sha256(self, data: bytes) -> bytes: ...

    @abc.abstractmethod
    def filter_gt(self, xs: Any, t: float) -> Any:
        """The elements > t, as an array-like."""

    def add_many(self, n: int) -> list[int]:
        """n calls add(i, 1) for i in range(n), as fast as this approach allows (pipelined or
        batched where it can be). The default is a plain loop."""
        return [self.add(i, 1) for i in range(n)]

    def close(self) -> None:
        pass


class Alternative(abc.ABC):
    """One approach."""

    name = ""  # short id used on the command line and in the CSV
    label = ""  # shown in the report

    def unavailable(self) -> str | None:
        """Why this approach cannot run here (e.g. no Go toolchain), or None."""
        return None

    @abc.abstractmethod
    def setup(self) -> None:
        """Builds what it needs (release builds) and starts its servers on loopback/Unix sockets."""

    @abc.abstractmethod
    def session(self) -> Session:
        """A new client; called in the process that uses it."""

    def teardown(self) -> None:
        """Stops every server this alternative started."""

    def server_pids(self) -> list[int]:
        """Processes whose CPU time counts as the server side (empty for in-process approaches)."""
        return []
