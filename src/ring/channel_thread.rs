//! The loop of a channel's own thread: serve what is published, then hand the channel to the poller
//! (or do the sleep handshake) and sleep on the request doorbell.

use std::io;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::channel::ChannelServer;
use super::poller::{Poller, Watched};
use crate::sys::doorbell::Wake;

/// The channel thread: serves until `stop` becomes readable (or hangs up) or `stopping` is set.
///
/// After serving, the channel goes to the `poller` (which spins for it and serves quick calls)
/// and this thread sleeps on the request doorbell: the poller rings it for a slow call, the
/// client rings it once the poller has let the channel go cold. Without a poller (a spin budget
/// of zero), or while the channel's spin window is zero, the thread does the sleep handshake itself.
pub fn run_channel_thread(
    server: ChannelServer,
    stop: BorrowedFd<'_>,
    stopping: &AtomicBool,
    poller: Option<&Poller>,
) -> io::Result<()> {
    let channel = server.channel().clone();
    let watched = Arc::new(Watched::new(channel.clone(), server));
    let result = (|| loop {
        {
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
                p.thread_served(&watched);
            }
            let window = server.spin_window();
            match poller {
                Some(p) if !window.is_zero() => p.watch(&watched, window),
                _ => {
                    if !server.announce_sleep() {
                        continue; // a request arrived during the handshake
                    }
                }
            }
        }
        if stopping.load(Ordering::Relaxed) {
            return Ok(());
        }
        if channel.request_bell.wait(Some(stop), None)? == Wake::Other || stopping.load(Ordering::Relaxed) {
            return Ok(());
        }
    })();
    serve_last(&watched);
    result
}

/// Serves, one last time, what the client published before the stop, then lets the channel go: a
/// request published before the stop is in flight and gets its response (the stop may wake this
/// thread before the request's ring, or find the poller about to serve it), so that only calls made
/// after the stop fail, when the connection closes.
fn serve_last(watched: &Watched) {
    let mut server = watched.lock();
    server.serve_pending(false);
    watched.consumed.store(server.consumed(), Ordering::Relaxed);
    watched.closed.store(true, Ordering::Relaxed);
}
