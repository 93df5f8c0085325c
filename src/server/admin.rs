//! Administrative connections: a connection whose first message is `status` or `stop` (SPEC §2.3)
//! gets its answer, never a channel.

use std::io;
use std::sync::{Arc, PoisonError};

use super::messages::DaemonMessage;
use super::shared::Shared;
use crate::sys::SeqConn;

/// Sends the status report; the caller then closes the connection.
pub fn answer_status(conn: &SeqConn, shared: &Shared) -> io::Result<()> {
    let report = shared.census.report(&shared.registry, &shared.times);
    conn.send(&DaemonMessage::Status(&report).to_bytes(), &[])
}

/// Answers `stopping` and begins an orderly shutdown. The connection stays open until shutdown is
/// over (the daemon closes it last, or exits), so its end-of-file tells the asker the daemon is done.
pub fn begin_stop(conn: &Arc<SeqConn>, shared: &Shared) -> io::Result<()> {
    conn.send(&DaemonMessage::Stopping { pid: std::process::id() }.to_bytes(), &[])?;
    shared.stop_waiters.lock().unwrap_or_else(PoisonError::into_inner).push(conn.clone());
    shared.shutdown.ring();
    Ok(())
}
