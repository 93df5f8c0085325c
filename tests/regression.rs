//! One test per fixed bug, named by what broke.

use shmcall::codec::Failure;
use shmcall::Registry;

use crate::support::{call, heap};

/// `divmod(i64::MIN, -1)` overflows in Rust's `/`; it must be an error, not a panic.
#[test]
fn divmod_min_by_minus_one_is_an_error() {
    let mut payload = i64::MIN.to_le_bytes().to_vec();
    payload.extend_from_slice(&(-1i64).to_le_bytes());
    assert!(matches!(call(&Registry::builtin(), &heap(), "divmod", &payload), Err(Failure::Error(_))));
}

/// Found by `decoding::arbitrary_payloads_never_panic`: `circle_points(3_000_000_000)` made the
/// daemon abort on allocation failure. Client-chosen sizes are bounded and reserved fallibly.
#[test]
fn client_chosen_sizes_cannot_abort_the_daemon() {
    let payload = 3_000_000_000u32.to_le_bytes();
    assert!(matches!(call(&Registry::builtin(), &heap(), "circle_points", &payload), Err(Failure::Error(_))));
}
