//! Why a call did not produce a result; each variant is one response status (SPEC §6).

use crate::layout::constants::status;

/// A failed call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The request broke the protocol (bad reference, bad length, bad value for its type).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The function returned an error.
    #[error("{0}")]
    Error(String),
    /// The function panicked.
    #[error("panic: {0}")]
    Panic(String),
    /// The heap could not supply memory for a result.
    #[error("out of memory: {0}")]
    OutOfMemory(String),
    /// No function has this id.
    #[error("unknown function id {0:#x}")]
    UnknownFunction(u32),
}

impl Failure {
    /// Shorthand for a bad request.
    pub fn bad(msg: impl Into<String>) -> Failure {
        Failure::BadRequest(msg.into())
    }

    /// The response status code.
    pub fn status(&self) -> u32 {
        match self {
            Failure::BadRequest(_) => status::BAD_REQUEST,
            Failure::Error(_) => status::ERROR,
            Failure::Panic(_) => status::PANIC,
            Failure::OutOfMemory(_) => status::OUT_OF_MEMORY,
            Failure::UnknownFunction(_) => status::UNKNOWN_FUNCTION,
        }
    }

    /// The message sent to the client (the Display form without the category prefix).
    pub fn message(&self) -> String {
        match self {
            Failure::BadRequest(m) | Failure::Error(m) | Failure::Panic(m) | Failure::OutOfMemory(m) => m.clone(),
            Failure::UnknownFunction(id) => format!("unknown function id {id:#x}"),
        }
    }
}

impl From<crate::heap::HeapError> for Failure {
    fn from(e: crate::heap::HeapError) -> Failure {
        match e {
            crate::heap::HeapError::OutOfMemory(m) => Failure::OutOfMemory(m),
            other => Failure::BadRequest(other.to_string()),
        }
    }
}
