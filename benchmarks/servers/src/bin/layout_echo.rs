//! The server of the layout experiment (`benchmarks/layout.py`): the same busy-polled `add` echo as
//! `raw_echo`, over three layouts of one call's cache lines, so that a client can time them side by
//! side and see what the layout alone costs. Run as `layout_echo PATH` on a 13-line file the parent
//! created; prints `READY` once mapped and exits when stdin closes.
//!
//! 64-byte lines of little-endian u64/i64 words; a client writes the other words of its request,
//! then the sequence word (one aligned 8-byte store, the last), and the server answers likewise:
//!
//! | layout | request | response |
//! |---|---|---|
//! | one line each way (the raw floor) | line 0: `seq`, `a`, `b` | line 1: `seq`, `status`, `r` |
//! | protocol v1 (sequence words apart from the slot) | line 2: `req_seq`; line 4: header (`function`/`len`, `seq`); line 5: `a`, `b` | line 3: `resp_seq`; line 6: header (`status`/`len`, `seq`); line 7: `r` |
//! | sequence word in the slot's first line | line 10: `seq`, header, `a`, `b` | line 11: `seq`, header, `r` |
//! | sequence word in the slot's header, data in the next line | line 12: header (`seq`, `function`/`len`); line 13: `a`, `b` | line 14: header (`seq`, `status`/`len`); line 15: `r` |
//!
//! Lines 8, 9 and 16 hold nothing (room between the rings and at the end of the file).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

const LINES: usize = 17;

fn serve(map: &memmap2::MmapMut, stop: &AtomicBool) {
    assert!(map.len() >= LINES * 64, "layout_echo needs a {}-byte file", LINES * 64);
    // SAFETY: in bounds (asserted), 8-aligned (the mapping is page-aligned); the client writes the
    // file concurrently, which is why every access is atomic.
    let w = |i: usize| unsafe { &*(map.as_ptr().add(i * 8) as *const AtomicU64) };
    let add = |a: &AtomicU64, b: &AtomicU64| (a.load(Ordering::Relaxed) as i64).wrapping_add(b.load(Ordering::Relaxed) as i64) as u64;
    let mut last = [w(8), w(24), w(88), w(112)].map(|x| x.load(Ordering::Acquire));
    let mut idle = shmcall_bench_servers::IdleSweeps::default();
    while !stop.load(Ordering::Relaxed) {
        let mut busy = false;
        // One line each way.
        let s = w(0).load(Ordering::Acquire);
        if s != last[0] {
            w(10).store(0, Ordering::Relaxed);
            w(11).store(add(w(1), w(2)), Ordering::Relaxed);
            w(8).store(s, Ordering::Release);
            (last[0], busy) = (s, true);
        }
        // Protocol v1: the sequence words on lines of their own, then the slot's header and data.
        let s = w(16).load(Ordering::Acquire);
        if s != last[1] {
            let _header = (w(32).load(Ordering::Relaxed), w(33).load(Ordering::Relaxed));
            w(56).store(add(w(40), w(41)), Ordering::Relaxed);
            w(48).store(8 << 32, Ordering::Relaxed);
            w(49).store(s, Ordering::Relaxed);
            w(24).store(s, Ordering::Release);
            (last[1], busy) = (s, true);
        }
        // The sequence word in the slot's first line, beside the header and the data.
        let s = w(80).load(Ordering::Acquire);
        if s != last[2] {
            let _header = w(81).load(Ordering::Relaxed);
            w(89).store(8 << 32, Ordering::Relaxed);
            w(90).store(add(w(82), w(83)), Ordering::Relaxed);
            w(88).store(s, Ordering::Release);
            (last[2], busy) = (s, true);
        }
        // The sequence word in the slot's header line, the data in the line after it.
        let s = w(96).load(Ordering::Acquire);
        if s != last[3] {
            let _header = w(97).load(Ordering::Relaxed);
            w(113).store(8 << 32, Ordering::Relaxed);
            w(120).store(add(w(104), w(105)), Ordering::Relaxed);
            w(112).store(s, Ordering::Release);
            (last[3], busy) = (s, true);
        }
        idle.after_sweep(busy);
    }
}

fn main() -> std::io::Result<()> {
    shmcall_bench_servers::serve_file("usage: layout_echo PATH", serve)
}
