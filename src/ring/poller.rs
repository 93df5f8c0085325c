//! One daemon thread that spins for every recently active channel and serves quick calls inline.
//!
//! A thread spinning per channel needs a core per client: on a 2-core machine two clients and two
//! spinning channel threads fight over the cores, and without the spinning every call pays two
//! wake-ups (measured: two client processes fell from 730k calls/s for one to 100-160k together).
//! So the channel threads never spin: after serving they hand their channel to the poller, which
//! watches the next request's seq word of every hot channel from one thread and serves a request
//! itself when its function is known to be quick, or when no other client is busy (no other channel
//! hot, none served by its own thread in the last millisecond). Otherwise a slow (or not yet timed)
//! function is handed back to the channel's own thread, so one client's long call does not stall
//! another's (and if it does, because a channel got busy during an inline call, that client's kick
//! wakes its own channel thread: SPEC §5.4). A channel idle for its spin window (`spin.rs`: at most
//! the budget, shorter for clients that pause longer than it) goes cold: the poller does the sleep
//! handshake (SPEC §5.4) and drops it, and the client's next request rings the channel thread's
//! doorbell.
//!
//! A channel's "own thread", here, is whichever thread its request doorbell wakes: one of the
//! daemon's workers (`workers.rs`), or the channel's own thread where there is no readiness set.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::{Duration, Instant};

use super::channel::{Channel, ChannelServer, Served};
use crate::layout::ControlView;

/// How long the poller sleeps when every channel it watches is past its window but being served by
/// its own thread: nothing to do until that thread is done, and spinning would take a core from it.
const NAP: Duration = Duration::from_micros(50);

/// A client whose channel's own thread served a request this recently counts as busy: the poller
/// then serves only quick calls inline, though its hot set holds one channel.
const RECENT: Duration = Duration::from_millis(1);

/// A channel as its own thread and the poller share it. The server state is behind a mutex (taken
/// by whoever serves); `consumed` mirrors it so the poller can look for work without the lock.
pub struct Watched {
    pub(super) channel: Arc<Channel>,
    pub(super) server: Mutex<ChannelServer>,
    pub(super) consumed: AtomicU64,
    /// True while the poller watches the channel (set by `Poller::watch`, cleared by the poller).
    hot: AtomicBool,
    /// How long the poller keeps the channel hot after its last activity, in ns (`SpinWindow`; set
    /// by `Poller::watch`).
    window_ns: AtomicU64,
    /// Set when the channel's thread has stopped: the poller drops the channel.
    pub(super) closed: AtomicBool,
}

impl Watched {
    /// Wraps a channel's server.
    pub fn new(channel: Arc<Channel>, server: ChannelServer) -> Watched {
        Watched {
            channel,
            consumed: AtomicU64::new(server.consumed()),
            server: Mutex::new(server),
            hot: AtomicBool::new(false),
            window_ns: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        }
    }

    /// The server, once no other thread holds it; a poisoned lock is taken anyway (calls run under
    /// catch_unwind, so the state is sound).
    pub(super) fn lock(&self) -> MutexGuard<'_, ChannelServer> {
        self.server.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The server unless another thread holds it (poisoned: as in `lock`).
    pub(super) fn try_lock(&self) -> Option<MutexGuard<'_, ChannelServer>> {
        match self.server.try_lock() {
            Ok(guard) => Some(guard),
            Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }
}

/// The daemon-wide poller.
pub struct Poller {
    budget: Duration,
    incoming: Mutex<Vec<Arc<Watched>>>,
    arrived: Condvar,
    has_incoming: AtomicBool,
    stopping: AtomicBool,
    epoch: Instant,
    /// When a channel's own thread last served requests (ns since `epoch`), and which channel (its
    /// address): a client outside the hot set that is busy all the same (`thread_served`).
    thread_served_ns: AtomicU64,
    thread_served_channel: AtomicUsize,
}

