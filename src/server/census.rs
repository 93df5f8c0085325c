//! Who is connected, for the status report: every greeted connection's heap and the counters of its
//! channels. A closed connection's counts are folded into running totals, so a report counts calls
//! since the daemon started. Nothing here is on the call path: connections register at handshake and
//! channel creation, and the counters are read only when a status is asked.
//!
//! [`IdleClock`] counts connections for the other question, whether a daemon that exits when idle
//! (`serve --exit-when-idle`) may go.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::report::{FunctionStatus, ReservedRequests, StatusReport};
use crate::heap::Heap;
use crate::layout::constants::{FN_ALLOC, FN_BATCH, FN_NOP};
use crate::registry::Registry;
use crate::ring::{CallCounters, CallTotals, ServiceTimes};

/// An id no function has: `ServiceTimes::slot` maps it to the slot shared by unknown ids.
const UNKNOWN_ID: u32 = u32::MAX;

/// The live connections and the totals of the closed ones.
pub struct Census {
    started: Instant,
    /// The report's fixed part: who the daemon is.
    identity: StatusReport,
    inner: Mutex<Inner>,
}

struct Inner {
    live: BTreeMap<u64, Client>,
    /// Counts of closed channels, by slot.
    retired: Vec<CallTotals>,
}

struct Client {
    heap: Arc<Heap>,
    channels: Vec<(Arc<CallCounters>, u64)>,
}

impl Census {
    /// An empty census of a daemon described by `identity` (name, version, pid, socket…), with
    /// counters of `slots` slots.
    pub fn new(identity: StatusReport, slots: usize) -> Census {
        let inner = Inner { live: BTreeMap::new(), retired: vec![CallTotals::default(); slots] };
        Census { started: Instant::now(), identity, inner: Mutex::new(inner) }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Poisoned only by a panic here, which leaves counts, not invariants.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Connection `id` completed the handshake; `heap` is its heap.
    pub fn greeted(&self, id: u64, heap: Arc<Heap>) {
        // A second `hello` keeps the channels the first one opened.
        self.lock().live.entry(id).or_insert_with(|| Client { heap, channels: Vec::new() });
    }

    /// Connection `id` opened a channel with these counters and a control segment of `bytes`.
    pub fn channel_opened(&self, id: u64, counters: Arc<CallCounters>, bytes: u64) {
        if let Some(c) = self.lock().live.get_mut(&id) {
            c.channels.push((counters, bytes));
        }
    }

    /// Connection `id` closed and its channels stopped: its counts join the totals.
    pub fn closed(&self, id: u64) {
        let mut inner = self.lock();
        if let Some(client) = inner.live.remove(&id) {
            for (counters, _) in &client.channels {
                add_all(&mut inner.retired, &counters.totals());
            }
        }
    }

    /// The report now, naming the functions of `registry` (whose slots `times` numbers).
    pub fn report(&self, registry: &Registry, times: &ServiceTimes) -> StatusReport {
        let mut report = self.identity.clone();
        report.uptime_s = self.started.elapsed().as_secs_f64();
        let mut totals;
        {
            let inner = self.lock();
            totals = inner.retired.clone();
            report.clients = inner.live.len() as u64;
            for client in inner.live.values() {
                report.shared_memory_bytes += client.heap.segments().iter().map(|s| s.len() as u64).sum::<u64>();
                report.heap_allocated_bytes += client.heap.usage().0;
                for (counters, bytes) in &client.channels {
                    report.channels += 1;
                    report.shared_memory_bytes += bytes;
                    add_all(&mut totals, &counters.totals());
                }
            }
        }
        let at = |id: u32| totals.get(times.slot(id)).copied().unwrap_or_default();
        report.functions = registry
            .functions()
            .iter()
            .enumerate()
            .map(|(id, f)| {
                let t = at(id as u32);
                FunctionStatus {
                    name: f.name.clone(),
                    calls: t.calls,
                    errors: t.errors,
                    panics: t.panics,
                    total_s: t.ns as f64 * 1e-9,
                }
            })
            .collect();
        report.requests = ReservedRequests {
            batch: at(FN_BATCH).calls,
            alloc: at(FN_ALLOC).calls,
            nop: at(FN_NOP).calls,
            unknown_function: at(UNKNOWN_ID).calls,
        };
        let named: u64 = report.functions.iter().map(|f| f.calls).sum();
        report.calls = named + report.requests.batch + report.requests.unknown_function;
        report.errors = totals.iter().map(|t| t.errors).sum();
        report.panics = totals.iter().map(|t| t.panics).sum();
        report
    }
}

/// Adds `counts` to `totals`, slot by slot.
fn add_all(totals: &mut [CallTotals], counts: &[CallTotals]) {
    for (t, c) in totals.iter_mut().zip(counts) {
        t.add(c);
    }
}

/// When a daemon started with `--exit-when-idle` may exit: once it has had no connection for its
/// grace, counted from the end of its last connection, or from its start if none came yet (so a
/// daemon started for a client is not gone before that client attaches). Every connection counts,
/// whether a client or a `status`: each may be about to use the daemon. Only the accept loop opens
/// and reaps connections, so the clock is its own and needs no lock.
#[derive(Debug)]
pub struct IdleClock {
    grace: Duration,
    open: usize,
    idle_since: Instant,
}

impl IdleClock {
    /// The clock of a daemon started at `started`, which may exit after `grace` without connections.
    pub fn new(grace: Duration, started: Instant) -> IdleClock {
        IdleClock { grace, open: 0, idle_since: started }
    }

