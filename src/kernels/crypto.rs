//! Hashing and authenticated encryption over caller-owned buffers.
//!
//! Owns SHA-256 and ChaCha20-Poly1305 (RFC 8439) with a detached 16-byte tag,
//! working in place so a shared-memory buffer is transformed without copies.
//!
//! Invariants:
//! - key, nonce and tag lengths are checked before any byte of the buffer is
//!   touched; a wrong length is reported with the expected and found length;
//! - [`decrypt`] verifies the tag before decrypting, so on
//!   [`CryptoError::TagMismatch`] (or any other error) the buffer still holds
//!   the ciphertext it was given;
//! - nothing is allocated: the cipher state lives on the stack.
//!
//! There is no parallel path: SHA-256 and Poly1305 are inherently sequential
//! chains, and the ChaCha20 keystream cannot be split across threads through
//! the crate's AEAD interface without giving up the single-pass tag.
//!
//! Nonce reuse with the same key destroys confidentiality and integrity;
//! choosing unique nonces is the caller's job.

#![forbid(unsafe_code)]

use std::fmt;

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce, Tag};
use sha2::{Digest, Sha256};

/// Length of a ChaCha20-Poly1305 key in bytes.
pub const KEY_LEN: usize = 32;
/// Length of a ChaCha20-Poly1305 nonce in bytes.
pub const NONCE_LEN: usize = 12;
/// Length of a Poly1305 tag in bytes.
pub const TAG_LEN: usize = 16;
/// Longest buffer [`encrypt`] and [`decrypt`] accept, in bytes.
///
/// RFC 8439 allows 2^38 - 64 bytes (2^32 - 1 blocks of 64 after the block
/// used for the Poly1305 key); the `chacha20poly1305` crate rejects that last
/// byte too, so this is one less, and checking it here lets the error say so.
pub const MAX_MESSAGE_LEN: u64 = (u32::MAX as u64) * 64 - 1;

/// Why an encryption or decryption was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CryptoError {
    /// The key was not [`KEY_LEN`] bytes long.
    KeyLength {
        /// Required length in bytes.
        expected: usize,
        /// Length that was passed.
        found: usize,
    },
    /// The nonce was not [`NONCE_LEN`] bytes long.
    NonceLength {
        /// Required length in bytes.
        expected: usize,
        /// Length that was passed.
        found: usize,
    },
    /// The tag was not [`TAG_LEN`] bytes long.
    TagLength {
        /// Required length in bytes.
        expected: usize,
        /// Length that was passed.
        found: usize,
    },
    /// The buffer was longer than [`MAX_MESSAGE_LEN`].
    MessageTooLong {
        /// Largest accepted length in bytes.
        max: u64,
        /// Length that was passed.
        found: u64,
    },
    /// The tag did not authenticate the ciphertext under this key, nonce and
    /// associated data; the buffer was left unchanged.
    TagMismatch,
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::KeyLength { expected, found } => {
                write!(f, "invalid key length: expected {expected} bytes, found {found}")
            }
            Self::NonceLength { expected, found } => {
                write!(f, "invalid nonce length: expected {expected} bytes, found {found}")
            }
            Self::TagLength { expected, found } => {
                write!(f, "invalid tag length: expected {expected} bytes, found {found}")
            }
            Self::MessageTooLong { max, found } => {
                write!(f, "message too long: at most {max} bytes allowed, found {found}")
            }
            Self::TagMismatch => f.write_str(
                "authentication failed: the tag does not match the ciphertext, key, nonce \
                 and associated data; the buffer was left unchanged",
            ),
        }
    }
}

impl std::error::Error for CryptoError {}

/// SHA-256 digest of `data` (FIPS 180-4).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Encrypts `buf` in place with ChaCha20-Poly1305 (RFC 8439) and returns the
/// detached 16-byte tag, which authenticates both `buf` and `aad`.
///
/// `key` must be 32 bytes and `nonce` 12 bytes; on any error `buf` is left
/// unchanged.
pub fn encrypt(buf: &mut [u8], key: &[u8], nonce: &[u8], aad: &[u8]) -> Result<[u8; TAG_LEN], CryptoError> {
    let (cipher, nonce) = prepare(buf, key, nonce)?;
    let tag = cipher
        .encrypt_in_place_detached(nonce, aad, buf)
        // The only failure left after `prepare` is the crate's length limit,
        // which `prepare` has already enforced; map it faithfully regardless.
        .map_err(|_| too_long(buf))?;
    Ok(tag.into())
}

