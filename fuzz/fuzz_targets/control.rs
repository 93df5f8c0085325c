//! The handshake and control messages (SPEC §2): lines of any bytes, each sent as one message on a
//! fresh connection to a daemon serving in this process. Every message gets one answer the protocol
//! has (`welcome`, `channel`, `status` or an `error` of a known kind); after an `error` (but
//! `resources`, which may refuse one channel only) or a `status` the daemon closes the connection;
//! and when the client closes, so does the daemon, promptly. A `stop` is sent only after another
//! message (which refuses it); as the first it would end the daemon.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use shmcall::server::messages::ClientMessage;
use shmcall::server::{serve, ServeOptions};
use shmcall::sys::{poll, SeqConn};

/// Longest the daemon may take to answer or to close.
const PATIENCE: Duration = Duration::from_secs(10);

/// The daemon's socket; the daemon starts on first use and serves until the process exits.
fn daemon() -> &'static PathBuf {
    static SOCKET: OnceLock<PathBuf> = OnceLock::new();
    SOCKET.get_or_init(|| {
        let socket = std::env::temp_dir().join(format!("shmcall-fuzz-{}", std::process::id())).join("d.sock");
        let opts = ServeOptions { socket: socket.clone(), ..ServeOptions::new("shmcall-fuzz", "0") };
        let registry = shmcall::kernels::registry();
        std::thread::spawn(move || serve(opts, registry).expect("the daemon serves"));
        while SeqConn::connect(&socket).is_err() {
            std::thread::sleep(Duration::from_millis(5));
        }
        socket
    })
}

/// The next message, or None once the daemon has closed the connection.
fn next(conn: &SeqConn) -> Option<Value> {
    assert!(poll::readable(&[conn.fd()], Some(PATIENCE)).unwrap()[0], "the daemon neither answers nor closes");
    let bytes = conn.recv_message().expect("a whole message");
    if bytes.is_empty() {
        return None;
    }
    Some(serde_json::from_slice(&bytes).expect("the daemon sends JSON"))
}

fuzz_target!(|data: &[u8]| {
    let conn = SeqConn::connect(daemon()).expect("the daemon listens");
    let (mut open, mut first) = (true, true);
    for message in data.split(|&b| b == b'\n') {
        if first && matches!(serde_json::from_slice::<ClientMessage>(message), Ok(ClientMessage::Stop {})) {
            continue;
        }
        first = false;
        if conn.send(message, &[]).is_err() {
            break; // the daemon closed the connection (after an error or a status answer)
        }
        let Some(answer) = next(&conn) else {
            open = false;
            break;
        };
        let closes = match answer["op"].as_str() {
            Some("welcome" | "channel") => false,
            Some("status") => true,
            Some("error") => {
                let kind = answer["kind"].as_str().expect("an error has a kind");
                assert!(answer["message"].is_string(), "an error has a message: {answer}");
                assert!(
                    ["version_mismatch", "layout_mismatch", "bad_message", "resources", "not_permitted"]
                        .contains(&kind),
                    "error kind {kind:?}"
                );
                // `resources` leaves the connection open when it refuses one channel too many.
                kind != "resources"
            }
            other => panic!("the daemon answered {other:?}: {answer}"),
        };
        if closes {
            assert!(next(&conn).is_none(), "the daemon closes the connection after {answer}");
            open = false;
            break;
        }
    }
    if open {
        rustix::net::shutdown(conn.fd(), rustix::net::Shutdown::Write).expect("shutdown");
        while next(&conn).is_some() {} // a late `segment` or answer, then the daemon's close
    }
});
