//! One channel: its control segment, its two doorbells, and the serving of its requests (SPEC §5).
//!
//! Requests are served in order; each is published by the seq word in its slot's request line and
//! answered by the seq word in the slot's response line (SPEC §5.2). The ring is
//! single-producer (the client thread that owns it) and single-consumer: whoever serves it (a
//! worker or the poller) holds the channel's lock.

use std::cell::RefCell;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use super::counters::CallCounters;
use super::service_times::ServiceTimes;
use super::spin::SpinWindows;
use super::ticks::Ticks;
use crate::codec::{ArgReader, Failure, RetWriter, Scratch};
use crate::heap::Heap;
use crate::layout::constants::{status, BUF_SIZE, FN_ALLOC, FN_BATCH, FN_NOP};
use crate::layout::{BufRef, ControlConfig, ControlView};
use crate::registry::{Registry, Rows};
use crate::sys::{Doorbell, Segment};

/// A channel's shared resources; handed to the client as three descriptors.
pub struct Channel {
    /// Channel id, unique within the connection.
    pub id: u32,
    /// The control segment.
    pub control: Segment,
    /// Rung by the client after publishing a request while the daemon waits.
    pub request_bell: Doorbell,
    /// Rung by the daemon after publishing a response while the client waits.
    pub response_bell: Doorbell,
    config: ControlConfig,
}

impl Channel {
    /// Creates and initializes a channel (header written, magic last).
    pub fn create(id: u32, config: ControlConfig, name: &str) -> io::Result<Channel> {
        config.validate().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let control = Segment::create(&format!("{name}-ctl{id}"), config.segment_size(), true)?;
        // SAFETY: the segment is page-aligned, segment_size() bytes long, and lives in `Channel`, which
        // outlives every view (views are made from `&self`).
        let view = unsafe { ControlView::new(control.as_ptr(), config) };
        view.initialize(id);
        Ok(Channel { id, control, request_bell: Doorbell::new()?, response_bell: Doorbell::new()?, config })
    }

    pub(super) fn view(&self) -> ControlView {
        // SAFETY: as in `create`; the view borrows nothing and the mapping outlives `self`.
        unsafe { ControlView::new(self.control.as_ptr(), self.config) }
    }
}

/// Serves one channel: decodes its requests, calls the functions, publishes the responses. Driven by
/// whichever worker the channel's doorbell wakes (`channel_wait.rs`) and, for quick calls, by the
/// daemon's poller (`poller.rs`).
pub struct ChannelServer {
    channel: Arc<Channel>,
    view: ControlView,
    registry: Arc<Registry>,
    heap: Arc<Heap>,
    times: Arc<ServiceTimes>,
    /// Calls, failures and time per function, for the status report.
    counters: Arc<CallCounters>,
    segments: Vec<Arc<Segment>>,
    payload: Vec<u64>,
    scratch: Scratch,
    borrows: RefCell<Vec<crate::codec::reader::Borrow>>,
    allocated: Vec<BufRef>,
    consumed: u64,
    release_head: u64,
    /// The last function served, when its response was published, and whether the channel has
    /// slept since: the pause that adapts that function's spin window (`spin.rs`).
    last_function: u32,
    last_served: Ticks,
    asleep: bool,
    /// Requests the poller served while spinning since the channel last slept.
    caught: u64,
    spin: SpinWindows,
    log_name: String,
}

/// What `serve_pending` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// Every published request is answered.
    All,
    /// It stopped before a request not known to be quick (only when asked to serve quick ones).
    Slow,
}

impl ChannelServer {
    /// Prepares to serve `channel`, spinning for it at most `spin_budget` after a call (zero: no
    /// poller).
    pub fn new(
        channel: Arc<Channel>,
        registry: Arc<Registry>,
        heap: Arc<Heap>,
        times: Arc<ServiceTimes>,
        log_name: String,
        spin_budget: Duration,
    ) -> ChannelServer {
        let view = channel.view();
        let words = channel.config.request_capacity as usize / 8;
        let spin = SpinWindows::new(spin_budget, times.slot_count());
        let counters = Arc::new(CallCounters::new(times.slot_count()));
        ChannelServer {
            channel,
            view,
            registry,
            heap,
            times,
            counters,
            segments: Vec::new(),
            payload: vec![0u64; words],
            scratch: Scratch::default(),
            borrows: RefCell::default(),
            allocated: Vec::new(),
            consumed: 0,
            release_head: 0,
            last_function: FN_NOP,
            last_served: Ticks::now(),
            asleep: false,
            caught: 0,
            spin,
            log_name,
        }
    }

    /// The channel served.
    pub fn channel(&self) -> &Arc<Channel> {
        &self.channel
    }

    /// The channel's call counters (read by the status report).
    pub fn counters(&self) -> &Arc<CallCounters> {
        &self.counters
    }

