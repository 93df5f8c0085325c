//! Every function's last service time, recorded by whoever serves a channel and read by the poller
//! to decide what it may serve inline.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::layout::constants::{FN_ALLOC, FN_BATCH, FN_NOP};

/// A call whose last run took longer than this is not served inline by the poller.
pub const INLINE_LIMIT: Duration = Duration::from_micros(20);

/// The last service time of every function (and of the reserved requests), read by the poller to
/// decide what it may serve inline. Unknown until first served: not inline.
#[derive(Debug)]
pub struct ServiceTimes {
    ns: Vec<AtomicU64>,
}

impl ServiceTimes {
    /// Times for `functions` registered functions plus the reserved ids.
    pub fn new(functions: usize) -> ServiceTimes {
        super::ticks::calibrate();
        ServiceTimes { ns: (0..functions + 3).map(|_| AtomicU64::new(u64::MAX)).collect() }
    }

    fn index(&self, function: u32) -> Option<usize> {
        let n = self.ns.len() - 3;
        match function {
            FN_NOP => Some(n),
            FN_ALLOC => Some(n + 1),
            FN_BATCH => Some(n + 2),
            id if (id as usize) < n => Some(id as usize),
            _ => None,
        }
    }

    /// How many distinct slots `slot` returns.
    pub fn slot_count(&self) -> usize {
        self.ns.len() + 1
    }

    /// A daemon-wide index for per-function state: the function's own, or one shared by unknown ids.
    pub fn slot(&self, function: u32) -> usize {
        self.index(function).unwrap_or(self.ns.len())
    }

    /// True if the last call of `function` was quick (unknown ids are: they are answered with an error).
    pub fn is_quick(&self, function: u32) -> bool {
        // Relaxed: a scheduling hint, it guards no data.
        self.index(function).map_or(true, |i| self.ns[i].load(Ordering::Relaxed) <= INLINE_LIMIT.as_nanos() as u64)
    }

    /// Records how long a call of `function` took.
    pub fn record(&self, function: u32, took: Duration) {
        if let Some(i) = self.index(function) {
            self.ns[i].store(took.as_nanos().min(u64::MAX as u128 - 1) as u64, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_are_inline_only_once_timed_quick() {
        let t = ServiceTimes::new(2);
        assert!(!t.is_quick(0), "unknown until first served");
        t.record(0, Duration::from_micros(3));
        assert!(t.is_quick(0));
        t.record(0, Duration::from_millis(5));
        assert!(!t.is_quick(0), "the last call decides");
        assert!(!t.is_quick(FN_ALLOC));
        t.record(FN_ALLOC, Duration::from_micros(1));
        assert!(t.is_quick(FN_ALLOC) && !t.is_quick(FN_BATCH) && !t.is_quick(FN_NOP));
        assert!(t.is_quick(7), "an unknown id is answered with an error at once");
        t.record(7, Duration::from_secs(1)); // ignored, no slot
    }
}
