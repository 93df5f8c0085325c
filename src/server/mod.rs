//! The service: the listening socket, the connections (handshake and control messages) and their
//! channels, served by the workers' readiness set (`ring::Workers`), the status report and orderly
//! shutdown.
//!
//! Its files, bottom to top: `report` (the status report's members), `messages` (the socket's
//! messages), `paths` (default socket), `notify` (the service manager), `peers` (who may connect),
//! `refusals` (refused connections until their peers have read why),
//! `census` (who is connected, calls counted), `shared` (what connections share), `admin` (`status`
//! and `stop`), `connection` (one client), `listener` (the accept loop and shutdown).

mod admin;
mod census;
mod connection;
mod listener;
pub mod messages;
mod notify;
pub mod paths;
mod peers;
mod refusals;
pub mod report;
mod shared;

pub use listener::{serve, ServeOptions};
pub use report::StatusReport;
