//! The daemon end of a channel: one single-producer/single-consumer request/response ring in a
//! control segment, with a doorbell each way (SPEC §5).
//!
//! Its files, bottom to top (none uses a file after it; `tests/tiers.rs` rejects cycles):
//! `ticks` (the clock), `spin` (spin windows), `service_times` (what the poller may serve inline),
//! `counters` (calls and time per function, for the status report), `channel` (a channel's resources and the serving of its requests), `poller` (one thread spinning
//! for every hot channel), `channel_thread` (the loop of a channel's own thread).

mod channel;
mod channel_thread;
mod counters;
mod poller;
mod service_times;
mod spin;
mod ticks;

pub use channel::{Channel, ChannelServer, Served};
pub use channel_thread::run_channel_thread;
pub use counters::{CallCounters, CallTotals};
pub use poller::{Poller, Watched};
pub use service_times::{ServiceTimes, INLINE_LIMIT};
pub use spin::SpinPolicy;
