//! The control segment of one channel (SPEC §3): header, release queue and slots, and the daemon's
//! side of the ordering protocol on them (SPEC §5), reached through `words::SharedWords` (the mapping,
//! or a model checker's atomics). This view is the daemon's; the client is the mirror image in
//! `python/shmcall/_layout.py`.
//!
//! Every shared word has one writer. The header's fixed fields, the daemon line and every response
//! half are written by the daemon; the client line, the release queue entries and every request half
//! are written by the client. Payload bytes are handed over by the `seq` word in the first line of
//! each slot half (SPEC §5.2), never shared concurrently.

use super::constants::*;
use super::words::{MappedWords, SharedWords};
use crate::sync::Ordering;

/// The sizes a channel is created with; everything else in the layout is derived from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlConfig {
    /// Slots in the ring (requests in flight at most).
    pub slot_count: u32,
    /// Request payload bytes per slot (16 less than a multiple of 64).
    pub request_capacity: u32,
    /// Response payload bytes per slot (16 less than a multiple of 64).
    pub response_capacity: u32,
    /// Release queue entries (a power of two).
    pub release_capacity: u32,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            slot_count: DEFAULT_SLOT_COUNT,
            request_capacity: DEFAULT_REQUEST_CAPACITY,
            response_capacity: DEFAULT_RESPONSE_CAPACITY,
            release_capacity: DEFAULT_RELEASE_CAPACITY,
        }
    }
}

impl ControlConfig {
    /// Checks the invariants the layout relies on.
    pub fn validate(&self) -> Result<(), String> {
        if self.slot_count == 0 || self.slot_count > 4096 {
            return Err(format!("slot_count must be 1..=4096, found {}", self.slot_count));
        }
        // Each half (16-byte header, then payload) starts on a cache line (SPEC §3.3).
        let halves = [
            ("request_capacity", self.request_capacity, REQUEST_HEADER_SIZE),
            ("response_capacity", self.response_capacity, RESPONSE_HEADER_SIZE),
        ];
        for (name, v, header) in halves {
            let half = v as usize + header;
            if v < (CACHE_LINE - header) as u32 || half % CACHE_LINE != 0 || half > 1 << 20 {
                return Err(format!("{name} must be {} less than a multiple of 64, up to 1 MiB, found {v}", header));
            }
        }
        if !self.release_capacity.is_power_of_two() || self.release_capacity > 1 << 16 {
            return Err(format!(
                "release_capacity must be a power of two up to 65536, found {}",
                self.release_capacity
            ));
        }
        Ok(())
    }

    /// Bytes of one slot: request header and payload, then response header and payload.
    pub fn slot_size(&self) -> usize {
        REQUEST_HEADER_SIZE + self.request_capacity as usize + RESPONSE_HEADER_SIZE + self.response_capacity as usize
    }

    /// Offset of slot 0.
    pub fn slots_offset(&self) -> usize {
        align_up(RELEASE_OFFSET + self.release_capacity as usize * RELEASE_ENTRY_SIZE, SLOTS_ALIGN)
    }

    /// Total segment size.
    pub fn segment_size(&self) -> usize {
        align_up(self.slots_offset() + self.slot_count as usize * self.slot_size(), SLOTS_ALIGN)
    }
}

/// The daemon's view of a control segment: where each word and area lies, and the daemon's side of
/// the ordering protocol (SPEC §5) on them. `W` reaches the words: the mapping in production
/// ([`MappedWords`]), a model checker's atomics in the tests.
#[derive(Debug)]
pub struct ControlView<W = MappedWords> {
    words: W,
    config: ControlConfig,
    /// `config.slots_offset()` and `config.slot_size()`, computed once: the poller locates a slot
    /// on every sweep.
    slots_offset: usize,
    slot_size: usize,
}

impl ControlView<MappedWords> {
    /// Wraps a mapping.
    ///
    /// # Safety
    /// - `base` is 4096-aligned, valid for reads and writes of `config.segment_size()` bytes, and stays
    ///   mapped for the life of the view;
    /// - `config` has been validated.
    pub unsafe fn new(base: *mut u8, config: ControlConfig) -> ControlView {
        // SAFETY: as the caller promises.
        let words = unsafe { MappedWords::new(base) };
        // SAFETY: the mapping is segment_size() bytes long; config is valid.
        unsafe { ControlView::over(words, config) }
    }

