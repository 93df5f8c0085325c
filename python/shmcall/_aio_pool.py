"""The channels of one event loop (``shmcall.aio``): a small pool of rings its calls share, and the
waits for their responses, done by the loop itself (each channel's response doorbell is registered
with it) rather than by blocking it.

Why a pool, and a queue behind it. The Python client keeps one call in flight per channel (its
`Channel` reads every response before it publishes the next request), and the daemon serves each
channel's requests one after the other, so a channel is the unit of concurrency: a call holds one
from publishing its request to reading its response. Calls beyond the pool's size wait in a FIFO
queue for the next channel given back. Each channel costs the daemon a thread and a control segment,
and more channels than the daemon has cores do not make quick calls faster (see ``DEFAULT_CHANNELS``);
they let slow calls (I/O, sleeps, long kernels) overlap, so the size is a parameter
(``shmcall.aio.connect(channels=...)``). A queue alone (one channel) would serialize slow calls.

How a call waits (SPEC §5.4 "no lost wake-up"): after publishing, it spins a little for the response
(`QUICK_SPIN_NS`; `RANG_SPIN_NS` when it rang a sleeping daemon, whose wake-up takes tens of
microseconds), then runs the sleep handshake (store ``client_waiting``, fence, re-check the response's
seq word, ring a sleeping daemon) and, if the response is not there, awaits a future that the reader
of the channel's response doorbell completes. Sequential ``await c.add`` calls are answered at once
either way (a hot daemon answers within the store and the fence); the spin is for a gather: without
it, its calls went out on every channel of the pool, each found its channel's daemon side asleep
(the pause between two calls of a channel was a loop's turn: too long for the daemon's spin window)
and every call paid two wake-ups, 15 µs a call (a gather of 1,000 ``add``: 50-74k calls/s); with it
the first call waits out the wake-up, the rest find the channel hot, and the gather runs on one
channel without a turn of the loop per call (about 100k calls/s, against 230k for a gather of 1,000
coroutines that do nothing). A call whose caller gave up (cancelled, timed out)
keeps its channel out of the pool until the late response has come and been discarded
(`Channel.abandon`, `settle`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

from . import _layout as L
from ._channel import KICK_AFTER_MS, RANG_SPIN_NS, fence
from ._doorbell import drain
from ._errors import ConnectionLost, CorruptResponse, ShmcallError

if TYPE_CHECKING:
    from ._call import Call
    from ._channel import Channel
    from ._connection import Connection

__all__: list[str] = []

#: Channels an event loop opens at most (calls beyond them queue). A gather of 1,000 ``add`` calls on
#: 2 vCPUs (``benchmarks/aio_bench.py --explore``, medians of 9 interleaved rounds, before the spin of
#: `QUICK_SPIN_NS`): 1, 2 and 4 channels 67k, 70k and 66k calls/s, 8 channels 40k (more daemon
#: threads than cores, taking turns).
#: Slow calls overlap only up to this many: the most that costs quick ones nothing.
DEFAULT_CHANNELS = 4

#: How long a call spins for its response before the sleep handshake, ns, unless it rang a sleeping
#: daemon (then `RANG_SPIN_NS`, the daemon's wake-up): a hot daemon's quick call (an `add` answers in
#: about a microsecond) is answered within it. 0 on one CPU, where the spin would hold off the daemon.
QUICK_SPIN_NS = 20_000 if RANG_SPIN_NS else 0

#: A run of calls answered at once never gives the loop a turn; after this long (seconds) without
#: one, the next call yields once first, so other tasks wait at most about this long.
YIELD_AFTER = 0.001

_W_CLIENT_WAITING = L.OFF_CLIENT_WAITING // 8
_W_STARTED = L.OFF_STARTED // 8
_W_DAEMON_WAITING = L.OFF_DAEMON_WAITING // 8


class Request(Protocol):
    """What a pool needs of a function to call it (`RemoteFunction`): encode the arguments into a
    channel's next request, consume and decode its response, or discard a response nobody awaits."""

    id: int
    name: str

    def encode(self, ch: Channel, args: tuple[Any, ...]) -> tuple[int, int, Call | None]: ...

    def received(self, ch: Channel, seq: int, call: Call | None) -> tuple[int, int]: ...

    def decode(self, ch: Channel, payload: int, rlen: int, args: tuple[Any, ...], call: Call | None) -> Any: ...

    def discard(self, ch: Channel, payload: int, length: int) -> None: ...


