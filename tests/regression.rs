//! One test per fixed bug, named by what broke.

use shmcall::codec::Failure;
use shmcall::kernels;
use shmcall::layout::BufRef;

use crate::support::{call, heap};

/// `divmod(i64::MIN, -1)` overflows in Rust's `/`; it must be an error, not a panic.
#[test]
fn divmod_min_by_minus_one_is_an_error() {
    let mut payload = i64::MIN.to_le_bytes().to_vec();
    payload.extend_from_slice(&(-1i64).to_le_bytes());
    assert!(matches!(call(&kernels::registry(), &heap(), "divmod", &payload), Err(Failure::Error(_))));
}

/// Found by `decoding::arbitrary_payloads_never_panic`: `circle_points(3_000_000_000)` made the
/// daemon abort on allocation failure. Client-chosen sizes are bounded and reserved fallibly.
#[test]
fn client_chosen_sizes_cannot_abort_the_daemon() {
    let payload = 3_000_000_000u32.to_le_bytes();
    assert!(matches!(call(&kernels::registry(), &heap(), "circle_points", &payload), Err(Failure::Error(_))));
}

/// Found by `decoding::arbitrary_payloads_never_panic` (a debug-build run spinning for 15 minutes):
/// `repeat_bytes(b"", 2**64 - 1)` passed the 1 GiB bound (0 bytes) and then looped `count` times, so
/// one call could hold a daemon thread for good. Empty data now returns at once.
#[test]
fn repeat_bytes_of_nothing_returns_at_once() {
    let mut payload = [0u8; 32];
    BufRef { segment: 0, offset: 32, length: 0 }.encode((&mut payload[..24]).try_into().unwrap());
    payload[24..].copy_from_slice(&u64::MAX.to_le_bytes());
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(call(&kernels::registry(), &heap(), "repeat_bytes", &payload));
    });
    let out = finished.recv_timeout(std::time::Duration::from_secs(30)).expect("repeat_bytes returns");
    let out = out.expect("an empty result");
    assert_eq!(&out[16..24], &0u64.to_le_bytes(), "the result's length is 0");
}