/// Verifies `tag` over `buf` and `aad`, then decrypts `buf` in place with
/// ChaCha20-Poly1305 (RFC 8439).
///
/// `key` must be 32 bytes, `nonce` 12 and `tag` 16. If the tag does not
/// verify, returns [`CryptoError::TagMismatch`] and `buf` is left unchanged,
/// as it is on every other error.
pub fn decrypt(buf: &mut [u8], key: &[u8], nonce: &[u8], aad: &[u8], tag: &[u8]) -> Result<(), CryptoError> {
    let (cipher, nonce) = prepare(buf, key, nonce)?;
    if tag.len() != TAG_LEN {
        return Err(CryptoError::TagLength { expected: TAG_LEN, found: tag.len() });
    }
    cipher
        .decrypt_in_place_detached(nonce, aad, buf, Tag::from_slice(tag))
        // Lengths were all checked above, so the crate's opaque error can
        // only mean the tag did not verify.
        .map_err(|_| CryptoError::TagMismatch)
}

/// Validates the key, nonce and message lengths and builds the cipher (a
/// cheap key copy); `GenericArray::from_slice` would panic on a wrong length,
/// so the checks must come first.
fn prepare<'n>(buf: &[u8], key: &[u8], nonce: &'n [u8]) -> Result<(ChaCha20Poly1305, &'n Nonce), CryptoError> {
    if key.len() != KEY_LEN {
        return Err(CryptoError::KeyLength { expected: KEY_LEN, found: key.len() });
    }
    if nonce.len() != NONCE_LEN {
        return Err(CryptoError::NonceLength { expected: NONCE_LEN, found: nonce.len() });
    }
    if buf.len() as u64 > MAX_MESSAGE_LEN {
        return Err(too_long(buf));
    }
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key));
    Ok((cipher, Nonce::from_slice(nonce)))
}