class Member:
    """A channel of the pool and the response it waits for, if any."""

    __slots__ = ("ch", "words", "fd", "seq", "word", "waiter", "abandoned", "kick")

    def __init__(self, ch: Channel) -> None:
        self.ch = ch
        self.words = ch.words
        self.fd = ch.resp_fd  # kept: the channel forgets its descriptors when released
        self.seq = 0  # the request whose response is awaited (0: none)
        self.word = 0  # index of that response's seq word in `words`
        self.waiter: asyncio.Future[None] | None = None  # the awaiting call's
        self.abandoned = False  # its caller gave up: discard the response, then rejoin the pool
        self.kick: asyncio.TimerHandle | None = None


def _expire(waiter: asyncio.Future[Any], timeout: float | None) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError(f"no response within {timeout} s"))


class ChannelPool:
    """One event loop's channels; used only from that loop's thread."""

    def __init__(self, connection: Connection, loop: asyncio.AbstractEventLoop, size: int) -> None:
        self.connection = connection
        self.loop = loop
        self.thread = threading.get_ident()
        self.size = size
        self.members: list[Member] = []
        self.idle: list[Member] = []  # a stack: the channel used last is the one the daemon watches
        self.queue: deque[asyncio.Future[Member | None]] = deque()  # None: open a channel
        self.socket_fd = -1  # -1: not watched yet; -2: no longer
        self.lost: BaseException | None = None  # why calls fail from now on (hang-up)
        self.shut = False
        self.last_yield = time.perf_counter()

    # -- calls -----------------------------------------------------------------------------------

    async def call(self, fn: Request, args: tuple[Any, ...], timeout: float | None) -> Any:
        """Calls ``fn`` on one of the pool's channels (waiting for one if all are busy)."""
        if time.perf_counter() - self.last_yield > YIELD_AFTER:
            await asyncio.sleep(0)  # nothing sent yet: a cancellation here is clean
            self.last_yield = time.perf_counter()
        remaining = timeout  # of the call's timeout, once it has a channel
        if self.idle:
            m = self.idle.pop()
        elif timeout is None:
            m = await self.acquire(None)
        else:
            start = self.loop.time()
            m = await self.acquire(timeout)
            remaining = max(0.0, timeout - (self.loop.time() - start))
        ch = m.ch
        try:
            if ch.done < 0:  # closed or forked away meanwhile
                self.drop(m, replaced=True)
                m = self.open()
                ch = m.ch
            seq, length, call = fn.encode(ch, args)
        except BaseException:
            self.give_back(m)
            raise
        rang = ch.publish(seq, fn.id, length)
        word = ch.slots[seq % ch.slot_count][3]
        # A short spin first (see the module's docstring): a call answered within it completes
        # without a turn of the loop, and its channel goes back to the top of the idle stack.
        if m.words[word] < seq and (spin_ns := RANG_SPIN_NS if rang else QUICK_SPIN_NS):
            ch.spin_for(word, seq, spin_ns)
        waiter = self.sleep(m, seq, word, rang)
        if waiter is not None:
            timer = None if remaining is None else self.loop.call_later(remaining, _expire, waiter, timeout)
            try:
                await waiter
            except BaseException:
                self.abandon(m, fn, seq, word, call, args)
                raise
            finally:
                if timer is not None:
                    timer.cancel()
            self.last_yield = time.perf_counter()
            if ch.closed:  # by another thread, between the wake-up and now
                self.give_back(m)
                raise ConnectionLost("the client was closed while this call waited for its response")
        try:
            payload, rlen = fn.received(ch, seq, call)
            return fn.decode(ch, payload, rlen, args, call)
        except CorruptResponse:
            ch.poison()  # this channel's words cannot be trusted: the pool opens another
            raise
        finally:
            self.give_back(m)

    async def acquire(self, timeout: float | None) -> Member:
        """A channel for a call: a new one while the pool is below its size, else the next one
        given back (FIFO). ``timeout`` bounds the wait, as it bounds the call's."""
        if self.lost is not None:
            raise ConnectionLost(str(self.lost))
        if self.shut:
            raise ShmcallError("the client is closed")
        if len(self.members) < self.size:
            return self.open()
        turn: asyncio.Future[Member | None] = self.loop.create_future()
        self.queue.append(turn)
        timer = None if timeout is None else self.loop.call_later(timeout, _expire, turn, timeout)
        try:
            m = await turn
        except BaseException:
            # Handed a channel just before being cancelled: it goes to the next in line.
            if turn.done() and not turn.cancelled() and turn.exception() is None:
                given = turn.result()
                if given is not None:
                    self.give_back(given)
                else:
                    self.pass_turn()
            raise
        finally:
            if timer is not None:
                timer.cancel()
        return m if m is not None else self.open()

    def give_back(self, m: Member) -> None:
        """Returns a settled channel to the pool: to the first caller in line, else to the idle stack."""
        if self.shut or self.lost is not None or m.ch.done < 0 or m.ch.closed:
            self.drop(m)
            return
        while self.queue:
            turn = self.queue.popleft()
            if not turn.done():
                turn.set_result(m)
                return
        self.idle.append(m)

    def pass_turn(self) -> None:
        """A channel was dropped: the first caller in line opens one in its place."""
        while self.queue:
            turn = self.queue.popleft()
            if not turn.done():
                turn.set_result(None)
                return

    # -- waiting ---------------------------------------------------------------------------------

    def sleep(self, m: Member, seq: int, word: int, rang: bool) -> asyncio.Future[None] | None:
        """The client's sleep handshake for response ``seq`` (SPEC §5.4, steps 1-4); a future the
        doorbell's reader completes, or None if the response is already there."""
        words = m.words
        words[_W_CLIENT_WAITING] = 1
        # ORDERING (SPEC §5.4 "no lost wake-up", client side): fence between the client_waiting
        # store and the re-check of the response's seq word; pairs with the daemon's SeqCst fence
        # after publishing.
        fence()
        if words[word] >= seq:
            words[_W_CLIENT_WAITING] = 0
            return None
        if words[_W_DAEMON_WAITING]:
            # Repairs the unfenced daemon_waiting load in `Channel.publish`.
            m.ch.ring()
            rang = True
        waiter: asyncio.Future[None] = self.loop.create_future()
        m.seq, m.word, m.waiter, m.abandoned = seq, word, waiter, False
        if not rang and words[_W_STARTED] < seq:
            # Not begun: kick the channel's own thread if it still has not after a short sleep (the
            # daemon's poller may be busy with another channel's call). Never a begun call, nor one
            # whose client rang (the ring woke that thread already).
            m.kick = self.loop.call_later(KICK_AFTER_MS / 1000, self.kick, m, seq)
        return waiter

    def kick(self, m: Member, seq: int) -> None:
        m.kick = None
        if m.seq == seq and m.words[_W_STARTED] < seq and m.ch.req_fd >= 0:
            m.ch.kick()

    def on_ring(self, m: Member) -> None:
        """The response doorbell of ``m`` rang (or the channel was closed by another thread)."""
        try:
            drain(m.fd)
        except OSError:  # closed
            pass
        if m.ch.closed:
            self.close("the client was closed while this call waited for its response")
            return
        seq = m.seq
        if not seq:
            return
        words = m.words
        if words[m.word] < seq:
            # A spare ring: repeat the handshake's fence, re-check and ring (steps 2-4); the flag
            # is still set.
            fence()
            if words[m.word] < seq:
                if words[_W_DAEMON_WAITING]:
                    m.ch.ring()
                return
        self.answered(m)

    def answered(self, m: Member) -> None:
        """Response ``m.seq`` is published: wake its caller, or discard it if the caller gave up."""
        m.words[_W_CLIENT_WAITING] = 0
        m.seq = 0
        if m.kick is not None:
            m.kick.cancel()
            m.kick = None
        waiter, m.waiter = m.waiter, None
        if m.abandoned:
            m.abandoned = False
            self.settle(m)
        elif waiter is not None and not waiter.done():
            waiter.set_result(None)

    def abandon(self, m: Member, fn: Request, seq: int, word: int, call: Call | None, args: tuple[Any, ...]) -> None:
        """The caller of request ``seq`` (its response's seq word: ``word``) gave up (cancelled, timed
        out): its arguments stay alive and the channel out of the pool until the late response has
        come and been discarded."""
        if self.shut:
            return
        m.ch.abandon(seq, fn, call, args)
        m.waiter = None
        if m.words[word] < seq:  # the sleep handshake is done (`sleep`): the doorbell's reader settles
            m.abandoned = True
            return
        if m.seq == seq:  # published, its ring not yet handled
            m.words[_W_CLIENT_WAITING] = 0
            m.seq = 0
            if m.kick is not None:
                m.kick.cancel()
                m.kick = None
        self.settle(m)

    def settle(self, m: Member) -> None:
        """Consumes the abandoned call's published response (no wait), then gives the channel back."""
        try:
            m.ch.settle(None)
        except ShmcallError:
            m.ch.poison()
        self.give_back(m)

    # -- channels --------------------------------------------------------------------------------

    def open(self) -> Member:
        """A new channel of this loop's thread, its doorbell registered with the loop."""
        if self.lost is not None:
            raise ConnectionLost(str(self.lost))
        if self.shut:
            raise ShmcallError("the client is closed")
        m = Member(self.connection.new_channel())
        self.members.append(m)
        self.loop.add_reader(m.fd, self.on_ring, m)
        if self.socket_fd == -1:
            # The socket is watched too: a hang-up fails the calls waiting, and segment messages
            # are mapped as they come (SPEC §5.4 step 5).
            self.socket_fd = self.connection.fileno()
            self.loop.add_reader(self.socket_fd, self.on_message)
        return m

    def drop(self, m: Member, replaced: bool = False) -> None:
        """Closes a channel the pool gives up, and lets the next caller in line open another
        (unless the caller ``replaced`` it)."""
        if m in self.members:
            self.members.remove(m)
            if not self.loop.is_closed():
                self.loop.remove_reader(m.fd)
            if m.kick is not None:
                m.kick.cancel()
            m.ch.close()
        if not (self.shut or replaced):
            self.pass_turn()

    def on_message(self) -> None:
        """The control socket is readable: a message (a segment is mapped), or the hang-up."""
        try:
            while self.connection.pump(False):
                pass
        except Exception as e:  # noqa: BLE001 - any failure of the socket ends the calls waiting
            self.hang_up(e)

    def hang_up(self, error: BaseException) -> None:
        """The daemon is gone: calls whose response is not there fail, and so does every later one.
        The channels stay mapped until the client closes (a published response is still read)."""
        if self.socket_fd >= 0 and not self.loop.is_closed():
            self.loop.remove_reader(self.socket_fd)
        self.socket_fd = -2  # not watched again
        self.lost = error
        for m in list(self.idle):
            self.drop(m)
        self.idle.clear()
        for m in list(self.members):
            if m.seq and m.words[m.word] >= m.seq:
                self.answered(m)
            elif m.waiter is not None and not m.waiter.done():
                failure = ConnectionLost(str(error))
                failure.__cause__ = error
                m.waiter.set_exception(failure)
        self.fail_queue(lambda: ConnectionLost(str(error)))

    def fail_queue(self, error: Any) -> None:
        while self.queue:
            turn = self.queue.popleft()
            if not turn.done():
                turn.set_exception(error())

    def close(self, why: str) -> None:
        """Fails the calls in flight (ConnectionLost: ``why``) and those in line, and closes the
        channels. Only on the pool's thread; idempotent."""
        if self.shut:
            return
        self.shut = True
        live = not self.loop.is_closed()  # a closed loop's futures have nobody to tell
        for m in self.members:
            if live:
                self.loop.remove_reader(m.fd)
            if m.kick is not None:
                m.kick.cancel()
            waiter, m.waiter, m.seq = m.waiter, None, 0
            if live and waiter is not None and not waiter.done():
                waiter.set_exception(ConnectionLost(why))
            m.ch.close()
        self.members.clear()
        self.idle.clear()
        if live:
            self.fail_queue(lambda: ShmcallError("the client is closed"))
            if self.socket_fd >= 0:
                self.loop.remove_reader(self.socket_fd)
        self.socket_fd = -2


