//! Connections the daemon has refused or closed on a client (a peer not admitted, one connection too
//! many for its uid, a message flood): answered at once, then kept open a moment so that the peer
//! reads why, watched by the accept loop together with its own descriptors. A thread per refusal,
//! as before, let a peer that connects in a loop multiply the daemon's threads, and a worker
//! draining a flood was a worker the other clients lost; here each costs a socket for at most
//! `LINGER`, and only `MAX_LINGERING` linger at once.

use std::os::fd::BorrowedFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::messages::DaemonMessage;
use crate::sys::SeqConn;

/// How long a refused connection stays open for the peer's first message, so that a client which
/// sends `hello` right after `connect` reads the refusal instead of failing to send; and the longest
/// a flooding client is given to stop sending and read why it was closed.
const LINGER: Duration = Duration::from_secs(1);
/// A flood's connection closes once its client has sent nothing for this long.
const FLOOD_QUIET: Duration = Duration::from_millis(20);
/// Connections that may linger at once; past this one closes at once.
const MAX_LINGERING: usize = 64;
/// Most messages dropped unread at a time (more than a socket's buffer holds): closing with messages
/// unread would reset the connection before the peer reads why it was closed.
pub const DRAIN: usize = 4096;

/// A connection kept open after its last answer.
struct Lingering {
    conn: Arc<SeqConn>,
    /// When it closes whatever its peer does.
    until: Instant,
    /// For a flood: when it closes if its client sends nothing more (each message moves it). For a
    /// refusal, None: the peer's first message closes it.
    quiet_until: Option<Instant>,
}

impl Lingering {
    fn due(&self) -> Instant {
        self.quiet_until.map_or(self.until, |q| q.min(self.until))
    }
}

/// The connections lingering now.
#[derive(Default)]
pub struct Refusals {
    lingering: Vec<Lingering>,
}

impl Refusals {
    /// Answers `conn` with an `error` of `kind`, then keeps it until its peer sends, closes, or
    /// `LINGER` passes (`settle`).
    pub fn refuse(&mut self, conn: SeqConn, kind: &'static str, message: String, now: Instant) {
        let _ = conn.send(&DaemonMessage::Error { kind, message }.to_bytes(), &[]);
        self.keep(Lingering { conn: Arc::new(conn), until: now + LINGER, quiet_until: None });
    }

    /// Keeps the connection of a client closed for flooding (already told why) until the client
    /// has sent nothing for `FLOOD_QUIET`, closes, or `LINGER` passes; what it sends is dropped.
    pub fn flood(&mut self, conn: Arc<SeqConn>, now: Instant) {
        self.keep(Lingering { conn, until: now + LINGER, quiet_until: Some(now + FLOOD_QUIET) });
    }

    fn keep(&mut self, entry: Lingering) {
        if self.lingering.len() < MAX_LINGERING {
            self.lingering.push(entry);
        } else {
            entry.conn.discard_pending(DRAIN);
        }
    }