    /// Requests answered so far.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Serves every published request in order; with `quick_only`, stops before one whose function
    /// is not known to be quick (the poller's mode).
    /// At most one lap of the ring per pass, so that a client publishing without pause cannot keep
    /// the poller from its other channels.
    pub fn serve_pending(&mut self, quick_only: bool) -> Served {
        let end = self.consumed + self.channel.config.slot_count as u64;
        while self.consumed < end && self.has_request() {
            let seq = self.consumed + 1;
            if quick_only && !self.times.is_quick(self.view.request_header(self.view.slot_of(seq)).0) {
                return Served::Slow;
            }
            // Every release published before this request is freed before it is served (SPEC §5.3).
            self.drain_releases();
            self.serve_one(seq);
            self.consumed = seq;
        }
        Served::All
    }

    /// True if request `consumed + 1` is published: there is work.
    fn has_request(&self) -> bool {
        self.view.request_published(self.consumed + 1)
    }

    /// Sets or clears `daemon_waiting` (the daemon writes it only under the channel's lock).
    pub fn set_daemon_waiting(&self, waiting: bool) {
        self.view.set_daemon_waiting(waiting);
    }

    /// The daemon side of the sleep handshake (`ControlView::announce_sleep`): announces that nobody
    /// watches the channel; true if it may then sleep (no request was published meanwhile).
    pub fn announce_sleep(&mut self) -> bool {
        self.asleep = self.view.announce_sleep(self.consumed + 1);
        self.asleep
    }

    /// If the channel has slept since its last response: adapts the spin window of the function
    /// served last to how long the client paused after it (up to now).
    pub(super) fn adapt_spin(&mut self) {
        if std::mem::take(&mut self.asleep) {
            let pause = self.last_served.elapsed();
            let caught = std::mem::take(&mut self.caught);
            self.spin.after_sleep(self.times.slot(self.last_function), pause, caught);
        }
    }

    /// The poller handed a slow call to the channel's thread: the spinning since the previous call
    /// saved no wake-up, so that call's function spins less next time, as after a long pause.
    pub fn spin_saved_nothing(&mut self) {
        self.spin.after_sleep(self.times.slot(self.last_function), Duration::MAX, 0);
    }

    /// The poller served `n` requests while spinning for the channel.
    pub fn caught_spinning(&mut self, n: u64) {
        self.caught = self.caught.saturating_add(n);
    }

    /// How long to spin for the channel now: the window of the function served last.
    pub fn spin_window(&self) -> Duration {
        self.spin.window(self.times.slot(self.last_function))
    }

    /// Frees the blocks the client released (SPEC §5.3 "release published").
    fn drain_releases(&mut self) {
        let (heap, log_name) = (&self.heap, &self.log_name);
        let drained = self.view.drain_releases(self.release_head, |i, (segment, reserved, offset)| {
            if reserved != 0 {
                log::warn!("{log_name}: release entry {i} has reserved word {reserved}; ignored");
            } else if let Err(e) = heap.free(segment, offset) {
                log::warn!("{log_name}: bad release: {e}");
            }
        });
        match drained {
            Ok(head) => self.release_head = head,
            Err(tail) => {
                log::warn!("{}: release tail {tail} is impossible (head {}); ignored", self.log_name, self.release_head)
            }
        }
    }

