//! One client connection: the handshake, channel creation on request, heap segment announcements,
//! and tear-down when the socket closes (the client's exit, however it happened) or the daemon stops.
//! A connection that opens with `status` or `stop` instead of `hello` is administrative (`admin.rs`).
//! A peer the daemon does not admit (`peers.rs`) gets `not_permitted` before anything else, one
//! whose user holds all the connections it may have gets `resources`. Over its connection a client
//! may open only so many channels (a refusal that keeps the connection) and send only so many
//! messages a second (a flood closes it).

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::admin;
use super::messages::{ClientMessage, DaemonMessage, MessageRate, MAX_CLIENT_MESSAGE};
use super::peers;
use super::shared::Shared;
use crate::heap::{Heap, SegmentSink};
use crate::layout::constants::{LAYOUT_HASH, PROTOCOL_VERSION};
use crate::ring::{run_channel_thread, Channel, ChannelServer, Poller};
use crate::sys::{doorbell, poll, Doorbell, Segment, SeqConn};

/// Most unread messages dropped at once: more than a socket's buffer holds.
const UNREAD_DRAIN: usize = 4096;
/// A flooding client told it is closed has this long to stop sending and read why.
const FLOOD_LINGER: Duration = Duration::from_secs(1);
/// A pause this long after the refusal ends the flood's linger.
const FLOOD_QUIET: Duration = Duration::from_millis(20);

/// Sends new heap segments over the connection's socket.
struct SocketSink(Arc<SeqConn>);

impl SegmentSink for SocketSink {
    fn announce(&self, id: u32, segment: &Segment) -> io::Result<()> {
        let msg = DaemonMessage::Segment { id, size: segment.len() as u64 }.to_bytes();
        self.0.send(&msg, &[segment.fd()])
    }
}

/// Serves one connection until the client goes away or `stop` rings; then stops its channels.
pub fn run(conn: SeqConn, id: u64, shared: Arc<Shared>, stop: Arc<Doorbell>) {
    let peer = match shared.admission.check(&conn) {
        Ok(peer) => peer,
        Err(why) => {
            // Status and stop too: an administrative connection is refused like any other.
            let pid = conn.peer_pid().map_or("?".to_owned(), |p| p.to_string());
            log::warn!("conn{id}(pid {pid}): refused: {why}");
            peers::refuse(&conn, "not_permitted", why, &stop);
            return;
        }
    };
    // Held until the connection's channels have stopped: its place is free only when its threads are.
    let _counted = match shared.connections_per_uid.admit(peer.uid) {
        Ok(slot) => slot,
        Err(why) => {
            log::warn!("conn{id}(pid {}): refused: {why}", peer.pid);
            peers::refuse(&conn, "resources", why, &stop);
            return;
        }
    };
    let conn = Arc::new(conn);
    let name = format!("conn{id}(pid {})", peer.pid);
    let heap = Heap::new(name.clone(), Box::new(SocketSink(conn.clone())), shared.heap_limit)
        .with_block_limit(shared.max_blocks);
    let heap = Arc::new(if shared.huge_pages { heap } else { heap.without_huge_pages() });
    let stopping = Arc::new(AtomicBool::new(false));
    let mut channels: Vec<JoinHandle<()>> = Vec::new();
    match serve(&conn, id, &name, &shared, &heap, &stop, &stopping, &mut channels) {
        Ok(Ending::Closed) => log::info!("{name}: closed"),
        Ok(Ending::Answered) => log::debug!("{name}: answered"),
        Err(e) => log::warn!("{name}: {e}"),
    }
    stopping.store(true, Ordering::Relaxed);
    stop.ring(); // wake every channel thread; the eventfd stays readable for all of them
    for c in channels {
        let _ = c.join();
    }
    shared.census.closed(id);
    let (bytes, blocks) = heap.usage();
    log::debug!("{name}: released {blocks} heap blocks ({bytes} bytes)");
    // Unread messages (a flood's) are dropped (bounded) just before the socket closes: closing with
    // some queued would reset the connection before the client reads why it was refused.
    conn.discard_pending(UNREAD_DRAIN);
}

/// How a connection ended without error.
enum Ending {
    /// A client's connection closed (or the daemon stops).
    Closed,
    /// An administrative connection got its answer.
    Answered,
}