    /// Starts taking `slot`'s response line (its header and first payload bytes) for writing, ahead
    /// of the response: while the client spins on that line, each store the daemon makes to it
    /// otherwise waits for the line to come back, on the call's critical path (SPEC §3.3).
    pub fn claim_response_line(&self, slot: u32) {
        let at = self.response_half(slot);
        // SAFETY: in bounds by construction of slot_size (and a prefetch would not fault anyway).
        crate::sync::prefetch_for_write(unsafe { self.words.base().add(at) });
    }

    /// Pointer to `slot`'s response payload (response_capacity bytes), for the response writer.
    pub fn response_payload(&self, slot: u32) -> *mut u8 {
        let at = self.response_half(slot) + RESPONSE_HEADER_SIZE;
        // SAFETY: in bounds by construction of slot_size.
        unsafe { self.words.base().add(at) }
    }
}

impl<W: SharedWords> ControlView<W> {
    /// A view over `words`.
    ///
    /// # Safety
    /// `words` serves every word and byte below `config.segment_size()`, and `config` has been
    /// validated: the view passes it offsets within that size unchecked.
    pub unsafe fn over(words: W, config: ControlConfig) -> ControlView<W> {
        ControlView { words, config, slots_offset: config.slots_offset(), slot_size: config.slot_size() }
    }

    /// The configuration the view was made with.
    pub fn config(&self) -> &ControlConfig {
        &self.config
    }

    /// The words the view reads and writes (a model's, for a test playing the client over them).
    pub fn words(&self) -> &W {
        &self.words
    }

    #[inline(always)]
    fn load_u64(&self, off: usize, order: Ordering) -> u64 {
        debug_assert!(off % 8 == 0 && off + 8 <= self.config.segment_size());
        // SAFETY: every caller passes a header offset or a computed slot offset below segment_size,
        // a multiple of 8.
        unsafe { self.words.load_u64(off, order) }
    }

    #[inline(always)]
    fn store_u64(&self, off: usize, value: u64, order: Ordering) {
        debug_assert!(off % 8 == 0 && off + 8 <= self.config.segment_size());
        // SAFETY: as for `load_u64`.
        unsafe { self.words.store_u64(off, value, order) }
    }

    #[inline(always)]
    fn load_u32(&self, off: usize, order: Ordering) -> u32 {
        debug_assert!(off % 4 == 0 && off + 4 <= self.config.segment_size());
        // SAFETY: as for `load_u64`, with 4-byte alignment.
        unsafe { self.words.load_u32(off, order) }
    }

    #[inline(always)]
    fn store_u32(&self, off: usize, value: u32, order: Ordering) {
        debug_assert!(off % 4 == 0 && off + 4 <= self.config.segment_size());
        // SAFETY: as for `load_u32`.
        unsafe { self.words.store_u32(off, value, order) }
    }

    /// Fills the header, writing the magic word last (SPEC §5.1 "segment ready").
    pub fn initialize(&self, channel_id: u32) {
        let c = &self.config;
        self.store_u32(off::VERSION, PROTOCOL_VERSION, Ordering::Relaxed);
        self.store_u32(off::HEADER_SIZE, HEADER_SIZE as u32, Ordering::Relaxed);
        self.store_u64(off::LAYOUT_HASH, LAYOUT_HASH, Ordering::Relaxed);
        self.store_u32(off::SLOT_COUNT, c.slot_count, Ordering::Relaxed);
        self.store_u32(off::SLOT_SIZE, c.slot_size() as u32, Ordering::Relaxed);
        self.store_u32(off::REQUEST_CAPACITY, c.request_capacity, Ordering::Relaxed);
        self.store_u32(off::RESPONSE_CAPACITY, c.response_capacity, Ordering::Relaxed);
        self.store_u32(off::RELEASE_CAPACITY, c.release_capacity, Ordering::Relaxed);
        self.store_u32(off::CHANNEL_ID, channel_id, Ordering::Relaxed);
        self.store_u64(off::SEGMENT_SIZE, c.segment_size() as u64, Ordering::Relaxed);
        self.store_u64(off::SLOTS_OFFSET, c.slots_offset() as u64, Ordering::Relaxed);
        // ORDERING (SPEC §5.1 "segment ready"): Release; every header field above is visible to a
        // reader that sees the magic. The client maps the segment only after receiving its fd over the
        // socket, which orders it too; the Release keeps the rule local to the segment.
        self.store_u64(off::MAGIC, MAGIC, Ordering::Release);
    }

