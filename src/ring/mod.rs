//! The daemon end of a channel: one single-producer/single-consumer request/response ring in a
//! control segment, with a doorbell each way (SPEC §5).
//!
//! Its files, bottom to top (none uses a file after it; `tests/tiers.rs` rejects cycles):
//! `ticks` (the clock), `spin` (spin windows), `service_times` (what the poller may serve inline),
//! `counters` (calls and time per function, for the status report), `channel` (a channel's
//! resources and the serving of its requests), `poller` (one thread spinning for every hot
//! channel), `channel_thread` (what a channel's daemon side does when it wakes), `workers` (the
//! threads that wait for ready channels and sockets: a pool over a readiness set on Linux,
//! `workers_threads.rs` a thread per descriptor elsewhere and with the `posix` or `thread-workers`
//! feature), `channel_wait` (a channel waiting among them).

mod channel;
mod channel_thread;
mod channel_wait;
mod counters;
mod poller;
mod service_times;
mod spin;
mod ticks;
#[cfg(all(target_os = "linux", not(feature = "posix"), not(feature = "thread-workers")))]
mod workers;
#[cfg(any(feature = "posix", feature = "thread-workers", not(target_os = "linux")))]
#[path = "workers_threads.rs"]
mod workers;

pub use channel::{Channel, ChannelServer, Served};
pub use channel_wait::ChannelWait;
pub use counters::{CallCounters, CallTotals};
pub use poller::{Poller, Watched};
pub use service_times::{ServiceTimes, INLINE_LIMIT};
pub use spin::SpinPolicy;
pub use workers::{Job, Ready, Workers};
