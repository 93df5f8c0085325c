//! The daemon's worker threads. Channels that are not hot, and the clients' sockets, wait together
//! in one readiness set (`sys::epoll`); the workers wait on it together and each handles whatever
//! became ready. A thread per channel and per socket made 500 clients cost 1,004 threads; the
//! workers are as many as the machine has cores (`serve --workers N`), whatever the clients.
//!
//! A long call occupies its worker until it ends. So that a few long calls do not hold up every
//! other client's calls, one more thread watches the pool while no worker is waiting: if none has
//! finished anything for `STUCK`, it starts an extra worker, at most `EXTRA` of them. An extra
//! worker ends as soon as another worker waits (starting one for every moment the pool was busy
//! with quick work would churn threads). Past `EXTRA` long calls at once, a channel that becomes
//! ready waits until a worker is free.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::os::fd::BorrowedFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{JoinHandle, ThreadId};
use std::time::Duration;

use crate::sys::{Doorbell, ReadySet};

/// Workers started beyond the pool's size while every worker is busy with long calls.
pub const EXTRA: usize = 4;
/// How long every worker must have been busy, none finishing anything, before an extra one starts:
/// about a client's first sleep before its kick (SPEC §5.4).
const STUCK: Duration = Duration::from_millis(2);
/// How often a waiting extra worker looks whether another worker waits too (then it ends): a
/// thread left waiting would outlast the long calls it was started for.
const EXTRA_CHECK: Duration = Duration::from_millis(100);

/// Token of the job queue's doorbell.
const JOBS: u64 = 0;
/// Token of the halt doorbell.
const HALT: u64 = 1;

/// Something registered in the readiness set: a channel's request doorbell or a client's socket.
pub trait Ready: Send + Sync {
    /// Handles the descriptor's readiness. Called by one worker at a time: the descriptor is not
    /// reported again until it is re-armed (`Workers::rearm`).
    fn ready(self: Arc<Self>, workers: &Workers);
}

/// Work handed to the pool directly rather than by a descriptor (a connection's shutdown).
pub type Job = Box<dyn FnOnce(&Workers) + Send>;

/// The pool and its readiness set.
pub struct Workers {
    set: ReadySet,
    sources: Mutex<HashMap<u64, Arc<dyn Ready>>>,
    next_token: AtomicU64,
    jobs: Mutex<VecDeque<Job>>,
    /// Readable while jobs are queued (watched level-triggered: any idle worker takes one).
    job_bell: Doorbell,
    /// Rung once at shutdown and never drained: every worker sees it and ends.
    halt: Doorbell,
    halting: AtomicBool,
    size: usize,
    live: AtomicUsize,
    /// Workers waiting in the readiness set.
    idle: AtomicUsize,
    /// Tasks finished so far: the watch sees whether the busy workers make progress.
    finished: AtomicU64,
    /// Wakes the watch when the last waiting worker takes a task (the mutex guards no data: it
    /// orders the watch's look at `idle` with that notification).
    saturated: (Mutex<()>, Condvar),
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Extra workers that have ended, for the watch to join: until it is joined, a thread's stack
    /// stays mapped after the thread is gone (the C library frees it at the join).
    ended: Mutex<Vec<ThreadId>>,
}

impl Workers {
    /// Starts `size` workers (at least one).
    pub fn start(size: usize) -> io::Result<Arc<Workers>> {
        let workers = Arc::new(Workers {
            set: ReadySet::new()?,
            sources: Mutex::default(),
            next_token: AtomicU64::new(HALT + 1),
            jobs: Mutex::default(),
            job_bell: Doorbell::new()?,
            halt: Doorbell::new()?,
            halting: AtomicBool::new(false),
            size: size.max(1),
            live: AtomicUsize::new(0),
            idle: AtomicUsize::new(0),
            finished: AtomicU64::new(0),
            saturated: (Mutex::new(()), Condvar::new()),
            threads: Mutex::default(),
            ended: Mutex::default(),
        });
        workers.set.add_level(workers.job_bell.fd(), JOBS)?;
        workers.set.add_level(workers.halt.fd(), HALT)?;
        for _ in 0..workers.size {
            workers.spawn(false)?;
        }
        let me = workers.clone();
        let watch = std::thread::Builder::new().name("shmcall-watch".into()).spawn(move || me.watch())?;
        workers.threads.lock().unwrap_or_else(PoisonError::into_inner).push(watch);
        Ok(workers)
    }

    /// The default size: one worker per core.
    pub fn default_size() -> usize {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    }

