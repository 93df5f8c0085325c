//! Who may connect (SPEC §2.1): the daemon's own user, and the users and groups named by
//! `--allow-uid` and `--allow-gid`, as the kernel recorded the peer at `connect` (`SO_PEERCRED`). The
//! socket directory's permissions are the first fence; this one holds when the socket sits in a
//! shared directory or is made connectable by others. An admitted user may hold only so many
//! connections at once (`ConnectionsPerUid`), each a socket and its channels.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::sys::{PeerCredentials, SeqConn};

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

/// The open connections of each peer uid, against one limit for every uid.
pub struct ConnectionsPerUid {
    max: usize,
    open: Arc<Mutex<HashMap<u32, usize>>>,
}

/// One counted connection: dropping it, when the connection ends, uncounts it. It shares the counts
/// (not a borrow): a connection outlives any one call that could hold a borrow.
pub struct UidSlot {
    open: Arc<Mutex<HashMap<u32, usize>>>,
    uid: u32,
}

impl ConnectionsPerUid {
    /// No connections yet; each uid may hold at most `max` (at least 1).
    pub fn new(max: usize) -> ConnectionsPerUid {
        ConnectionsPerUid { max: max.max(1), open: Arc::default() }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u32, usize>> {
        lock_counts(&self.open)
    }

    /// Counts one more connection of `uid`, or says why not: the uid holds its limit already.
    pub fn admit(&self, uid: u32) -> Result<UidSlot, String> {
        let mut open = self.lock();
        let n = open.entry(uid).or_insert(0);
        if *n >= self.max {
            return Err(format!(
                "uid {uid} already has {n} connections to this daemon, the most it allows per user \
                 (`serve --max-connections-per-uid N` raises the limit)"
            ));
        }
        *n += 1;
        Ok(UidSlot { open: self.open.clone(), uid })
    }

    /// Connections `uid` holds now.
    #[cfg(test)]
    fn open(&self, uid: u32) -> usize {
        self.lock().get(&uid).copied().unwrap_or(0)
    }
}

/// The counts, locked. Poisoned only by a panic here, which leaves counts, not invariants.
fn lock_counts(open: &Mutex<HashMap<u32, usize>>) -> MutexGuard<'_, HashMap<u32, usize>> {
    open.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Drop for UidSlot {
    fn drop(&mut self) {
        let mut open = lock_counts(&self.open);
        if let Some(n) = open.get_mut(&self.uid) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.uid); // the map holds only uids with connections
            }
        }
    }
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

    #[test]
    fn connections_are_counted_per_uid_and_uncounted_when_they_end() {
        let counts = ConnectionsPerUid::new(2);
        let a = counts.admit(1000).unwrap();
        let b = counts.admit(1000).unwrap();
        let why = counts.admit(1000).err().expect("a third connection of uid 1000 is refused");
        assert!(why.contains("uid 1000 already has 2 connections"), "{why}");
        assert!(why.contains("--max-connections-per-uid"), "{why}");
        let other = counts.admit(1001).expect("another uid has its own count");
        assert_eq!((counts.open(1000), counts.open(1001)), (2, 1));
        drop(a);
        assert_eq!(counts.open(1000), 1);
        let c = counts.admit(1000).expect("a closed connection frees its place");
        drop((b, c, other));
        assert_eq!((counts.open(1000), counts.open(1001)), (0, 0));
        assert!(counts.lock().is_empty(), "no uid without connections is kept");
    }
}
