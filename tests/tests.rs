//! The integration test harness (one binary, as in ripgrep). One module per concern:
//!
//! - `layout`: every constant in `protocol/constants.toml` equals the Rust one; the layout hash.
//! - `vectors`: the golden byte vectors of `protocol/vectors/<version>/` rebuilt by the daemon's code.
//! - `handshake`: loom models of the sleep handshake between client, poller and channel thread.
//! - `decoding`: property tests feeding arbitrary bytes to the argument decoder: errors, never panics.
//! - `registry`: `export!`/`shm_struct!` signatures, layouts and the manifest.
//! - `serving`: the daemon's end of a ring on a real channel: what publishes a request.
//! - `regression`: one test per fixed bug, named by what broke.
//! - `support`: helpers: invoking a registered function on a payload without a client; a test heap;
//!   copying bytes in and out of a shared segment.

mod decoding;
mod handshake;
mod layout;
mod registry;
mod regression;
mod serving;
mod support;
mod vectors;
