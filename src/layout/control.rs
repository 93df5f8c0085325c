//! The control segment of one channel (SPEC §3): header, release queue and slots, viewed through a
//! raw pointer. This view is the daemon's; the client is the mirror image in `python/shmcall/_layout.py`.
//!
//! Every shared word has one writer. The header's fixed fields, the daemon line and every response
//! half are written by the daemon; the client line, the release queue entries and every request half
//! are written by the client. Payload bytes are handed over by the `seq` word in the first line of
//! each slot half (SPEC §5.2), never shared concurrently.

use super::constants::*;
use crate::sync::{AtomicU32, AtomicU64, Ordering};

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

/// The daemon's view of a mapped control segment.
#[derive(Debug)]
pub struct ControlView {
    base: *mut u8,
    config: ControlConfig,
    /// `config.slots_offset()` and `config.slot_size()`, computed once: the poller locates a slot
    /// on every sweep.
    slots_offset: usize,
    slot_size: usize,
}

// SAFETY: the view is a pointer into a shared mapping whose lifetime its owner (ring::Channel)
// guarantees; all cross-thread access follows the protocol's ordering rules.
unsafe impl Send for ControlView {}

impl ControlView {
    /// Wraps a mapping.
    ///
    /// # Safety
    /// - `base` is 4096-aligned, valid for reads and writes of `config.segment_size()` bytes, and stays
    ///   mapped for the life of the view;
    /// - `config` has been validated.
    pub unsafe fn new(base: *mut u8, config: ControlConfig) -> ControlView {
        ControlView { base, config, slots_offset: config.slots_offset(), slot_size: config.slot_size() }
    }

    /// The configuration the view was made with.
    pub fn config(&self) -> &ControlConfig {
        &self.config
    }

    fn u64_at(&self, off: usize) -> &AtomicU64 {
        debug_assert!(off % 8 == 0 && off + 8 <= self.config.segment_size());
        // SAFETY:
        // - in bounds: every caller passes a header offset or a computed slot offset below segment_size;
        // - aligned: offsets are multiples of 8 and the mapping is page-aligned;
        // - AtomicU64 has the layout of u64 and shared memory may be accessed atomically from any process.
        unsafe { &*(self.base.add(off) as *const AtomicU64) }
    }

    fn u32_at(&self, off: usize) -> &AtomicU32 {
        debug_assert!(off % 4 == 0 && off + 4 <= self.config.segment_size());
        // SAFETY: as for `u64_at`, with 4-byte alignment.
        unsafe { &*(self.base.add(off) as *const AtomicU32) }
    }

    /// Fills the header, writing the magic word last (SPEC §5.1 "segment ready").
    pub fn initialize(&self, channel_id: u32) {
        let c = &self.config;
        self.u32_at(off::VERSION).store(PROTOCOL_VERSION, Ordering::Relaxed);
        self.u32_at(off::HEADER_SIZE).store(HEADER_SIZE as u32, Ordering::Relaxed);
        self.u64_at(off::LAYOUT_HASH).store(LAYOUT_HASH, Ordering::Relaxed);
        self.u32_at(off::SLOT_COUNT).store(c.slot_count, Ordering::Relaxed);
        self.u32_at(off::SLOT_SIZE).store(c.slot_size() as u32, Ordering::Relaxed);
        self.u32_at(off::REQUEST_CAPACITY).store(c.request_capacity, Ordering::Relaxed);
        self.u32_at(off::RESPONSE_CAPACITY).store(c.response_capacity, Ordering::Relaxed);
        self.u32_at(off::RELEASE_CAPACITY).store(c.release_capacity, Ordering::Relaxed);
        self.u32_at(off::CHANNEL_ID).store(channel_id, Ordering::Relaxed);
        self.u64_at(off::SEGMENT_SIZE).store(c.segment_size() as u64, Ordering::Relaxed);
        self.u64_at(off::SLOTS_OFFSET).store(c.slots_offset() as u64, Ordering::Relaxed);
        // ORDERING (SPEC §5.1 "segment ready"): Release; every header field above is visible to a
        // reader that sees the magic. The client maps the segment only after receiving its fd over the
        // socket, which orders it too; the Release keeps the rule local to the segment.
        self.u64_at(off::MAGIC).store(MAGIC, Ordering::Release);
    }

