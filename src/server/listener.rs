//! The accept loop and shutdown. SIGINT/SIGTERM are turned into a readable descriptor (signal-hook's
//! self-pipe) and a `stop` request rings a doorbell, so the loop only ever blocks in `poll` and shuts
//! down in one place: stop accepting, remove the socket, have the workers stop every connection, give
//! them a bounded time to finish, then close the connections that asked to stop. A daemon told to exit
//! when idle (`--exit-when-idle`) also leaves the loop when `poll` times out on its idle clock.

use std::io;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::census::{Census, IdleClock};
use super::connection::{self, Client};
use super::peers::{Admission, ConnectionsPerUid};
use super::refusals::Refusals;
use super::report::StatusReport;
use super::shared::Shared;
use crate::layout::constants::PROTOCOL_VERSION;
use crate::layout::ControlConfig;
use crate::registry::manifest::Manifest;
use crate::registry::Registry;
use crate::ring::{Poller, ServiceTimes, SpinPolicy, Workers};
use crate::sys::{poll, Doorbell, SeqListener};

/// How long shutdown waits for connections to finish their current calls.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

// Per-client limits: each bounds what one client can take from the daemon, and each default is far
// above what a normal program uses, so only a runaway or hostile client meets it.

/// Open connections per peer uid: a client process holds one (one per `connect()`); each costs the
/// daemon a socket.
pub const DEFAULT_MAX_CONNECTIONS_PER_UID: usize = 1024;
/// Channels per connection: one per client thread, each a control segment and two doorbells.
pub const DEFAULT_MAX_CHANNELS: usize = 256;
/// Heap blocks one connection holds: every live shared array is one; each costs the daemon's
/// allocator about a hundred bytes of private memory.
pub const DEFAULT_MAX_BLOCKS: usize = 1_000_000;
/// Control messages per second per connection (and as many in a burst): a client sends one per
/// thread it starts; only a flood comes near.
pub const DEFAULT_MAX_MESSAGES_PER_SECOND: u32 = 1000;

/// Everything `<daemon> serve` can be told.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Daemon name: `welcome` and `status` carry it.
    pub name: String,
    /// Daemon version.
    pub version: String,
    /// Socket path.
    pub socket: PathBuf,
    /// Spin policy of the poller.
    pub spin: SpinPolicy,
    /// Per-connection heap limit in bytes (0 = up to the machine's memory).
    pub heap_limit: u64,
    /// Whether large heap blocks get huge pages (`--no-huge-pages` turns it off).
    pub huge_pages: bool,
    /// Channel sizes.
    pub config: ControlConfig,
    /// Users admitted besides the daemon's own (`--allow-uid`).
    pub allow_uids: Vec<u32>,
    /// Groups whose members are admitted (`--allow-gid`): the peer's group or a supplementary one.
    pub allow_gids: Vec<u32>,
    /// Open connections per peer uid, administrative ones included (`--max-connections-per-uid`).
    pub max_connections_per_uid: usize,
    /// Channels per connection (`--max-channels`).
    pub max_channels: usize,
    /// Heap blocks one connection may hold at once (`--max-blocks`).
    pub max_blocks: usize,
    /// Control messages per second per connection, with a burst of as many (`--max-messages-per-second`).
    pub max_messages_per_second: u32,
    /// Exit cleanly after this long without a connection (`--exit-when-idle`); None: serve until told.
    pub exit_when_idle: Option<Duration>,
    /// Worker threads serving channels that are not hot and the sockets (`--workers`); 0: one per core.
    pub workers: usize,
}

