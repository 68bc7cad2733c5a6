//! Hole punching: the INTRODUCE / PUNCH / PUNCH_ACK bodies, the per-pair punch session, and the
//! relay byte budget.
//!
//! The root introduces two boxes ([`Introduce`]: a session nonce, the other box's public and
//! private candidates). Both then run a [`Punch`]: every `interval` (100 ms) a PUNCH goes to every
//! candidate until `deadline` (3 s). Whoever receives a PUNCH with the session nonce answers a
//! PUNCH_ACK to the address it came from, and adds that address as a peer-reflexive candidate
//! (how a box behind an address-and-port-dependent mapping gets reached). An ACK proves the path
//! both ways. A private candidate that answers wins at once (same NAT); a public one is taken
//! after `private_grace` unless the private one answers meanwhile. Once connected, a PUNCH every
//! `keepalive` (at most 25 s, RFC 4787 REQ-5's two-minute floor with a wide margin for
//! consumer NATs) keeps the mapping; nothing heard for three keepalives means the path is lost.
//!
//! Wire (body after the tvmesh 4-byte header; type codes are proposals until `wire` takes them):
//!
//! | type | name      | body |
//! |------|-----------|------|
//! | 0x20 | INTRODUCE | session u32, peer_id u32, public addr, private addr (family 0 = none), peer's NAT u8 (optional, [`NatCode`]) |
//! | 0x21 | PUNCH     | session u32, seq u16, cand u8 |
//! | 0x22 | PUNCH_ACK | session u32, seq u16, cand u8 (echoed) |
//!
//! An addr is `family u8 (4/6), address 4/16, port u16`.
//!
//! Roles ([`super::birthday`]): when the INTRODUCE's NAT byte and the box's own NAT make it the
//! easy or hard side of a cone ↔ symmetric pair ([`Punch::birthday`]), the easy side also sweeps
//! the peer's ports and takes an ACK to a sweep probe from any port of the peer's IP; the hard
//! side asks its shell once ([`Punch::poll_spray`]) to spray extra ports and sends its plain
//! probes at the opener TTL. Both then wait the longer birthday deadline. A box that lets anyone
//! in, introduced to a NATed one, probes only after the peer's first PUNCH arrived (it answers
//! at once, as always).
//!
//! Invariants: at most [`MAX_CANDS`] candidates and [`MAX_ACKS`] queued ACKs (more are dropped,
//! the peer retries); probes stop at the deadline, so a session sends at most
//! `deadline / interval × MAX_CANDS` probes before keepalives, plus an easy side's sweep of at
//! most `BirthdayConfig::probes`; only datagrams carrying the
//! session nonce change state. Parsing checks every length; no allocation.

use super::birthday::{BirthdayConfig, Role, SprayRequest, Sweep, SPRAY_CAND, SWEEP_CAND};
use super::report::NatCode;
use crate::time::Instant;
use crate::wire::MAGIC;
use crate::Transmit;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use core::time::Duration;

/// INTRODUCE message type (proposed).
pub const TYPE_INTRODUCE: u8 = 0x20;
/// PUNCH message type (proposed).
pub const TYPE_PUNCH: u8 = 0x21;
/// PUNCH_ACK message type (proposed).
pub const TYPE_PUNCH_ACK: u8 = 0x22;
/// Most candidates per session (public, private, two peer-reflexive).
pub const MAX_CANDS: usize = 4;
/// Most ACKs waiting to be sent.
pub const MAX_ACKS: usize = 4;
/// Longest keepalive interval accepted.
pub const MAX_KEEPALIVE: Duration = Duration::from_secs(25);

/// Why bytes are not a punch message, or it does not fit.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PunchError {
    /// Shorter than its fields.
    Truncated,
    /// Not a tvmesh datagram or not a punch type.
    Type,
    /// Unknown address family.
    Family,
    /// Output buffer too small.
    Buffer,
}

