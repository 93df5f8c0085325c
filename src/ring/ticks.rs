//! A cheap clock for timing calls on the serving path: the CPU's time-stamp counter on x86-64, else
//! `Instant`. Reading `Instant` (clock_gettime through the vDSO) cost 33 ns here, taken before every
//! call: a fifth of the daemon's part of an `add`. The times only decide what the poller serves
//! inline (`ServiceTimes`), so a counter that drifted or differed between cores would misjudge a call,
//! never break one.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A reading of the clock, in its own units.
#[derive(Debug, Clone, Copy)]
pub struct Ticks(u64);

impl Ticks {
    /// Now.
    #[inline]
    pub fn now() -> Ticks {
        Ticks(raw())
    }

    /// The time from `self` to now (zero if the clock went backwards, e.g. across cores).
    pub fn elapsed(self) -> Duration {
        let ticks = raw().saturating_sub(self.0);
        Duration::from_nanos((ticks as f64 * ns_per_tick()) as u64)
    }
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn raw() -> u64 {
    // SAFETY: RDTSC exists on every x86-64 CPU and only reads the counter.
    #[allow(unused_unsafe)]
    unsafe {
        core::arch::x86_64::_rdtsc()
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn raw() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Nanoseconds per tick, measured once against `Instant` over a millisecond.
fn ns_per_tick() -> f64 {
    static NS_PER_TICK: OnceLock<f64> = OnceLock::new();
    *NS_PER_TICK.get_or_init(|| {
        if cfg!(not(target_arch = "x86_64")) {
            return 1.0;
        }
        let (t0, r0) = (Instant::now(), raw());
        while t0.elapsed() < Duration::from_millis(1) {
            std::hint::spin_loop();
        }
        let (ns, ticks) = (t0.elapsed().as_nanos() as f64, raw().saturating_sub(r0) as f64);
        if ticks > 0.0 {
            ns / ticks
        } else {
            1.0
        }
    })
}

/// Measures the clock's rate now (a millisecond), so that no call pays for it.
pub fn calibrate() {
    ns_per_tick();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_agree_with_instant() {
        calibrate();
        let (t, i) = (Ticks::now(), Instant::now());
        std::thread::sleep(Duration::from_millis(20));
        let (ours, std) = (t.elapsed(), i.elapsed());
        let diff = ours.as_secs_f64() - std.as_secs_f64();
        assert!(diff.abs() < 0.002 + std.as_secs_f64() * 0.05, "ticks {ours:?} against Instant {std:?}");
    }
}
