//! The workers where there is no readiness set (`sys::epoll` is Linux's): every registered
//! descriptor gets a thread of its own, which waits for it, hands it to its source, and waits again
//! once the source re-arms it. This is the thread per channel and per connection the daemon had
//! before the readiness set, behind the same interface (`workers.rs`); on Linux the `thread-workers`
//! feature builds it with the Linux backend, to time the two designs over the same code.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::JoinHandle;

use crate::sys::{poll, Doorbell};

/// Something registered: a channel's request doorbell or a client's socket.
pub trait Ready: Send + Sync {
    /// Handles the descriptor's readiness. Called by one thread at a time: the descriptor is not
    /// reported again until it is re-armed (`Workers::rearm`).
    fn ready(self: Arc<Self>, workers: &Workers);
}

/// Work handed to the workers directly rather than by a descriptor (a connection's shutdown).
pub type Job = Box<dyn FnOnce(&Workers) + Send>;

/// One registered descriptor's thread, as the other threads steer it.
struct Source {
    /// (armed, removed).
    state: Mutex<(bool, bool)>,
    changed: Condvar,
    /// Rung when the source is removed, to end the thread's wait for the descriptor.
    removed: Doorbell,
}

impl Source {
    fn lock(&self) -> MutexGuard<'_, (bool, bool)> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The threads of the registered descriptors.
pub struct Workers {
    me: Weak<Workers>,
    sources: Mutex<HashMap<u64, Arc<Source>>>,
    next_token: AtomicU64,
    live: AtomicUsize,
}

impl Workers {
    /// No threads until descriptors are registered (`size` has no use here).
    pub fn start(_size: usize) -> io::Result<Arc<Workers>> {
        Ok(Arc::new_cyclic(|me| Workers {
            me: me.clone(),
            sources: Mutex::default(),
            next_token: AtomicU64::new(1),
            live: AtomicUsize::new(0),
        }))
    }

    /// The default size: one per core, though every source has its own thread here.
    pub fn default_size() -> usize {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    }

    /// Starts `fd`'s thread, which hands its first readiness to `source`; returns its token.
    pub fn register(&self, fd: BorrowedFd<'_>, source: Arc<dyn Ready>) -> io::Result<u64> {
        let fd = fd.try_clone_to_owned()?;
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let steer =
            Arc::new(Source { state: Mutex::new((true, false)), changed: Condvar::new(), removed: Doorbell::new()? });
        let me = self.me.upgrade().expect("the workers outlive their use");
        self.lock_sources().insert(token, steer.clone());
        self.live.fetch_add(1, Ordering::Relaxed);
        let thread = std::thread::Builder::new().name(format!("shmcall-fd{token}")).spawn(move || {
            loop {
                {
                    let mut state = steer.lock();
                    while !state.0 && !state.1 {
                        state = steer.changed.wait(state).unwrap_or_else(PoisonError::into_inner);
                    }
                    if state.1 {
                        break;
                    }
                    state.0 = false;
                }
                match poll::readable(&[fd.as_fd(), steer.removed.fd()], None) {
                    Ok(ready) if !ready[1] => source.clone().ready(&me),
                    Ok(_) => break,
                    Err(e) => {
                        log::warn!("waiting for a descriptor: {e}");
                        break;
                    }
                }
            }
            me.live.fetch_sub(1, Ordering::Relaxed);
        });
        if let Err(e) = thread {
            self.live.fetch_sub(1, Ordering::Relaxed);
            self.lock_sources().remove(&token);
            return Err(e);
        }
        Ok(token)
    }

    /// Lets the descriptor's thread wait for it again.
    pub fn rearm(&self, _fd: BorrowedFd<'_>, token: u64) {
        if let Some(source) = self.lock_sources().get(&token) {
            source.lock().0 = true;
            source.changed.notify_one();
        }
    }

    /// Ends the descriptor's thread (after the readiness it is handling, if any).
    pub fn deregister(&self, _fd: BorrowedFd<'_>, token: u64) {
        if let Some(source) = self.lock_sources().remove(&token) {
            Self::remove(&source);
        }
    }

    /// Runs `job` on a thread of its own.
    pub fn post(&self, job: Job) {
        let me = self.me.upgrade().expect("the workers outlive their use");
        if let Err(e) = std::thread::Builder::new().name("shmcall-job".into()).spawn(move || job(&me)) {
            log::warn!("cannot start a thread: {e}");
        }
    }

    /// Ends every descriptor's thread once it is done with what it handles.
    pub fn halt(&self) {
        for (_, source) in self.lock_sources().drain() {
            Self::remove(&source);
        }
    }

    /// None to join: the threads end on their own.
    pub fn take_threads(&self) -> Vec<JoinHandle<()>> {
        Vec::new()
    }

    /// Threads running now.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    fn remove(source: &Source) {
        source.lock().1 = true;
        source.changed.notify_one();
        source.removed.ring();
    }

    fn lock_sources(&self) -> MutexGuard<'_, HashMap<u64, Arc<Source>>> {
        self.sources.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
