//! The asking end of an administrative connection (SPEC §2.3): connect to a running daemon's
//! socket, send `status` or `stop` as the first message, read the one answer.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;

use crate::sys::{poll, SeqConn};

/// How long a daemon has to answer, and `stop` to finish.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends `{"op": op}` to the daemon on `socket` and returns the connection and the daemon's answer,
/// which must be a message `expected`.
pub fn ask(socket: &Path, op: &str, expected: &str) -> anyhow::Result<(SeqConn, Value)> {
    let conn = SeqConn::connect(socket).with_context(|| format!("no daemon is listening on {}", socket.display()))?;
    conn.send(serde_json::json!({ "op": op }).to_string().as_bytes(), &[])
        .with_context(|| format!("cannot send `{op}` to {}", socket.display()))?;
    let deadline = Instant::now() + ANSWER_TIMEOUT;
    if !readable_by(&conn, deadline)? {
        bail!("the daemon on {} did not answer `{op}` within {ANSWER_TIMEOUT:?}", socket.display());
    }
    let bytes = conn.recv_message().context("reading the daemon's answer")?;
    if bytes.is_empty() {
        bail!("the daemon on {} closed the connection without answering `{op}`", socket.display());
    }
    let answer: Value = serde_json::from_slice(&bytes).context("the daemon's answer is not JSON")?;
    match answer["op"].as_str() {
        Some(op) if op == expected => Ok((conn, answer)),
        Some("error") => {
            let (kind, message) = (answer["kind"].as_str().unwrap_or("?"), answer["message"].as_str().unwrap_or(""));
            let hint = if kind == "bad_message" { " (a daemon older than this command does not know it)" } else { "" };
            bail!("the daemon refused `{op}`{hint}: {kind}: {message}")
        }
        _ => bail!("the daemon answered `{op}` with {answer}, not `{expected}`"),
    }
}

/// Waits until `conn` has a message or has closed, or `deadline` passes (false).
pub fn readable_by(conn: &SeqConn, deadline: Instant) -> anyhow::Result<bool> {
    let left = deadline.saturating_duration_since(Instant::now());
    Ok(poll::readable(&[conn.fd()], Some(left))?[0])
}
