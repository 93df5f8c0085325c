//! What is computed from the generated constants rather than listed in `protocol/constants.toml`: the layout
//! hash (SPEC §3.2) and the alignment rule the geometry uses. Re-exported by `constants`, so callers name
//! them `constants::LAYOUT_HASH`, `constants::align_up`.

use super::constants::HASHED;

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
