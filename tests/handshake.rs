//! Loom models of the sleep handshake (SPEC §5.4 "no lost wake-up") as the daemon runs it: a
//! client, the poller letting a channel go cold, and the channel's own thread woken by a ring.
//!
//! The models restate, on loom's atomics and mutex with an atomic counter for each eventfd, the
//! steps `ring/channel.rs`, `ring/poller.rs` and `ring/channel_thread.rs` take: a copy, because the
//! daemon's atomics are cast onto shared memory, where loom's cannot go (`src/sync.rs`); a change to
//! those steps must be made here too. Loom runs every interleaving (and every outcome the C++ memory
//! model allows); each model asserts that a published request is served, or a ring is left pending
//! for a thread that would serve it on waking. The real code is exercised by the stress tests
//! (`python/tests/test_stress.py`).

use loom::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::*};
use loom::sync::{Arc, Mutex};
use loom::thread;

/// The words of one channel (the seq words of slot 0's two halves, which publish request 1 and its
/// response), and its daemon-side state.
#[derive(Default)]
struct Channel {
    request_seq: AtomicU64,
    response_seq: AtomicU64,
    daemon_waiting: AtomicU32,
    client_waiting: AtomicU32,
    /// The request doorbell's eventfd count, and the response doorbell's.
    request_bell: AtomicUsize,
    response_bell: AtomicUsize,
    /// The server state behind the channel lock: requests consumed.
    consumed: Mutex<u64>,
    hot: AtomicBool,
}

impl Channel {
    /// Serves what is published and publishes the responses (O2, O3, daemon side of O6).
    fn serve(&self, consumed: &mut u64) {
        if self.request_seq.load(Acquire) == *consumed + 1 {
            *consumed += 1;
            self.response_seq.store(*consumed, Release);
            fence(SeqCst);
            if self.client_waiting.load(Relaxed) != 0 {
                self.response_bell.fetch_add(1, Relaxed);
            }
        }
    }

    /// The channel thread after a ring: drain the doorbell, take the lock (waiting for it if the
    /// poller holds it), serve.
    fn channel_thread_wakes(&self) {
        if self.request_bell.swap(0, Acquire) > 0 {
            let mut consumed = self.consumed.lock().unwrap();
            self.daemon_waiting.store(0, Relaxed);
            self.serve(&mut consumed);
        }
    }

    /// The poller's cold transition (`Poller::keep_hot`): the sleep episode under the lock.
    fn poller_goes_cold(&self) {
        let mut consumed = self.consumed.lock().unwrap();
        self.daemon_waiting.store(1, Relaxed);
        fence(SeqCst);
        if self.request_seq.load(Acquire) == *consumed + 1 {
            self.daemon_waiting.store(0, Relaxed);
            self.serve(&mut consumed);
        } else {
            self.hot.store(false, Relaxed);
        }
    }

    /// The client: publish request 1, ring if the daemon sleeps (unfenced), then the wait of
    /// SPEC §5.4 steps 1-4 (without the kick, which only adds rings). Returns true if it saw the
    /// response without sleeping.
    fn client_calls(&self) -> bool {
        self.request_seq.store(1, Release);
        if self.daemon_waiting.load(Relaxed) == 1 {
            self.request_bell.fetch_add(1, Release);
        }
        self.client_waiting.store(1, Relaxed);
        fence(SeqCst);
        if self.response_seq.load(Acquire) >= 1 {
            return true;
        }
        if self.daemon_waiting.load(Relaxed) == 1 {
            self.request_bell.fetch_add(1, Release);
        }
        false
    }
}

/// Loom with a bound on preemptions per execution: every interleaving with at most this many forced
/// switches (the bugs these models look for need two), in seconds rather than minutes.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(PREEMPTIONS);
    b.check(f);
}

const PREEMPTIONS: usize = 2;

/// One execution: the client calls while the poller lets the channel go cold and the channel thread
/// reacts to a ring (as `channel_thread` does); then whatever is still rung wakes the channel thread.
/// Returns the channel and whether the client saw the response without sleeping.
fn client_poller_and(channel_thread: fn(&Channel)) -> (Arc<Channel>, bool) {
    let ch = Arc::new(Channel { hot: AtomicBool::new(true), ..Default::default() });
    let spawn = |f: fn(&Channel)| {
        let ch = ch.clone();
        thread::spawn(move || f(&ch))
    };
    let poller = spawn(Channel::poller_goes_cold);
    let woken = spawn(channel_thread);
    let saw_response = {
        let ch = ch.clone();
        thread::spawn(move || ch.client_calls())
    }
    .join()
    .unwrap();
    poller.join().unwrap();
    woken.join().unwrap();
    ch.channel_thread_wakes();
    (ch, saw_response)
}

#[test]
fn a_request_published_while_the_poller_lets_the_channel_go_cold_is_served() {
    model(|| {
        let (ch, saw_response) = client_poller_and(Channel::channel_thread_wakes);
        assert_eq!(*ch.consumed.lock().unwrap(), 1, "request lost: nobody serves it and nobody was rung");
        // And the client hears of it: it saw the response, or it is rung.
        assert!(saw_response || ch.response_bell.load(Relaxed) > 0, "response published but the client sleeps on");
    });
}

#[test]
fn a_channel_thread_that_gave_up_on_a_busy_lock_would_lose_the_request() {
    // The counter-model: a channel thread that only try_locks, and goes back to sleep when the poller
    // holds the lock, can miss a request published during the poller's cold transition. This is why
    // `run_channel_thread` waits for the lock.
    let lost = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let found = lost.clone();
    model(move || {
        let (ch, _) = client_poller_and(|ch| {
            if ch.request_bell.swap(0, Acquire) > 0 {
                if let Ok(mut consumed) = ch.consumed.try_lock() {
                    ch.daemon_waiting.store(0, Relaxed);
                    ch.serve(&mut consumed);
                }
            }
        });
        if *ch.consumed.lock().unwrap() == 0 {
            found.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    });
    assert!(lost.load(std::sync::atomic::Ordering::Relaxed), "the model no longer tells the two designs apart");
}