    /// The lingering connections' descriptors, to poll for their peers' messages or close.
    pub fn fds(&self) -> impl Iterator<Item = BorrowedFd<'_>> {
        self.lingering.iter().map(|l| l.conn.fd())
    }

    /// How long until the first lingering connection is due to close (None: none lingers).
    pub fn wait(&self, now: Instant) -> Option<Duration> {
        self.lingering.iter().map(|l| l.due().saturating_duration_since(now)).min()
    }

    /// Given which connections polled readable (`ready`, in the order of `fds` then), closes each
    /// refusal whose peer has sent or closed, each flood whose client has closed or gone quiet, and
    /// each past its time; a flood's new messages are dropped and restart its quiet time.
    pub fn settle(&mut self, ready: &[bool], now: Instant) {
        let polled = std::mem::take(&mut self.lingering);
        for (i, mut l) in polled.into_iter().enumerate() {
            if ready.get(i).copied().unwrap_or(false) {
                let dropped = l.conn.discard_pending(DRAIN);
                match l.quiet_until.as_mut() {
                    Some(quiet) if dropped > 0 => *quiet = now + FLOOD_QUIET,
                    _ => continue, // a refusal's peer spoke, or the peer closed: close it
                }
            }
            if l.due() > now {
                self.lingering.push(l);
            } else {
                l.conn.discard_pending(DRAIN);
            }
        }
    }

    /// Connections lingering now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lingering.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::SeqListener;

    /// A listener in a fresh directory and `n` connected pairs (client end, daemon end).
    fn pairs(tag: &str, n: usize) -> (std::path::PathBuf, Vec<(SeqConn, SeqConn)>) {
        let dir = std::env::temp_dir().join(format!("shmcall-refusals-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s");
        let listener = SeqListener::bind(&path).unwrap();
        let made = (0..n)
            .map(|_| {
                let client = SeqConn::connect(&path).unwrap();
                (client, listener.accept().unwrap())
            })
            .collect();
        (dir, made)
    }

    fn answer(client: &SeqConn) -> serde_json::Value {
        let mut buf = vec![0u8; 4096];
        let n = client.recv(&mut buf).unwrap();
        serde_json::from_slice(&buf[..n]).unwrap()
    }

    fn closed(client: &SeqConn) -> bool {
        let mut buf = vec![0u8; 4096];
        matches!(client.recv(&mut buf), Ok(0))
    }

    #[test]
    fn a_refusal_is_answered_and_closed_once_its_peer_speaks_or_its_time_is_up() {
        let (dir, mut made) = pairs("settle", 3);
        let mut refusals = Refusals::default();
        let now = Instant::now();
        let (spoke, silent, late) = (made.remove(0), made.remove(0), made.remove(0));
        refusals.refuse(spoke.1, "not_permitted", "uid 1 may not".into(), now);
        refusals.refuse(silent.1, "resources", "too many".into(), now);
        refusals.refuse(late.1, "resources", "too many".into(), now + LINGER / 2);
        for (client, kind) in [(&spoke.0, "not_permitted"), (&silent.0, "resources"), (&late.0, "resources")] {
            let a = answer(client);
            assert_eq!((a["op"].as_str(), a["kind"].as_str()), (Some("error"), Some(kind)), "{a}");
        }
        assert_eq!(refusals.fds().count(), 3);
        assert_eq!(refusals.wait(now), Some(LINGER));
        spoke.0.send(br#"{"op":"hello"}"#, &[]).unwrap();
        let ready = crate::sys::poll::readable(&refusals.fds().collect::<Vec<_>>(), Some(Duration::ZERO)).unwrap();
        assert_eq!(ready, [true, false, false]);
        refusals.settle(&ready, now);
        assert_eq!(refusals.len(), 2);
        assert!(closed(&spoke.0), "the peer that spoke finds its connection closed");
        refusals.settle(&[false, false], now + LINGER);
        assert_eq!(refusals.len(), 1, "the first silent one's time is up, not the later one's");
        assert!(closed(&silent.0));
        assert_eq!(refusals.wait(now + LINGER), Some(LINGER / 2));
        refusals.settle(&[false], now + LINGER * 2);
        assert_eq!((refusals.len(), refusals.wait(now)), (0, None));
        assert!(closed(&late.0));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_flood_lingers_while_its_client_sends_and_closes_once_it_is_quiet() {
        let (dir, mut made) = pairs("flood", 2);
        let mut refusals = Refusals::default();
        let now = Instant::now();
        let (quiets, keeps_on) = (made.remove(0), made.remove(0));
        refusals.flood(Arc::new(quiets.1), now);
        refusals.flood(Arc::new(keeps_on.1), now);
        assert_eq!(refusals.wait(now), Some(FLOOD_QUIET));
        keeps_on.0.send(b"more", &[]).unwrap();
        let ready = crate::sys::poll::readable(&refusals.fds().collect::<Vec<_>>(), Some(Duration::ZERO)).unwrap();
        assert_eq!(ready, [false, true]);
        let later = now + FLOOD_QUIET;
        refusals.settle(&ready, later);
        assert_eq!(refusals.len(), 1, "the quiet one closes, the sending one's quiet time restarts");
        assert!(closed(&quiets.0));
        assert_eq!(refusals.wait(later), Some(FLOOD_QUIET));
        keeps_on.0.send(b"more", &[]).unwrap();
        refusals.settle(&[true], now + LINGER);
        assert_eq!(refusals.len(), 0, "however it sends, a flood closes after the linger");
        assert!(closed(&keeps_on.0));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn past_the_bound_a_refusal_closes_at_once() {
        let (dir, made) = pairs("bound", MAX_LINGERING + 1);
        let mut refusals = Refusals::default();
        let mut clients = Vec::new();
        for (client, conn) in made {
            refusals.refuse(conn, "resources", "too many".into(), Instant::now());
            clients.push(client);
        }
        assert_eq!(refusals.len(), MAX_LINGERING);
        let last = clients.last().unwrap();
        assert_eq!(answer(last)["kind"], "resources", "it is still told why");
        assert!(closed(last));
        std::fs::remove_dir_all(&dir).ok();
    }
}
