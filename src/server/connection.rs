//! One client connection: the handshake, channel creation on request, heap segment announcements,
//! and tear-down when the socket closes (the client's exit, however it happened) or the daemon stops.
//! A connection that opens with `status` or `stop` instead of `hello` is administrative (`admin.rs`).
//! A peer the daemon does not admit (`peers.rs`) gets `not_permitted` before anything else, one
//! whose user holds all the connections it may have gets `resources` (`refusals.rs` closes them).
//! Over its connection a client may open only so many channels (a refusal that keeps the
//! connection) and send only so many messages a second (a flood closes it).
//!
//! A connection has no thread of its own: its socket waits in the workers' readiness set
//! (`ring::Workers`) with the channels, and the worker it becomes ready for handles one message.

use std::cell::RefCell;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::admin;
use super::messages::{ClientMessage, DaemonMessage, MessageRate, MAX_CLIENT_MESSAGE};
use super::peers::UidSlot;
use super::refusals::{Refusals, DRAIN as UNREAD_DRAIN};
use super::shared::Shared;
use crate::heap::{Heap, SegmentSink};
use crate::layout::constants::{LAYOUT_HASH, PROTOCOL_VERSION};
use crate::ring::{Channel, ChannelServer, ChannelWait, Poller, Ready, Workers};
use crate::sys::{doorbell, Segment, SeqConn};

thread_local! {
    /// Each worker's buffer for one control message: per thread, not per connection.
    static MESSAGE: RefCell<Vec<u8>> = RefCell::new(vec![0u8; MAX_CLIENT_MESSAGE]);
}

/// Sends new heap segments over the connection's socket.
struct SocketSink(Arc<SeqConn>);

impl SegmentSink for SocketSink {
    fn announce(&self, id: u32, segment: &Segment) -> io::Result<()> {
        let msg = DaemonMessage::Segment { id, size: segment.len() as u64 }.to_bytes();
        self.0.send(&msg, &[segment.fd()])
    }
}

/// Admits `conn` as connection `id` and registers it with `workers`; None if it is refused (then it
/// is answered and left to `refusals`, which close it once the peer has read why).
pub fn accept(
    conn: SeqConn,
    id: u64,
    shared: &Arc<Shared>,
    workers: &Workers,
    refusals: &mut Refusals,
) -> io::Result<Option<Arc<Client>>> {
    let peer = match shared.admission.check(&conn) {
        Ok(peer) => peer,
        Err(why) => {
            // Status and stop too: an administrative connection is refused like any other.
            let pid = conn.peer_pid().map_or("?".to_owned(), |p| p.to_string());
            log::warn!("conn{id}(pid {pid}): refused: {why}");
            refusals.refuse(conn, "not_permitted", why, Instant::now());
            return Ok(None);
        }
    };
    // Held until the connection's channels have stopped: its place is free only when they are.
    let counted = match shared.connections_per_uid.admit(peer.uid) {
        Ok(slot) => slot,
        Err(why) => {
            log::warn!("conn{id}(pid {}): refused: {why}", peer.pid);
            refusals.refuse(conn, "resources", why, Instant::now());
            return Ok(None);
        }
    };
    let conn = Arc::new(conn);
    let name = format!("conn{id}(pid {})", peer.pid);
    let heap = Heap::new(name.clone(), Box::new(SocketSink(conn.clone())), shared.heap_limit)
        .with_block_limit(shared.max_blocks);
    let heap = Arc::new(if shared.huge_pages { heap } else { heap.without_huge_pages() });
    let client = Arc::new(Client {
        conn,
        id,
        name,
        shared: shared.clone(),
        heap,
        state: Mutex::new(State {
            open: true,
            greeted: false,
            rate: MessageRate::new(shared.max_messages_per_second, Instant::now()),
            channels: Vec::new(),
            counted: Some(counted),
        }),
        over: AtomicBool::new(false),
        token: AtomicU64::new(0),
    });
    // Locked across the registration: a message that arrives at once waits for the token.
    let state = client.lock();
    let token = workers.register(client.conn.fd(), client.clone())?;
    client.token.store(token, Ordering::Relaxed);
    drop(state);
    Ok(Some(client))
}

