//! The NAT-traversal messages as [`Message`] variants (issue 5): INTRODUCE (0x20), PUNCH (0x21)
//! and PUNCH_ACK (0x22). Their bodies and codecs live in [`crate::nat::punch`]; this file only
//! maps them in and out of [`Message`], so the header's channel field (unused, 0) is ignored.
//! REPORT (0x23, [`crate::nat::report`]) still parses as [`Message::Unknown`]: the root
//! dispatches it on that (`root/session.rs`).
//!
//! Invariants: parsing is the codecs' own, length-checked and panic-free; errors map onto
//! [`WireError`] (a bad address family is a [`WireError::Length`]).

use super::{Message, WireError};
use crate::nat::punch::{Introduce, Probe, PunchError, TYPE_INTRODUCE, TYPE_PUNCH, TYPE_PUNCH_ACK};

fn wire(e: PunchError) -> WireError {
    match e {
        PunchError::Truncated => WireError::Truncated,
        PunchError::Buffer => WireError::Buffer,
        PunchError::Type | PunchError::Family => WireError::Length,
    }
}

/// Parses the whole datagram `d` of type `kind`; `None` if `kind` is not a NAT message.
pub(super) fn parse(kind: u8, d: &[u8]) -> Option<Result<Message<'static>, WireError>> {
    Some(match kind {
        TYPE_INTRODUCE => Introduce::parse(d).map(Message::Introduce).map_err(wire),
        TYPE_PUNCH | TYPE_PUNCH_ACK => Probe::parse(d).map(Message::Probe).map_err(wire),
        _ => return None,
    })
}

/// Emits a NAT message into `buf`; `None` if `m` is not one.
pub(super) fn emit(m: &Message<'_>, buf: &mut [u8]) -> Option<Result<usize, WireError>> {
    Some(match m {
        Message::Introduce(i) => i.encode(buf).map_err(wire),
        Message::Probe(p) => p.encode(buf).map_err(wire),
        _ => return None,
    })
}
