//! The root's STUN Binding responder (RFC 8489, with RFC 5780 behaviour discovery).
//!
//! The root's UDP port carries both tvmesh and STUN; [`kind`] tells them apart by the first byte
//! (tvmesh: 0xC1; STUN: top two bits 0) and the magic cookie. [`answer`] is a pure function from
//! one request to one response written into the caller's buffer, plus which of the root's local
//! sockets must send it ([`Local`]: CHANGE-REQUEST asks for another IP and/or port).
//!
//! # No amplification
//!
//! A spoofed source must not turn the root into a reflector. The caller passes a byte `budget`:
//! what the root may send to that source now. [`Credits`] keeps it per source address: every
//! datagram received adds its length, every answer subtracts its length, so a source that never
//! proved it can receive gets at most the bytes it sent, summed. Because one plain RFC 8489
//! request is 20 bytes and the smallest useful answer (header + XOR-MAPPED-ADDRESS) is 32 (IPv4)
//! or 44 (IPv6), and standard clients such as coturn's `turnutils_stunclient` send exactly one
//! 20-byte request and no retransmission (measured: `000100002112a442` + 12-byte id), a credit of
//! exactly one address attribute ([`Credits::grace`]) is allowed per request: the answer to an
//! unpadded request is at most the request plus the address it reports. Answers come in two
//! sizes, picked by budget:
//! - minimal: XOR-MAPPED-ADDRESS only (32 / 44 bytes);
//! - full: XOR-MAPPED-ADDRESS, RESPONSE-ORIGIN, OTHER-ADDRESS (when an alternate exists),
//!   FINGERPRINT (64 / 100 bytes with an alternate).
//!
//! Clients that want the full answer at once (tvmesh's own classifier) pad their request with
//! PADDING to at least the answer's size. A source marked validated (it completed a tvmesh
//! handshake) has no limit. The shell additionally caps all unvalidated answers with a
//! [`RelayBudget`](super::punch::RelayBudget) token bucket.
//!
//! Invariants: [`answer`] never panics on any input, never writes past `out`, and never returns an
//! answer longer than `budget`. [`Credits`] is a fixed table sized once; a collision evicts the
//! older source's credit, which can only lower what the root may send.

use crate::stun::{self, Builder, Class, Stun, StunError};
use alloc::vec;
use alloc::vec::Vec;
use core::net::{IpAddr, SocketAddr};

/// What a datagram on the shared port is.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A STUN message (first two bits 0, magic cookie, sane length).
    Stun,
    /// A tvmesh datagram (first byte [`crate::wire::MAGIC`]).
    Tvmesh,
    /// Neither.
    Other,
}

/// Classifies a datagram on the shared port.
pub fn kind(d: &[u8]) -> Kind {
    if d.first() == Some(&crate::wire::MAGIC) {
        return Kind::Tvmesh;
    }
    if stun::is_stun(d) {
        let len = usize::from(u16::from_be_bytes([d[2], d[3]]));
        if len % 4 == 0 && stun::HEADER + len <= d.len() {
            return Kind::Stun;
        }
    }
    Kind::Other
}

/// One of the root's (up to four) STUN sockets: primary or alternate IP × primary or alternate
/// port, as RFC 5780 §3 lays them out.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Local {
    /// On the alternate IP.
    pub alt_ip: bool,
    /// On the alternate port.
    pub alt_port: bool,
}

impl Local {
    /// The primary socket (the tvmesh data port).
    pub const PRIMARY: Local = Local {
        alt_ip: false,
        alt_port: false,
    };
}

/// The root's STUN addresses: the primary, and optionally an alternate port and/or IP.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ServerAddrs {
    /// The primary address (the tvmesh data socket).
    pub primary: SocketAddr,
    /// Alternate port (on both IPs).
    pub alt_port: Option<u16>,
    /// Alternate IP (same family as the primary).
    pub alt_ip: Option<IpAddr>,
}

impl ServerAddrs {
    /// The address of socket `l`, if configured.
    pub fn addr(&self, l: Local) -> Option<SocketAddr> {
        let ip = if l.alt_ip {
            self.alt_ip?
        } else {
            self.primary.ip()
        };
        let port = if l.alt_port {
            self.alt_port?
        } else {
            self.primary.port()
        };
        Some(SocketAddr::new(ip, port))
    }

    /// Every configured socket, primary first.
    pub fn locals(&self) -> impl Iterator<Item = (Local, SocketAddr)> + '_ {
        [(false, false), (false, true), (true, false), (true, true)]
            .into_iter()
            .map(|(alt_ip, alt_port)| Local { alt_ip, alt_port })
            .filter_map(|l| self.addr(l).map(|a| (l, a)))
    }

    /// OTHER-ADDRESS as seen from socket `on`: the one differing in both IP and port, else in
    /// whichever exists.
    pub fn other(&self, on: Local) -> Option<SocketAddr> {
        let flip = |ip: bool, port: bool| Local {
            alt_ip: on.alt_ip ^ ip,
            alt_port: on.alt_port ^ port,
        };
        self.addr(flip(true, true))
            .or_else(|| self.addr(flip(false, true)))
            .or_else(|| self.addr(flip(true, false)))
    }
}