    /// `open` connections are being served at `now`; the idle time starts when the last one ends.
    pub fn connections(&mut self, open: usize, now: Instant) {
        if open == 0 && self.open > 0 {
            self.idle_since = now;
        }
        self.open = open;
    }

    /// How long the daemon must still wait before it may exit, at `now`: None while a connection is
    /// open (nothing to wait for until it ends), zero once it has been idle for its grace.
    pub fn time_left(&self, now: Instant) -> Option<Duration> {
        (self.open == 0).then(|| self.grace.saturating_sub(now.saturating_duration_since(self.idle_since)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(10);

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn a_fresh_daemon_waits_its_grace_for_a_first_client() {
        let start = Instant::now();
        let clock = IdleClock::new(GRACE, start);
        assert_eq!(clock.time_left(start), Some(GRACE));
        assert_eq!(clock.time_left(start + secs(4)), Some(secs(6)));
        assert_eq!(clock.time_left(start + secs(10)), Some(Duration::ZERO));
        assert_eq!(clock.time_left(start + secs(60)), Some(Duration::ZERO));
    }

    #[test]
    fn an_open_connection_keeps_the_daemon_however_long() {
        let start = Instant::now();
        let mut clock = IdleClock::new(GRACE, start);
        clock.connections(1, start + secs(1));
        assert_eq!(clock.time_left(start + secs(1000)), None);
        clock.connections(3, start + secs(1001));
        clock.connections(2, start + secs(1002));
        assert_eq!(clock.time_left(start + secs(2000)), None, "not while any is open");
    }

    #[test]
    fn the_grace_counts_from_the_last_connections_end() {
        let start = Instant::now();
        let mut clock = IdleClock::new(GRACE, start);
        clock.connections(2, start + secs(1));
        clock.connections(0, start + secs(100));
        assert_eq!(clock.time_left(start + secs(100)), Some(GRACE), "the start is long past");
        assert_eq!(clock.time_left(start + secs(107)), Some(secs(3)));
        clock.connections(0, start + secs(108));
        assert_eq!(clock.time_left(start + secs(108)), Some(secs(2)), "still idle: the clock runs on");
        assert_eq!(clock.time_left(start + secs(110)), Some(Duration::ZERO));
    }

    #[test]
    fn a_new_connection_restarts_the_grace() {
        let start = Instant::now();
        let mut clock = IdleClock::new(GRACE, start);
        clock.connections(1, start + secs(9));
        clock.connections(0, start + secs(15));
        assert_eq!(clock.time_left(start + secs(20)), Some(secs(5)));
    }
}