    /// Sets or clears `daemon_waiting`: 1 while the daemon sleeps, or is about to sleep, on the
    /// request doorbell. Relaxed: its ordering comes from the fences of SPEC §5.4; one daemon thread
    /// at a time writes it (the reference daemon: under the channel's lock).
    pub fn set_daemon_waiting(&self, waiting: bool) {
        self.store_u32(off::DAEMON_WAITING, waiting as u32, Ordering::Relaxed);
    }

    /// The daemon side of the sleep handshake (SPEC §5.4 steps 1-3), for a daemon that has consumed
    /// `next - 1` requests: announces that nobody watches the channel; true if it may then sleep
    /// (request `next` was not published meanwhile). `daemon_waiting` stays 1 either way: the caller
    /// clears it when it serves again.
    pub fn announce_sleep(&self, next: u64) -> bool {
        self.set_daemon_waiting(true);
        // ORDERING (SPEC §5.4 "no lost wake-up", daemon side): SeqCst fence between the store of
        // daemon_waiting and the re-check of the next request's seq word; pairs with the client's
        // fence between that store and its daemon_waiting load. One of the two sees the other's store.
        self.words.fence(Ordering::SeqCst);
        !self.request_published(next)
    }

    /// Records that the service of request `seq` has begun (SPEC §5.4: advisory; a client waiting
    /// for it need not kick the channel thread). Relaxed: `started` only grows, and a stale load
    /// only adds a spare kick.
    pub fn mark_started(&self, seq: u64) {
        self.store_u64(off::STARTED, seq, Ordering::Relaxed);
    }

    /// Reads release entry `index` (mod capacity) as `(segment, reserved, offset)`.
    pub fn release_entry(&self, index: u64) -> (u32, u32, u64) {
        let at = RELEASE_OFFSET + (index % self.config.release_capacity as u64) as usize * RELEASE_ENTRY_SIZE;
        (
            self.load_u32(at, Ordering::Relaxed),
            self.load_u32(at + 4, Ordering::Relaxed),
            self.load_u64(at + 8, Ordering::Relaxed),
        )
    }

    /// Drains the release queue (SPEC §5.3) from `head`, the entries consumed so far: passes each
    /// entry the client published since to `free` as `(index, (segment, reserved, offset))`, then
    /// publishes them consumed. Returns the new head, or `Err(tail)` for a tail that is behind the head
    /// or more than the capacity ahead of it (nothing is consumed: SPEC §5.3).
    #[inline]
    pub fn drain_releases(&self, head: u64, mut free: impl FnMut(u64, (u32, u32, u64))) -> Result<u64, u64> {
        // ORDERING (SPEC §5.3 "release published"): Acquire; pairs with the client's store of
        // release_tail after writing the entries.
        let tail = self.load_u64(off::RELEASE_TAIL, Ordering::Acquire);
        if tail == head {
            return Ok(head);
        }
        if tail < head || tail - head > self.config.release_capacity as u64 {
            return Err(tail);
        }
        for i in head..tail {
            free(i, self.release_entry(i));
        }
        // ORDERING (SPEC §5.3 "release consumed"): Release; the client may reuse entries up to here.
        self.store_u64(off::RELEASE_HEAD, tail, Ordering::Release);
        Ok(tail)
    }

    fn slot_base(&self, slot: u32) -> usize {
        assert!(slot < self.config.slot_count, "slot index out of range");
        self.slots_offset + slot as usize * self.slot_size
    }

    /// The slot request `seq` uses (SPEC §3.3).
    pub fn slot_of(&self, seq: u64) -> u32 {
        ((seq.wrapping_sub(1)) % self.config.slot_count as u64) as u32
    }

    /// True once the client has published request `seq` (SPEC §5.2 "request published"): the seq
    /// word of its slot holds exactly `seq`. Any other value (the slot's previous request, zero while
    /// the client fills the slot, garbage) means not yet.
    pub fn request_published(&self, seq: u64) -> bool {
        let at = self.slot_base(self.slot_of(seq)) + slot::REQUEST_SEQ;
        // ORDERING (SPEC §5.2 "request published"): Acquire; pairs with the client's 8-byte store of
        // the seq word after it wrote the rest of the request half, so those bytes are visible here.
        self.load_u64(at, Ordering::Acquire) == seq
    }

