//! Control messages on the socket (SPEC §2): one JSON object per seqpacket message, tagged by `op`.
//! Descriptors travel as `SCM_RIGHTS` with the message that names them. A connection may send only
//! so many a second (`MessageRate`): a flood closes it.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::report::StatusReport;
use crate::registry::manifest::Manifest;

/// Largest control message a client may send (SPEC §2.2; the daemon's own messages are sized by
/// what they carry). A protocol rule, not a setting: every client message is far smaller, and each
/// connection's receive buffer is this large.
pub const MAX_CLIENT_MESSAGE: usize = 64 * 1024;

/// A token bucket over one connection's control messages: `per_second` tokens a second, at most
/// `per_second` saved (the burst). Each message takes one; a connection with none left is flooding.
#[derive(Debug)]
pub struct MessageRate {
    per_second: u32,
    tokens: f64,
    last: Instant,
}

impl MessageRate {
    /// A full bucket at `now`, refilled at `per_second` (at least 1).
    pub fn new(per_second: u32, now: Instant) -> MessageRate {
        let per_second = per_second.max(1);
        MessageRate { per_second, tokens: f64::from(per_second), last: now }
    }

    /// Takes a token for a message received at `now`; false if none is left.
    pub fn take(&mut self, now: Instant) -> bool {
        let rate = f64::from(self.per_second);
        let earned = now.saturating_duration_since(self.last).as_secs_f64() * rate;
        self.tokens = (self.tokens + earned).min(rate);
        self.last = self.last.max(now);
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }

    /// The refusal's message when `take` failed.
    pub fn refusal(&self) -> String {
        format!(
            "more than {} control messages a second on one connection (`serve --max-messages-per-second N` \
             raises the limit): the connection is closed",
            self.per_second
        )
    }
}

/// Messages a client sends.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// First message: the client's protocol version and layout hash.
    Hello {
        /// Protocol version the client speaks.
        protocol: u32,
        /// Layout hash the client computed (hex).
        layout_hash: String,
        /// Free-form client description for logs.
        #[serde(default)]
        client: String,
    },
    /// Asks for a new channel (one per client thread).
    OpenChannel,
    /// First message of an administrative connection: asks for the daemon's status report.
    Status {},
    /// First message of an administrative connection: asks the daemon to shut down gracefully.
    Stop {},
}

/// Messages the daemon sends.
#[derive(Debug, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum DaemonMessage<'a> {
    /// Handshake accepted: here is what the daemon serves.
    Welcome {
        /// Protocol version.
        protocol: u32,
        /// Layout hash (hex).
        layout_hash: String,
        /// Daemon name and version.
        daemon: String,
        /// Every function and struct type.
        manifest: &'a Manifest,
    },
    /// A new channel; descriptors: control segment, request doorbell, response doorbell.
    Channel {
        /// Channel id.
        id: u32,
        /// Control segment size in bytes.
        size: u64,
    },
    /// A new heap segment; descriptor: the memfd.
    Segment {
        /// Segment number (from 1).
        id: u32,
        /// Size in bytes.
        size: u64,
    },
    /// Answer to `status`; the daemon then closes the connection.
    Status(&'a StatusReport),
    /// Answer to `stop`: shutdown has begun; the daemon closes the connection when it is over.
    Stopping {
        /// The daemon's process id.
        pid: u32,
    },
    /// A refusal; the daemon closes the connection after a handshake error.
    Error {
        /// `version_mismatch`, `layout_mismatch`, `bad_message`, `resources` (a per-client limit, or
        /// the daemon's own resources) or `not_permitted`.
        kind: &'static str,
        /// What happened, with expected and found values.
        message: String,
    },
}

impl DaemonMessage<'_> {
    /// The message as JSON bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("daemon messages serialize")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_parse_and_unknown_ones_fail() {
        let m: ClientMessage = serde_json::from_str(r#"{"op":"hello","protocol":1,"layout_hash":"ab"}"#).unwrap();
        assert_eq!(m, ClientMessage::Hello { protocol: 1, layout_hash: "ab".into(), client: String::new() });
        assert!(serde_json::from_str::<ClientMessage>(r#"{"op":"format_disk"}"#).is_err());
        assert!(
            serde_json::from_str::<ClientMessage>(r#"{"op":"hello","protocol":1,"layout_hash":"ab","x":1}"#).is_err()
        );
        assert_eq!(serde_json::from_str::<ClientMessage>(r#"{"op":"status"}"#).unwrap(), ClientMessage::Status {});
        assert_eq!(serde_json::from_str::<ClientMessage>(r#"{"op":"stop"}"#).unwrap(), ClientMessage::Stop {});
        assert!(serde_json::from_str::<ClientMessage>(r#"{"op":"stop","now":true}"#).is_err(), "no members");
    }

    #[test]
    fn message_rate_allows_a_burst_then_its_rate_and_saves_no_more_than_a_burst() {
        use std::time::Duration;
        let t0 = Instant::now();
        let mut rate = MessageRate::new(10, t0);
        assert!((0..10).all(|_| rate.take(t0)), "a full second's worth at once");
        assert!(!rate.take(t0), "then nothing until time passes");
        assert!(rate.take(t0 + Duration::from_millis(100)), "a tenth of a second earns one");
        assert!(!rate.take(t0 + Duration::from_millis(100)));
        let later = t0 + Duration::from_secs(3600);
        assert_eq!((0..100).filter(|_| rate.take(later)).count(), 10, "an idle hour still saves one burst");
        assert!(!rate.take(t0), "a clock that goes back earns nothing");
        assert!(rate.refusal().contains("more than 10 control messages a second"));
        assert!(rate.refusal().contains("--max-messages-per-second"));
        let mut slowest = MessageRate::new(0, t0);
        assert!(slowest.take(t0) && !slowest.take(t0), "a rate of 0 is taken as 1");
    }

    #[test]
    fn admin_answers_carry_their_op() {
        let report = StatusReport { name: "geo".into(), calls: 3, ..StatusReport::default() };
        let json: serde_json::Value = serde_json::from_slice(&DaemonMessage::Status(&report).to_bytes()).unwrap();
        assert_eq!(
            (json["op"].as_str(), json["name"].as_str(), json["calls"].as_u64()),
            (Some("status"), Some("geo"), Some(3))
        );
        let back: StatusReport = serde_json::from_value(json).unwrap();
        assert_eq!(back, report, "the command reads back what the daemon sent (an extra `op` is ignored)");
        let stopping = DaemonMessage::Stopping { pid: 7 }.to_bytes();
        assert_eq!(std::str::from_utf8(&stopping).unwrap(), r#"{"op":"stopping","pid":7}"#);
    }
}