impl Poller {
    /// A poller keeping channels hot for `budget` after their last request.
    pub fn new(budget: Duration) -> Poller {
        Poller {
            budget,
            incoming: Mutex::new(Vec::new()),
            arrived: Condvar::new(),
            has_incoming: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            epoch: Instant::now(),
            thread_served_ns: AtomicU64::new(0),
            thread_served_channel: AtomicUsize::new(0),
        }
    }

    /// Notes that `w`'s own thread has just served requests. Two clients whose hot periods do not
    /// overlap (each works in Python between batches) would otherwise have their slow calls served
    /// one after the other by the poller, whenever the other channel had just gone cold, instead of
    /// side by side by their own threads: two processes of batched calls made 1.4× the calls of one
    /// where pure blocking made 3×.
    pub fn thread_served(&self, w: &Watched) {
        // Relaxed, both: a scheduling hint; a torn pair only misjudges one call.
        self.thread_served_channel.store(w as *const Watched as usize, Ordering::Relaxed);
        self.thread_served_ns.store(self.epoch.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }

    /// True if a channel other than `h`'s was served by its own thread within `RECENT` of `now`.
    fn other_client_busy(&self, h: &Hot, now: Instant) -> bool {
        let at = self.epoch + Duration::from_nanos(self.thread_served_ns.load(Ordering::Relaxed));
        self.thread_served_channel.load(Ordering::Relaxed) != Arc::as_ptr(&h.w) as usize
            && now.saturating_duration_since(at) < RECENT
    }

    /// The spin budget: the longest a channel stays hot after its last activity.
    pub fn budget(&self) -> Duration {
        self.budget
    }

    /// Starts watching `w` for `window` after each activity (`SpinWindows` keep it within the
    /// budget), unless the poller already does. Called with `w`'s server lock held, so it is ordered
    /// with the poller's cold transition (which takes the same lock).
    pub fn watch(&self, w: &Arc<Watched>, window: Duration) {
        if w.hot.swap(true, Ordering::Relaxed) {
            return;
        }
        // Relaxed: read after the incoming queue's lock, which orders it.
        w.window_ns.store(window.as_nanos() as u64, Ordering::Relaxed);
        self.incoming.lock().unwrap_or_else(PoisonError::into_inner).push(w.clone());
        self.has_incoming.store(true, Ordering::Release);
        self.arrived.notify_one();
    }

    /// Makes `run` return.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        let _guard = self.incoming.lock().unwrap_or_else(PoisonError::into_inner);
        self.arrived.notify_one();
    }

    /// The poller thread's loop: until `stop`.
    pub fn run(&self) {
        let mut hot: Vec<Hot> = Vec::new();
        let mut now = Instant::now();
        while !self.stopping.load(Ordering::Relaxed) {
            if hot.is_empty() || self.has_incoming.load(Ordering::Acquire) {
                self.take_incoming(&mut hot);
                continue;
            }
            // A slow call served inline would hold up the other hot channels, or a busy client's
            // next call; with neither, it would only add a wake-up of the channel's thread (and the
            // kick covers channels that get busy meanwhile).
            let other_busy = hot.len() == 1 && self.other_client_busy(&hot[0], now);
            for _ in 0..64 {
                let quick_only = hot.len() > 1 || other_busy;
                let mut i = 0;
                while i < hot.len() {
                    if self.poll_one(&mut hot[i], quick_only) {
                        i += 1;
                    } else {
                        hot.swap_remove(i);
                    }
                }
                std::hint::spin_loop();
            }
            now = Instant::now();
            let (mut spinning, mut held) = (false, false);
            hot.retain_mut(|h| match self.keep_hot(h, now) {
                Keep::Spin => {
                    spinning = true;
                    true
                }
                Keep::Held => {
                    held = true;
                    true
                }
                Keep::Cold => false,
            });
            if held && !spinning {
                self.nap();
            }
        }
    }

