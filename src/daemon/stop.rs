//! `<daemon> stop`: asks the running daemon to shut down, then waits, bounded, until it has: its
//! connection closes when shutdown is over (calls in flight finished or given up) and its socket is
//! gone.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::bail;

use super::remote::{self, ANSWER_TIMEOUT};

/// Stops the daemon on `socket`; returns its process id once it has stopped.
pub fn stop(socket: &Path) -> anyhow::Result<u64> {
    let started = Instant::now();
    let (conn, answer) = remote::ask(socket, "stop", "stopping")?;
    let pid = answer["pid"].as_u64().unwrap_or(0);
    let deadline = started + ANSWER_TIMEOUT;
    loop {
        if !remote::readable_by(&conn, deadline)? {
            bail!("the daemon (pid {pid}) did not stop within {ANSWER_TIMEOUT:?}");
        }
        match conn.recv_message() {
            Ok(m) if m.is_empty() => break, // end-of-file: shutdown is over
            Ok(_) => continue,              // a message this command does not wait for
            Err(_) => break,                // reset: the daemon is gone
        }
    }
    while socket.exists() {
        if Instant::now() > deadline {
            bail!("the daemon (pid {pid}) stopped but {} is still there", socket.display());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(pid)
}
