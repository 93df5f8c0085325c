"""The client end of one channel (SPEC §3, §5): a request/response ring in a control segment the
daemon created, plus a doorbell each way (`_doorbell`: eventfds or pipes, as the daemon sent them).
One channel per client thread, so every shared word the client writes has one writer.

Ordering on the client relies on x86-64 TSO for plain stores and loads (CPython writes each
``memoryview.cast('Q')`` item with one aligned 8-byte store). Where a store must be ordered before a
later load (the sleep handshake, SPEC §5.4 "no lost wake-up"), a locked instruction supplies the fence.
"""

from __future__ import annotations

import mmap
import os
import platform
import select
import threading
import time
from typing import TYPE_CHECKING, NamedTuple, Protocol, TypeAlias

from . import _layout as L
from ._call import Call, Resp
from ._doorbell import Doorbells, doorbells, drain, ring
from ._errors import ConnectionLost, CorruptResponse, VersionMismatch, status_error
from ._staging import Staging

if TYPE_CHECKING:
    from ._connection import Connection

__all__: list[str] = []

#: Each thread's fence lock, held by it (`fence`).
_HELD = threading.local()
#: Plain stores and loads are ordered as the protocol needs (x86 TSO); elsewhere a fence orders them
#: (SPEC §1.4). ``SHMCALL_WEAK_ORDER=1`` takes the fenced way on x86 too, so that tests run it.
STRONG_ORDER = (platform.machine() in ("x86_64", "AMD64", "i686", "i386")
                and os.environ.get("SHMCALL_WEAK_ORDER", "") != "1")

# Word indexes (8-byte words) of the shared words in the control header; the seq words that publish
# requests and responses are in the slots (`Channel.slots`).
_W_CLIENT_WAITING = L.OFF_CLIENT_WAITING // 8
_W_RELEASE_TAIL = L.OFF_RELEASE_TAIL // 8
_W_STARTED = L.OFF_STARTED // 8
_W_DAEMON_WAITING = L.OFF_DAEMON_WAITING // 8
_W_RELEASE_HEAD = L.OFF_RELEASE_HEAD // 8

#: Busy-wait iterations before sleeping on the doorbell (about 20-40 µs of CPython); the environment
#: variable SHMCALL_SPIN overrides it (0 = always sleep: the pure-blocking mode of the benchmarks).
SPIN_ITERATIONS = max(0, int(os.environ.get("SHMCALL_SPIN", "500")))

#: A waiting client kicks its channel thread after sleeping this long (SPEC §5.4): late enough that a
#: long call is not disturbed by a wake-up in its first millisecond, soon enough to bound a stall.
KICK_AFTER_MS = 1

#: Adaptive spinning (`Channel.wait`): a call that outlasts the spin by more than the spin's own
#: length marks its function's size class (the bit length of the call's data bytes) as long, and
#: the class's next calls sleep at once. One that then ends within this many spin lengths (its
#: wake-up included) marks the class short again...
SHORT_WAIT_SPINS = 1.5
#: ... and so does every this-many-th call of a long class, which spins again as a test: so a class
#: learnt from an unusual call, or one whose wake-ups take longer than its calls, does not stay long.
LONG_RETEST = 8
#: Loads of `started` a call of a long class spins before it sleeps (about 3 µs at most).
BEGIN_SPIN = 64
#: A call the daemon had not begun when the spin ran out counts as long only after this many more
#: spin lengths: it may have waited for a daemon thread to wake up.
UNBEGUN_LONG_SPINS = 10

#: A client that rang a sleeping daemon spins this long for the response before it sleeps too: the
#: daemon thread's wake-up (30-60 µs in a VM) is then the only one the call pays, not a second one
#: for the client. Only with a core to spare: on one core the spin would delay the daemon's wake-up.
RANG_SPIN_NS = 150_000 if (os.cpu_count() or 1) > 1 else 0

#: Loads of the response's seq word the fast paths spin before they look at ``daemon_waiting``: a hot daemon answers
#: within them (4-6 loads here), so an answered call never pays that load (SPEC §5.4).
FIRST_SPIN = 16