/// Root → box: meet this peer.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Introduce {
    /// Session nonce both boxes put in their PUNCHes.
    pub session: u32,
    /// The other box's id (its root session token).
    pub peer_id: u32,
    /// The other box's public (server-reflexive) address.
    pub public: SocketAddr,
    /// The other box's private (host) address, if it reported one.
    pub private: Option<SocketAddr>,
    /// The other box's NAT as it reported it (`Unknown` when the root sent none).
    pub nat: NatCode,
}

/// PUNCH or PUNCH_ACK.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Probe {
    /// True for PUNCH_ACK.
    pub ack: bool,
    /// Session nonce.
    pub session: u32,
    /// Probe sequence number.
    pub seq: u16,
    /// Candidate index the PUNCH was sent to (echoed in the ACK).
    pub cand: u8,
}

pub(crate) fn put_addr(b: &mut [u8], a: Option<SocketAddr>) -> Result<usize, PunchError> {
    let n = match a {
        None => 1,
        Some(SocketAddr::V4(_)) => 7,
        Some(SocketAddr::V6(_)) => 19,
    };
    let b = b.get_mut(..n).ok_or(PunchError::Buffer)?;
    match a {
        None => b[0] = 0,
        Some(a) => {
            let ip = match a.ip() {
                IpAddr::V4(ip) => {
                    b[0] = 4;
                    b[1..5].copy_from_slice(&ip.octets());
                    5
                }
                IpAddr::V6(ip) => {
                    b[0] = 6;
                    b[1..17].copy_from_slice(&ip.octets());
                    17
                }
            };
            b[ip..ip + 2].copy_from_slice(&a.port().to_be_bytes());
        }
    }
    Ok(n)
}

pub(crate) fn get_addr(b: &[u8]) -> Result<(Option<SocketAddr>, usize), PunchError> {
    let t = PunchError::Truncated;
    let (ip, n): (IpAddr, usize) = match *b.first().ok_or(t)? {
        0 => return Ok((None, 1)),
        4 => {
            let o: [u8; 4] = b.get(1..5).ok_or(t)?.try_into().map_err(|_| t)?;
            (Ipv4Addr::from(o).into(), 5)
        }
        6 => {
            let o: [u8; 16] = b.get(1..17).ok_or(t)?.try_into().map_err(|_| t)?;
            (Ipv6Addr::from(o).into(), 17)
        }
        _ => return Err(PunchError::Family),
    };
    let p = b.get(n..n + 2).ok_or(t)?;
    Ok((
        Some(SocketAddr::new(ip, u16::from_be_bytes([p[0], p[1]]))),
        n + 2,
    ))
}

fn header(buf: &mut [u8], ty: u8) -> Result<(), PunchError> {
    buf.get_mut(..4)
        .ok_or(PunchError::Buffer)?
        .copy_from_slice(&[MAGIC, ty, 0, 0]);
    Ok(())
}

impl Introduce {
    /// Writes the whole datagram (header + body); returns its length.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, PunchError> {
        header(buf, TYPE_INTRODUCE)?;
        let b = buf.get_mut(4..12).ok_or(PunchError::Buffer)?;
        b[..4].copy_from_slice(&self.session.to_be_bytes());
        b[4..].copy_from_slice(&self.peer_id.to_be_bytes());
        let mut n = 12;
        n += put_addr(
            buf.get_mut(n..).ok_or(PunchError::Buffer)?,
            Some(self.public),
        )?;
        n += put_addr(buf.get_mut(n..).ok_or(PunchError::Buffer)?, self.private)?;
        *buf.get_mut(n).ok_or(PunchError::Buffer)? = self.nat.code();
        Ok(n + 1)
    }

    /// Parses a whole INTRODUCE datagram.
    pub fn parse(d: &[u8]) -> Result<Introduce, PunchError> {
        if d.len() < 4 || d[0] != MAGIC || d[1] != TYPE_INTRODUCE {
            return Err(PunchError::Type);
        }
        let b = d.get(4..12).ok_or(PunchError::Truncated)?;
        let (public, n) = get_addr(&d[12..])?;
        let (private, m) = get_addr(&d[12 + n..])?;
        Ok(Introduce {
            session: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            peer_id: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            public: public.ok_or(PunchError::Family)?,
            private,
            // Absent in an older root's INTRODUCE.
            nat: d
                .get(12 + n + m)
                .map_or(NatCode::Unknown, |&c| NatCode::from_code(c)),
        })
    }
}