    /// The request header of `slot`: `(function_id, request_len)`. Untrusted; read after
    /// `request_published`.
    pub fn request_header(&self, slot: u32) -> (u32, u32) {
        let b = self.slot_base(slot);
        (
            self.load_u32(b + slot::FUNCTION_ID, Ordering::Relaxed),
            self.load_u32(b + slot::REQUEST_LEN, Ordering::Relaxed),
        )
    }

    /// Copies the first `dst.len()` bytes of `slot`'s request payload into daemon-private memory, so
    /// that nothing decoded later can change under the decoder (the client may still write the slot).
    pub fn copy_request(&self, slot: u32, dst: &mut [u8]) {
        assert!(dst.len() <= self.config.request_capacity as usize, "copy exceeds request capacity");
        let src = self.slot_base(slot) + REQUEST_HEADER_SIZE;
        // SAFETY: the request payload of a valid slot is request_capacity bytes (asserted) of the
        // segment; `dst` is a distinct private buffer.
        unsafe { self.words.copy_out(src, dst) }
    }

    /// Offset of `slot`'s response half (its header, on a line of its own).
    fn response_half(&self, slot: u32) -> usize {
        self.slot_base(slot) + REQUEST_HEADER_SIZE + self.config.request_capacity as usize
    }

    /// Writes `slot`'s response header and publishes response `seq` (SPEC §5.2 "response published"),
    /// after the caller has written the payload.
    pub fn publish_response(&self, slot: u32, status: u32, len: u32, seq: u64) {
        let b = self.response_half(slot);
        self.store_u32(b + slot::STATUS, status, Ordering::Relaxed);
        self.store_u32(b + slot::RESPONSE_LEN, len, Ordering::Relaxed);
        // ORDERING (SPEC §5.2 "response published"): Release; pairs with the client's load of this
        // word before it reads the status, length and payload written above.
        self.store_u64(b + slot::RESPONSE_SEQ, seq, Ordering::Release);
    }

