//! A channel's call counters, for the daemon's status report: calls, failures, panics and time per
//! function. Only whoever serves the channel writes them (it holds the channel's lock), so a count
//! goes up by a Relaxed load and store, not a locked read-modify-write, on lines no other channel's
//! server touches. A status report reads them with Relaxed loads and may miss the call in progress.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::layout::constants::status;

/// One function's counts on one channel.
#[derive(Debug, Default)]
struct Counts {
    calls: AtomicU64,
    errors: AtomicU64,
    panics: AtomicU64,
    ns: AtomicU64,
}

/// One function's totals as a status report reads them (summed over channels).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallTotals {
    /// Requests answered.
    pub calls: u64,
    /// Answered with a failure other than a panic (an error, a bad request, no memory).
    pub errors: u64,
    /// Answered with a caught panic.
    pub panics: u64,
    /// Time spent serving them, in nanoseconds.
    pub ns: u64,
}

impl CallTotals {
    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &CallTotals) {
        self.calls = self.calls.wrapping_add(other.calls);
        self.errors = self.errors.wrapping_add(other.errors);
        self.panics = self.panics.wrapping_add(other.panics);
        self.ns = self.ns.wrapping_add(other.ns);
    }
}

/// The counters of one channel, one set per [`ServiceTimes::slot`](super::ServiceTimes::slot).
#[derive(Debug)]
pub struct CallCounters {
    slots: Box<[Counts]>,
}

impl CallCounters {
    /// Zeroed counters for `slots` slots.
    pub fn new(slots: usize) -> CallCounters {
        CallCounters { slots: (0..slots).map(|_| Counts::default()).collect() }
    }

    /// Counts one request of `slot` that took `took` and was answered with `status`. Called only by
    /// the channel's server.
    #[inline]
    pub fn record(&self, slot: usize, took: Duration, status: u32) {
        let Some(c) = self.slots.get(slot) else { return };
        bump(&c.calls, 1);
        bump(&c.ns, took.as_nanos().min(u64::MAX as u128) as u64);
        match status {
            status::OK => {}
            status::PANIC => bump(&c.panics, 1),
            _ => bump(&c.errors, 1),
        }
    }

    /// The counts so far, by slot.
    pub fn totals(&self) -> Vec<CallTotals> {
        let read = |a: &AtomicU64| a.load(Ordering::Relaxed);
        self.slots
            .iter()
            .map(|c| CallTotals {
                calls: read(&c.calls),
                errors: read(&c.errors),
                panics: read(&c.panics),
                ns: read(&c.ns),
            })
            .collect()
    }
}

/// Adds `by` to a counter that has one writer.
#[inline]
fn bump(counter: &AtomicU64, by: u64) {
    // Relaxed load and store, not fetch_add: the channel's lock orders its writers, and a reader
    // only needs some recent value.
    counter.store(counter.load(Ordering::Relaxed).wrapping_add(by), Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_calls_failures_and_time_per_slot() {
        let c = CallCounters::new(3);
        c.record(0, Duration::from_micros(2), status::OK);
        c.record(0, Duration::from_micros(3), status::ERROR);
        c.record(2, Duration::from_micros(1), status::PANIC);
        c.record(7, Duration::from_secs(1), status::OK); // no such slot: ignored
        let t = c.totals();
        assert_eq!(t[0], CallTotals { calls: 2, errors: 1, panics: 0, ns: 5000 });
        assert_eq!(t[1], CallTotals::default());
        assert_eq!(t[2], CallTotals { calls: 1, errors: 0, panics: 1, ns: 1000 });
        let mut sum = t[0];
        sum.add(&t[2]);
        assert_eq!(sum, CallTotals { calls: 3, errors: 1, panics: 1, ns: 6000 });
    }
}
