//! The box's side of NAT traversal (issue 5): REPORT to the root, punch on INTRODUCE, greet over
//! the path found.
//!
//! Once the shell has told it its host address ([`Peer::set_nat`]; a box that never learns it
//! never reports and is never introduced), the box tells the root that address and its NAT type
//! in a REPORT ([`crate::nat::report`]) after each JOIN_ACK, when the shell learns something new
//! ([`Peer::set_nat`]), and every [`REPORT_EVERY`]. On an INTRODUCE from the root it runs a
//! [`Punch`] session with the named peer on the data socket (first round with the TTL-2 openers:
//! the shell sends each datagram with [`Peer::transmit_ttl`]). When the punch connects, the box
//! greets the peer (HELLO) at the address that answered, so the partnership is an ordinary one
//! from then on; the punch session stays to keep the mapping open (a PUNCH every 25 s at most,
//! besides the partners' own buffer maps every `map_interval`). When the INTRODUCE's NAT byte and
//! the box's own NAT make it one side of a cone ↔ symmetric pair, the session is a birthday punch
//! ([`crate::nat::birthday`]): an easy side sweeps the peer's ports from the data socket; a hard
//! side (only if the shell said it can open [`Peer::set_spray_ports`] sockets) hands the shell a
//! [`SprayRequest`] ([`Peer::poll_spray`]) and the shell routes the peer's traffic through the
//! socket that got the answer. A punch that fails leaves the box
//! to the peers that can reach it and the root (the relay, `root/relay.rs`: the root's SUBACK
//! marks relayed substreams, whose bytes the box counts in [`Peer::bytes_relayed`]).
//!
//! Invariants: at most [`MAX_PUNCHES`] sessions, in a table allocated at construction; only an
//! INTRODUCE from the root's address starts one; PUNCH / PUNCH_ACK change only the session whose
//! nonce they carry; a new introduction replaces a finished session, else the oldest one that is
//! not a partner's path, else it is dropped. Results stay readable for the status page until the
//! slot is reused.

use super::partner::Partner;
use super::*;
use crate::nat::birthday::{self, BirthdayConfig, SprayRequest};
use crate::nat::punch::{
    CandKind, Introduce, Punch, PunchConfig, PunchEvent, TYPE_INTRODUCE, TYPE_PUNCH, TYPE_PUNCH_ACK,
};
use crate::nat::report::{NatCode, Report};

/// Punch sessions at once.
pub const MAX_PUNCHES: usize = 8;
/// REPORT interval (the root forgets a box when its session ends; a report also survives loss).
pub const REPORT_EVERY: Duration = Duration::from_secs(10);

/// How a path to an introduced peer turned out.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PathKind {
    /// Still punching.
    Punching,
    /// Connected at the peer's public (or peer-reflexive) address.
    Direct,
    /// Connected at the peer's private address (same NAT).
    Private,
    /// No path: the peer is out of reach; the box is fed by others (relay).
    Relay,
    /// Was connected, then went silent.
    Lost,
}

impl PathKind {
    /// Name for status pages.
    pub fn name(self) -> &'static str {
        match self {
            PathKind::Punching => "punching",
            PathKind::Direct => "direct",
            PathKind::Private => "private",
            PathKind::Relay => "relay",
            PathKind::Lost => "lost",
        }
    }
}

/// One introduced peer as seen from this box.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct PunchInfo {
    /// The peer's public address (as the root saw it).
    pub peer: SocketAddr,
    /// The address in use once connected.
    pub path_addr: Option<SocketAddr>,
    /// What came of it.
    pub path: PathKind,
    /// Time from the introduction to the decision (ms).
    pub after_ms: u32,
}

struct Slot {
    punch: Punch,
    session: u32,
    info: PunchInfo,
}

/// The box's punch table and what it reports to the root.
pub struct Punches {
    slots: [Option<Slot>; MAX_PUNCHES],
    nat: NatCode,
    private: Option<SocketAddr>,
    reported: Option<(u32, Instant)>,
    ttl: Option<u8>,
    cursor: usize,
    spray_ports: u16,
    /// Introductions taken.
    pub intros: u64,
    /// Substreams the root relays to us (its last SUBACK, bits 4–7 of `accepted`).
    pub relayed: u8,
    /// Bytes of relayed chunks received.
    pub bytes_relayed: u64,
}

impl Punches {
    /// An empty table.
    pub fn new() -> Punches {
        Punches {
            slots: core::array::from_fn(|_| None),
            nat: NatCode::Unknown,
            private: None,
            reported: None,
            ttl: None,
            cursor: 0,
            spray_ports: 0,
            intros: 0,
            relayed: 0,
            bytes_relayed: 0,
        }
    }
}