    /// Publishes response `seq` as `publish_response` does, then decides the daemon's half of the
    /// response direction of SPEC §5.4: true if the client sleeps, or is about to, on the response
    /// doorbell, which the caller then rings.
    #[inline]
    pub fn answer(&self, slot: u32, status: u32, len: u32, seq: u64) -> bool {
        self.publish_response(slot, status, len, seq);
        // ORDERING (SPEC §5.4 "no lost wake-up", daemon side): SeqCst fence between the store of the
        // response's seq word and the client_waiting load; pairs with the client's fence after
        // storing client_waiting.
        self.words.fence(Ordering::SeqCst);
        self.load_u32(off::CLIENT_WAITING, Ordering::Relaxed) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_layout_matches_spec_example() {
        let c = ControlConfig::default();
        c.validate().unwrap();
        assert_eq!(c.slot_size(), 2048);
        assert_eq!(c.slots_offset(), 20480);
        assert_eq!(c.segment_size(), 20480 + 2 * 2048);
    }

    #[test]
    fn invalid_configs_are_refused() {
        let base = ControlConfig::default();
        assert!(ControlConfig { slot_count: 0, ..base }.validate().is_err());
        assert!(ControlConfig { request_capacity: 100, ..base }.validate().is_err());
        assert!(ControlConfig { request_capacity: 1024, ..base }.validate().is_err());
        assert!(ControlConfig { response_capacity: 32, ..base }.validate().is_err());
        assert!(ControlConfig { response_capacity: (1 << 20) + 48, ..base }.validate().is_err());
        ControlConfig { request_capacity: 48, response_capacity: (1 << 20) - 16, ..base }.validate().unwrap();
        assert!(ControlConfig { release_capacity: 1000, ..base }.validate().is_err());
    }

    #[test]
    fn each_slot_half_starts_on_a_line_with_its_seq_word() {
        let c = ControlConfig::default();
        let request = c.slots_offset() + c.slot_size();
        let response = request + REQUEST_HEADER_SIZE + c.request_capacity as usize;
        for half in [request, response] {
            assert_eq!(half % CACHE_LINE, 0);
        }
        assert_eq!((request + slot::REQUEST_SEQ) / CACHE_LINE, (request + REQUEST_HEADER_SIZE) / CACHE_LINE);
        assert_eq!((response + slot::RESPONSE_SEQ) / CACHE_LINE, (response + RESPONSE_HEADER_SIZE) / CACHE_LINE);
    }

    #[test]
    fn claiming_a_response_line_changes_no_byte() {
        let config = ControlConfig::default();
        let layout = std::alloc::Layout::from_size_align(config.segment_size(), 4096).unwrap();
        // SAFETY: a non-zero size; freed below with the same layout.
        let base = unsafe { std::alloc::alloc(layout) };
        assert!(!base.is_null());
        // SAFETY: `base` is valid for segment_size bytes, which are filled before being read.
        let bytes = unsafe {
            std::ptr::write_bytes(base, 0xa5, config.segment_size());
            std::slice::from_raw_parts(base, config.segment_size())
        };
        // SAFETY: 4096-aligned, segment_size bytes, outlives the view; the default config is valid.
        let view = unsafe { ControlView::new(base, config) };
        for slot in 0..config.slot_count {
            view.claim_response_line(slot);
        }
        assert!(bytes.iter().all(|&b| b == 0xa5));
        // SAFETY: allocated above with this layout; `bytes` and `view` are not used after this.
        unsafe { std::alloc::dealloc(base, layout) };
    }

    #[test]
    fn the_daemon_steps_use_the_words_of_the_spec() {
        let config = ControlConfig { slot_count: 2, ..ControlConfig::default() };
        let mut segment = vec![0u64; config.segment_size() / 8];
        let base = segment.as_mut_ptr() as *mut u8;
        // The client's side, and checks: whole aligned u64s (a u32 word is the low or high half of
        // one, little-endian); no view access runs meanwhile.
        let read = |at: usize| {
            // SAFETY: every offset below is in bounds and 8-aligned.
            unsafe { base.add(at).cast::<u64>().read() }
        };
        let write = |at: usize, v: u64| {
            // SAFETY: as for `read`.
            unsafe { base.add(at).cast::<u64>().write(v) }
        };
        // SAFETY: 8-aligned rather than 4096-aligned, which no access below needs; segment_size bytes,
        // outliving the view; the config is valid.
        let view = unsafe { ControlView::new(base, config) };
        view.initialize(7);
        let request = config.slots_offset() + config.slot_size(); // slot 1: request 2
        write(request + slot::REQUEST_SEQ, 2);
        assert!(!view.request_published(1) && view.request_published(2));
        assert!(!view.announce_sleep(2), "a published request keeps the daemon awake");
        assert!(view.announce_sleep(3));
        assert_eq!(read(off::DAEMON_WAITING & !7) >> (8 * (off::DAEMON_WAITING % 8)) & 0xffff_ffff, 1);
        write(off::CLIENT_WAITING & !7, 1 << (8 * (off::CLIENT_WAITING % 8)));
        assert!(view.answer(1, 3, 8, 2), "a waiting client is rung");
        let response = request + REQUEST_HEADER_SIZE + config.request_capacity as usize;
        assert_eq!(read(response + slot::RESPONSE_SEQ), 2);
        write(RELEASE_OFFSET, 3); // segment 3, reserved 0
        write(RELEASE_OFFSET + 8, 4096);
        write(off::RELEASE_TAIL, 1);
        let mut freed = Vec::new();
        assert_eq!(view.drain_releases(0, |i, entry| freed.push((i, entry))), Ok(1));
        assert_eq!(freed, [(0, (3, 0, 4096))]);
        assert_eq!(read(off::RELEASE_HEAD), 1);
        drop(segment);
    }

    #[test]
    fn writer_lines_do_not_share_cache_lines() {
        let line = |o: usize| o / CACHE_LINE;
        let client = [off::CLIENT_WAITING, off::RELEASE_TAIL].map(line);
        let daemon = [off::STARTED, off::DAEMON_WAITING, off::RELEASE_HEAD].map(line);
        for c in client {
            assert!(!daemon.contains(&c));
            assert_ne!(c, line(off::MAGIC));
        }
    }
}