/// Why a datagram gets no answer.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ServerError {
    /// Not a well-formed STUN message.
    Malformed(StunError),
    /// STUN, but not a Binding request (responses, indications, other methods are dropped).
    NotBindingRequest,
    /// CHANGE-REQUEST asks for an IP or port this root does not have.
    ChangeUnavailable,
    /// Even the minimal answer exceeds the budget for this source.
    Budget,
    /// The output buffer is too small (a caller bug).
    Buffer,
}

/// An answer written into the caller's buffer.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// Bytes written.
    pub len: usize,
    /// The socket that must send it (CHANGE-REQUEST honoured).
    pub from: Local,
    /// Whether this is the full answer (RESPONSE-ORIGIN, OTHER-ADDRESS, FINGERPRINT).
    pub full: bool,
}

impl From<StunError> for ServerError {
    fn from(e: StunError) -> Self {
        match e {
            StunError::Buffer => ServerError::Buffer,
            e => ServerError::Malformed(e),
        }
    }
}

/// Answers one Binding request `req` from `src`, received on socket `on`, into `out`, using at
/// most `budget` bytes. Pure: the same inputs give the same bytes.
pub fn answer(
    req: &[u8],
    src: SocketAddr,
    on: Local,
    addrs: &ServerAddrs,
    budget: usize,
    out: &mut [u8],
) -> Result<Answer, ServerError> {
    let m = Stun::parse(req)?;
    if !m.is_binding_request() {
        return Err(ServerError::NotBindingRequest);
    }
    let (ci, cp) = m.change_request().unwrap_or((false, false));
    let from = Local {
        alt_ip: on.alt_ip ^ ci,
        alt_port: on.alt_port ^ cp,
    };
    let origin = addrs.addr(from).ok_or(ServerError::ChangeUnavailable)?;
    let full = {
        let mut b = Builder::binding(Class::Success, m.txid, out)?;
        b.xor_mapped(src)?.response_origin(origin)?;
        if let Some(o) = addrs.other(from) {
            b.other_address(o)?;
        }
        b.finish_with_fingerprint()?
    };
    if full <= budget {
        return Ok(Answer {
            len: full,
            from,
            full: true,
        });
    }
    let len = Builder::binding(Class::Success, m.txid, out)?
        .xor_mapped(src)?
        .finish();
    if len > budget {
        return Err(ServerError::Budget);
    }
    Ok(Answer {
        len,
        from,
        full: false,
    })
}

/// Per-source byte credit: received minus answered, in a fixed table.
///
/// Slots are picked by a hash of the address; a different address in the slot is evicted (its
/// credit is lost, which is safe). Validated sources have unlimited credit until evicted.
pub struct Credits {
    slots: Vec<Option<(SocketAddr, u32)>>,
}

const VALIDATED: u32 = u32::MAX;

impl Credits {
    /// A table of `slots` entries (at least 1), allocated now.
    pub fn new(slots: usize) -> Credits {
        Credits {
            slots: vec![None; slots.max(1)],
        }
    }

    /// The extra bytes one request may earn: one address attribute of `src`'s family, so the
    /// answer to a plain request is the request plus the address it reports.
    pub fn grace(src: SocketAddr) -> usize {
        if src.is_ipv4() {
            12
        } else {
            24
        }
    }

    fn index(&self, a: SocketAddr) -> usize {
        // FNV-1a over address and port.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |b: u8| h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        match a.ip() {
            IpAddr::V4(ip) => ip.octets().into_iter().for_each(&mut eat),
            IpAddr::V6(ip) => ip.octets().into_iter().for_each(&mut eat),
        }
        a.port().to_be_bytes().into_iter().for_each(&mut eat);
        (h % self.slots.len() as u64) as usize
    }

    fn slot(&mut self, a: SocketAddr) -> &mut u32 {
        let i = self.index(a);
        let s = &mut self.slots[i];
        if s.is_none_or(|(x, _)| x != a) {
            *s = Some((a, 0));
        }
        match s {
            Some((_, c)) => c,
            // Just set to Some above.
            None => unreachable!(),
        }
    }

    /// Records `n` bytes received from `a`; returns what may be sent to `a` now (credit plus
    /// [`Credits::grace`]).
    pub fn received(&mut self, a: SocketAddr, n: usize) -> usize {
        let c = self.slot(a);
        if *c != VALIDATED {
            *c = c
                .saturating_add(u32::try_from(n).unwrap_or(u32::MAX))
                .min(VALIDATED - 1);
            return *c as usize + Credits::grace(a);
        }
        usize::MAX
    }

    /// Records `n` bytes sent to `a`.
    pub fn sent(&mut self, a: SocketAddr, n: usize) {
        let c = self.slot(a);
        if *c != VALIDATED {
            *c = c.saturating_sub(u32::try_from(n).unwrap_or(u32::MAX));
        }
    }

    /// Marks `a` as validated (it proved it receives: e.g. a tvmesh handshake completed).
    pub fn validate(&mut self, a: SocketAddr) {
        *self.slot(a) = VALIDATED;
    }
}

#[cfg(test)]
mod tests;
