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

#[test]
fn an_option_is_read_only_when_present() {
    // SPEC §4.6, §6.2 V5: the presence byte is 0 or 1; an absent option's bytes are not examined.
    let registry = kernels::registry();
    let heap = heap();
    let mut clamp = vec![0u8; 40];
    clamp[..8].copy_from_slice(&5.0f64.to_le_bytes());
    clamp[9..24].fill(0xff); // lo: absent, its bytes garbage
    clamp[24] = 1;
    clamp[32..40].copy_from_slice(&2.5f64.to_le_bytes());
    assert_eq!(call(&registry, &heap, "clamp", &clamp).unwrap()[..8], 2.5f64.to_le_bytes());
    for bad in [2u8, 0xff] {
        let mut c = clamp.clone();
        c[24] = bad;
        assert!(matches!(call(&registry, &heap, "clamp", &c), Err(Failure::BadRequest(m)) if m.contains("0 or 1")));
    }

    // encrypt(buf: &mut [u8], key, nonce, aad: Option<&[u8]>): aad absent behind a reference that would
    // be refused (reserved word set, a segment that does not exist), then the same reference present.
    let mut record = vec![0u8; 104 + 32 + 16];
    let mut put = |at: usize, b: BufRef| {
        let mut bytes = [0u8; 24];
        b.encode(&mut bytes);
        record[at..at + 24].copy_from_slice(&bytes);
    };
    put(0, BufRef { segment: 0, offset: 0, length: 0 });
    put(24, BufRef { segment: 0, offset: 104, length: 32 });
    put(48, BufRef { segment: 0, offset: 136, length: 12 });
    record[80..104].fill(0xee);
    let no_aad = call(&registry, &heap, "encrypt", &record).expect("absent: not examined");
    let (key, nonce) = ([0u8; 32], [0u8; 12]);
    let tag = shmcall::kernels::crypto::encrypt(&mut [], &key, &nonce, b"").unwrap();
    assert_eq!(BufRef::decode(&no_aad[..24].try_into().unwrap()).unwrap().length, 16);
    assert_eq!(no_aad[24..40], tag, "the tag of empty associated data");
    record[72] = 1;
    assert!(matches!(call(&registry, &heap, "encrypt", &record), Err(Failure::BadRequest(_))), "present: checked");
}