_SPIN_LENGTH_NS: list[int] = []


def spin_length_ns(words: memoryview) -> int:
    """How long the client's spin (``SPIN_ITERATIONS`` loads of a seq word) takes here, in ns: the
    fastest of three timed spins over ``words`` (a channel's), measured once per process."""
    if not _SPIN_LENGTH_NS:
        times = []
        for _ in range(3):
            start = time.perf_counter_ns()
            for _ in range(SPIN_ITERATIONS):
                if words[0] >= 1 << 63:  # the magic word: never true, read like a seq word
                    break
            times.append(time.perf_counter_ns() - start)
        _SPIN_LENGTH_NS.append(min(times))
    return _SPIN_LENGTH_NS[0]


#: Where request ``seq``'s slot is, at ``slots[seq % slot_count]``: ``(request half offset, index of
#: its seq word in `Channel.words`, response half offset, index of its seq word)``. Plain tuples:
#: the fast paths unpack one per call, and CPython unpacks a tuple subclass three times slower.
Slot: TypeAlias = tuple[int, int, int, int]


class Discards(Protocol):
    """Releases the heap blocks a response owns without decoding it."""

    def discard(self, ch: Channel, payload: int, length: int) -> None: ...


class Abandoned(NamedTuple):
    """A request whose caller gave up waiting (timeout, interrupt): what its late response needs."""

    decoder: Discards | None  # releases the response's blocks
    call: Call | None  # the call's temporary blocks, released once the response is in
    keep: object  # arguments whose memory the daemon may still use


def fence() -> None:
    """A full memory barrier (SPEC §1.4): the calling thread releases a lock it holds, then acquires
    it again. On x86 either is a locked instruction; on AArch64 CPython's release is a release
    atomic and its acquire an acquire atomic, and an acquire after a release is not performed
    before it (release-acquire is sequentially consistent there), so no access crosses the pair.
    (Acquire then release would not do: a later load may pass the release, an earlier store the
    acquire.)"""
    try:
        lock = _HELD.lock
    except AttributeError:
        lock = _HELD.lock = threading.Lock()
        lock.acquire()
    lock.release()
    lock.acquire()


# SPEC §3.1's bounds on a channel's geometry (the daemon refuses to make a channel outside them).
MAX_SLOT_COUNT = 4096
MAX_SLOT_HALF = 1 << 20
MAX_RELEASE_CAPACITY = 65536


