//! The hard side of a birthday punch (issue 5; see `tvmesh_core::nat::birthday`): extra UDP
//! sockets, each mapped by a symmetric NAT to its own public port, and the route from a peer to
//! the one of them its sweep probe landed on.
//!
//! On a [`SprayRequest`] ([`Spray::open`]) the box opens up to `spray_ports` sockets (config,
//! bound to the wildcard address, an ephemeral port each) and sends the request's PUNCH from
//! each at the opener TTL, creating as many mappings toward the easy side; a later request while
//! they are open reuses them. The run loop registers them with its reactor under
//! [`TOKEN_SPRAY`]` + i` and hands readable ones to [`Spray::on_readable`], which passes the
//! datagrams from a sprayed or routed peer on to the core as if they came on the data socket.
//! The first socket a sprayed peer is heard on becomes that peer's route: from then on
//! [`Spray::send`] sends the core's datagrams to that peer through it, so the peer keeps seeing
//! the one mapping that passed its NAT's filter (the core's keepalives, ≤ 25 s, keep it open).
//!
//! Invariants: at most `spray_ports` sockets and [`MAX_ROUTES`] routes; the socket table is
//! allocated once at construction. Sockets that carry no route are closed [`LINGER`] after the
//! last request, or at once when every sprayed peer has a route; a route nobody spoke through
//! for [`ROUTE_IDLE`] is dropped and its socket closed. Per datagram: a scan of [`MAX_ROUTES`]
//! entries and no allocation. A failed bind or send only means fewer ports (logged once per
//! request); errors never reach the run loop.

use crate::reactor::{Reactor, Token};
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;
use tvmesh_core::nat::birthday::SprayRequest;
use tvmesh_core::peer::MAX_PUNCHES;
use tvmesh_core::time::{earliest, Instant};

/// First reactor token of the spray sockets.
pub const TOKEN_SPRAY: Token = 30_000;
/// Peers routed through a spray socket at once (one per punch session).
pub const MAX_ROUTES: usize = MAX_PUNCHES;
/// How long unrouted sockets stay open after the last request (the birthday deadline, 6 s,
/// plus slack).
pub const LINGER: Duration = Duration::from_secs(8);
/// A route not used either way for this long is dropped (three 25 s keepalives and more).
pub const ROUTE_IDLE: Duration = Duration::from_secs(90);
/// Datagrams read per readable socket per pass.
const RECV_BATCH: usize = 16;

#[derive(Copy, Clone, Debug)]
struct Route {
    peer: SocketAddr,
    sock: usize,
    used: Instant,
}

/// Counters for the status page and tests.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct SprayStats {
    /// Spray requests taken.
    pub requests: u64,
    /// Sockets opened in all.
    pub opened: u64,
    /// Routes found (a sweep probe landed).
    pub routes: u64,
    /// Datagrams sent through a route.
    pub routed_out: u64,
    /// Datagrams received on spray sockets and passed on.
    pub routed_in: u64,
}

/// The spray sockets and routes; see the module docs.
pub struct Spray {
    cap: usize,
    socks: Vec<Option<UdpSocket>>,
    /// Each socket's local port (for the log).
    ports: Vec<u16>,
    wanted: [Option<SocketAddr>; MAX_ROUTES],
    close_at: Option<Instant>,
    routes: [Option<Route>; MAX_ROUTES],
    open: usize,
    /// Counters.
    pub stats: SprayStats,
}

impl Spray {
    /// A table for at most `ports` sockets (0: never sprays).
    pub fn new(ports: u16) -> Spray {
        let cap = usize::from(ports);
        Spray {
            cap,
            socks: (0..cap).map(|_| None).collect(),
            ports: vec![0; cap],
            wanted: [None; MAX_ROUTES],
            close_at: None,
            routes: [None; MAX_ROUTES],
            open: 0,
            stats: SprayStats::default(),
        }
    }

    /// Whether `token` is one of the spray sockets'.
    pub fn owns(&self, token: Token) -> bool {
        (TOKEN_SPRAY..TOKEN_SPRAY + self.cap as Token).contains(&token)
    }

