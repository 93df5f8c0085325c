//! The accept loop and shutdown. SIGINT/SIGTERM are turned into a readable descriptor (signal-hook's
//! self-pipe) and a `stop` request rings a doorbell, so the loop only ever blocks in `poll` and shuts
//! down in one place: stop accepting, remove the socket, tell every connection to stop, give them a
//! bounded time to finish, then close the connections that asked to stop.

use std::io;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::census::Census;
use super::connection;
use super::peers::Admission;
use super::report::StatusReport;
use super::shared::Shared;
use crate::layout::constants::PROTOCOL_VERSION;
use crate::layout::ControlConfig;
use crate::registry::manifest::Manifest;
use crate::registry::Registry;
use crate::ring::{Poller, ServiceTimes, SpinPolicy};
use crate::sys::{poll, Doorbell, SeqListener};

/// How long shutdown waits for connections to finish their current calls.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

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
}

impl ServeOptions {
    /// The defaults of `<name> serve`: the name's default socket (`paths::default_socket`), the
    /// default spin budget, no heap limit, huge pages for large blocks, default channel sizes, only
    /// the daemon's own user admitted.
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
        }
    }
}

/// Serves `registry` on `opts.socket` until SIGINT, SIGTERM or a `stop` request.
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
        shutdown: Doorbell::new()?,
        stop_waiters: Mutex::default(),
    });
    log::info!(
        "listening on {} ({} functions, spin {:?}, huge pages for large blocks: {}, shared memory policy: {})",
        listener.path().display(),
        shared.registry.functions().len(),
        opts.spin.budget,
        if opts.huge_pages { "on" } else { "off" },
        crate::sys::shmem_huge_pages().as_deref().unwrap_or("unknown")
    );
    if !opts.allow_uids.is_empty() || !opts.allow_gids.is_empty() {
        log::info!("admitting uids {:?} and gids {:?} besides this user", opts.allow_uids, opts.allow_gids);
    }
    super::notify::ready();
    let mut connections: Vec<(Arc<Doorbell>, JoinHandle<()>)> = Vec::new();
    let mut next_id = 0u64;
    loop {
        let ready = poll::readable(&[listener.fd(), signals.as_fd(), shared.shutdown.fd()], None)?;
        if ready[1] {
            log::info!("signal received: shutting down");
            break;
        }
        if ready[2] {
            log::info!("stop requested: shutting down");
            break;
        }
        let conn = match listener.accept() {
            Ok(c) => c,
            Err(e) => {
                log::warn!("accept: {e}");
                continue;
            }
        };
        connections.retain(|(_, h)| !h.is_finished());
        let stop = Arc::new(Doorbell::new()?);
        let (s, st) = (shared.clone(), stop.clone());
        let id = next_id;
        next_id += 1;
        let handle = std::thread::Builder::new()
            .name(format!("shmcall-conn{id}"))
            .spawn(move || connection::run(conn, id, s, st))?;
        connections.push((stop, handle));
    }
    super::notify::stopping();
    drop(listener); // removes the socket: new clients fail fast instead of queueing
    for (stop, _) in &connections {
        stop.ring();
    }
    let deadline = Instant::now() + SHUTDOWN_GRACE;
    for (_, h) in connections {
        join_by(h, deadline, "a connection");
    }
    if let (Some(p), Some(t)) = (poller, poller_thread) {
        // The poller may be inside a call it serves inline: bounded like the connections above.
        p.stop();
        join_by(t, deadline, "the poller");
    }
    // Their end-of-file tells the connections that asked to stop that shutdown is over.
    shared.stop_waiters.lock().unwrap_or_else(PoisonError::into_inner).clear();
    Ok(())
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
