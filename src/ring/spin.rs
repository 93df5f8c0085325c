//! Spin-then-block policy. Spinning answers a busy client in well under a microsecond, but every
//! spinning thread takes a core from someone: so the daemon spins only right after activity, for a
//! bounded time, and from one thread for all channels (`poller.rs`).

use std::time::Duration;

/// How long the poller keeps watching a channel after its last request before the channel sleeps.
#[derive(Debug, Clone, Copy)]
pub struct SpinPolicy {
    /// Spin budget after the last activity; zero means always block.
    pub budget: Duration,
}

impl Default for SpinPolicy {
    fn default() -> Self {
        SpinPolicy { budget: Duration::from_micros(100) }
    }
}