    /// Opens the sockets (those not open yet, up to the request's count) and sends the
    /// request's PUNCH from each.
    pub fn open(&mut self, now: Instant, reactor: &Reactor, r: &SprayRequest) {
        self.stats.requests += 1;
        if !self.wanted.contains(&Some(r.dst)) {
            match self.wanted.iter_mut().find(|w| w.is_none()) {
                Some(w) => *w = Some(r.dst),
                None => self.wanted[0] = Some(r.dst),
            }
        }
        self.close_at = Some(now + LINGER);
        let n = usize::from(r.ports).min(self.cap);
        let bind: SocketAddr = if r.dst.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            ([0u16; 8], 0).into()
        };
        let mut failed = None;
        for i in 0..n {
            if self.socks[i].is_none() {
                match open_one(bind, reactor, TOKEN_SPRAY + i as Token) {
                    Ok(s) => {
                        self.ports[i] = s.local_addr().map_or(0, |a| a.port());
                        self.socks[i] = Some(s);
                        self.open += 1;
                        self.stats.opened += 1;
                    }
                    Err(e) => {
                        failed.get_or_insert(e);
                        continue;
                    }
                }
            }
            if let Some(s) = &self.socks[i] {
                let ttl = s.ttl().ok();
                if let (Some(t), Some(_)) = (r.ttl, ttl) {
                    let _ = s.set_ttl(u32::from(t));
                }
                if let Err(e) = s.send_to(&r.probe, r.dst) {
                    failed.get_or_insert(e);
                }
                if let (Some(_), Some(d)) = (r.ttl, ttl) {
                    let _ = s.set_ttl(d);
                }
            }
        }
        if let Some(e) = failed {
            log::warn!("birthday spray toward {}: some ports failed: {e}", r.dst);
        }
        log::info!(
            "birthday spray toward {}: {} ports open",
            r.dst,
            self.open_count()
        );
    }

    /// Reads a readable spray socket, passing datagrams from a sprayed or routed peer to `f`;
    /// the first one from a sprayed peer makes this socket its route.
    pub fn on_readable(
        &mut self,
        now: Instant,
        token: Token,
        buf: &mut [u8],
        mut f: impl FnMut(SocketAddr, &[u8]),
    ) {
        let i = (token - TOKEN_SPRAY) as usize;
        // Out of its slot while read, so `take` may update the routes.
        let Some(s) = self.socks.get_mut(i).and_then(Option::take) else {
            return;
        };
        crate::net::recv_each(&s, buf, RECV_BATCH, |from, d| {
            if self.take(now, i, from) {
                self.stats.routed_in += 1;
                f(from, d);
            }
        });
        self.socks[i] = Some(s);
    }

    /// Whether a datagram from `from` on socket `i` is for the core (routing it if new).
    fn take(&mut self, now: Instant, i: usize, from: SocketAddr) -> bool {
        if let Some(r) = self.routes.iter_mut().flatten().find(|r| r.peer == from) {
            r.used = now;
            return true;
        }
        if !self.wanted.contains(&Some(from)) {
            return false;
        }
        let Some(slot) = self.routes.iter_mut().find(|r| r.is_none()) else {
            return false;
        };
        *slot = Some(Route {
            peer: from,
            sock: i,
            used: now,
        });
        self.stats.routes += 1;
        log::info!(
            "birthday punch: {from} reached spray port {} ({} opened)",
            self.ports[i],
            self.stats.opened
        );
        true
    }

    /// Sends `d` to `dst` through its route, if it has one (true: sent or dropped here; false:
    /// the caller sends it on the data socket).
    pub fn send(&mut self, now: Instant, dst: SocketAddr, d: &[u8]) -> bool {
        let Some(r) = self.routes.iter_mut().flatten().find(|r| r.peer == dst) else {
            return false;
        };
        r.used = now;
        if let Some(Some(s)) = self.socks.get(r.sock) {
            // A full socket buffer drops the datagram, as UDP may.
            let _ = s.send_to(d, dst);
            self.stats.routed_out += 1;
        }
        true
    }

    /// Closes what is no longer needed: unrouted sockets after [`LINGER`] (or once every
    /// sprayed peer has a route), idle routes.
    pub fn handle_timeout(&mut self, now: Instant, reactor: &Reactor) {
        for r in self.routes.iter_mut() {
            if r.is_some_and(|r| now >= r.used + ROUTE_IDLE) {
                *r = None;
            }
        }
        let all_routed = self
            .wanted
            .iter()
            .flatten()
            .all(|w| self.routes.iter().flatten().any(|r| r.peer == *w));
        let expired = self.close_at.is_some_and(|t| now >= t);
        if expired || (all_routed && self.close_at.is_some()) {
            self.close_at = None;
            self.wanted = [None; MAX_ROUTES];
        }
        let routed = |i: usize| self.routes.iter().flatten().any(|r| r.sock == i);
        let keep = self.routes.iter().flatten().count();
        if self.close_at.is_some() || self.open <= keep {
            return;
        }
        for i in 0..self.socks.len() {
            if !routed(i) {
                if let Some(s) = self.socks[i].take() {
                    reactor.remove(&s);
                    self.open -= 1;
                }
            }
        }
    }

    /// When [`Spray::handle_timeout`] has work next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.routes
            .iter()
            .flatten()
            .map(|r| r.used + ROUTE_IDLE)
            .fold(self.close_at, |a, t| earliest(a, Some(t)))
    }

    /// Sockets open now.
    pub fn open_count(&self) -> usize {
        self.open
    }
}

fn open_one(bind: SocketAddr, reactor: &Reactor, token: Token) -> std::io::Result<UdpSocket> {
    let s = UdpSocket::bind(bind)?;
    s.set_nonblocking(true)?;
    reactor.add(&s, token, true, false)?;
    Ok(s)
}

#[cfg(test)]
mod tests;
