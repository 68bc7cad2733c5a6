//! The root's STUN service: answers Binding requests on the data socket (shared with tvmesh by
//! [`tvmesh_core::nat::server::kind`]) and on up to three extra RFC 5780 sockets (alternate port,
//! alternate IP, both), using the core's pure responder.
//!
//! Invariants: no answer exceeds the source's credit ([`Credits`]: bytes received from it, plus one
//! address attribute per request), and all answers to unvalidated sources together stay within a
//! token bucket ([`UNVALIDATED_BYTES_PER_S`]). A full socket drops the answer (STUN clients
//! retransmit); nothing is queued. Extra sockets carry only STUN; anything else there is ignored.

use crate::reactor::{Reactor, Token};
use std::io::{self, ErrorKind};
use std::net::{SocketAddr, UdpSocket};
use tvmesh_core::nat::server::{self, answer, Credits, Kind, Local, ServerAddrs};
use tvmesh_core::nat::RelayBudget;
use tvmesh_core::time::Instant;

/// Source addresses whose credit is tracked at once (memory: ~40 bytes each).
pub const CREDIT_SLOTS: usize = 4096;
/// Bytes per second all unvalidated STUN answers may use together.
pub const UNVALIDATED_BYTES_PER_S: u64 = 256 * 1024;
/// Datagrams read per readiness event on an extra socket.
const RECV_BATCH: usize = 64;

/// The STUN responder with its extra sockets.
pub struct StunService {
    addrs: ServerAddrs,
    extra: Vec<(Local, UdpSocket, Token)>,
    credits: Credits,
    budget: RelayBudget,
    out: [u8; 128],
    /// Answers sent.
    pub answered: u64,
    /// Requests refused by the amplification guard.
    pub refused: u64,
}

impl StunService {
    /// Opens the extra sockets `addrs` names (besides the primary, which the caller owns) and
    /// registers them with tokens from `first_token`.
    pub fn open(
        addrs: ServerAddrs,
        reactor: &Reactor,
        first_token: Token,
        now: Instant,
    ) -> io::Result<StunService> {
        let mut extra = Vec::new();
        for (i, (l, a)) in addrs.locals().skip(1).enumerate() {
            let s = UdpSocket::bind(a)
                .map_err(|e| io::Error::new(e.kind(), format!("STUN socket {a}: {e}")))?;
            s.set_nonblocking(true)?;
            let t = first_token + i as Token;
            reactor.add(&s, t, true, false)?;
            extra.push((l, s, t));
        }
        Ok(StunService {
            addrs,
            extra,
            credits: Credits::new(CREDIT_SLOTS),
            budget: RelayBudget::new(now, UNVALIDATED_BYTES_PER_S, UNVALIDATED_BYTES_PER_S / 4),
            out: [0; 128],
            answered: 0,
            refused: 0,
        })
    }

    /// Lifts the amplification limit for `a`: a box session there echoed its token (it receives).
    pub fn validate(&mut self, a: std::net::SocketAddr) {
        self.credits.validate(a);
    }

    /// The addresses served.
    pub fn addrs(&self) -> &ServerAddrs {
        &self.addrs
    }

    /// Whether `t` is one of the extra sockets.
    pub fn owns(&self, t: Token) -> bool {
        self.extra.iter().any(|e| e.2 == t)
    }

    /// Handles a datagram from the primary socket; false if it is not STUN (the caller passes it
    /// to the tvmesh core).
    pub fn handle_primary(
        &mut self,
        now: Instant,
        from: SocketAddr,
        d: &[u8],
        primary: &UdpSocket,
    ) -> bool {
        if server::kind(d) != Kind::Stun {
            return false;
        }
        self.handle(now, Local::PRIMARY, from, d, primary);
        true
    }

    /// Reads and answers what is waiting on extra socket `t`.
    pub fn handle_ready(&mut self, now: Instant, t: Token, buf: &mut [u8], primary: &UdpSocket) {
        let Some(i) = self.extra.iter().position(|e| e.2 == t) else {
            return;
        };
        for _ in 0..RECV_BATCH {
            let (n, from) = match self.extra[i].1.recv_from(buf) {
                Ok(r) => r,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(_) => continue,
            };
            if server::kind(&buf[..n]) == Kind::Stun {
                let on = self.extra[i].0;
                self.handle(now, on, from, &buf[..n], primary);
            }
        }
    }

    fn handle(&mut self, now: Instant, on: Local, from: SocketAddr, d: &[u8], primary: &UdpSocket) {
        let budget = self.credits.received(from, d.len());
        let Ok(a) = answer(d, from, on, &self.addrs, budget, &mut self.out) else {
            self.refused += 1;
            return;
        };
        if budget != usize::MAX && !self.budget.try_consume(now, a.len) {
            self.refused += 1;
            return;
        }
        let sock = if a.from == Local::PRIMARY {
            Some(primary)
        } else {
            self.extra.iter().find(|e| e.0 == a.from).map(|e| &e.1)
        };
        // `answer` only picks sockets `addrs` has, and `open` bound all of them.
        let Some(sock) = sock else { return };
        if sock.send_to(&self.out[..a.len], from).is_ok() {
            self.credits.sent(from, a.len);
            self.answered += 1;
        }
    }
}