    /// Sleeps for `NAP`, or until a channel arrives.
    fn nap(&self) {
        let incoming = self.incoming.lock().unwrap_or_else(PoisonError::into_inner);
        if incoming.is_empty() && !self.stopping.load(Ordering::Relaxed) {
            drop(self.arrived.wait_timeout(incoming, NAP));
        }
    }

    /// Moves newly watched channels into `hot`; sleeps while there is nothing to watch.
    fn take_incoming(&self, hot: &mut Vec<Hot>) {
        let mut incoming = self.incoming.lock().unwrap_or_else(PoisonError::into_inner);
        while hot.is_empty() && incoming.is_empty() && !self.stopping.load(Ordering::Relaxed) {
            incoming = self.arrived.wait(incoming).unwrap_or_else(PoisonError::into_inner);
        }
        self.has_incoming.store(false, Ordering::Relaxed);
        let now = Instant::now();
        for w in incoming.drain(..) {
            let view = w.channel.view();
            let window = Duration::from_nanos(w.window_ns.load(Ordering::Relaxed));
            hot.push(Hot { w, view, window, last_activity: now, active: false });
        }
    }

    /// Serves what `h` has published (only quick calls if `quick_only`); false if the channel leaves
    /// the poller (closed, or handed back to its thread for a slow call).
    fn poll_one(&self, h: &mut Hot, quick_only: bool) -> bool {
        // `consumed` may lag the server's own count for a moment: then the slot still holds the
        // request just served, and the pass below finds nothing to do.
        if !h.view.request_published(h.w.consumed.load(Ordering::Relaxed) + 1) {
            return !h.w.closed.load(Ordering::Relaxed);
        }
        // The channel's thread may be serving (a slow call): then it is not ours to serve now.
        let Some(mut server) = h.w.try_lock() else { return true };
        h.active = true;
        let before = server.consumed();
        let served = server.serve_pending(quick_only);
        let caught = server.consumed() - before;
        server.caught_spinning(caught);
        match served {
            Served::All => {
                h.w.consumed.store(server.consumed(), Ordering::Relaxed);
                h.window = server.spin_window();
                true
            }
            Served::Slow => {
                // Hand the channel back to its thread, which serves the slow call and re-registers it.
                // The spinning since the previous call saved no wake-up.
                server.spin_saved_nothing();
                h.w.consumed.store(server.consumed(), Ordering::Relaxed);
                h.w.hot.store(false, Ordering::Relaxed);
                drop(server);
                h.w.channel.request_bell.ring();
                false
            }
        }
    }

    /// Keeps `h` hot while it was active within its window; otherwise tries the cold transition.
    fn keep_hot(&self, h: &mut Hot, now: Instant) -> Keep {
        if h.w.closed.load(Ordering::Relaxed) {
            return Keep::Cold;
        }
        if std::mem::take(&mut h.active) {
            h.last_activity = now;
            return Keep::Spin;
        }
        if now.duration_since(h.last_activity) < h.window {
            return Keep::Spin;
        }
        // Its thread serves it (a kick, or a slow call): the cold transition waits until it is done.
        let Some(mut server) = h.w.try_lock() else { return Keep::Held };
        if server.announce_sleep() {
            // Cold: the client rings the channel's doorbell for its next request (SPEC §5.4).
            h.w.hot.store(false, Ordering::Relaxed);
            Keep::Cold
        } else {
            // A request slipped in during the handshake: stay hot and serve it.
            server.set_daemon_waiting(false);
            h.last_activity = now;
            Keep::Spin
        }
    }
}

/// What `keep_hot` decided for a channel.
enum Keep {
    /// Within its window (or a request just slipped in): keep spinning for it.
    Spin,
    /// Past its window, but its own thread holds it: keep it, with no reason to spin.
    Held,
    /// Cold or closed: drop it.
    Cold,
}

/// A channel the poller watches.
struct Hot {
    w: Arc<Watched>,
    view: ControlView,
    window: Duration,
    last_activity: Instant,
    active: bool,
}