    /// Registers `fd` for one readiness report to `source`; returns its token (for `rearm` and
    /// `deregister`).
    pub fn register(&self, fd: BorrowedFd<'_>, source: Arc<dyn Ready>) -> io::Result<u64> {
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        self.lock_sources().insert(token, source);
        if let Err(e) = self.set.add_once(fd, token) {
            self.lock_sources().remove(&token);
            return Err(e);
        }
        Ok(token)
    }

    /// Arms `fd` for its next readiness report (a readable descriptor is reported at once). A
    /// descriptor deregistered meanwhile stays deregistered.
    pub fn rearm(&self, fd: BorrowedFd<'_>, token: u64) {
        match self.set.rearm(fd, token) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => log::warn!("cannot re-arm a descriptor: {e}"),
        }
    }

    /// Stops watching `fd`; a report already taken by a worker is still handled.
    pub fn deregister(&self, fd: BorrowedFd<'_>, token: u64) {
        if let Err(e) = self.set.remove(fd) {
            if e.kind() != io::ErrorKind::NotFound {
                log::warn!("cannot deregister a descriptor: {e}");
            }
        }
        self.lock_sources().remove(&token);
    }

    /// Queues `job` for the next free worker.
    pub fn post(&self, job: Job) {
        let mut jobs = self.jobs.lock().unwrap_or_else(PoisonError::into_inner);
        jobs.push_back(job);
        self.job_bell.ring(); // under the queue's lock: ordered with the drain of an emptied queue
    }

    /// Makes every worker end once it is done with what it handles.
    pub fn halt(&self) {
        self.halting.store(true, Ordering::Relaxed);
        self.halt.ring();
        let _guard = self.saturated.0.lock().unwrap_or_else(PoisonError::into_inner);
        self.saturated.1.notify_all();
    }

    /// The worker threads, for the caller to join (after `halt`).
    pub fn take_threads(&self) -> Vec<JoinHandle<()>> {
        std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Worker threads running now.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    fn lock_sources(&self) -> MutexGuard<'_, HashMap<u64, Arc<dyn Ready>>> {
        self.sources.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn spawn(self: &Arc<Self>, extra: bool) -> io::Result<()> {
        self.live.fetch_add(1, Ordering::Relaxed);
        let me = self.clone();
        let name = if extra { "shmcall-extra" } else { "shmcall-worker" };
        match std::thread::Builder::new().name(name.into()).spawn(move || me.run(extra)) {
            Ok(thread) => {
                self.threads.lock().unwrap_or_else(PoisonError::into_inner).push(thread);
                Ok(())
            }
            Err(e) => {
                self.live.fetch_sub(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    /// A worker's loop: until `halt` (an extra worker ends once another worker waits).
    fn run(self: Arc<Self>, extra: bool) {
        let timeout = extra.then_some(EXTRA_CHECK);
        loop {
            if extra && self.idle.load(Ordering::Relaxed) > 0 {
                break;
            }
            self.idle.fetch_add(1, Ordering::Relaxed);
            let token = self.set.wait_one(timeout);
            let idle = self.idle.fetch_sub(1, Ordering::Relaxed) - 1;
            let token = match token {
                Ok(Some(HALT)) => break,
                Ok(Some(token)) => token,
                Ok(None) => continue, // an extra worker's look at the others
                Err(e) => {
                    log::warn!("waiting for ready channels: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            };
            if self.halting.load(Ordering::Relaxed) {
                break;
            }
            if idle == 0 {
                // Nobody waits now: should this task be long, the watch starts an extra worker.
                let _guard = self.saturated.0.lock().unwrap_or_else(PoisonError::into_inner);
                self.saturated.1.notify_one();
            }
            let outcome = catch_unwind(AssertUnwindSafe(|| self.handle(token)));
            if outcome.is_err() {
                log::warn!("a worker's task panicked; the worker goes on");
            }
            self.finished.fetch_add(1, Ordering::Relaxed);
        }
        self.live.fetch_sub(1, Ordering::Relaxed);
        if extra {
            self.ended.lock().unwrap_or_else(PoisonError::into_inner).push(std::thread::current().id());
            let _guard = self.saturated.0.lock().unwrap_or_else(PoisonError::into_inner);
            self.saturated.1.notify_all();
        }
    }

    /// Joins the extra workers that have ended (each is at most returning from `run`).
    fn join_ended(&self) {
        let ended = std::mem::take(&mut *self.ended.lock().unwrap_or_else(PoisonError::into_inner));
        if ended.is_empty() {
            return;
        }
        let joinable: Vec<JoinHandle<()>> = {
            let mut threads = self.threads.lock().unwrap_or_else(PoisonError::into_inner);
            let (gone, kept) =
                std::mem::take(&mut *threads).into_iter().partition(|t| ended.contains(&t.thread().id()));
            *threads = kept;
            gone
        };
        for t in joinable {
            let _ = t.join();
        }
    }

    /// The watch's loop: sleeps while some worker waits; while none does, starts an extra worker
    /// whenever none has finished a task for `STUCK`.
    fn watch(self: Arc<Self>) {
        loop {
            self.join_ended();
            {
                let mut guard = self.saturated.0.lock().unwrap_or_else(PoisonError::into_inner);
                let ended = || !self.ended.lock().unwrap_or_else(PoisonError::into_inner).is_empty();
                while self.idle.load(Ordering::Relaxed) > 0 && !self.halting.load(Ordering::Relaxed) && !ended() {
                    guard = self.saturated.1.wait(guard).unwrap_or_else(PoisonError::into_inner);
                }
                if ended() {
                    continue;
                }
            }
            if self.halting.load(Ordering::Relaxed) {
                return;
            }
            let finished = self.finished.load(Ordering::Relaxed);
            std::thread::sleep(STUCK);
            let stuck = self.idle.load(Ordering::Relaxed) == 0 && self.finished.load(Ordering::Relaxed) == finished;
            if stuck && self.live.load(Ordering::Relaxed) < self.size + EXTRA {
                if let Err(e) = self.spawn(true) {
                    log::warn!("cannot start an extra worker: {e}");
                }
            }
        }
    }

    fn handle(&self, token: u64) {
        if token == JOBS {
            let job = {
                let mut jobs = self.jobs.lock().unwrap_or_else(PoisonError::into_inner);
                let job = jobs.pop_front();
                if jobs.is_empty() {
                    self.job_bell.drain();
                }
                job
            };
            if let Some(job) = job {
                job(self);
            }
            return;
        }
        // Cloned out of the map: the source may deregister itself while it runs.
        let source = self.lock_sources().get(&token).cloned();
        if let Some(source) = source {
            source.ready(self);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// A doorbell whose readiness takes `hold` to handle.
    struct Task {
        bell: Doorbell,
        token: AtomicU64,
        hold: Duration,
        served: AtomicUsize,
    }

    impl Ready for Task {
        fn ready(self: Arc<Self>, workers: &Workers) {
            self.bell.drain();
            std::thread::sleep(self.hold);
            self.served.fetch_add(1, Ordering::SeqCst);
            workers.rearm(self.bell.fd(), self.token.load(Ordering::SeqCst));
        }
    }

    fn task(workers: &Workers, hold: Duration) -> Arc<Task> {
        let t = Arc::new(Task {
            bell: Doorbell::new().unwrap(),
            token: AtomicU64::new(0),
            hold,
            served: AtomicUsize::new(0),
        });
        let token = workers.register(t.bell.fd(), t.clone()).unwrap();
        t.token.store(token, Ordering::SeqCst);
        t
    }

    fn until(what: impl Fn() -> bool, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while !what() {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    #[test]
    fn a_ring_while_its_task_runs_is_served_after_it() {
        let workers = Workers::start(2).unwrap();
        let t = task(&workers, Duration::from_millis(20));
        t.bell.ring();
        std::thread::sleep(Duration::from_millis(5));
        t.bell.ring(); // during the task, as a rule: the doorbell is not armed, but stays readable
        assert!(until(|| t.served.load(Ordering::SeqCst) == 2, Duration::from_secs(5)));
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(t.served.load(Ordering::SeqCst), 2, "each ring served once");
        workers.halt();
        workers.take_threads().into_iter().for_each(|t| t.join().unwrap());
    }

    #[test]
    fn a_long_task_on_every_worker_gets_an_extra_one_that_ends_after_it() {
        let workers = Workers::start(1).unwrap();
        let long = task(&workers, Duration::from_millis(500));
        let quick = task(&workers, Duration::ZERO);
        long.bell.ring();
        assert!(until(|| workers.idle.load(Ordering::SeqCst) == 0, Duration::from_secs(5)), "the worker took it");
        quick.bell.ring();
        assert!(
            until(|| quick.served.load(Ordering::SeqCst) == 1, Duration::from_millis(400)),
            "served beside the long task"
        );
        assert_eq!((long.served.load(Ordering::SeqCst), workers.live()), (0, 2), "by an extra worker");
        assert!(until(|| workers.live() == 1, Duration::from_secs(5)), "the extra worker ends once the long task has");
        let joined = || workers.threads.lock().unwrap().len() == 2 && workers.ended.lock().unwrap().is_empty();
        assert!(until(joined, Duration::from_secs(5)), "and is joined (its stack unmapped) by the watch");
        workers.halt();
        workers.take_threads().into_iter().for_each(|t| t.join().unwrap());
    }
}
