//! Who may connect (SPEC §2.1): the daemon's own user, and the users and groups named by
//! `--allow-uid` and `--allow-gid`, as the kernel recorded the peer at `connect` (`SO_PEERCRED`). The
//! socket directory's permissions are the first fence; this one holds when the socket sits in a
//! shared directory or is made connectable by others.

use std::time::Duration;

use super::messages::DaemonMessage;
use crate::sys::{poll, Doorbell, PeerCredentials, SeqConn};

/// How long a refused connection stays open for the peer's first message, so that a client which
/// sends `hello` right after `connect` reads the refusal instead of failing to send.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);

/// The users and groups a daemon admits.
#[derive(Debug, Clone)]
pub struct Admission {
    own_uid: u32,
    uids: Vec<u32>,
    gids: Vec<u32>,
}

impl Admission {
    /// Admits the daemon's own (effective) user and the users and groups listed.
    pub fn new(uids: &[u32], gids: &[u32]) -> Admission {
        Admission { own_uid: rustix::process::geteuid().as_raw(), uids: uids.to_vec(), gids: gids.to_vec() }
    }

    /// The peer's credentials if it is admitted; else why not. A peer whose credentials cannot be
    /// read is refused.
    pub fn check(&self, conn: &SeqConn) -> Result<PeerCredentials, String> {
        let peer = conn.peer_credentials().map_err(|e| format!("cannot read the peer's credentials: {e}"))?;
        if peer.uid == self.own_uid || self.uids.contains(&peer.uid) || self.gids.contains(&peer.gid) {
            return Ok(peer);
        }
        // Supplementary groups are read only when a group is allowed and the primary one did not match.
        if !self.gids.is_empty() && conn.peer_groups().is_ok_and(|g| g.iter().any(|g| self.gids.contains(g))) {
            return Ok(peer);
        }
        Err(format!(
            "uid {} (gid {}) may not use this daemon: it admits uid {}{}",
            peer.uid,
            peer.gid,
            self.own_uid,
            self.also()
        ))
    }

    /// The allowances beyond the daemon's own user, for the refusal's message.
    fn also(&self) -> String {
        let list = |v: &[u32]| v.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
        let mut out = String::new();
        if !self.uids.is_empty() {
            out += &format!(", uids {}", list(&self.uids));
        }
        if !self.gids.is_empty() {
            out += &format!(", gids {}", list(&self.gids));
        }
        out + " (`serve --allow-uid UID` or `--allow-gid GID` admits more)"
    }
}

/// Most messages of a refused peer dropped unread before its connection closes.
const REFUSAL_DRAIN: usize = 16;

/// Answers a refused connection with `not_permitted` and waits (bounded) for its first message or
/// its close; the caller then closes it. What the peer sent is dropped unread, so that the close
/// does not reset the connection before the peer reads the refusal.
pub fn refuse(conn: &SeqConn, message: String, stop: &Doorbell) {
    let _ = conn.send(&DaemonMessage::Error { kind: "not_permitted", message }.to_bytes(), &[]);
    let _ = poll::readable(&[conn.fd(), stop.fd()], Some(REFUSAL_LINGER));
    conn.discard_pending(REFUSAL_DRAIN);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_user_is_admitted_others_only_when_listed() {
        let dir = std::env::temp_dir().join(format!("shmcall-peers-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s");
        let listener = crate::sys::SeqListener::bind(&path).unwrap();
        let _client = SeqConn::connect(&path).unwrap();
        let conn = listener.accept().unwrap();
        let me = Admission::new(&[], &[]).check(&conn).expect("the daemon's own user is admitted");
        assert_eq!(me.pid as u32, std::process::id());
        let stranger = Admission { own_uid: me.uid.wrapping_add(1), uids: vec![], gids: vec![] };
        let why = stranger.check(&conn).unwrap_err();
        assert!(why.starts_with(&format!("uid {} (gid {}) may not use this daemon", me.uid, me.gid)), "{why}");
        assert!(why.contains("--allow-uid"), "{why}");
        let by_uid = Admission { uids: vec![me.uid], ..stranger.clone() };
        let by_gid = Admission { gids: vec![me.gid], ..stranger.clone() };
        assert!(by_uid.check(&conn).is_ok() && by_gid.check(&conn).is_ok());
        let nobodys = u32::MAX - 7; // a group this process is not in
        let by_other_gid = Admission { gids: vec![nobodys], ..stranger };
        assert!(by_other_gid.check(&conn).unwrap_err().contains(&format!("gids {nobodys}")));
        drop(listener);
        std::fs::remove_dir_all(&dir).ok();
    }
}
