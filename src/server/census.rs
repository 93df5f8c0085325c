//! Who is connected, for the status report: every greeted connection's heap and the counters of its
//! channels. A closed connection's counts are folded into running totals, so a report counts calls
//! since the daemon started. Nothing here is on the call path: connections register at handshake and
//! channel creation, and the counters are read only when a status is asked.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

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
