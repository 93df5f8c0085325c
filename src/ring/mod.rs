//! The daemon end of a channel: one single-producer/single-consumer request/response ring in a
//! control segment, with a doorbell each way (SPEC §5).

mod channel;
mod poller;
mod spin;
mod ticks;

pub use channel::{Channel, ChannelServer, Served};
pub use poller::{Poller, ServiceTimes, Watched, INLINE_LIMIT};
pub use spin::SpinPolicy;
