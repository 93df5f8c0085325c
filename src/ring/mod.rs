//! The daemon end of a channel: one single-producer/single-consumer request/response ring in a
//! control segment, with a doorbell each way (SPEC §5).

mod channel;
mod spin;

pub use channel::{Channel, ChannelServer};
pub use spin::{SpinGate, SpinPolicy};
