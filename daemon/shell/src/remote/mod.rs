//! The viewer's remote: where keys and zap commands come from.
//!
//! - [`evdev`]: [`Evdev`](evdev::Evdev) reads Linux `input_event` records from an IR receiver's
//!   `/dev/input/eventN` (chosen by path or by device name), optionally grabbed.
//! - [`lirc`]: [`Lirc`](lirc::Lirc) is a client of lircd's socket.
//! - [`control`]: [`ControlServer`](control::ControlServer), a Unix socket taking line commands
//!   (`zap 5`, `zap news`, `up`, `down`, `prev`, `status`) from middleware and tests, and
//!   [`control::parse_query`] for the HTTP server's `/control?cmd=...`.
//!
//! Each input is driven like the sinks in [`crate::io`]: `register(reactor, token)` once; when the
//! token is readable call `on_readable(now)` and feed the keys it yields to
//! [`tvmesh_core::zap::Zapper::handle_key`]; call `service(now, reactor)` when `next_wakeup` has
//! passed (reopen/reconnect). The control server owns a small range of tokens (see
//! [`control::ControlServer::owns`]) and answers each line through a callback.
//!
//! Invariants:
//! - Nothing blocks: every fd is `O_NONBLOCK`; work per call is bounded (records, lines, bytes).
//! - Input from devices, sockets and clients never panics; a line or record that does not parse
//!   is counted and skipped; a lost device or daemon is reopened with backoff.
//! - Buffers are sized once (records, line length, connection count) and never grow.

pub mod control;
pub mod evdev;
pub mod lirc;

use tvmesh_core::input::{Key, KeyValue};

/// One key from a remote: what it means and whether it was pressed, held or released.
pub type KeyInput = (Key, KeyValue);
