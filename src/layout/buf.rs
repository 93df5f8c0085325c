//! The buffer reference record (SPEC §4.3): where variable-length data (strings, bytes, arrays) lives.
//!
//! ```text
//! 0       4         8                16               24
//! | seg u32 | rsv u32 | offset u64     | length u64     |
//! ```
//! `seg == 0` means inline: `offset` counts from the start of the payload area that holds the record.

use super::constants::{BUF_SIZE, INLINE_SEGMENT};

/// A decoded buffer reference. Nothing about it is trusted until the codec checks it against the
/// payload area or the heap segment it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BufRef {
    /// 0 for inline data, else a heap segment number.
    pub segment: u32,
    /// Byte offset inside the payload area (inline) or the segment.
    pub offset: u64,
    /// Length in bytes.
    pub length: u64,
}

impl BufRef {
    /// Reads a reference from exactly [`BUF_SIZE`] bytes. The reserved word must be zero.
    pub fn decode(bytes: &[u8; BUF_SIZE]) -> Result<BufRef, u32> {
        let segment = u32::from_le_bytes(bytes[0..4].try_into().unwrap());
        let reserved = u32::from_le_bytes(bytes[4..8].try_into().unwrap());
        if reserved != 0 {
            return Err(reserved);
        }
        Ok(BufRef {
            segment,
            offset: u64::from_le_bytes(bytes[8..16].try_into().unwrap()),
            length: u64::from_le_bytes(bytes[16..24].try_into().unwrap()),
        })
    }

    /// Writes the reference into exactly [`BUF_SIZE`] bytes.
    pub fn encode(&self, out: &mut [u8; BUF_SIZE]) {
        out[0..4].copy_from_slice(&self.segment.to_le_bytes());
        out[4..8].copy_from_slice(&0u32.to_le_bytes());
        out[8..16].copy_from_slice(&self.offset.to_le_bytes());
        out[16..24].copy_from_slice(&self.length.to_le_bytes());
    }

    /// True when the data is inline in the same payload area.
    pub fn is_inline(&self) -> bool {
        self.segment == INLINE_SEGMENT
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trips(segment: u32, offset: u64, length: u64) {
            let r = BufRef { segment, offset, length };
            let mut bytes = [0u8; BUF_SIZE];
            r.encode(&mut bytes);
            prop_assert_eq!(BufRef::decode(&bytes), Ok(r));
        }

        #[test]
        fn nonzero_reserved_is_rejected(reserved in 1u32..) {
            let mut bytes = [0u8; BUF_SIZE];
            bytes[4..8].copy_from_slice(&reserved.to_le_bytes());
            prop_assert_eq!(BufRef::decode(&bytes), Err(reserved));
        }
    }
}
