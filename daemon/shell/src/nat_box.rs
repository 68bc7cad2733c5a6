//! The box's own NAT classification, run on its tvmesh DATA socket (issue 5, box side).
//!
//! At start, then every [`RECLASSIFY_EVERY`] (or [`RETRY_AFTER`] after a run with no answer at
//! all), the box runs the core's RFC 5780 [`Classifier`] from the same UDP socket it uses for
//! tvmesh, so the public address it learns is the very mapping the root and partners see. The
//! server is the root's data address (its alternate IP/port come from OTHER-ADDRESS in the first
//! answer), or the configured `stun_server` (resolved at the start of each run; a plain STUN
//! server gives only the public address, and the type stays `unknown`).
//!
//! Demultiplexing (the run loop): every datagram on the data socket goes through
//! [`tvmesh_core::nat::server::kind`]; STUN goes to [`NatBox::handle_stun`] and is dropped if the
//! classifier does not want it (stale or foreign answers, counted in `stun_ignored`), everything
//! else goes to the core `Peer` as before.
//!
//! Invariants: at most one classifier runs at a time and each run is bounded by the classifier's
//! own retransmit limits (`5 · RTO · (2^TRIES − 1)` = 8.75 s here); nothing is allocated per
//! datagram (the classifier writes into the caller's transmit buffer). The last report with an
//! answer stays shown while a new run is under way, and a run with no answer does not erase it.
//! Blocking work (DNS for `stun_server`, a connect() to learn the local IP) happens only when a
//! run starts, never per datagram.

pub mod spray;

use crate::status::PathStatus;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::Duration;
use tvmesh_core::nat::report::NatCode;
use tvmesh_core::nat::{Classifier, ClassifyConfig, NatReport};
use tvmesh_core::peer::Peer;
use tvmesh_core::time::Instant;
use tvmesh_core::Transmit;

/// Time between classifications once one has succeeded (NAT mappings and routers change).
pub const RECLASSIFY_EVERY: Duration = Duration::from_secs(300);
/// Time before trying again after a run that got no answer at all.
pub const RETRY_AFTER: Duration = Duration::from_secs(30);
/// The classifier's initial retransmission timeout per request.
pub const RTO: Duration = Duration::from_millis(250);
/// Requests per classifier test (each test then waits at most 7 · [`RTO`]).
pub const TRIES: u8 = 3;

/// What the status page shows about the box's NAT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatView {
    /// `open`, `full-cone`, `restricted-cone`, `port-restricted-cone`, `symmetric`, `unknown`.
    pub kind: &'static str,
    /// Mapping behaviour name (RFC 4787).
    pub mapping: &'static str,
    /// Filtering behaviour name (RFC 4787).
    pub filtering: &'static str,
    /// The box's address as the STUN server saw it.
    pub public_addr: Option<SocketAddr>,
    /// Runs finished so far.
    pub runs: u64,
}

/// Where the classifier asks.
#[derive(Clone, Debug)]
enum Target {
    /// The root's data address (tvmesh and STUN on one port).
    Root(SocketAddr),
    /// A configured standard STUN server, `HOST:PORT`.
    Server(String),
}

/// The box's NAT classification; see the module docs. Driven like a core state machine:
/// [`NatBox::poll_transmit`] until `None`, [`NatBox::handle_stun`] for STUN datagrams,
/// [`NatBox::handle_timeout`] at [`NatBox::poll_timeout`].
pub struct NatBox {
    target: Target,
    /// The data socket's bound address (IP may be unspecified).
    bound: SocketAddr,
    run: Option<Classifier>,
    next_run: Instant,
    last: Option<NatReport>,
    seed: u64,
    runs: u64,
    /// STUN datagrams the classifier did not take.
    pub stun_ignored: u64,
}

impl NatBox {
    /// Classifies against `stun_server` if given, else against the root at `root`; the first
    /// run starts at `now`.
    pub fn new(
        root: SocketAddr,
        stun_server: Option<&str>,
        bound: SocketAddr,
        seed: u64,
        now: Instant,
    ) -> NatBox {
        NatBox {
            target: match stun_server {
                Some(s) => Target::Server(s.to_string()),
                None => Target::Root(root),
            },
            bound,
            run: None,
            next_run: now,
            last: None,
            seed,
            runs: 0,
            stun_ignored: 0,
        }
    }

    /// Starts a run if one is due (resolving the server and the local address first).
    fn maybe_start(&mut self, now: Instant) {
        if self.run.is_some() || now < self.next_run {
            return;
        }
        let server = match &self.target {
            Target::Root(a) => Some(*a),
            Target::Server(s) => resolve(s, self.bound),
        };
        let Some(server) = server else {
            if let Target::Server(s) = &self.target {
                log::warn!("stun_server: cannot resolve `{s}`; retrying later");
            }
            self.next_run = now + RETRY_AFTER;
            return;
        };
        self.runs += 1;
        self.run = Some(Classifier::new(ClassifyConfig {
            server,
            alt: None,
            local: local_toward(self.bound, server),
            rto: RTO,
            max_tries: TRIES,
            pad: true,
            seed: self.seed ^ self.runs.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        }));
    }