impl Probe {
    /// Encoded length (header included).
    pub const LEN: usize = 11;

    /// Writes the whole datagram; returns its length.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, PunchError> {
        header(buf, if self.ack { TYPE_PUNCH_ACK } else { TYPE_PUNCH })?;
        let b = buf.get_mut(4..Self::LEN).ok_or(PunchError::Buffer)?;
        b[..4].copy_from_slice(&self.session.to_be_bytes());
        b[4..6].copy_from_slice(&self.seq.to_be_bytes());
        b[6] = self.cand;
        Ok(Self::LEN)
    }

    /// Parses a whole PUNCH or PUNCH_ACK datagram.
    pub fn parse(d: &[u8]) -> Result<Probe, PunchError> {
        let ack = match (d.first(), d.get(1)) {
            (Some(&MAGIC), Some(&TYPE_PUNCH)) => false,
            (Some(&MAGIC), Some(&TYPE_PUNCH_ACK)) => true,
            _ => return Err(PunchError::Type),
        };
        let b = d.get(4..Self::LEN).ok_or(PunchError::Truncated)?;
        Ok(Probe {
            ack,
            session: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            seq: u16::from_be_bytes([b[4], b[5]]),
            cand: b[6],
        })
    }
}

/// Where a candidate came from.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CandKind {
    /// The peer's address as the root saw it.
    Public,
    /// The peer's own (LAN) address: works behind the same NAT.
    Private,
    /// Learnt from a PUNCH that arrived from an address not in the list.
    Reflexive,
}

/// Punch timings.
#[derive(Copy, Clone, Debug)]
pub struct PunchConfig {
    /// Between probe rounds (100 ms).
    pub interval: Duration,
    /// Give up after this long without an ACK (3 s).
    pub deadline: Duration,
    /// Keepalive interval once connected (clamped to [`MAX_KEEPALIVE`]).
    pub keepalive: Duration,
    /// How long a public-path ACK waits for the private candidate to answer too (200 ms).
    pub private_grace: Duration,
    /// TTL of the first probe round ("openers", 2): enough to pass the box's own NAT and create
    /// its mapping, too little to reach the peer's NAT. A stateful NAT (Linux conntrack) that
    /// sees an inbound probe before its box has sent one records it, and then maps the box's
    /// own outbound probe to a *new* port, breaking an endpoint-independent mapping; openers
    /// avoid that. `None`: every probe at the default TTL.
    pub open_ttl: Option<u8>,
}

impl Default for PunchConfig {
    fn default() -> Self {
        PunchConfig {
            interval: Duration::from_millis(100),
            deadline: Duration::from_secs(3),
            keepalive: Duration::from_secs(25),
            private_grace: Duration::from_millis(200),
            open_ttl: Some(2),
        }
    }
}

/// What a punch session reports.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PunchEvent {
    /// A direct path works: send to `addr`.
    Connected {
        /// The peer address to use.
        addr: SocketAddr,
        /// Which candidate it was.
        kind: CandKind,
        /// Time from start to the decision.
        after: Duration,
    },
    /// No ACK before the deadline: use a relay.
    Failed,
    /// Connected, then nothing heard for three keepalive intervals.
    Lost,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum State {
    Probing,
    Settling { until: Instant, pick: usize },
    Connected { pick: usize },
    Done,
}