impl Default for Punches {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether a datagram is one of the NAT-traversal types this module handles.
pub fn is_nat(d: &[u8]) -> bool {
    d.len() >= 2
        && d[0] == crate::wire::MAGIC
        && matches!(d[1], TYPE_INTRODUCE | TYPE_PUNCH | TYPE_PUNCH_ACK)
}

impl Peer {
    /// What the shell learnt about the box's address: its NAT type and its host address on the
    /// data socket. Sent to the root at once (and again every [`REPORT_EVERY`]).
    pub fn set_nat(&mut self, nat: NatCode, private: Option<SocketAddr>) {
        if (nat, private) != (self.nat.nat, self.nat.private) {
            self.nat.nat = nat;
            self.nat.private = private;
            self.nat.reported = None;
        }
    }

    /// How many extra sockets the shell opens for a birthday punch on the hard side (0, the
    /// default: the box never sprays, and as a hard side punches the plain way).
    pub fn set_spray_ports(&mut self, ports: u16) {
        self.nat.spray_ports = ports;
    }

    /// The next spray the shell must do for a birthday punch (hard side; see
    /// [`crate::nat::birthday`]).
    pub fn poll_spray(&mut self) -> Option<SprayRequest> {
        self.nat
            .slots
            .iter_mut()
            .flatten()
            .find_map(|s| s.punch.poll_spray())
    }

    /// The TTL the datagram last returned by [`Peer::poll_transmit`] must be sent with (`None`:
    /// the socket's default). Only punch openers set one.
    pub fn transmit_ttl(&self) -> Option<u8> {
        self.nat.ttl
    }

    /// Bytes the root relayed to this box (`root/relay.rs`): chunks of substreams the root feeds
    /// as a relay because no partner could, counted apart from `bytes_from_root`'s seed share.
    pub fn bytes_relayed(&self) -> u64 {
        self.nat.bytes_relayed
    }

    /// Whether the root relays substream `s` to us (its last SUBACK said so).
    pub(super) fn relayed(&self, s: usize) -> bool {
        self.nat.relayed & (1 << s) != 0
    }

    /// A chunk of `len` bytes from the root: counted as relayed if its substream is.
    pub(super) fn count_relayed(&mut self, seq: u64, len: usize) {
        let s = substream(seq);
        if self.nat.relayed & (1 << s) != 0 && self.parents[s] == Parent::Root {
            self.nat.bytes_relayed += len as u64;
        }
    }

    /// The introduced peers and their paths, for the status page.
    pub fn punch_info(&self) -> impl Iterator<Item = PunchInfo> + '_ {
        self.nat.slots.iter().flatten().map(|s| s.info)
    }

    /// An INTRODUCE, PUNCH or PUNCH_ACK datagram (see [`is_nat`]).
    pub(super) fn on_nat(&mut self, now: Instant, from: SocketAddr, d: &[u8]) {
        if d[1] == TYPE_INTRODUCE {
            match Introduce::parse(d) {
                Ok(i) if from == self.root => self.on_introduce(now, &i),
                _ => self.stats.ignored += 1,
            }
            return;
        }
        let took = self
            .nat
            .slots
            .iter_mut()
            .flatten()
            .any(|s| s.punch.handle_datagram(now, from, d));
        if !took {
            self.stats.ignored += 1;
        }
        self.nat_events(now);
    }

    fn on_introduce(&mut self, now: Instant, i: &Introduce) {
        if self
            .nat
            .slots
            .iter()
            .flatten()
            .any(|s| s.session == i.session)
        {
            return;
        }
        let partners = &self.partners;
        let is_path = |s: &Slot| {
            s.info
                .path_addr
                .is_some_and(|a| partners.iter().any(|p| p.addr == a))
        };
        let free = self.nat.slots.iter().position(|s| {
            s.as_ref()
                .is_none_or(|s| matches!(s.info.path, PathKind::Relay | PathKind::Lost))
        });
        let slot = free.or_else(|| {
            self.nat
                .slots
                .iter()
                .position(|s| s.as_ref().is_some_and(|s| !is_path(s)))
        });
        let Some(k) = slot else {
            self.stats.ignored += 1;
            return;
        };
        self.nat.intros += 1;
        let mut punch = Punch::new(now, i, PunchConfig::default());
        let bcfg = BirthdayConfig {
            ports: self.nat.spray_ports,
            ..BirthdayConfig::default()
        };
        let seed = self.rng.next_u64();
        punch.birthday(birthday::role(self.nat.nat, i.nat), &bcfg, seed);
        self.nat.slots[k] = Some(Slot {
            punch,
            session: i.session,
            info: PunchInfo {
                peer: i.public,
                path_addr: None,
                path: PathKind::Punching,
                after_ms: 0,
            },
        });
    }