impl ServeOptions {
    /// The defaults of `<name> serve`: the name's default socket (`paths::default_socket`), the
    /// default spin budget, no heap limit, huge pages for large blocks, default channel sizes, only
    /// the daemon's own user admitted, the default per-client limits.
    pub fn new(name: &str, version: &str) -> ServeOptions {
        ServeOptions {
            name: name.to_owned(),
            version: version.to_owned(),
            socket: super::paths::default_socket(name),
            spin: SpinPolicy::default(),
            heap_limit: 0,
            huge_pages: true,
            config: ControlConfig::default(),
            allow_uids: Vec::new(),
            allow_gids: Vec::new(),
            max_connections_per_uid: DEFAULT_MAX_CONNECTIONS_PER_UID,
            max_channels: DEFAULT_MAX_CHANNELS,
            max_blocks: DEFAULT_MAX_BLOCKS,
            max_messages_per_second: DEFAULT_MAX_MESSAGES_PER_SECOND,
            exit_when_idle: None,
            workers: 0,
        }
    }
}

/// Serves `registry` on `opts.socket` until SIGINT, SIGTERM, a `stop` request or, with
/// `opts.exit_when_idle`, that long without a connection.
pub fn serve(opts: ServeOptions, registry: Registry) -> io::Result<()> {
    super::paths::prepare_dir(&opts.socket)?;
    let listener = SeqListener::bind(&opts.socket)?;
    let (signals, signal_writer) = UnixStream::pair()?;
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::low_level::pipe::register(sig, signal_writer.try_clone()?)?;
    }
    let registry = Arc::new(registry);
    let poller = (!opts.spin.budget.is_zero()).then(|| Arc::new(Poller::new(opts.spin.budget)));
    let poller_thread = match &poller {
        Some(p) => {
            let p = p.clone();
            Some(std::thread::Builder::new().name("shmcall-poller".into()).spawn(move || p.run())?)
        }
        None => None,
    };
    let times = Arc::new(ServiceTimes::new(registry.functions().len()));
    let workers = Workers::start(if opts.workers == 0 { Workers::default_size() } else { opts.workers })?;
    let identity = StatusReport {
        name: opts.name.clone(),
        version: opts.version.clone(),
        shmcall: env!("CARGO_PKG_VERSION").to_owned(),
        protocol: PROTOCOL_VERSION,
        pid: std::process::id(),
        socket: listener.path().display().to_string(),
        ..StatusReport::default()
    };
    let shared = Arc::new(Shared {
        daemon: format!("{} {}", opts.name, opts.version),
        manifest: Manifest::of(&registry),
        census: Census::new(identity, times.slot_count()),
        times,
        registry,
        config: opts.config,
        poller: poller.clone(),
        heap_limit: opts.heap_limit,
        huge_pages: opts.huge_pages,
        admission: Admission::new(&opts.allow_uids, &opts.allow_gids),
        connections_per_uid: ConnectionsPerUid::new(opts.max_connections_per_uid),
        max_channels: opts.max_channels,
        max_blocks: opts.max_blocks,
        max_messages_per_second: opts.max_messages_per_second,
        shutdown: Doorbell::new()?,
        floods: Mutex::default(),
        ended: Doorbell::new()?,
        stop_waiters: Mutex::default(),
    });
    log::info!(
        "listening on {} ({}; {} functions, spin {:?}, huge pages for large blocks: {}, shared memory policy: {})",
        listener.path().display(),
        crate::sys::BACKEND,
        shared.registry.functions().len(),
        opts.spin.budget,
        match (opts.huge_pages, crate::sys::MAKES_HUGE_PAGES) {
            (true, true) => "on",
            (false, _) => "off",
            (true, false) => "none on this backend",
        },
        crate::sys::shmem_huge_pages().as_deref().unwrap_or("unknown")
    );
    if !opts.allow_uids.is_empty() || !opts.allow_gids.is_empty() {
        log::info!("admitting uids {:?} and gids {:?} besides this user", opts.allow_uids, opts.allow_gids);
    }
    log::debug!("{} worker threads", workers.live());
    log::debug!(
        "limits: {} connections per uid, {} channels and {} heap blocks per connection, {} messages/s",
        opts.max_connections_per_uid,
        opts.max_channels,
        opts.max_blocks,
        opts.max_messages_per_second
    );
    super::notify::ready();
    let mut connections: Vec<Arc<Client>> = Vec::new();
    let mut next_id = 0u64;
    let mut idle = opts.exit_when_idle.map(|grace| IdleClock::new(grace, Instant::now()));
    let mut refusals = Refusals::default();
    loop {
        // Connections are counted after each reap and accept, so the clock sees the last one end.
        let idle_left = idle.as_mut().and_then(|clock| idle_wait(clock, connections.len()));
        if idle_left == Some(Duration::ZERO) {
            log::info!("no connection for {:?}: shutting down", opts.exit_when_idle.unwrap_or_default());
            break;
        }
        let wait = [idle_left, refusals.wait(Instant::now())].into_iter().flatten().min();
        let mut fds = vec![listener.fd(), signals.as_fd(), shared.shutdown.fd(), shared.ended.fd()];
        fds.extend(refusals.fds());
        let ready = poll::readable(&fds, wait)?;
        drop(fds);
        refusals.settle(&ready[4..], Instant::now());
        if ready[1] {
            log::info!("signal received: shutting down");
            break;
        }
        if ready[2] {
            log::info!("stop requested: shutting down");
            break;
        }
        if ready[3] {
            // Forgotten at once: left until the next accept, the last clients to die would keep
            // their sockets while the daemon sits idle.
            shared.ended.drain();
            let floods = std::mem::take(&mut *shared.floods.lock().unwrap_or_else(PoisonError::into_inner));
            for conn in floods {
                refusals.flood(conn, Instant::now());
            }
            connections.retain(|c| !c.is_over());
        }
        if !ready[0] {
            continue;
        }
        let conn = match listener.accept() {
            Ok(c) => c,
            Err(e) => {
                log::warn!("accept: {e}");
                continue;
            }
        };
        let id = next_id;
        next_id += 1;
        match connection::accept(conn, id, &shared, &workers, &mut refusals) {
            Ok(Some(client)) => connections.push(client),
            Ok(None) => {} // refused
            Err(e) => log::warn!("conn{id}: cannot serve it: {e}"),
        }
    }
    super::notify::stopping();
    drop(refusals); // closed: their peers have been told why
    drop(listener); // removes the socket: new clients fail fast instead of queueing

    // The workers stop the connections, each serving what its client published before the stop.
    for c in &connections {
        let c = c.clone();
        workers.post(Box::new(move |w| c.stop(w)));
    }
    let deadline = Instant::now() + SHUTDOWN_GRACE;
    loop {
        // Each dropped as it ends, so that its socket closes then, as its client's cue.
        connections.retain(|c| !c.is_over());
        if connections.is_empty() || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    if !connections.is_empty() {
        log::warn!("a connection is still computing after {SHUTDOWN_GRACE:?}; exiting anyway");
    }
    if let (Some(p), Some(t)) = (poller, poller_thread) {
        // The poller may be inside a call it serves inline: bounded like the connections above.
        p.stop();
        join_by(t, deadline, "the poller");
    }
    workers.halt();
    for t in workers.take_threads() {
        join_by(t, deadline, "a worker");
    }
    // Their end-of-file tells the connections that asked to stop that shutdown is over.
    shared.stop_waiters.lock().unwrap_or_else(PoisonError::into_inner).clear();
    Ok(())
}

/// Tells `clock` that `open` connections are being served and returns how long the accept loop may
/// wait before it must look at the clock again: None while a connection is open (its end rings the
/// loop), zero once the daemon has been idle for its grace.
fn idle_wait(clock: &mut IdleClock, open: usize) -> Option<Duration> {
    let now = Instant::now();
    clock.connections(open, now);
    clock.time_left(now)
}

/// Joins `thread` if it finishes by `deadline`; otherwise leaves it (it may be inside a long call)
/// and says so, so shutdown stays bounded.
fn join_by(thread: JoinHandle<()>, deadline: Instant, what: &str) {
    while !thread.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    if thread.is_finished() {
        let _ = thread.join();
    } else {
        log::warn!("{what} is still computing after {SHUTDOWN_GRACE:?}; exiting anyway");
    }
}
