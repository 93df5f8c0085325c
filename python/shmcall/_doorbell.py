"""A channel's doorbells (SPEC §2.6), as the daemon sent them: two eventfds (the Linux backend) or
three pipe ends (the portable backend). The `channel` message's descriptor count says which.

Both kinds are rung and drained the same way here: a ring writes the 8-byte integer 1 (what an
eventfd needs; a pipe takes any bytes), a drain reads until nothing is left (an eventfd gives its
8-byte count in one read, a pipe its bytes in as many reads as it takes). Only which descriptor
plays which part differs: an eventfd is rung and waited on through the same descriptor, a pipe is
rung at its write end and waited on at its read end.
"""

from __future__ import annotations

import os
import stat
from typing import NamedTuple

from ._errors import CorruptResponse

__all__: list[str] = []

_ONE = (1).to_bytes(8, "little")
#: Bytes asked for per read while draining: a read that fills it may have left more behind.
_DRAIN_CHUNK = 256


class Doorbells(NamedTuple):
    """The descriptors of one channel's doorbells, by what the client does with them."""

    ring: int  # the request doorbell: written to wake the daemon
    wait: int  # the response doorbell: polled and drained while the client sleeps
    wake: int  # written to wake the channel's own sleeping thread: `wait` itself, or the pipe's write end

    def close(self) -> None:
        for fd in {self.ring, self.wait, self.wake}:
            try:
                os.close(fd)
            except OSError:
                pass


def doorbells(fds: list[int]) -> Doorbells:
    """The doorbells among a ``channel`` message's descriptors (those after the control segment):
    the request and response eventfds, or the request pipe's write end and the response pipe's read
    and write ends. Raises CorruptResponse for anything else (the caller still owns ``fds``).

    Each is made non-blocking, as the daemon creates them, so that a ring or a drain never waits."""
    if len(fds) == 2:
        bells = Doorbells(fds[0], fds[1], fds[1])
    elif len(fds) == 3:
        for fd in fds:
            if not stat.S_ISFIFO(os.fstat(fd).st_mode):
                raise CorruptResponse("a channel's three doorbell descriptors must be pipe ends")
        bells = Doorbells(fds[0], fds[1], fds[2])
    else:
        raise CorruptResponse(f"a channel with {len(fds)} doorbell descriptors: 2 eventfds or 3 pipe ends expected")
    for fd in fds:
        os.set_blocking(fd, False)
    return bells


def ring(fd: int) -> None:
    """Rings the doorbell written through ``fd``. A full pipe refuses the bytes (``EAGAIN``): the
    rings already in it wake the sleeper as well. A pipe whose read end the daemon has closed
    refuses them too (``EPIPE``; Python ignores SIGPIPE): the daemon has dropped the channel, and
    the control socket's hang-up, which every wait watches, tells the caller so."""
    try:
        os.write(fd, _ONE)
    except (BlockingIOError, BrokenPipeError):
        pass


def drain(fd: int) -> None:
    """Empties the doorbell waited on through ``fd``: every ring so far has been seen."""
    try:
        while len(os.read(fd, _DRAIN_CHUNK)) == _DRAIN_CHUNK:
            pass
    except BlockingIOError:
        pass  # empty (another reader drained it first, or the wake-up was spurious)
