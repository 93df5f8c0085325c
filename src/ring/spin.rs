//! Spin-then-block policy. Spinning answers a busy client in well under a microsecond, but every
//! spinning thread takes a core from someone: so the daemon spins only right after activity, for a
//! bounded time, from one thread for all channels (`poller.rs`), and only for channels whose client
//! has lately come back within the budget (`SpinWindow`).

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

/// The smallest window worth spinning: below it a channel does not spin at all.
pub const MIN_WINDOW: Duration = Duration::from_micros(10);

/// One channel's spin window, adapted like KVM's halt polling. A client that pauses longer than the
/// budget between calls (batches with Python work between them, a call per frame) would have every
/// window spun for nothing: a core taken from the clients for no wake-up saved. Each time the channel
/// has slept, the pause that ended it decides: one the budget would have covered doubles the window
/// (from `MIN_WINDOW`, up to the budget), a longer one halves it (to zero below `MIN_WINDOW`). A busy
/// client never sleeps, so its window never shrinks.
///
/// The pause is measured up to the daemon's wake-up, so it includes the wake latency (tens of µs in
/// a VM): a client pausing just under the budget can be taken for one pausing longer. It then pays
/// a wake-up per call, as any client pausing beyond the budget does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpinWindow {
    window: Duration,
    budget: Duration,
}

impl SpinWindow {
    /// A window of the whole budget: a new channel spins as long as the policy allows.
    pub fn new(budget: Duration) -> SpinWindow {
        SpinWindow { window: budget, budget }
    }

    /// How long to keep spinning after the channel's last activity (zero: do not spin).
    pub fn window(&self) -> Duration {
        self.window
    }

    /// The channel slept, and its next request came `pause` after its last response.
    pub fn after_sleep(&mut self, pause: Duration) {
        self.window = if pause <= self.budget {
            (self.window * 2).max(MIN_WINDOW).min(self.budget)
        } else if self.window / 2 < MIN_WINDOW {
            Duration::ZERO
        } else {
            self.window / 2
        };
    }
}

/// A channel's spin windows, one per function: the pause after a call depends on what the client does
/// with its result. After an `alloc` it fills the block and calls again at once; after a batch it
/// works through the results first. One window for both would keep growing after the first and
/// spinning for nothing after the second.
#[derive(Debug, Clone)]
pub struct SpinWindows {
    windows: Vec<SpinWindow>,
}

impl SpinWindows {
    /// `slots` windows (see `ServiceTimes::slot`) of the whole budget.
    pub fn new(budget: Duration, slots: usize) -> SpinWindows {
        SpinWindows { windows: vec![SpinWindow::new(budget); slots.max(1)] }
    }

    /// How long to spin after a call of the function in `slot` (out of range: the last slot).
    pub fn window(&self, slot: usize) -> Duration {
        self.windows[slot.min(self.windows.len() - 1)].window()
    }

    /// The channel slept after a call of the function in `slot`, for `pause`.
    pub fn after_sleep(&mut self, slot: usize, pause: Duration) {
        let last = self.windows.len() - 1;
        self.windows[slot.min(last)].after_sleep(pause);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const BUDGET: Duration = Duration::from_micros(100);

    #[test]
    fn long_pauses_stop_the_spinning_and_a_short_one_restarts_it() {
        let mut w = SpinWindow::new(BUDGET);
        assert_eq!(w.window(), BUDGET);
        let long = Duration::from_micros(300);
        let windows: Vec<u128> = (0..5).map(|_| { w.after_sleep(long); w.window().as_micros() }).collect();
        assert_eq!(windows, [50, 25, 12, 0, 0]);
        w.after_sleep(Duration::from_micros(2));
        assert_eq!(w.window(), MIN_WINDOW, "a quick return spins again, from the minimum");
        let grown: Vec<u128> = (0..4).map(|_| { w.after_sleep(Duration::from_micros(2)); w.window().as_micros() }).collect();
        assert_eq!(grown, [20, 40, 80, 100], "doubling up to the budget");
    }

    #[test]
    fn a_pause_of_exactly_the_budget_counts_as_covered() {
        let mut w = SpinWindow::new(BUDGET);
        w.after_sleep(BUDGET);
        assert_eq!(w.window(), BUDGET);
    }

    #[test]
    fn each_function_keeps_its_own_window() {
        let mut w = SpinWindows::new(BUDGET, 3);
        for _ in 0..6 {
            w.after_sleep(0, Duration::from_micros(20)); // e.g. alloc: the next call comes at once
            w.after_sleep(1, Duration::from_micros(400)); // e.g. a batch: the client works a while
        }
        assert_eq!((w.window(0), w.window(1), w.window(2)), (BUDGET, Duration::ZERO, BUDGET));
        w.after_sleep(99, Duration::from_micros(400));
        assert_eq!(w.window(2), BUDGET / 2, "ids beyond the table share the last window");
        assert_eq!(w.window(7), BUDGET / 2);
    }

    proptest! {
        #[test]
        fn the_window_stays_zero_or_between_the_minimum_and_the_budget(
            budget_us in 10u64..10_000,
            pauses in proptest::collection::vec(0u64..50_000, 0..64),
        ) {
            let budget = Duration::from_micros(budget_us);
            let mut w = SpinWindow::new(budget);
            for p in pauses {
                let before = w.window();
                let pause = Duration::from_micros(p);
                w.after_sleep(pause);
                let now = w.window();
                prop_assert!(now.is_zero() || (now >= MIN_WINDOW.min(budget) && now <= budget));
                if pause <= budget {
                    prop_assert!(now >= before.min(budget) && !now.is_zero());
                } else {
                    prop_assert!(now <= before);
                }
            }
        }
    }
}
