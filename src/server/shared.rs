//! What every connection of a daemon shares: its functions, settings, census and shutdown bell.

use std::sync::{Arc, Mutex};

use super::census::Census;
use super::peers::{Admission, ConnectionsPerUid};
use crate::layout::ControlConfig;
use crate::registry::manifest::Manifest;
use crate::registry::Registry;
use crate::ring::{Poller, ServiceTimes};
use crate::sys::{Doorbell, SeqConn};

/// What every connection shares.
pub struct Shared {
    /// Daemon name and version, as `welcome` names them.
    pub daemon: String,
    /// The functions.
    pub registry: Arc<Registry>,
    /// Their manifest.
    pub manifest: Manifest,
    /// Channel sizes.
    pub config: ControlConfig,
    /// Spins for every hot channel and serves quick calls (None: never spin).
    pub poller: Option<Arc<Poller>>,
    /// Every function's last service time, for the poller's choice of what to serve inline.
    pub times: Arc<ServiceTimes>,
    /// Per-connection heap limit in bytes (0 = none).
    pub heap_limit: u64,
    /// Whether large heap blocks get huge pages.
    pub huge_pages: bool,
    /// Who may connect.
    pub admission: Admission,
    /// Open connections of each peer uid, against their limit.
    pub connections_per_uid: ConnectionsPerUid,
    /// Channels one connection may open.
    pub max_channels: usize,
    /// Heap blocks one connection may hold at once.
    pub max_blocks: usize,
    /// Control messages per second one connection may send (and as many in a burst).
    pub max_messages_per_second: u32,
    /// The live connections and the call counts, for `status`.
    pub census: Census,
    /// Rung by a `stop` request: the accept loop then shuts down as on SIGTERM.
    pub shutdown: Doorbell,
    /// Connections closed for flooding, for the accept loop to keep open until their clients stop
    /// sending (`Refusals::flood`); each is handed over before `ended` rings for it.
    pub floods: Mutex<Vec<Arc<SeqConn>>>,
    /// Rung as each connection ends, so that the accept loop forgets it at once (and its idle
    /// clock sees the last one end).
    pub ended: Doorbell,
    /// The connections that asked to stop, kept open until shutdown is over: their end-of-file
    /// tells them it is.
    pub stop_waiters: Mutex<Vec<Arc<SeqConn>>>,
}
