//! Refused connections (a peer not admitted, or one connection too many for its uid): answered at
//! once, then kept open a moment so that the peer reads why, watched by the accept loop together with
//! its own descriptors. A thread per refusal, as before, let a peer that connects in a loop multiply
//! the daemon's threads; here a refusal costs a socket for at most `LINGER`, and only `MAX_LINGERING`
//! of them at once.

use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use super::messages::DaemonMessage;
use crate::sys::SeqConn;

/// How long a refused connection stays open for the peer's first message, so that a client which
/// sends `hello` right after `connect` reads the refusal instead of failing to send.
const LINGER: Duration = Duration::from_secs(1);
/// Refusals that may linger at once; past this a refused connection closes at once.
const MAX_LINGERING: usize = 64;
/// Most messages of a refused peer dropped unread before its connection closes (closing with them
/// unread would reset the connection before the peer reads the refusal).
const DRAIN: usize = 16;

/// The refused connections still open, each with the moment it closes at the latest.
#[derive(Default)]
pub struct Refusals {
    lingering: Vec<(SeqConn, Instant)>,
}

impl Refusals {
    /// Answers `conn` with an `error` of `kind`, then keeps it until its peer sends, closes, or
    /// `LINGER` passes (`settle`); closes it at once if `MAX_LINGERING` already wait.
    pub fn refuse(&mut self, conn: SeqConn, kind: &'static str, message: String, now: Instant) {
        let _ = conn.send(&DaemonMessage::Error { kind, message }.to_bytes(), &[]);
        if self.lingering.len() < MAX_LINGERING {
            self.lingering.push((conn, now + LINGER));
        } else {
            close(conn);
        }
    }

    /// The lingering connections' descriptors, to poll for their peers' messages or close.
    pub fn fds(&self) -> impl Iterator<Item = BorrowedFd<'_>> {
        self.lingering.iter().map(|(conn, _)| conn.fd())
    }

    /// How long until the first lingering connection is due to close (None: none lingers).
    pub fn wait(&self, now: Instant) -> Option<Duration> {
        self.lingering.iter().map(|(_, until)| until.saturating_duration_since(now)).min()
    }

    /// Closes each connection whose peer has sent or closed (`ready`, in the order of `fds` when
    /// polled) and each past its time.
    pub fn settle(&mut self, ready: &[bool], now: Instant) {
        let polled = std::mem::take(&mut self.lingering);
        for (i, (conn, until)) in polled.into_iter().enumerate() {
            if ready.get(i).copied().unwrap_or(false) || until <= now {
                close(conn);
            } else {
                self.lingering.push((conn, until));
            }
        }
    }

    /// Connections lingering now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lingering.len()
    }
}

fn close(conn: SeqConn) {
    conn.discard_pending(DRAIN);
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