    /// Punch timers.
    pub(super) fn nat_timeout(&mut self, now: Instant) {
        for s in self.nat.slots.iter_mut().flatten() {
            s.punch.handle_timeout(now);
        }
        self.nat_events(now);
    }

    /// Takes the punch sessions' events: greet a connected peer.
    fn nat_events(&mut self, now: Instant) {
        for k in 0..MAX_PUNCHES {
            let Some(ev) = self.nat.slots[k]
                .as_mut()
                .and_then(|s| s.punch.poll_event())
            else {
                continue;
            };
            let Some(s) = self.nat.slots[k].as_mut() else {
                continue;
            };
            match ev {
                PunchEvent::Connected { addr, kind, after } => {
                    s.info.path = if kind == CandKind::Private {
                        PathKind::Private
                    } else {
                        PathKind::Direct
                    };
                    s.info.path_addr = Some(addr);
                    s.info.after_ms = after.as_millis().min(u128::from(u32::MAX)) as u32;
                    self.greet(now, addr);
                }
                PunchEvent::Failed => {
                    s.info.path = PathKind::Relay;
                }
                PunchEvent::Lost => s.info.path = PathKind::Lost,
            }
        }
    }

    /// Greets a peer reached through a punched path (crossed greetings settle as usual).
    fn greet(&mut self, now: Instant, addr: SocketAddr) {
        if self.partner_index_of(addr).is_some() || self.partners.len() >= self.cfg.max_partners {
            return;
        }
        let nonce = self.rng.next_nonzero_u32();
        let mut p = Partner::new(addr, nonce, false, now);
        // Reached by punching: never passed on in PEERS as greetable.
        p.reachable = false;
        self.partners.push(p);
        self.ctrl.push((addr, Ctrl::Hello { nonce }));
    }

    /// Whether the box says it may be greeted (JOIN and HELLO flags, hence what partners pass
    /// on in PEERS). Its `reachable` setting, and, once the shell gave it NAT facts
    /// ([`Peer::set_nat`]), only when its NAT lets anyone in (no NAT, full cone): until the
    /// classification says so, a greeting could hit a NAT and make it re-map the box's port.
    pub(super) fn advertised_reachable(&self) -> bool {
        self.cfg.reachable && (self.nat.private.is_none() || self.nat.nat.inbound_open())
    }

    /// Whether candidates flagged unreachable are left alone. A box taking part in
    /// introductions (it knows its host address) never greets them: the root introduces the
    /// pair and both punch; an unsolicited greeting would only make the peer's NAT re-map it.
    pub(super) fn skips_unreachable(&self) -> bool {
        self.cfg.reachable || self.nat.private.is_some()
    }

    fn partner_index_of(&self, a: SocketAddr) -> Option<usize> {
        self.partners.iter().position(|p| p.addr == a)
    }

    /// The next REPORT or punch datagram, if one is due.
    pub(super) fn poll_nat(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.nat.ttl = None;
        if let (State::Playing { channel, token, .. }, true) =
            (&self.state, self.nat.private.is_some())
        {
            let (channel, token) = (*channel, *token);
            let due = self
                .nat
                .reported
                .is_none_or(|(t, at)| t != token || now >= at + REPORT_EVERY);
            if due {
                self.nat.reported = Some((token, now));
                let r = Report {
                    token,
                    nat: self.nat.nat,
                    private: self.nat.private,
                    reachable: self.cfg.reachable,
                };
                if let Ok(len) = r.encode(channel, buf) {
                    return Some(Transmit {
                        dst: self.root,
                        len,
                    });
                }
            }
        }
        for k in 0..MAX_PUNCHES {
            let k = (self.nat.cursor + k) % MAX_PUNCHES;
            if let Some(s) = self.nat.slots[k].as_mut() {
                if let Some(t) = s.punch.poll_transmit(now, buf) {
                    self.nat.ttl = s.punch.ttl();
                    self.nat.cursor = k;
                    return Some(t);
                }
            }
        }
        None
    }

    /// When the punch table next has work.
    pub(super) fn nat_poll_timeout(&self) -> Option<Instant> {
        let report = match (self.state(), self.nat.reported) {
            _ if self.nat.private.is_none() => None,
            (PeerState::Playing, Some((_, at))) => Some(at + REPORT_EVERY),
            (PeerState::Playing, None) => Some(self.now),
            _ => None,
        };
        self.nat
            .slots
            .iter()
            .flatten()
            .filter_map(|s| s.punch.poll_timeout())
            .fold(report, |a, t| earliest(a, Some(t)))
    }
}

#[cfg(test)]
mod tests;
