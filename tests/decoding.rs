//! The decoder against arbitrary bytes: every built-in function, fed random argument records with
//! random buffer references (into the payload, into a real heap segment, or nowhere), either
//! succeeds or returns a `Failure`; it never panics, never reads out of bounds.

use proptest::prelude::*;
use shmcall::codec::Failure;
use shmcall::kernels;
use shmcall::layout::constants::DEFAULT_RESPONSE_CAPACITY;
use shmcall::layout::BufRef;

use crate::support::{call, heap};

/// Functions whose bodies panic or sleep by design.
const SKIP: &[&str] = &["panic", "sleep_ms"];

fn payload_strategy() -> impl Strategy<Value = Vec<u8>> {
    // Raw bytes, with buffer references patched in at 8-aligned places so decoding reaches them.
    (
        prop::collection::vec(any::<u8>(), 0..600),
        prop::collection::vec((0usize..20, 0u32..3, 0u64..2000, 0u64..2000), 0..6),
    )
        .prop_map(|(mut bytes, refs)| {
            for (slot, segment, offset, length) in refs {
                let at = slot * 8;
                if at + 24 <= bytes.len() {
                    let mut b = [0u8; 24];
                    BufRef { segment, offset, length }.encode(&mut b);
                    bytes[at..at + 24].copy_from_slice(&b);
                }
            }
            bytes
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_payloads_never_panic(payload in payload_strategy()) {
        let registry = kernels::registry();
        let heap = heap();
        heap.alloc(4096).unwrap(); // segment 1 exists, so references into it are checked for real
        for f in registry.functions() {
            if SKIP.contains(&f.name.as_str()) {
                continue;
            }
            match call(&registry, &heap, &f.name, &payload) {
                Ok(out) => prop_assert!(out.len() <= DEFAULT_RESPONSE_CAPACITY as usize),
                Err(Failure::BadRequest(_)) | Err(Failure::Error(_)) | Err(Failure::OutOfMemory(_)) => {}
                Err(other) => prop_assert!(false, "{}: unexpected failure {other:?}", f.name),
            }
        }
    }
}

#[test]
fn short_records_are_bad_requests() {
    let registry = kernels::registry();
    let heap = heap();
    assert!(matches!(call(&registry, &heap, "add", &[0u8; 15]), Err(Failure::BadRequest(_))));
    let mut ok = vec![0u8; 16];
    ok[0] = 2;
    ok[8] = 3;
    assert_eq!(call(&registry, &heap, "add", &ok).unwrap()[..8], 5i64.to_le_bytes());
}