fn too_long(buf: &[u8]) -> CryptoError {
    CryptoError::MessageTooLong { max: MAX_MESSAGE_LEN, found: buf.len() as u64 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    const RFC_PLAINTEXT: &[u8] = b"Ladies and Gentlemen of the class of '99: If I could offer \
        you only one tip for the future, sunscreen would be it.";

    /// RFC 8439 section 2.8.2.
    struct RfcVector {
        key: Vec<u8>,
        nonce: Vec<u8>,
        aad: Vec<u8>,
        ciphertext: Vec<u8>,
        tag: Vec<u8>,
    }

    fn rfc_vector() -> RfcVector {
        RfcVector {
            key: (0x80..=0x9f).collect(),
            nonce: hex("07000000 40414243 44454647"),
            aad: hex("50515253 c0c1c2c3 c4c5c6c7"),
            ciphertext: hex("d31a8d34648e60db7b86afbc53ef7ec2 a4aded51296e08fea9e2b5a736ee62d6
                 3dbea45e8ca9671282fafb69da92728b 1a71de0a9e060b2905d6a5b67ecd3b36
                 92ddbd7f2d778b8c9803aee328091b58 fab324e4fad675945585808b4831d7bc
                 3ff4def08e4b7a9de576d26586cec64b 6116"),
            tag: hex("1ae10b594f09e26a7e902ecbd0600691"),
        }
    }

    #[test]
    fn rfc8439_aead_vector_encrypts() {
        let RfcVector { key, nonce, aad, ciphertext, tag } = rfc_vector();
        assert_eq!(RFC_PLAINTEXT.len(), 114);
        let mut buf = RFC_PLAINTEXT.to_vec();
        let got_tag = encrypt(&mut buf, &key, &nonce, &aad).unwrap();
        assert_eq!(buf, ciphertext);
        assert_eq!(got_tag.to_vec(), tag);
    }

    #[test]
    fn rfc8439_aead_vector_decrypts() {
        let RfcVector { key, nonce, aad, ciphertext, tag } = rfc_vector();
        let mut buf = ciphertext;
        decrypt(&mut buf, &key, &nonce, &aad, &tag).unwrap();
        assert_eq!(buf, RFC_PLAINTEXT);
    }

    #[test]
    fn wrong_tag_leaves_buffer_untouched() {
        let RfcVector { key, nonce, aad, ciphertext, tag } = rfc_vector();
        for bad in [0, 7, 15] {
            let mut bad_tag = tag.clone();
            bad_tag[bad] ^= 0x01;
            let mut buf = ciphertext.clone();
            let err = decrypt(&mut buf, &key, &nonce, &aad, &bad_tag).unwrap_err();
            assert_eq!(err, CryptoError::TagMismatch);
            assert!(err.to_string().starts_with("authentication failed: "));
            assert_eq!(buf, ciphertext);
        }
    }

    #[test]
    fn tampering_with_anything_authenticated_is_detected() {
        let RfcVector { key, nonce, aad, ciphertext, tag } = rfc_vector();
        let mut flipped_ct = ciphertext.clone();
        flipped_ct[50] ^= 0x80;
        let mut flipped_aad = aad.clone();
        flipped_aad[0] ^= 0x01;
        let mut flipped_nonce = nonce.clone();
        flipped_nonce[11] ^= 0x01;
        let mut flipped_key = key.clone();
        flipped_key[31] ^= 0x01;
        // (ciphertext, key, nonce, aad), each with one thing changed.
        let cases = [
            [&flipped_ct[..], &key, &nonce, &aad],
            [&ciphertext, &key, &nonce, &flipped_aad],
            [&ciphertext, &key, &flipped_nonce, &aad],
            [&ciphertext, &flipped_key, &nonce, &aad],
            [&ciphertext[..113], &key, &nonce, &aad],
        ];
        for [ct, k, n, a] in cases {
            let mut buf = ct.to_vec();
            assert_eq!(decrypt(&mut buf, k, n, a, &tag), Err(CryptoError::TagMismatch));
            assert_eq!(buf, ct);
        }
    }

    #[test]
    fn wrong_lengths_are_reported_and_buffer_untouched() {
        let RfcVector { key, nonce, aad, ciphertext, tag } = rfc_vector();
        let mut buf = RFC_PLAINTEXT.to_vec();

        let err = encrypt(&mut buf, &key[..31], &nonce, &aad).unwrap_err();
        assert_eq!(err, CryptoError::KeyLength { expected: 32, found: 31 });
        assert_eq!(err.to_string(), "invalid key length: expected 32 bytes, found 31");

        let err = encrypt(&mut buf, &key, &[0u8; 24], &aad).unwrap_err();
        assert_eq!(err, CryptoError::NonceLength { expected: 12, found: 24 });
        assert_eq!(err.to_string(), "invalid nonce length: expected 12 bytes, found 24");
        assert_eq!(buf, RFC_PLAINTEXT);

        let mut buf = ciphertext.clone();
        let err = decrypt(&mut buf, &key, &nonce, &aad, &tag[..15]).unwrap_err();
        assert_eq!(err, CryptoError::TagLength { expected: 16, found: 15 });
        assert_eq!(err.to_string(), "invalid tag length: expected 16 bytes, found 15");
        let err = decrypt(&mut buf, &[], &nonce, &aad, &tag).unwrap_err();
        assert_eq!(err, CryptoError::KeyLength { expected: 32, found: 0 });
        let err = decrypt(&mut buf, &key, &nonce[..11], &aad, &tag).unwrap_err();
        assert_eq!(err, CryptoError::NonceLength { expected: 12, found: 11 });
        assert_eq!(buf, ciphertext);
    }

    #[test]
    fn empty_message_still_authenticates_aad() {
        let key = [7u8; 32];
        let nonce = [9u8; 12];
        let mut empty: [u8; 0] = [];
        let tag = encrypt(&mut empty, &key, &nonce, b"header").unwrap();
        assert_eq!(decrypt(&mut empty, &key, &nonce, b"header", &tag), Ok(()));
        assert_eq!(decrypt(&mut empty, &key, &nonce, b"headex", &tag), Err(CryptoError::TagMismatch));
    }

    #[test]
    fn sha256_nist_vectors() {
        let cases: [(&[u8], &str); 3] = [
            (b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            (b"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            (
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
            ),
        ];
        for (msg, digest) in cases {
            assert_eq!(sha256(msg).to_vec(), hex(digest));
        }
        let million_a = vec![b'a'; 1_000_000];
        assert_eq!(
            sha256(&million_a).to_vec(),
            hex("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        );
    }

    proptest! {
        #[test]
        fn encrypt_then_decrypt_round_trips(
            msg in proptest::collection::vec(any::<u8>(), 0..600),
            aad in proptest::collection::vec(any::<u8>(), 0..40),
            key: [u8; 32],
            nonce: [u8; 12],
        ) {
            let mut buf = msg.clone();
            let tag = encrypt(&mut buf, &key, &nonce, &aad).unwrap();
            // A keystream of all zeros is astronomically unlikely, so a
            // message of 16+ bytes must change.
            if msg.len() >= 16 {
                prop_assert_ne!(&buf, &msg);
            }
            decrypt(&mut buf, &key, &nonce, &aad, &tag).unwrap();
            prop_assert_eq!(buf, msg);
        }

        #[test]
        fn any_single_bit_flip_in_ciphertext_is_rejected(
            msg in proptest::collection::vec(any::<u8>(), 1..300),
            key: [u8; 32],
            nonce: [u8; 12],
            pos: prop::sample::Index,
            bit in 0u8..8,
        ) {
            let mut buf = msg;
            let tag = encrypt(&mut buf, &key, &nonce, b"").unwrap();
            let i = pos.index(buf.len());
            buf[i] ^= 1 << bit;
            let tampered = buf.clone();
            prop_assert_eq!(decrypt(&mut buf, &key, &nonce, b"", &tag), Err(CryptoError::TagMismatch));
            prop_assert_eq!(buf, tampered);
        }
    }
}