fn refuse(conn: &SeqConn, kind: &'static str, message: String) -> io::Error {
    let _ = conn.send(&DaemonMessage::Error { kind, message: message.clone() }.to_bytes(), &[]);
    io::Error::new(io::ErrorKind::InvalidData, message)
}

// The connection's state, passed down rather than bundled: each argument is one thing it owns.
#[allow(clippy::too_many_arguments)]
fn serve(
    conn: &Arc<SeqConn>,
    id: u64,
    name: &str,
    shared: &Arc<Shared>,
    heap: &Arc<Heap>,
    stop: &Arc<Doorbell>,
    stopping: &Arc<AtomicBool>,
    channels: &mut Vec<JoinHandle<()>>,
) -> io::Result<Ending> {
    let mut buf = vec![0u8; MAX_CLIENT_MESSAGE];
    let mut greeted = false;
    let mut rate = MessageRate::new(shared.max_messages_per_second, Instant::now());
    loop {
        let ready = poll::readable(&[conn.fd(), stop.fd()], None)?;
        if ready[1] {
            return Ok(Ending::Closed);
        }
        let n = match conn.recv(&mut buf) {
            Ok(0) => return Ok(Ending::Closed),
            Ok(n) => n,
            Err(e) => return Err(refuse(conn, "bad_message", e.to_string())),
        };
        if !rate.take(Instant::now()) {
            // Closing, not pausing: a paused flood would still hold this thread and its socket.
            let e = refuse(conn, "resources", rate.refusal());
            drain_until_quiet(conn, stop);
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
                shared.census.greeted(id, heap.clone());
                greeted = true;
            }
            ClientMessage::OpenChannel if greeted => {
                if channels.len() >= shared.max_channels {
                    // Refused, but the connection and its open channels go on: one thread too many
                    // must not take down the client's other threads.
                    let message = channel_refusal(shared.max_channels);
                    conn.send(&DaemonMessage::Error { kind: "resources", message }.to_bytes(), &[])?;
                    continue;
                }
                let channel_id = channels.len() as u32;
                let channel = Arc::new(
                    Channel::create(channel_id, shared.config, name)
                        .map_err(|e| refuse(conn, "resources", format!("cannot create channel: {e}")))?,
                );
                let server = ChannelServer::new(
                    channel.clone(),
                    shared.registry.clone(),
                    heap.clone(),
                    shared.times.clone(),
                    format!("{name}/ch{channel_id}"),
                    shared.poller.as_deref().map_or(Duration::ZERO, Poller::budget),
                );
                shared.census.channel_opened(id, server.counters().clone(), channel.control.len() as u64);
                let (stop, stopping, poller) = (stop.clone(), stopping.clone(), shared.poller.clone());
                let log_name = format!("{name}/ch{channel_id}");
                channels.push(std::thread::Builder::new().name(format!("shmcall-ch{channel_id}")).spawn(
                    move || {
                        if let Err(e) = run_channel_thread(server, stop.fd(), &stopping, poller.as_deref()) {
                            log::warn!("{log_name}: {e}");
                        }
                    },
                )?);
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
            ClientMessage::Status {} if !greeted => {
                log::debug!("{name}: status asked");
                return admin::answer_status(conn, shared).map(|()| Ending::Answered);
            }
            ClientMessage::Stop {} if !greeted => {
                log::info!("{name}: stop asked");
                return admin::begin_stop(conn, shared).map(|()| Ending::Answered);
            }
            ClientMessage::Status {} | ClientMessage::Stop {} => {
                let message = "status and stop open a connection of their own: they must be its first message";
                return Err(refuse(conn, "bad_message", message.to_owned()));
            }
        }
    }
}

/// After a flood's refusal, drops what the client still sends until it pauses, closes or the
/// bounded linger ends: closing with its messages unread would reset the connection before the
/// client reads why it was closed.
fn drain_until_quiet(conn: &SeqConn, stop: &Doorbell) {
    let deadline = Instant::now() + FLOOD_LINGER;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match poll::readable(&[conn.fd(), stop.fd()], Some(left.min(FLOOD_QUIET))) {
            Ok(ready) if ready[0] && !ready[1] && conn.discard_pending(UNREAD_DRAIN) > 0 => continue,
            _ => return, // quiet, closed, stopping or failing: close now
        }
    }
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