    fn serve_one(&mut self, seq: u64) {
        let slot = self.view.slot_of(seq);
        let (function, len) = self.view.request_header(slot);
        // Before the call, not as the response is written: `add` 0.73 -> 0.59 µs, `hello_person`
        // 1.14 -> 0.98 (one client alternating between daemons with and without it).
        self.view.claim_response_line(slot);
        self.view.mark_started(seq);
        let started = Ticks::now();
        let capacity = self.channel.config.response_capacity as usize;
        // SAFETY: the response payload of a valid slot is `response_capacity` bytes of the mapping,
        // and the client does not touch it until this response is published (SPEC §5.2).
        let area = unsafe { std::slice::from_raw_parts_mut(self.view.response_payload(slot), capacity) };
        let outcome = if len > self.channel.config.request_capacity {
            Err(Failure::bad(format!(
                "request of {len} bytes exceeds the {}-byte capacity",
                self.channel.config.request_capacity
            )))
        } else {
            let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut self.payload);
            self.view.copy_request(slot, &mut bytes[..len as usize]);
            self.dispatch(function, len as usize, area)
        };
        let (status, out_len) = match outcome {
            Ok(n) => (status::OK, n),
            Err(f) => {
                for b in self.allocated.drain(..) {
                    let _ = self.heap.free(b.segment, b.offset);
                }
                let msg = f.message();
                let mut n = msg.len().min(capacity);
                while !msg.is_char_boundary(n) {
                    n -= 1;
                }
                area[..n].copy_from_slice(&msg.as_bytes()[..n]);
                (f.status(), n)
            }
        };
        self.allocated.clear();
        self.scratch.clear();
        if self.view.answer(slot, status, out_len as u32, seq) {
            self.channel.response_bell.ring();
        }
        self.last_function = function;
        let took = started.elapsed();
        self.times.record(function, took);
        self.counters.record(self.times.slot(function), took, status);
        self.last_served = Ticks::now();
    }

    /// Runs `count` calls of one batchable function whose argument records lie back to back in a
    /// buffer; writes their result records back to back, inline or into a new heap block (SPEC §3.3).
    fn batch(&mut self, request: Vec<u8>, area: &mut [u8]) -> Result<usize, Failure> {
        let field = |at: usize, n: usize| {
            request.get(at..at + n).ok_or_else(|| Failure::bad("batch request shorter than 40 bytes"))
        };
        let id = u32::from_le_bytes(field(0, 4)?.try_into().unwrap());
        if field(4, 4)? != [0u8; 4] {
            return Err(Failure::bad("batch request reserved word must be 0"));
        }
        let count = u64::from_le_bytes(field(8, 8)?.try_into().unwrap());
        let f = self.registry.get(id).ok_or(Failure::UnknownFunction(id))?;
        if !f.batchable {
            return Err(Failure::bad(format!("{} cannot be batched: it has variable-size or in-out values", f.name)));
        }
        if self.segments.len() != self.heap.segment_count() {
            self.segments = self.heap.segments();
        }
        // The argument records, copied to private memory like any request payload.
        let outer = ArgReader::new(&request, 40, &self.segments, &self.scratch, &self.borrows)?;
        let records = outer.bytes(16)?;
        let stride = f.args.fixed_size.next_multiple_of(8);
        let rstride = f.results.fixed_size.next_multiple_of(8);
        let expected = count.checked_mul(stride as u64).ok_or_else(|| Failure::bad("batch count overflows"))?;
        if records.len() as u64 != expected {
            return Err(Failure::bad(format!(
                "batch of {count} calls needs {expected} argument bytes, found {}",
                records.len()
            )));
        }
        // Into u64s for alignment; a client-sized allocation must fail as an error, not abort.
        let mut args: Vec<u64> = Vec::new();
        args.try_reserve_exact(records.len() / 8).map_err(|e| Failure::OutOfMemory(e.to_string()))?;
        args.extend(records.chunks_exact(8).map(|w| u64::from_ne_bytes(w.try_into().expect("8 bytes"))));
        let args: &[u8] = bytemuck::cast_slice(&args);
        let total = (count as usize).checked_mul(rstride).ok_or_else(|| Failure::bad("batch result overflows"))?;
        // The result records are written where the client will read them (inline, or a new heap block
        // it will own), not built aside and copied.
        let (scratch, borrows, heap) = (&self.scratch, &self.borrows, &self.heap);
        let mut writer = RetWriter::new(area, BUF_SIZE, heap, &mut self.allocated);
        let mut outcome = Ok(Ok(()));
        writer.elements_filled::<u8>(0, total, |results| {
            results.fill(0); // padding between and inside records reads as zero
            let mut unused = Vec::new();
            let mut rows = Rows {
                count: count as usize,
                args,
                stride,
                args_size: f.args.fixed_size,
                rstride,
                result_size: f.results.fixed_size,
                scratch,
                borrows,
                heap,
                allocated: &mut unused,
            };
            outcome = catch_unwind(AssertUnwindSafe(|| (f.run_batch)(&mut rows, results)));
        })?;
        match outcome {
            Ok(Ok(())) => Ok(writer.len()),
            Ok(Err((i, e))) => Err(match e {
                Failure::Error(m) => Failure::Error(format!("call {i}: {m}")),
                Failure::BadRequest(m) => Failure::BadRequest(format!("call {i}: {m}")),
                other => other,
            }),
            Err(panic) => Err(Failure::Panic(panic_message(panic.as_ref()))),
        }
    }

    fn dispatch(&mut self, function: u32, len: usize, area: &mut [u8]) -> Result<usize, Failure> {
        let payload: &[u8] = &bytemuck::cast_slice(&self.payload)[..len];
        match function {
            FN_NOP => Ok(0),
            FN_ALLOC => {
                let size = payload
                    .get(..8)
                    .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
                    .ok_or_else(|| Failure::bad("alloc needs an 8-byte size"))?;
                let b = self.heap.alloc(size)?;
                let mut out = [0u8; BUF_SIZE];
                b.encode(&mut out);
                area[..BUF_SIZE].copy_from_slice(&out);
                Ok(BUF_SIZE)
            }
            FN_BATCH => self.batch(payload.to_vec(), area),
            id => {
                let f = self.registry.get(id).ok_or(Failure::UnknownFunction(id))?;
                if self.segments.len() != self.heap.segment_count() {
                    self.segments = self.heap.segments();
                }
                let reader = ArgReader::new(payload, f.args.fixed_size, &self.segments, &self.scratch, &self.borrows)?;
                let mut writer = RetWriter::new(area, f.results.fixed_size, &self.heap, &mut self.allocated);
                match catch_unwind(AssertUnwindSafe(|| (f.invoke)(&reader, &mut writer))) {
                    Ok(Ok(())) => Ok(writer.len()),
                    Ok(Err(e)) => Err(e),
                    Err(panic) => {
                        let msg = panic_message(panic.as_ref());
                        log::warn!("{}: function {} panicked: {msg}", self.log_name, f.name);
                        Err(Failure::Panic(msg))
                    }
                }
            }
        }
    }
}

/// The text of a caught panic.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-text payload".to_owned())
}