def _align_up(n: int, a: int) -> int:
    return -(-n // a) * a


def _valid_capacity(capacity: int, header: int) -> bool:
    """A slot half's payload capacity by SPEC §3.1: at least a line with its header, the half a whole
    number of lines, at most 1 MiB."""
    half = header + capacity
    return half >= L.CACHE_LINE and half % L.CACHE_LINE == 0 and half <= MAX_SLOT_HALF


class Channel:
    """One ring. Used only by the thread that opened it (its owner)."""

    # Slots, not a __dict__: the generated fast paths read several of these per call.
    __slots__ = ("connection", "heap", "id", "bells", "req_fd", "resp_fd", "mm", "buf", "words", "seq", "done",
                 "release_tail", "pending", "releases", "poller", "slot_count", "slot_size", "request_capacity",
                 "response_capacity", "release_capacity", "slots", "next_slot", "kicks", "rings", "i64s", "f64s",
                 "owner", "closed", "staging")

    def __init__(self, connection: Connection, channel_id: int, fds: list[int], size: int) -> None:
        """``fds``: the ``channel`` message's descriptors (control segment, then the doorbells), which
        the channel owns from now on, failing or not."""
        ctl = fds[0]
        try:
            self.bells: Doorbells = doorbells(fds[1:])
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        # The request doorbell's ring end and the response doorbell's wait end, read per call.
        self.req_fd, self.resp_fd = self.bells.ring, self.bells.wait
        self.owner = threading.get_ident()
        self.closed = False
        self.staging = Staging()
        self.connection = connection
        self.heap = connection.heap
        self.id = channel_id
        try:
            actual = os.fstat(ctl).st_size
            if actual < size or size < L.HEADER_SIZE:
                raise CorruptResponse(f"control segment is {actual} bytes, announced as {size}")
            self.mm = mmap.mmap(ctl, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            self.bells.close()
            self.req_fd = self.resp_fd = -1  # closed: `release` must not close their numbers again
            raise
        finally:
            os.close(ctl)
        self.buf = memoryview(self.mm)
        try:
            self._check_header(size)
        except BaseException:
            self.buf.release()
            self.mm.close()
            self.bells.close()
            self.req_fd = self.resp_fd = -1
            raise
        self.words = self.buf.cast("Q")
        # The same bytes as signed and float words: the fast paths read 8-byte results through them.
        self.i64s = self.buf.cast("q")
        self.f64s = self.buf.cast("d")
        self.seq = 0  # requests published
        self.done = 0  # responses consumed
        self.release_tail = 0
        self.kicks = 0  # rings of the kick (SPEC §5.4), for diagnosis
        self.rings = 0  # the other rings: of a daemon found asleep, for diagnosis
        self.pending: dict[int, Abandoned] = {}  # by seq
        self.releases = self.heap.pending  # blocks whose Python owner died, to hand back
        self.poller = select.poll()
        self.poller.register(self.resp_fd, select.POLLIN)
        self.poller.register(connection.fileno(), select.POLLIN)

    def _check_header(self, size: int) -> None:
        (magic, version, header_size, layout_hash, slot_count, slot_size, req_cap, resp_cap, rel_cap, chan,
         seg_size, slots_offset) = L.HEADER.unpack_from(self.buf, 0)
        if magic != L.MAGIC:
            raise CorruptResponse(f"control segment magic is {magic:#x}, expected {L.MAGIC:#x} (segment not ready)")
        if version != L.PROTOCOL_VERSION or layout_hash != L.LAYOUT_HASH or header_size != L.HEADER_SIZE:
            raise VersionMismatch(
                f"control segment is protocol {version} layout {layout_hash:016x} (header of {header_size} bytes); "
                f"this client speaks protocol {L.PROTOCOL_VERSION} layout {L.LAYOUT_HASH:016x}"
            )
        if seg_size != size:
            raise CorruptResponse(f"control segment says it is {seg_size} bytes, announced as {size}")
        # SPEC §3.5 row 6: the geometry valid by §3.1, every derived size equal to its formula.
        expected_slots_offset = _align_up(L.RELEASE_OFFSET + rel_cap * L.RELEASE_ENTRY_SIZE, L.SLOTS_ALIGN)
        if (not 1 <= slot_count <= MAX_SLOT_COUNT
                or not _valid_capacity(req_cap, L.REQUEST_HEADER_SIZE)
                or not _valid_capacity(resp_cap, L.RESPONSE_HEADER_SIZE)
                or not 1 <= rel_cap <= MAX_RELEASE_CAPACITY or rel_cap & (rel_cap - 1)
                or slot_size != L.REQUEST_HEADER_SIZE + req_cap + L.RESPONSE_HEADER_SIZE + resp_cap
                or slots_offset != expected_slots_offset
                or seg_size != _align_up(slots_offset + slot_count * slot_size, L.SLOTS_ALIGN)
                or chan != self.id):
            raise CorruptResponse(
                f"control segment geometry is inconsistent: {slot_count} slots of {slot_size} bytes (capacities "
                f"{req_cap}/{resp_cap}) at {slots_offset}, release capacity {rel_cap}, channel {chan} "
                f"(announced as {self.id}), {seg_size} bytes"
            )
        self.slot_count: int = slot_count
        self.slot_size: int = slot_size
        self.request_capacity: int = req_cap
        self.response_capacity: int = resp_cap
        self.release_capacity: int = rel_cap
        self.slots: list[Slot] = []
        for s in range(slot_count):
            base = slots_offset + ((s - 1) % slot_count) * slot_size
            rb = base + L.REQUEST_HEADER_SIZE + req_cap
            self.slots.append((base, (base + L.OFF_REQUEST_SEQ) // 8, rb, (rb + L.OFF_RESPONSE_SEQ) // 8))
        # The slot of request seq + 1, kept with every store of `seq`: a fast path reads it instead of
        # computing it before its request (the modulo and index cost `add` ~15 ns there).
        self.next_slot = self.slots[1 % slot_count]

    # -- publishing and waiting ------------------------------------------------------------------

    def slot_base(self, seq: int) -> int:
        """Offset of request ``seq``'s slot (its request half)."""
        return self.slots[seq % self.slot_count][0]

    def publish(self, seq: int, function_id: int, length: int) -> bool:
        """Writes the request header and publishes request ``seq`` (SPEC §5.2 "request published").

        Queued releases are written first, so the daemon frees them before serving this request.
        Returns True if the daemon was asleep (and was rung)."""
        if self.releases:
            self.flush_releases()
        base, request_word, _, _ = self.slots[seq % self.slot_count]
        L.REQUEST_HEADER.pack_into(self.buf, base, function_id, length)
        if not STRONG_ORDER:
            fence()
        self.seq = seq
        self.next_slot = self.slots[(seq + 1) % self.slot_count]
        # ORDERING (SPEC §5.2 "request published"): one aligned 8-byte store of the slot's seq word
        # after the rest of the request half; x86-64 keeps stores in order, so the daemon's Acquire
        # load sees the whole request.
        self.words[request_word] = seq
        if self.words[_W_DAEMON_WAITING]:
            self.ring()
            return True
        return False

    def ring(self) -> None:
        """Wakes the daemon thread of this channel, found asleep."""
        self.rings += 1
        ring(self.req_fd)

    def kick(self) -> None:
        """Wakes the daemon thread of this channel, which may be asleep while the poller is busy
        elsewhere (SPEC §5.4, the kick)."""
        self.kicks += 1
        ring(self.req_fd)

    def wait_after_first_spin(self, seq: int, timeout: float | None, long_waits: dict[int, int] | None = None,
                              size: int = 0) -> None:
        """The fast paths' wait once their first ``FIRST_SPIN`` loads found no response: ring a
        sleeping daemon and sleep at once, else spin on (as `wait` decides), then sleep. Returns only
        if the response's seq word is exactly ``seq``, as the fast paths' own spin does (they do not
        read it again)."""
        if self.words[_W_DAEMON_WAITING]:
            self.ring()
            self.wait(seq, timeout, False, long_waits, size)
        else:
            self.wait(seq, timeout, True, long_waits, size)
        published = self.words[self.slots[seq % self.slot_count][3]]
        if published != seq:
            self.poison()
            raise CorruptResponse(f"response slot holds {published}, expected {seq}")

    def wait(self, seq: int, timeout: float | None, spin: bool = True, long_waits: dict[int, int] | None = None,
             size: int = 0) -> None:
        """Waits until response ``seq`` is published: spin (unless told the daemon was asleep, when
        spinning would only take the core it needs to wake up), then sleep on the doorbell.

        ``long_waits`` holds the calling function's size classes whose calls outlast the spin (each
        with the calls slept at once since its last test), and ``size`` is this call's data bytes
        (its request and the arrays it passes). A call of a long class sleeps at once: that leaves
        the core to the daemon (on two cores, a parallel kernel's second thread) and saves the
        spin's CPU. The classes are learnt here, from how long waits take (`LONG_RETEST`)."""
        words = self.words
        published = self.slots[seq % self.slot_count][3]  # the response's seq word
        if words[published] >= seq:
            return
        size_class = size.bit_length()
        if long_waits:
            slept = long_waits.get(size_class, LONG_RETEST)
            if slept < LONG_RETEST:
                long_waits[size_class] = slept + 1
                short = SHORT_WAIT_SPINS * spin_length_ns(words)
                start = time.perf_counter_ns()
                # Until a hot daemon begins the call (a microsecond or so): a begun call is slept
                # through with no timeout, and never kicked (`sleep`).
                for _ in range(BEGIN_SPIN):
                    if words[_W_STARTED] >= seq:
                        break
                self.sleep(seq, timeout, published, not spin)
                # Answered within what the spin and a wake-up take: the spin would have caught it.
                if time.perf_counter_ns() - start < short:
                    long_waits.pop(size_class, None)
                return
        if not spin:
            # The daemon was asleep and has been rung: spin through its wake-up, then sleep.
            start = time.perf_counter_ns()
            if SPIN_ITERATIONS and self.spin_for(published, seq):
                return
            # Woken and begun within the spin through the wake-up, and in all outlasting a spin's
            # length: calls like this one are long, as `wait` learns below.
            begun = RANG_SPIN_NS > 0 and words[_W_STARTED] >= seq
            self.sleep(seq, timeout, published, True)
            if begun and long_waits is not None and time.perf_counter_ns() - start > spin_length_ns(words):
                long_waits[size_class] = 0
            return
        for _ in range(SPIN_ITERATIONS):
            if words[published] >= seq:
                if long_waits:  # a long class's test call, answered within the spin
                    long_waits.pop(size_class, None)
                return
        if long_waits is None or not SPIN_ITERATIONS:
            self.sleep(seq, timeout, published)
            return
        spin_length = spin_length_ns(words)  # measured the first time: a longer spin, not a later return
        begun = words[_W_STARTED] >= seq
        start = time.perf_counter_ns()
        self.sleep(seq, timeout, published)
        # Unanswered a spin's length after the spin ended: calls like this one are long. Unless the
        # daemon had begun the call by then, the wait may have been a daemon thread's wake-up (a
        # quick call on a cold channel), and only a far longer one counts.
        waited = time.perf_counter_ns() - start
        if waited > spin_length and (begun or waited > UNBEGUN_LONG_SPINS * spin_length):
            long_waits[size_class] = 0
        elif long_waits:
            long_waits.pop(size_class, None)

    def spin_for(self, published: int, seq: int, ns: int = RANG_SPIN_NS) -> bool:
        """Spins up to ``ns`` (by default a daemon's wake-up, ``RANG_SPIN_NS``) for response ``seq``
        (its seq word is ``published``); True if it came."""
        words = self.words
        deadline = time.perf_counter_ns() + ns
        while time.perf_counter_ns() < deadline:
            for _ in range(64):
                if words[published] >= seq:
                    return True
        return False

    def sleep(self, seq: int, timeout: float | None, published: int, rang: bool = False) -> None:
        """Sleeps on the doorbell until response ``seq`` is published (its seq word is ``published``).
        ``rang``: the client rang the daemon's doorbell for this request (the daemon was asleep)."""
        words = self.words
        deadline = None if timeout is None else time.monotonic() + timeout
        rounds = 0
        while True:
            words[_W_CLIENT_WAITING] = 1
            # ORDERING (SPEC §5.4 "no lost wake-up", client side): fence between the client_waiting
            # store and the re-check of the response's seq word; pairs with the daemon's SeqCst fence
            # after publishing.
            fence()
            if words[published] >= seq:
                words[_W_CLIENT_WAITING] = 0
                return
            kick = rounds == 1 and words[_W_STARTED] < seq
            if kick or words[_W_DAEMON_WAITING]:
                # Ring a sleeping daemon (this repairs the unfenced daemon_waiting read in `publish`),
                # and kick once after the first short sleep unless the daemon has started this request
                # (SPEC §5.4): its poller may be busy with another channel's call, and the kick wakes
                # this channel's own thread. A spare ring is harmless, but a kick during a long call
                # wakes a thread that then waits for the call's end: 10-18 µs of a 2 ms `sum`.
                if kick:
                    self.kick()
                else:
                    self.ring()
                rang = True
            if deadline is None:
                wait_ms = None
            else:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    words[_W_CLIENT_WAITING] = 0
                    raise TimeoutError(f"no response within {timeout} s")
                wait_ms = max(1, int(remaining * 1000))
            if rounds == 0 and not rang and words[_W_STARTED] < seq:
                # Not begun: wake after a short sleep to kick if it still has not (SPEC §5.4). A
                # begun call is never kicked, so it sleeps until its response, with no wake-up
                # halfway; nor is one whose client rang: the ring woke the channel's own thread,
                # which is what a kick is for.
                wait_ms = KICK_AFTER_MS if wait_ms is None else min(wait_ms, KICK_AFTER_MS)
            rounds += 1
            try:
                events = self.poller.poll(wait_ms)
            finally:
                words[_W_CLIENT_WAITING] = 0
            if self.closed:  # by another thread, which woke this one (`close`)
                self.release()
                raise ConnectionLost("the client was closed while this call waited for its response")
            for fd, _ in events:
                if fd == self.resp_fd:
                    drain(fd)
                elif words[published] < seq:
                    # A response published before the daemon hung up still counts: reading the
                    # socket first would raise ConnectionLost for a call that completed.
                    self.connection.pump(False)
            if words[published] >= seq:
                return

    def response(self, seq: int) -> tuple[int, int, int]:
        """``(status, payload offset, length)`` of response ``seq``, checked."""
        base = self.slots[seq % self.slot_count][2]
        if not STRONG_ORDER:
            fence()
        status, length, rseq = L.RESPONSE_HEADER.unpack_from(self.buf, base)
        if rseq != seq:
            raise CorruptResponse(f"response slot holds {rseq}, expected {seq}")
        if length > self.response_capacity:
            raise CorruptResponse(f"response of {length} bytes exceeds the {self.response_capacity}-byte area")
        return status, base + L.RESPONSE_HEADER_SIZE, length

    # -- calls -----------------------------------------------------------------------------------

    def settle(self, timeout: float | None) -> None:
        """Consumes the responses of requests abandoned by a timeout or interrupt."""
        while self.done < self.seq:
            seq = self.done + 1
            self.wait(seq, timeout)
            entry = self.pending.pop(seq, None)
            if entry is not None:
                status, payload, length = self.response(seq)
                if status == L.STATUS_OK and entry.decoder is not None:
                    entry.decoder.discard(self, payload, length)
                if entry.call is not None:
                    self.releases.extend(entry.call.temps)
            self.done = seq

    def abandon(self, seq: int, fn: Discards | None, call: Call | None, keep: object = None) -> None:
        """Keeps a request's arguments (``call``, ``keep``) alive until its late response is consumed:
        the daemon may still be reading or writing their memory."""
        self.pending[seq] = Abandoned(fn, call, keep)

    def flush_releases(self) -> None:
        """Writes queued block releases into the release ring (SPEC §5.3 "release published")."""
        pending = self.releases
        head = self.words[_W_RELEASE_HEAD]
        tail = self.release_tail
        cap = self.release_capacity
        wrote = False
        while pending and tail - head < cap:
            seg, off = pending.popleft()
            L.RELEASE_ENTRY.pack_into(self.buf, L.RELEASE_OFFSET + (tail % cap) * L.RELEASE_ENTRY_SIZE, seg, 0, off)
            tail += 1
            wrote = True
        if wrote:
            if not STRONG_ORDER:
                fence()
            self.release_tail = tail
            # ORDERING (SPEC §5.3 "release published"): after the entries, one aligned 8-byte store.
            self.words[_W_RELEASE_TAIL] = tail

    def next_seq(self, timeout: float | None) -> int:
        """The seq of the next request, once every earlier response has been consumed."""
        if self.done < self.seq:
            self.settle(timeout)
        return self.seq + 1

    def roundtrip(self, seq: int, function_id: int, length: int, timeout: float | None, name: str,
                  fn: Discards | None = None, call: Call | None = None, keep: object = None,
                  long_waits: dict[int, int] | None = None,
                  size: int = 0) -> tuple[int, int]:
        """Publishes request ``seq`` (its payload already written), waits for the response and
        returns ``(payload offset, length)``; an error status raises its exception. If the wait is
        interrupted, the request's arguments stay alive until its late response is consumed.
        ``long_waits`` and ``size`` are as in `wait`."""
        rang = self.publish(seq, function_id, length)
        try:
            self.wait(seq, timeout, not rang, long_waits, size)
        except BaseException:
            self.abandon(seq, fn, call, keep)
            raise
        self.done = seq
        status, payload, rlen = self.response(seq)
        if call is not None and call.temps:
            self.releases.extend(call.temps)
        if status != L.STATUS_OK:
            raise status_error(status, bytes(self.buf[payload : payload + rlen]).decode("utf-8", "replace"), name)
        return payload, rlen

    def alloc(self, nbytes: int) -> tuple[int, int]:
        """A new heap block of ``nbytes`` bytes, owned by the caller: ``(segment, offset)``."""
        seq = self.next_seq(None)
        L.U64.pack_into(self.buf, self.slot_base(seq) + L.REQUEST_HEADER_SIZE, nbytes)
        payload, _ = self.roundtrip(seq, L.FN_ALLOC, 8, None, "alloc", fn=LateBlock)
        seg, _, off, got = L.BUF.unpack_from(self.buf, payload)
        if got != nbytes or seg == L.INLINE_SEGMENT:
            raise CorruptResponse(f"alloc of {nbytes} bytes answered {seg}:{off}+{got}")
        self.connection.mapped(seg)
        return seg, off

    def ping(self) -> None:
        """A bare round trip (function ``FN_NOP``)."""
        self.roundtrip(self.next_seq(None), L.FN_NOP, 0, None, "ping")

    def heap_bytes(self, seg: int, off: int, length: int) -> bytes:
        """A copy of the ``length`` bytes a response's heap reference names (checked), whose block
        is then handed back with the next request: what a fast path reads a large text result with."""
        heap = self.connection.mapped(seg)
        data = bytes(heap.span(seg, off, length))
        heap.pending.append((seg, off))
        return data

    def heap_text(self, seg: int, off: int, length: int) -> str:
        """The UTF-8 text a response's heap reference names (checked), decoded straight from shared
        memory, its block then handed back with the next request: what a fast path reads a large
        str result with. Raises CorruptResponse for text that is not UTF-8."""
        try:
            return self.connection.mapped(seg).take_text(seg, off, length)
        except UnicodeDecodeError as e:
            raise CorruptResponse(f"string result is not UTF-8: {e}") from None

    def resp(self, payload: int, length: int) -> Resp:
        return Resp(self.buf, payload, length, self.connection)

    def poison(self) -> None:
        """Makes every later call on this channel take the slow path, which refuses it."""
        self.done = -1
        self.seq = -2

    def close(self) -> None:
        """Refuses every later call, and frees the channel if the calling thread owns it.

        Another thread's channel may be in use right now (between two bytecodes of a call, or
        sleeping in one): its memory and descriptors stay, and its owner is woken. A sleeping
        call then frees the channel and raises ConnectionLost (`sleep`); a later call frees it and
        is refused (`Session.refuse`); a spinning one sees its response or sleeps. Else the
        channel is freed when it dies with its thread or client."""
        self.poison()
        self.closed = True
        if self.owner == threading.get_ident():
            self.release()
        elif self.req_fd >= 0:
            try:
                ring(self.bells.wake)
            except OSError:
                pass

    def release(self) -> None:
        """Closes the channel's descriptors and mapping (idempotent); only its owner may, once closed.
        Its staging block goes back to the heap unless a call still in flight may use it."""
        if self.req_fd < 0:
            return
        if self.done == self.seq or self.done == -1 and not self.pending:
            self.staging.release(self.heap.pending)
        self.bells.close()
        self.req_fd = self.resp_fd = -1
        try:
            for view in (self.words, self.i64s, self.f64s, self.buf):
                view.release()
            self.mm.close()
        except (BufferError, ValueError):
            pass

    def __del__(self) -> None:
        try:
            self.release()
        except Exception:
            pass


class LateBlock:
    """For requests answered by one buffer reference (alloc, batch): releases the block of a
    response whose caller was interrupted before it came."""

    @staticmethod
    def discard(ch: Channel, payload: int, length: int) -> None:
        seg, _, off, _ = L.BUF.unpack_from(ch.buf, payload)
        if seg != L.INLINE_SEGMENT:
            ch.releases.append((seg, off))