/// One admitted connection.
pub struct Client {
    conn: Arc<SeqConn>,
    id: u64,
    name: String,
    shared: Arc<Shared>,
    heap: Arc<Heap>,
    state: Mutex<State>,
    /// Set once the connection is over and its channels have stopped.
    over: AtomicBool,
    token: AtomicU64,
}

/// What a connection's messages change.
struct State {
    open: bool,
    greeted: bool,
    rate: MessageRate,
    channels: Vec<Arc<ChannelWait>>,
    counted: Option<UidSlot>,
}

/// How a connection ended without error.
enum Ending {
    /// A client's connection closed (or the daemon stops).
    Closed,
    /// An administrative connection got its answer.
    Answered,
}

impl Ready for Client {
    fn ready(self: Arc<Self>, workers: &Workers) {
        let mut state = self.lock();
        if !state.open {
            return;
        }
        match self.handle(&mut state, workers) {
            Ok(None) => workers.rearm(self.conn.fd(), self.token.load(Ordering::Relaxed)),
            Ok(Some(ending)) => self.finish(&mut state, Ok(ending), workers),
            Err(e) => self.finish(&mut state, Err(e), workers),
        }
    }
}

impl Client {
    /// True once the connection is over.
    pub fn is_over(&self) -> bool {
        self.over.load(Ordering::Acquire)
    }