    /// 1 while the client sleeps, or is about to sleep, on the response doorbell (client-written).
    pub fn client_waiting(&self) -> &AtomicU32 {
        self.u32_at(off::CLIENT_WAITING)
    }
    /// Release entries published by the client (client-written).
    pub fn release_tail(&self) -> &AtomicU64 {
        self.u64_at(off::RELEASE_TAIL)
    }
    /// The seq of the last request whose service has begun (daemon-written; advisory, SPEC §5.4).
    pub fn started(&self) -> &AtomicU64 {
        self.u64_at(off::STARTED)
    }
    /// 1 while the daemon sleeps, or is about to sleep, on the request doorbell (daemon-written).
    pub fn daemon_waiting(&self) -> &AtomicU32 {
        self.u32_at(off::DAEMON_WAITING)
    }
    /// Release entries consumed by the daemon (daemon-written).
    pub fn release_head(&self) -> &AtomicU64 {
        self.u64_at(off::RELEASE_HEAD)
    }

    /// Reads release entry `index` (mod capacity) as `(segment, reserved, offset)`.
    pub fn release_entry(&self, index: u64) -> (u32, u32, u64) {
        let at = RELEASE_OFFSET + (index % self.config.release_capacity as u64) as usize * RELEASE_ENTRY_SIZE;
        (
            self.u32_at(at).load(Ordering::Relaxed),
            self.u32_at(at + 4).load(Ordering::Relaxed),
            self.u64_at(at + 8).load(Ordering::Relaxed),
        )
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
        self.u64_at(at).load(Ordering::Acquire) == seq
    }

    /// The request header of `slot`: `(function_id, request_len)`. Untrusted; read after
    /// `request_published`.
    pub fn request_header(&self, slot: u32) -> (u32, u32) {
        let b = self.slot_base(slot);
        (
            self.u32_at(b + slot::FUNCTION_ID).load(Ordering::Relaxed),
            self.u32_at(b + slot::REQUEST_LEN).load(Ordering::Relaxed),
        )
    }

    /// Copies the first `dst.len()` bytes of `slot`'s request payload into daemon-private memory, so
    /// that nothing decoded later can change under the decoder (the client may still write the slot).
    pub fn copy_request(&self, slot: u32, dst: &mut [u8]) {
        assert!(dst.len() <= self.config.request_capacity as usize, "copy exceeds request capacity");
        let src = self.slot_base(slot) + REQUEST_HEADER_SIZE;
        // SAFETY:
        // - source in bounds: the request payload of a valid slot is request_capacity bytes (asserted);
        // - destination is a distinct private buffer of exactly dst.len() bytes;
        // - a racing client write can only change the bytes copied, which are validated afterwards.
        unsafe { std::ptr::copy_nonoverlapping(self.base.add(src), dst.as_mut_ptr(), dst.len()) }
    }

    /// Starts taking `slot`'s response line (its header and first payload bytes) for writing, ahead
    /// of the response: while the client spins on that line, each store the daemon makes to it
    /// otherwise waits for the line to come back, on the call's critical path (SPEC §3.3).
    pub fn claim_response_line(&self, slot: u32) {
        let at = self.response_half(slot);
        // SAFETY: in bounds by construction of slot_size (and a prefetch would not fault anyway).
        crate::sync::prefetch_for_write(unsafe { self.base.add(at) });
    }

    /// Offset of `slot`'s response half (its header, on a line of its own).
    fn response_half(&self, slot: u32) -> usize {
        self.slot_base(slot) + REQUEST_HEADER_SIZE + self.config.request_capacity as usize
    }

    /// Pointer to `slot`'s response payload (response_capacity bytes), for the response writer.
    pub fn response_payload(&self, slot: u32) -> *mut u8 {
        let at = self.response_half(slot) + RESPONSE_HEADER_SIZE;
        // SAFETY: in bounds by construction of slot_size.
        unsafe { self.base.add(at) }
    }

    /// Writes `slot`'s response header and publishes response `seq` (SPEC §5.2 "response published"),
    /// after the caller has written the payload.
    pub fn publish_response(&self, slot: u32, status: u32, len: u32, seq: u64) {
        let b = self.response_half(slot);
        self.u32_at(b + slot::STATUS).store(status, Ordering::Relaxed);
        self.u32_at(b + slot::RESPONSE_LEN).store(len, Ordering::Relaxed);
        // ORDERING (SPEC §5.2 "response published"): Release; pairs with the client's load of this
        // word before it reads the status, length and payload written above.
        self.u64_at(b + slot::RESPONSE_SEQ).store(seq, Ordering::Release);
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
