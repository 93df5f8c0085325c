//! The shared-memory layout (`protocol/SPEC.md`) of the protocol version in
//! [`constants::PROTOCOL_VERSION`]: the constants generated from `protocol/constants.toml`, what is derived
//! from them, the control-segment view (over the shared words of `words`) and the buffer-reference record.
//! Nothing here allocates or talks to the OS.

pub mod buf;
pub mod constants;
pub mod control;
mod derived;
pub mod plain;
pub mod words;

pub use buf::BufRef;
pub use control::{ControlConfig, ControlView};
pub use plain::Plain;
pub use words::{MappedWords, SharedWords};