    /// Ends the connection as if the client had closed it (the daemon stops); its channels serve
    /// what was published before.
    pub fn stop(&self, workers: &Workers) {
        let mut state = self.lock();
        if state.open {
            self.finish(&mut state, Ok(Ending::Closed), workers);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stops the connection's channels and lets it go (the socket closes with the last reference).
    fn finish(&self, state: &mut State, ending: io::Result<Ending>, workers: &Workers) {
        let name = &self.name;
        match ending {
            Ok(Ending::Closed) => log::info!("{name}: closed"),
            Ok(Ending::Answered) => log::debug!("{name}: answered"),
            Err(e) => log::warn!("{name}: {e}"),
        }
        state.open = false;
        workers.deregister(self.conn.fd(), self.token.load(Ordering::Relaxed));
        for channel in state.channels.drain(..) {
            channel.close(workers);
        }
        self.shared.census.closed(self.id);
        let (bytes, blocks) = self.heap.usage();
        log::debug!("{name}: released {blocks} heap blocks ({bytes} bytes)");
        // Unread messages (a flood's) are dropped (bounded) just before the socket closes: closing with
        // some queued would reset the connection before the client reads why it was refused.
        self.conn.discard_pending(UNREAD_DRAIN);
        state.counted = None;
        self.over.store(true, Ordering::Release);
        self.shared.ended.ring();
    }

    /// Handles one message; Some once the connection is over.
    fn handle(&self, state: &mut State, workers: &Workers) -> io::Result<Option<Ending>> {
        MESSAGE.with_borrow_mut(|buf| self.handle_in(state, workers, buf))
    }

    fn handle_in(&self, state: &mut State, workers: &Workers, buf: &mut [u8]) -> io::Result<Option<Ending>> {
        let (conn, shared, name) = (&self.conn, &self.shared, &self.name);
        let n = match conn.recv(buf) {
            Ok(0) => return Ok(Some(Ending::Closed)),
            Ok(n) => n,
            Err(e) => return Err(refuse(conn, "bad_message", e.to_string())),
        };
        if !state.rate.take(Instant::now()) {
            // Closing, not pausing: a paused flood would still hold its socket.
            let e = refuse(conn, "resources", state.rate.refusal());
            shared.floods.lock().unwrap_or_else(PoisonError::into_inner).push(conn.clone());
            return Err(e);
        }
        let msg: ClientMessage = serde_json::from_slice(&buf[..n])
            .map_err(|e| refuse(conn, "bad_message", format!("unreadable control message: {e}")))?;
        match msg {
            ClientMessage::Hello { protocol, layout_hash, client } => {
                if protocol != PROTOCOL_VERSION {
                    return Err(refuse(
                        conn,
                        "version_mismatch",
                        format!("client speaks protocol {protocol}, daemon speaks {PROTOCOL_VERSION}"),
                    ));
                }
                let ours = format!("{LAYOUT_HASH:016x}");
                if layout_hash != ours {
                    return Err(refuse(
                        conn,
                        "layout_mismatch",
                        format!("client layout hash {layout_hash}, daemon {ours}: both say protocol {protocol} but disagree on its constants"),
                    ));
                }
                log::info!("{name}: hello from {client}");
                let welcome = DaemonMessage::Welcome {
                    protocol: PROTOCOL_VERSION,
                    layout_hash: ours,
                    daemon: shared.daemon.clone(),
                    manifest: &shared.manifest,
                };
                conn.send(&welcome.to_bytes(), &[])?;
                shared.census.greeted(self.id, self.heap.clone());
                state.greeted = true;
            }
            ClientMessage::OpenChannel if state.greeted => {
                if state.channels.len() >= shared.max_channels {
                    // Refused, but the connection and its open channels go on: one thread too many
                    // must not take down the client's other threads.
                    let message = channel_refusal(shared.max_channels);
                    conn.send(&DaemonMessage::Error { kind: "resources", message }.to_bytes(), &[])?;
                    return Ok(None);
                }
                let channel_id = state.channels.len() as u32;
                let channel = Arc::new(
                    Channel::create(channel_id, shared.config, name)
                        .map_err(|e| refuse(conn, "resources", format!("cannot create channel: {e}")))?,
                );
                let server = ChannelServer::new(
                    channel.clone(),
                    shared.registry.clone(),
                    self.heap.clone(),
                    shared.times.clone(),
                    format!("{name}/ch{channel_id}"),
                    shared.poller.as_deref().map_or(Duration::ZERO, Poller::budget),
                );
                shared.census.channel_opened(self.id, server.counters().clone(), channel.control.len() as u64);
                state.channels.push(ChannelWait::open(server, shared.poller.clone(), workers)?);
                let msg = DaemonMessage::Channel { id: channel_id, size: channel.control.len() as u64 }.to_bytes();
                // Portability: the doorbells' descriptors come from the platform tier, since a pipe
                // doorbell (macOS) gives the client other ends than an eventfd (Linux: the same two).
                let mut fds = vec![channel.control.fd()];
                fds.extend(doorbell::client_descriptors(&channel.request_bell, &channel.response_bell));
                conn.send(&msg, &fds)?;
            }
            ClientMessage::OpenChannel => {
                return Err(refuse(conn, "bad_message", "open_channel before hello".to_owned()));
            }
            ClientMessage::Status {} if !state.greeted => {
                log::debug!("{name}: status asked");
                return admin::answer_status(conn, shared).map(|()| Some(Ending::Answered));
            }
            ClientMessage::Stop {} if !state.greeted => {
                log::info!("{name}: stop asked");
                return admin::begin_stop(conn, shared).map(|()| Some(Ending::Answered));
            }
            ClientMessage::Status {} | ClientMessage::Stop {} => {
                let message = "status and stop open a connection of their own: they must be its first message";
                return Err(refuse(conn, "bad_message", message.to_owned()));
            }
        }
        Ok(None)
    }
}

fn refuse(conn: &SeqConn, kind: &'static str, message: String) -> io::Error {
    let _ = conn.send(&DaemonMessage::Error { kind, message: message.clone() }.to_bytes(), &[]);
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// The refusal of a channel past the connection's `max` (which `--max-channels` sets).
fn channel_refusal(max: usize) -> String {
    format!(
        "a connection may open at most {max} channels (one per client thread): \
         `serve --max-channels N` raises the limit"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_refusal_names_the_limit_and_its_flag() {
        let message = channel_refusal(256);
        assert!(message.starts_with("a connection may open at most 256 channels"), "{message}");
        assert!(message.contains("--max-channels"), "{message}");
    }
}
