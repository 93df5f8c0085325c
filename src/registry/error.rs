//! Types exported functions use in their signatures besides numbers and strings.

use std::fmt;

/// An error an exported function returns; its message reaches Python as `shmcall.RemoteError`.
///
/// Any `std::error::Error` converts into it with `?`; [`CallError::new`] makes one from a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError(String);

impl CallError {
    /// An error with this message.
    pub fn new(msg: impl fmt::Display) -> CallError {
        CallError(msg.to_string())
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<E: std::error::Error> From<E> for CallError {
    fn from(e: E) -> CallError {
        CallError(e.to_string())
    }
}

/// Raw bytes returned by value (Python `bytes`); a `Vec<u8>` result is an array instead.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bytes(pub Vec<u8>);

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Bytes {
        Bytes(v)
    }
}