/// One hole-punch session with one peer. Drive it like every core state machine: `handle_*`,
/// then `poll_transmit` until `None`, `poll_event` until `None`, sleep until `poll_timeout`.
pub struct Punch {
    cfg: PunchConfig,
    session: u32,
    cands: [Option<(SocketAddr, CandKind)>; MAX_CANDS],
    started: Instant,
    state: State,
    seq: u16,
    next_probe: Instant,
    cursor: usize,
    acks: [Option<(SocketAddr, Probe)>; MAX_ACKS],
    last_heard: Instant,
    event: Option<PunchEvent>,
    ttl: Option<u8>,
    role: Role,
    heard: bool,
    sweep: Option<Sweep>,
    spray: Option<SprayRequest>,
}

impl Punch {
    /// A session from an introduction, starting now.
    pub fn new(now: Instant, intro: &Introduce, mut cfg: PunchConfig) -> Punch {
        cfg.keepalive = cfg.keepalive.min(MAX_KEEPALIVE);
        let mut cands = [None; MAX_CANDS];
        cands[0] = Some((intro.public, CandKind::Public));
        cands[1] = intro
            .private
            .filter(|p| *p != intro.public)
            .map(|p| (p, CandKind::Private));
        Punch {
            cfg,
            session: intro.session,
            cands,
            started: now,
            state: State::Probing,
            seq: 0,
            next_probe: now,
            cursor: 0,
            acks: [None; MAX_ACKS],
            last_heard: now,
            event: None,
            ttl: None,
            role: Role::Plain,
            heard: false,
            sweep: None,
            spray: None,
        }
    }

    /// Sets the box's part ([`super::birthday::Role`]): the easy side sweeps the peer's public
    /// IP with ports drawn from `seed`; the hard side probes at the opener TTL only and asks for
    /// a spray of `cfg.ports` sockets (with 0 it becomes passive); a passive side waits for the
    /// peer's first PUNCH. Call right after [`Punch::new`].
    pub fn birthday(&mut self, role: Role, cfg: &BirthdayConfig, seed: u64) {
        let Some((public, _)) = self.cands[0] else {
            return;
        };
        match role {
            Role::Plain => return,
            Role::Passive => {
                self.role = role;
                return;
            }
            Role::Easy => self.sweep = Some(Sweep::new(self.started, public.ip(), cfg, seed)),
            // No spray: nothing of ours can get through the cone's filter, and a mapping we
            // made toward it could be hit by its sweep only by chance (≈ 3 %): wait, as a
            // passive side does, and answer what comes.
            Role::Hard if cfg.ports == 0 => {
                self.role = Role::Passive;
                return;
            }
            Role::Hard => {
                let mut probe = [0u8; Probe::LEN];
                let p = Probe {
                    ack: false,
                    session: self.session,
                    seq: 0,
                    cand: SPRAY_CAND,
                };
                if p.encode(&mut probe).is_err() {
                    return;
                }
                self.spray = Some(SprayRequest {
                    dst: public,
                    ports: cfg.ports,
                    ttl: self.cfg.open_ttl,
                    probe,
                });
            }
        }
        self.role = role;
        self.cfg.deadline = self.cfg.deadline.max(cfg.deadline);
    }

    /// The birthday role in effect.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Sweep probes sent so far (easy side).
    pub fn swept(&self) -> u16 {
        self.sweep.as_ref().map_or(0, |s| s.sent)
    }

    /// The hard side's spray request, once.
    pub fn poll_spray(&mut self) -> Option<SprayRequest> {
        self.spray.take()
    }

    /// The selected peer address once connected.
    pub fn path(&self) -> Option<SocketAddr> {
        match self.state {
            State::Connected { pick } => self.cands[pick].map(|c| c.0),
            _ => None,
        }
    }

