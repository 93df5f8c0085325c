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

/// Requests caught by spinning since the last sleep that make a long pause an outlier: the window
/// is kept rather than halved.
pub const CAUGHT_KEEPS: u64 = 8;

/// One channel's spin window, adapted like KVM's halt polling. A client that pauses longer than the
/// budget between calls (batches with Python work between them, a call per frame) would have every
/// window spun for nothing: a core taken from the clients for no wake-up saved. Each time the channel
/// has slept, the pause that ended it decides: one the budget would have covered doubles the window
/// (from `MIN_WINDOW`, up to the budget), a longer one halves it (to zero below `MIN_WINDOW`), unless
/// the spinning since the previous sleep caught `CAUGHT_KEEPS` requests or more. A client calling in a
/// tight loop and pausing now and then (a garbage collection, a print) keeps its window: halving it
/// there made the next pauses miss too, and 1 % of `add`s paid a wake-up (p99 125 µs).
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

    /// The channel slept, and its next request came `pause` after its last response; `caught`
    /// requests had been served while it spun since the sleep before.
    pub fn after_sleep(&mut self, pause: Duration, caught: u64) {
        self.window = if pause <= self.budget {
            (self.window * 2).max(MIN_WINDOW).min(self.budget)
        } else if caught >= CAUGHT_KEEPS {
            self.window
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

    /// The channel slept after a call of the function in `slot`, for `pause`, having caught `caught`
    /// requests by spinning since its previous sleep.
    pub fn after_sleep(&mut self, slot: usize, pause: Duration, caught: u64) {
        let last = self.windows.len() - 1;
        self.windows[slot.min(last)].after_sleep(pause, caught);
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
        let windows: Vec<u128> = (0..5)
            .map(|_| {
                w.after_sleep(long, 0);
                w.window().as_micros()
            })
            .collect();
        assert_eq!(windows, [50, 25, 12, 0, 0]);
        w.after_sleep(Duration::from_micros(2), 0);
        assert_eq!(w.window(), MIN_WINDOW, "a quick return spins again, from the minimum");
        let grown: Vec<u128> = (0..4)
            .map(|_| {
                w.after_sleep(Duration::from_micros(2), 0);
                w.window().as_micros()
            })
            .collect();
        assert_eq!(grown, [20, 40, 80, 100], "doubling up to the budget");
    }

    #[test]
    fn a_long_pause_after_many_caught_requests_keeps_the_window() {
        let mut w = SpinWindow::new(BUDGET);
        w.after_sleep(Duration::from_micros(300), CAUGHT_KEEPS);
        assert_eq!(w.window(), BUDGET, "a tight loop's occasional pause is an outlier");
        w.after_sleep(Duration::from_micros(300), CAUGHT_KEEPS - 1);
        assert_eq!(w.window(), BUDGET / 2);
    }

    #[test]
    fn a_pause_of_exactly_the_budget_counts_as_covered() {
        let mut w = SpinWindow::new(BUDGET);
        w.after_sleep(BUDGET, 0);
        assert_eq!(w.window(), BUDGET);
    }

    #[test]
    fn each_function_keeps_its_own_window() {
        let mut w = SpinWindows::new(BUDGET, 3);
        for _ in 0..6 {
            w.after_sleep(0, Duration::from_micros(20), 0); // e.g. alloc: the next call comes at once
            w.after_sleep(1, Duration::from_micros(400), 0); // e.g. a batch: the client works a while
        }
        assert_eq!((w.window(0), w.window(1), w.window(2)), (BUDGET, Duration::ZERO, BUDGET));
        w.after_sleep(99, Duration::from_micros(400), 0);
        assert_eq!(w.window(2), BUDGET / 2, "ids beyond the table share the last window");
        assert_eq!(w.window(7), BUDGET / 2);
    }

    proptest! {
        #[test]
        fn the_window_stays_zero_or_between_the_minimum_and_the_budget(
            budget_us in 10u64..10_000,
            pauses in proptest::collection::vec((0u64..50_000, 0u64..20), 0..64),
        ) {
            let budget = Duration::from_micros(budget_us);
            let mut w = SpinWindow::new(budget);
            for (p, caught) in pauses {
                let before = w.window();
                let pause = Duration::from_micros(p);
                w.after_sleep(pause, caught);
                let now = w.window();
                prop_assert!(now.is_zero() || (now >= MIN_WINDOW.min(budget) && now <= budget));
                if pause <= budget {
                    prop_assert!(now >= before.min(budget) && !now.is_zero());
                } else if caught >= CAUGHT_KEEPS {
                    prop_assert_eq!(now, before);
                } else {
                    prop_assert!(now <= before);
                }
            }
        }
    }
}
