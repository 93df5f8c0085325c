//! What a channel's daemon side does each time it wakes: serve what is published, then hand the
//! channel to the poller (or do the sleep handshake) before sleeping on the request doorbell; and,
//! once its connection ends, serve once more and let the channel go. Whichever thread the channel's
//! doorbell wakes does it (`channel_wait.rs`): a worker, or the channel's own thread where there is
//! no readiness set.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::poller::{Poller, Watched};

/// Serves what is published, then leaves the channel to the poller or announces that the daemon
/// sleeps on its doorbell (SPEC §5.4); the caller then waits for the doorbell.
pub(super) fn serve_then_sleep(watched: &Arc<Watched>, poller: Option<&Poller>) {
    loop {
        // Waits for the lock if the poller holds it: a ring that arrives while the poller lets
        // the channel go cold must still be served (`tests/handshake.rs` shows the request
        // a try_lock here would lose).
        let mut server = watched.lock();
        server.set_daemon_waiting(false);
        server.adapt_spin();
        let before = server.consumed();
        server.serve_pending(false);
        watched.consumed.store(server.consumed(), Ordering::Relaxed);
        if let (Some(p), true) = (poller, server.consumed() > before) {
            p.thread_served(watched);
        }
        let window = server.spin_window();
        match poller {
            Some(p) if !window.is_zero() => p.watch(watched, window),
            _ => {
                if !server.announce_sleep() {
                    continue; // a request arrived during the handshake
                }
            }
        }
        return;
    }
}

/// Serves, one last time, what the client published before the stop, then lets the channel go: a
/// request published before the stop is in flight and gets its response (the stop may come before
/// the request's ring, or find the poller about to serve it), so that only calls made after the
/// stop fail, when the connection closes.
pub(super) fn serve_last(watched: &Watched) {
    let mut server = watched.lock();
    server.serve_pending(false);
    watched.consumed.store(server.consumed(), Ordering::Relaxed);
    watched.closed.store(true, Ordering::Relaxed);
}
