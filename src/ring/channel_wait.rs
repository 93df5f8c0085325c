//! A channel that is not hot, waiting in the workers' readiness set on its request doorbell. The
//! worker that takes the doorbell's ring does what the channel's own thread did on waking
//! (`channel_thread.rs`): serve, hand the channel to the poller or do the sleep handshake, and
//! re-arm the doorbell. The doorbell is drained before serving and re-armed after the handshake, and
//! a re-armed doorbell that is still readable is reported at once: a ring in between is not lost.

use std::io;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::channel::ChannelServer;
use super::channel_thread::{serve_last, serve_then_sleep};
use super::poller::{Poller, Watched};
use super::workers::{Ready, Workers};

/// A channel registered with the workers.
pub struct ChannelWait {
    watched: Arc<Watched>,
    poller: Option<Arc<Poller>>,
    token: AtomicU64,
}

impl ChannelWait {
    /// Registers the channel `server` serves and has a worker serve it once (which hands it to the
    /// poller or announces that the daemon sleeps: until then a client would not ring).
    pub fn open(server: ChannelServer, poller: Option<Arc<Poller>>, workers: &Workers) -> io::Result<Arc<ChannelWait>> {
        let channel = server.channel().clone();
        let wait = Arc::new(ChannelWait {
            watched: Arc::new(Watched::new(channel.clone(), server)),
            poller,
            token: AtomicU64::new(0),
        });
        // The token is stored before the first ring, which the registration cannot report earlier.
        let token = workers.register(channel.request_bell.fd(), wait.clone())?;
        wait.token.store(token, Ordering::Release);
        channel.request_bell.ring();
        Ok(wait)
    }

    /// Stops watching the channel and serves, once more, what its client published before the
    /// stop (waiting for a call being served to end).
    pub fn close(&self, workers: &Workers) {
        workers.deregister(self.watched.channel.request_bell.fd().as_fd(), self.token.load(Ordering::Acquire));
        serve_last(&self.watched);
    }
}

impl Ready for ChannelWait {
    fn ready(self: Arc<Self>, workers: &Workers) {
        let bell = &self.watched.channel.request_bell;
        bell.drain();
        if self.watched.closed.load(Ordering::Relaxed) {
            return; // closed: deregistered, and served once more
        }
        serve_then_sleep(&self.watched, self.poller.as_deref());
        workers.rearm(bell.fd(), self.token.load(Ordering::Acquire));
    }
}