    /// Feeds a datagram; returns whether it belonged to this session.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, d: &[u8]) -> bool {
        let Ok(p) = Probe::parse(d) else { return false };
        if p.session != self.session {
            return false;
        }
        self.last_heard = now;
        if !self.heard && self.role == Role::Passive {
            // The peer's NAT is open toward us now: probe back at once.
            self.next_probe = now;
        }
        self.heard = true;
        let known = self
            .cands
            .iter()
            .position(|c| c.is_some_and(|c| c.0 == from));
        if !p.ack {
            if p.cand == SWEEP_CAND && self.role == Role::Hard && self.state == State::Probing {
                // A sweep probe got through a sprayed port: probe back (through it) at once.
                self.next_probe = now;
            }
            if let Some(slot) = self.acks.iter_mut().find(|a| a.is_none()) {
                *slot = Some((from, Probe { ack: true, ..p }));
            }
            if known.is_none() && self.state == State::Probing {
                if let Some(free) = self.cands.iter_mut().find(|c| c.is_none()) {
                    *free = Some((from, CandKind::Reflexive));
                    // Probe the new candidate at once.
                    self.next_probe = now;
                }
            }
            return true;
        }
        let Some(i) = known.or_else(|| self.sweep_hit(from, &p)) else {
            return true;
        };
        let private = self.cands[i].is_some_and(|c| c.1 == CandKind::Private);
        let private_pending = self
            .cands
            .iter()
            .any(|c| c.is_some_and(|c| c.1 == CandKind::Private));
        match self.state {
            State::Probing if private || !private_pending => self.connect(now, i),
            State::Probing => {
                self.state = State::Settling {
                    until: now + self.cfg.private_grace,
                    pick: i,
                }
            }
            State::Settling { .. } if private => self.connect(now, i),
            _ => {}
        }
        true
    }

    /// An ACK to a sweep probe from a port of the peer's IP not yet known: the candidate slot
    /// it now fills (the last one if all are taken).
    fn sweep_hit(&mut self, from: SocketAddr, p: &Probe) -> Option<usize> {
        let public = self.cands[0]?.0;
        if self.sweep.is_none()
            || p.cand != SWEEP_CAND
            || from.ip() != public.ip()
            || !matches!(self.state, State::Probing)
        {
            return None;
        }
        let i = self
            .cands
            .iter()
            .position(|c| c.is_none())
            .unwrap_or(MAX_CANDS - 1);
        self.cands[i] = Some((from, CandKind::Reflexive));
        Some(i)
    }

    fn connect(&mut self, now: Instant, pick: usize) {
        if let Some(s) = self.sweep.as_mut() {
            s.stop();
        }
        self.state = State::Connected { pick };
        self.next_probe = now + self.cfg.keepalive;
        if let Some((addr, kind)) = self.cands[pick] {
            self.event = Some(PunchEvent::Connected {
                addr,
                kind,
                after: now.saturating_since(self.started),
            });
        }
    }

    /// Advances timers: deadline, grace, path loss.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::Probing if now >= self.started + self.cfg.deadline => {
                if let Some(s) = self.sweep.as_mut() {
                    s.stop();
                }
                self.state = State::Done;
                self.event = Some(PunchEvent::Failed);
            }
            State::Settling { until, pick } if now >= until => self.connect(now, pick),
            State::Connected { .. } if now >= self.last_heard + self.cfg.keepalive * 3 => {
                self.state = State::Done;
                self.event = Some(PunchEvent::Lost);
            }
            _ => {}
        }
    }

    /// The TTL the datagram last returned by [`Punch::poll_transmit`] must be sent with (`None`:
    /// the socket's default).
    pub fn ttl(&self) -> Option<u8> {
        self.ttl
    }

    /// The next datagram to send: queued ACKs first, then due probes or a keepalive. Send it with
    /// [`Punch::ttl`].
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.ttl = None;
        if let Some((dst, p)) = self.acks.iter_mut().find_map(|a| a.take()) {
            let len = p.encode(buf).ok()?;
            return Some(Transmit { dst, len });
        }
        if let Some(t) = self.poll_sweep(now, buf) {
            return Some(t);
        }
        if now < self.next_probe {
            return None;
        }
        let dst = match self.state {
            State::Probing | State::Settling { .. } => {
                if self.role == Role::Passive && !self.heard {
                    self.next_probe = now + self.cfg.interval;
                    return None;
                }
                while self.cursor < MAX_CANDS && self.cands[self.cursor].is_none() {
                    self.cursor += 1;
                }
                if self.cursor >= MAX_CANDS {
                    self.cursor = 0;
                    self.seq = self.seq.wrapping_add(1);
                    self.next_probe = now + self.cfg.interval;
                    return None;
                }
                self.cursor += 1;
                self.cursor - 1
            }
            State::Connected { pick } => {
                self.next_probe = now + self.cfg.keepalive;
                pick
            }
            State::Done => return None,
        };
        let (addr, kind) = self.cands[dst]?;
        let opener = match self.role {
            Role::Hard => true,
            Role::Passive => false,
            _ => self.seq == 0,
        };
        if opener && kind == CandKind::Public {
            self.ttl = self.cfg.open_ttl;
        }
        let p = Probe {
            ack: false,
            session: self.session,
            seq: self.seq,
            cand: dst as u8,
        };
        let len = p.encode(buf).ok()?;
        Some(Transmit { dst: addr, len })
    }

    /// The easy side's next sweep probe, if one is due.
    fn poll_sweep(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if !matches!(self.state, State::Probing | State::Settling { .. }) {
            return None;
        }
        let dst = self.sweep.as_mut()?.poll(now)?;
        let p = Probe {
            ack: false,
            session: self.session,
            seq: self.seq,
            cand: SWEEP_CAND,
        };
        let len = p.encode(buf).ok()?;
        Some(Transmit { dst, len })
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<PunchEvent> {
        self.event.take()
    }

    /// When to call `handle_timeout` / `poll_transmit` next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Probing => Some(
                self.next_probe
                    .min(self.started + self.cfg.deadline)
                    .min(self.sweep_due()),
            ),
            State::Settling { until, .. } => Some(self.next_probe.min(until).min(self.sweep_due())),
            State::Connected { .. } => Some(
                self.next_probe
                    .min(self.last_heard + self.cfg.keepalive * 3),
            ),
            State::Done => None,
        }
    }
}