    /// The next STUN request to send, written into `buf`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.maybe_start(now);
        self.run.as_mut()?.poll_transmit(now, buf)
    }

    /// When to call [`NatBox::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.run {
            Some(c) => c.poll_timeout(),
            None => Some(self.next_run),
        }
    }

    /// Advances the classifier's timers; finishes a run whose tests are all done.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(c) = self.run.as_mut() {
            c.handle_timeout(now);
        }
        self.finish_if_done(now);
        self.maybe_start(now);
    }

    /// A STUN datagram from the data socket. Returns whether the classifier took it.
    pub fn handle_stun(&mut self, now: Instant, from: SocketAddr, d: &[u8]) -> bool {
        let took = self
            .run
            .as_mut()
            .is_some_and(|c| c.handle_response(now, from, d));
        if took {
            self.finish_if_done(now);
        } else {
            self.stun_ignored += 1;
        }
        took
    }

    fn finish_if_done(&mut self, now: Instant) {
        let Some(r) = self.run.as_ref().and_then(Classifier::report) else {
            return;
        };
        self.run = None;
        if r.public_addr.is_some() {
            if self.last.is_none_or(|l| l.type_name() != r.type_name()) {
                log::info!(
                    "NAT: {} (mapping {}, filtering {}), public address {}",
                    r.type_name(),
                    r.mapping.name(),
                    r.filtering.name(),
                    r.public_addr.map_or(String::new(), |a| a.to_string())
                );
            }
            self.last = Some(r);
            self.next_run = now + RECLASSIFY_EVERY;
        } else {
            log::warn!("NAT: no STUN answer; classifying again in {RETRY_AFTER:?}");
            self.next_run = now + RETRY_AFTER;
        }
    }

    /// The last result with an answer (`unknown` before any).
    pub fn view(&self) -> NatView {
        let (kind, mapping, filtering, public_addr) = match &self.last {
            Some(r) => (
                r.type_name(),
                r.mapping.name(),
                r.filtering.name(),
                r.public_addr,
            ),
            None => ("unknown", "unknown", "unknown", None),
        };
        NatView {
            kind,
            mapping,
            filtering,
            public_addr,
            runs: self.runs - u64::from(self.run.is_some()),
        }
    }
}

impl NatBox {
    /// The last classification as the one byte a REPORT carries (unknown before any).
    pub fn code(&self) -> NatCode {
        self.last.as_ref().map_or(NatCode::Unknown, NatCode::of)
    }
}

/// The introduced peers of `peer` for `status.json`.
pub fn paths(peer: &Peer) -> Vec<PathStatus> {
    peer.punch_info()
        .map(|i| PathStatus {
            peer: i.peer.to_string(),
            path: i.path.name(),
            addr: i.path_addr.map(|a| a.to_string()),
            ms: i.after_ms,
            partner: i
                .path_addr
                .is_some_and(|a| peer.partner_info().any(|p| p.up && p.addr == a)),
        })
        .collect()
}

/// Sends punch openers with a small TTL (issue 5): switches the data socket's IP TTL per
/// datagram and back. Works on a duplicate of the socket's descriptor (same socket), so the run
/// loop's send path stays as it is. IPv4 only (`IP_TTL`); on IPv6 sockets the switch fails and
/// openers go at the default hop limit, which only costs the conntrack protection.
pub struct TtlSwitch {
    sock: UdpSocket,
    default: u32,
    current: u32,
}

impl TtlSwitch {
    /// Reads the socket's default TTL.
    pub fn new(sock: &UdpSocket) -> std::io::Result<TtlSwitch> {
        let sock = sock.try_clone()?;
        let default = sock.ttl()?;
        Ok(TtlSwitch {
            sock,
            default,
            current: default,
        })
    }

    /// Sets the TTL for the next datagram (`None`: the default). Always true, so it chains into
    /// the transmit closure; a failed setsockopt leaves the default TTL in place.
    pub fn set(&mut self, ttl: Option<u8>) -> bool {
        let want = ttl.map_or(self.default, u32::from);
        if want != self.current && self.sock.set_ttl(want).is_ok() {
            self.current = want;
        }
        true
    }
}

/// Resolves `HOST:PORT`, preferring the bound socket's address family.
fn resolve(s: &str, bound: SocketAddr) -> Option<SocketAddr> {
    let all: Vec<SocketAddr> = s.to_socket_addrs().ok()?.collect();
    all.iter()
        .find(|a| a.is_ipv4() == bound.is_ipv4())
        .or(all.first())
        .copied()
}

/// The data socket's address as seen on the way to `server`: the bound IP, or, when bound to the
/// unspecified address, the source IP the kernel picks for `server` (learnt with a connect() on a
/// throw-away socket, which sends nothing). `None` if that fails: "open" is then never reported.
pub fn local_toward(bound: SocketAddr, server: SocketAddr) -> Option<SocketAddr> {
    if !bound.ip().is_unspecified() {
        return Some(bound);
    }
    let probe = UdpSocket::bind(SocketAddr::new(bound.ip(), 0)).ok()?;
    probe.connect(server).ok()?;
    Some(SocketAddr::new(probe.local_addr().ok()?.ip(), bound.port()))
}

#[cfg(test)]
mod tests;
