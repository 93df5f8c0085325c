//! Protocol constants, mirrored from `protocol/constants.toml` (the single source of truth; the test
//! harness compares every value here with that file).

/// Protocol (format) version: bumped on any layout change.
pub const PROTOCOL_VERSION: u32 = 2;
/// `"SHMCALL\0"` read as a little-endian u64; written last when a control segment is ready.
pub const MAGIC: u64 = 0x004C_4C41_434D_4853;
/// Cache line size the layout separates writers by.
pub const CACHE_LINE: usize = 64;

/// Control segment header size; the release queue follows it.
pub const HEADER_SIZE: usize = 256;
/// Header field offsets (SPEC §3.1).
pub mod off {
    #![allow(missing_docs)]
    pub const MAGIC: usize = 0;
    pub const VERSION: usize = 8;
    pub const HEADER_SIZE: usize = 12;
    pub const LAYOUT_HASH: usize = 16;
    pub const SLOT_COUNT: usize = 24;
    pub const SLOT_SIZE: usize = 28;
    pub const REQUEST_CAPACITY: usize = 32;
    pub const RESPONSE_CAPACITY: usize = 36;
    pub const RELEASE_CAPACITY: usize = 40;
    pub const CHANNEL_ID: usize = 44;
    pub const SEGMENT_SIZE: usize = 48;
    pub const SLOTS_OFFSET: usize = 56;
    pub const CLIENT_WAITING: usize = 72;
    pub const RELEASE_TAIL: usize = 80;
    pub const STARTED: usize = 128;
    pub const DAEMON_WAITING: usize = 136;
    pub const RELEASE_HEAD: usize = 144;
}
/// First byte of the release queue.
pub const RELEASE_OFFSET: usize = 256;
/// One release entry: `{u32 segment, u32 reserved, u64 offset}`.
pub const RELEASE_ENTRY_SIZE: usize = 16;
/// Slots start on this boundary.
pub const SLOTS_ALIGN: usize = 4096;

/// Defaults the daemon uses when creating a channel.
pub const DEFAULT_SLOT_COUNT: u32 = 2;
/// Default request payload capacity per slot (16 less than a multiple of 64: SPEC §3.3).
pub const DEFAULT_REQUEST_CAPACITY: u32 = 1008;
/// Default response payload capacity per slot.
pub const DEFAULT_RESPONSE_CAPACITY: u32 = 1008;
/// Default release queue entries (a power of two).
pub const DEFAULT_RELEASE_CAPACITY: u32 = 1024;

/// Request header size inside a slot; the request payload follows in the same cache line.
pub const REQUEST_HEADER_SIZE: usize = 16;
/// Response header size inside a slot; the response payload follows in the same cache line.
pub const RESPONSE_HEADER_SIZE: usize = 16;
/// Slot field offsets (SPEC §3.3), relative to the request or response header. Each half's `seq` is
/// the word that publishes it (SPEC §5.2).
pub mod slot {
    #![allow(missing_docs)]
    pub const FUNCTION_ID: usize = 0;
    pub const REQUEST_LEN: usize = 4;
    pub const REQUEST_SEQ: usize = 8;
    pub const STATUS: usize = 0;
    pub const RESPONSE_LEN: usize = 4;
    pub const RESPONSE_SEQ: usize = 8;
}

/// Buffer reference record size and alignment (SPEC §4.3).
pub const BUF_SIZE: usize = 24;
/// Alignment of a buffer reference inside a record.
pub const BUF_ALIGN: usize = 8;
/// Segment number meaning "inline in the same payload area".
pub const INLINE_SEGMENT: u32 = 0;
/// Inline variable-length data starts at this alignment after the fixed record.
pub const TAIL_ALIGN: usize = 8;

/// Heap blocks start on, and are sized in multiples of, this many bytes.
pub const BLOCK_ALIGN: usize = 64;
/// Size of a connection's first heap segment.
pub const INITIAL_SEGMENT_SIZE: u64 = 16 << 20;

/// Reserved function id: does nothing (bare round trip).
pub const FN_NOP: u32 = 0xFFFF_0000;
/// Reserved function id: allocate a heap block; args `{u64 size}`, returns a buffer reference.
pub const FN_ALLOC: u32 = 0xFFFF_0001;

/// Reserved function id: many calls of one batchable function in one request (SPEC §3.3).
/// Args `{u32 function, u32 reserved, u64 count, buffer args}`; returns a buffer of `count` result records.
pub const FN_BATCH: u32 = 0xFFFF_0002;

/// Response status codes (SPEC §6).
pub mod status {
    #![allow(missing_docs)]
    pub const OK: u32 = 0;
    pub const ERROR: u32 = 1;
    pub const PANIC: u32 = 2;
    pub const BAD_REQUEST: u32 = 3;
    pub const UNKNOWN_FUNCTION: u32 = 4;
    pub const OUT_OF_MEMORY: u32 = 5;
}