impl Punch {
    fn sweep_due(&self) -> Instant {
        self.sweep
            .as_ref()
            .and_then(Sweep::poll_timeout)
            .unwrap_or(self.next_probe)
    }
}

/// A token bucket on relay bytes: `rate` bytes per second, up to `burst` saved.
#[derive(Clone, Debug)]
pub struct RelayBudget {
    rate: u64,
    burst: u64,
    tokens: u64,
    at: Instant,
    /// Bytes let through.
    pub relayed: u64,
    /// Bytes refused.
    pub refused: u64,
}

impl RelayBudget {
    /// A full bucket at `now`.
    pub fn new(now: Instant, rate_bytes_per_s: u64, burst: u64) -> RelayBudget {
        RelayBudget {
            rate: rate_bytes_per_s,
            burst,
            tokens: burst,
            at: now,
            relayed: 0,
            refused: 0,
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_since(self.at).as_micros() as u64;
        let add = dt.saturating_mul(self.rate) / 1_000_000;
        if add > 0 {
            self.tokens = self.tokens.saturating_add(add).min(self.burst);
            self.at = now;
        }
    }

    /// Whether `n` bytes could go now (takes nothing): lets a sender wait instead of dropping.
    pub fn has(&mut self, now: Instant, n: usize) -> bool {
        self.refill(now);
        n as u64 <= self.tokens
    }

    /// Takes `n` bytes if the bucket holds them; counts either way.
    pub fn try_consume(&mut self, now: Instant, n: usize) -> bool {
        self.refill(now);
        let n = n as u64;
        if n <= self.tokens {
            self.tokens -= n;
            self.relayed += n;
            true
        } else {
            self.refused += n;
            false
        }
    }
}

#[cfg(test)]
mod tests;