class LoopPools:
    """A client's channel pools, one per event loop that calls through it."""

    def __init__(self, connection: Connection, size: int) -> None:
        if size < 1:
            raise ValueError(f"channels must be at least 1, not {size}")
        self.connection = connection
        self.size = size
        self.pools: dict[asyncio.AbstractEventLoop, ChannelPool] = {}
        self.closed = False

    def call(self, fn: Request, args: tuple[Any, ...], timeout: float | None) -> Any:
        """The coroutine of one call of ``fn``, on the running loop's pool."""
        loop = asyncio.get_running_loop()
        pool = self.pools.get(loop)
        if pool is None:
            pool = self.pool(loop)
        return pool.call(fn, args, timeout)

    def pool(self, loop: asyncio.AbstractEventLoop) -> ChannelPool:
        """A new pool for ``loop``; pools of this thread's closed loops are closed on the way."""
        if self.closed:
            raise ShmcallError("the client is closed")
        me = threading.get_ident()
        for old, pool in list(self.pools.items()):
            if old.is_closed() and pool.thread == me:
                pool.close("the event loop was closed")
                del self.pools[old]
        pool = self.pools[loop] = ChannelPool(self.connection, loop, self.size)
        return pool

    def close(self) -> None:
        """Closes every pool: those of this thread at once, the others on their own loop's thread
        (their channels are woken too, when the connection closes)."""
        self.closed = True
        me = threading.get_ident()
        why = "the client was closed while this call waited for its response"
        for loop, pool in list(self.pools.items()):
            if pool.thread == me:
                pool.close(why)
            else:
                try:
                    loop.call_soon_threadsafe(pool.close, why)
                except RuntimeError:  # that loop is closed: its channels die with the client
                    pass
        self.pools.clear()
