//! The status report: what a daemon answers to `{"op":"status"}` (SPEC §2.3), as the daemon builds
//! it and as the `status` command reads it back. Every member has a default, so a report from a
//! daemon that lacks one still reads.

use serde::{Deserialize, Serialize};

/// A running daemon's state and counts since it started.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StatusReport {
    /// Daemon name (the one its socket is named after).
    pub name: String,
    /// Daemon version.
    pub version: String,
    /// Version of the shmcall library it was built with.
    pub shmcall: String,
    /// Protocol (format) version it speaks.
    pub protocol: u32,
    /// Process id.
    pub pid: u32,
    /// Socket path it listens on.
    pub socket: String,
    /// Seconds since it started serving.
    pub uptime_s: f64,
    /// Connections that completed the handshake and are still open.
    pub clients: u64,
    /// Channels open on them.
    pub channels: u64,
    /// Function calls answered (batches count once, as do calls of unknown ids).
    pub calls: u64,
    /// Requests answered with a failure other than a panic.
    pub errors: u64,
    /// Requests answered with a caught panic.
    pub panics: u64,
    /// Bytes of shared memory mapped for the open connections: heap segments and control segments.
    pub shared_memory_bytes: u64,
    /// Bytes of the heap segments allocated to blocks.
    pub heap_allocated_bytes: u64,
    /// Every exported function, in id order.
    pub functions: Vec<FunctionStatus>,
    /// The reserved requests (SPEC §3.3).
    pub requests: ReservedRequests,
}

/// One exported function's counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FunctionStatus {
    /// Function name.
    pub name: String,
    /// Calls answered.
    pub calls: u64,
    /// Of which failures other than panics.
    pub errors: u64,
    /// Of which caught panics.
    pub panics: u64,
    /// Seconds spent serving them.
    pub total_s: f64,
}

/// Counts of the requests that name no exported function.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReservedRequests {
    /// Batches (each runs one function many times).
    pub batch: u64,
    /// Heap allocations a client asked for.
    pub alloc: u64,
    /// No-operations.
    pub nop: u64,
    /// Calls of a function id the daemon does not have.
    pub unknown_function: u64,
}
