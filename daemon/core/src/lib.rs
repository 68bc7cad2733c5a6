//! tvmesh-core: the sans-IO heart of tvmesh.
//!
//! Everything that decides — TS chunking, the chunk pool, the wire format, the root's and the box's
//! protocol state machines — lives here as plain data structures. There are no sockets, clocks,
//! threads or files: the crate is `no_std` (with `alloc` for buffers sized once at start-up), so it
//! *cannot* reach them. Time comes in as [`time::Instant`], randomness as a seed.
//!
//! Every state machine is driven the same way (the quinn/str0m contract):
//!
//! 1. feed input: `handle_datagram(now, from, bytes)`, `handle_source(now, bytes)`,
//!    `handle_timeout(now)`;
//! 2. drain output until it returns `None`: `poll_transmit(now, buf)` (datagrams to send),
//!    `poll_event()` (things to log or show);
//! 3. sleep until `poll_timeout()` or until the next input, then go to 1.
//!
//! The daemon (`daemon/shell`) and the swarm simulator (`tools/`) both drive this same code.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod chunk;
pub mod chunker;
pub mod drm;
pub mod input;
pub mod nat;
pub mod output;
pub mod peer;
pub mod pool;
pub mod ring;
pub mod root;
pub mod stun;
pub mod time;
pub mod ts;
pub mod upload;
pub mod wire;
pub mod zap;

/// A datagram to send: `buf[..len]` to `dst`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Destination.
    pub dst: core::net::SocketAddr,
    /// Bytes written into the caller's buffer.
    pub len: usize,
}