/// Every layout constant as `(section.key, value)`, in the order the layout hash covers them.
pub const HASHED: &[(&str, u64)] = &[
    ("buf.align", BUF_ALIGN as u64),
    ("buf.inline_segment", INLINE_SEGMENT as u64),
    ("buf.off_length", 16),
    ("buf.off_offset", 8),
    ("buf.off_reserved", 4),
    ("buf.off_segment", 0),
    ("buf.size", BUF_SIZE as u64),
    ("buf.tail_align", TAIL_ALIGN as u64),
    ("control.header_size", HEADER_SIZE as u64),
    ("control.off_channel_id", off::CHANNEL_ID as u64),
    ("control.off_client_waiting", off::CLIENT_WAITING as u64),
    ("control.off_daemon_waiting", off::DAEMON_WAITING as u64),
    ("control.off_header_size", off::HEADER_SIZE as u64),
    ("control.off_layout_hash", off::LAYOUT_HASH as u64),
    ("control.off_magic", off::MAGIC as u64),
    ("control.off_release_capacity", off::RELEASE_CAPACITY as u64),
    ("control.off_release_head", off::RELEASE_HEAD as u64),
    ("control.off_release_tail", off::RELEASE_TAIL as u64),
    ("control.off_request_capacity", off::REQUEST_CAPACITY as u64),
    ("control.off_response_capacity", off::RESPONSE_CAPACITY as u64),
    ("control.off_segment_size", off::SEGMENT_SIZE as u64),
    ("control.off_slot_count", off::SLOT_COUNT as u64),
    ("control.off_slot_size", off::SLOT_SIZE as u64),
    ("control.off_slots_offset", off::SLOTS_OFFSET as u64),
    ("control.off_started", off::STARTED as u64),
    ("control.off_version", off::VERSION as u64),
    ("control.release_entry_size", RELEASE_ENTRY_SIZE as u64),
    ("control.release_offset", RELEASE_OFFSET as u64),
    ("control.slots_align", SLOTS_ALIGN as u64),
    ("functions.alloc", FN_ALLOC as u64),
    ("functions.batch", FN_BATCH as u64),
    ("functions.nop", FN_NOP as u64),
    ("heap.block_align", BLOCK_ALIGN as u64),
    ("heap.initial_segment_size", INITIAL_SEGMENT_SIZE),
    ("protocol.cache_line", CACHE_LINE as u64),
    ("protocol.magic", MAGIC),
    ("protocol.version", PROTOCOL_VERSION as u64),
    ("slot.off_function_id", slot::FUNCTION_ID as u64),
    ("slot.off_request_len", slot::REQUEST_LEN as u64),
    ("slot.off_request_seq", slot::REQUEST_SEQ as u64),
    ("slot.off_response_len", slot::RESPONSE_LEN as u64),
    ("slot.off_response_seq", slot::RESPONSE_SEQ as u64),
    ("slot.off_status", slot::STATUS as u64),
    ("slot.request_header_size", REQUEST_HEADER_SIZE as u64),
    ("slot.response_header_size", RESPONSE_HEADER_SIZE as u64),
    ("status.bad_request", status::BAD_REQUEST as u64),
    ("status.error", status::ERROR as u64),
    ("status.ok", status::OK as u64),
    ("status.out_of_memory", status::OUT_OF_MEMORY as u64),
    ("status.panic", status::PANIC as u64),
    ("status.unknown_function", status::UNKNOWN_FUNCTION as u64),
];

/// FNV-1a 64 over `"key=value\n"` for every entry of [`HASHED`] (sorted by key, values in decimal):
/// SPEC §3.2. Both sides compute it from their own constants, so a drifted constant is caught at attach.
pub const fn layout_hash() -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < HASHED.len() {
        let (key, value) = HASHED[i];
        h = fnv_bytes(h, key.as_bytes());
        h = fnv_bytes(h, b"=");
        h = fnv_decimal(h, value);
        h = fnv_bytes(h, b"\n");
        i += 1;
    }
    h
}

const fn fnv_bytes(mut h: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    h
}

const fn fnv_decimal(h: u64, value: u64) -> u64 {
    let mut digits = [0u8; 20];
    let mut n = 0;
    let mut v = value;
    loop {
        digits[19 - n] = b'0' + (v % 10) as u8;
        n += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let mut h = h;
    let mut i = 20 - n;
    while i < 20 {
        h ^= digits[i] as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    h
}

/// The layout hash of this build, written into every control segment header.
pub const LAYOUT_HASH: u64 = layout_hash();

/// Rounds `n` up to a multiple of `align` (a power of two).
pub const fn align_up(n: usize, align: usize) -> usize {
    (n + align - 1) & !(align - 1)
}
