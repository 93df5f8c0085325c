//! The service: the listening socket, one thread per connection doing the handshake and control
//! messages, one thread per channel serving the ring, and orderly shutdown.

mod connection;
mod listener;
pub mod messages;
pub mod paths;

pub use listener::{serve, ServeOptions};
