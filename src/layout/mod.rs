//! The shared-memory layout of protocol version 1 (`protocol/SPEC.md`): named constants, the
//! control-segment view and the buffer-reference record. Nothing here allocates or talks to the OS.

pub mod buf;
pub mod constants;
pub mod control;
pub mod plain;

pub use buf::BufRef;
pub use control::{ControlConfig, ControlView};
pub use plain::Plain;
