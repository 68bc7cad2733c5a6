//! Birthday-paradox hole punching between an endpoint-independent-mapping NAT (the *easy* side)
//! and an endpoint-dependent (symmetric) one (the *hard* side), the way Tailscale does it.
//!
//! A plain [`Punch`](super::punch::Punch) cannot connect such a pair when the easy side filters
//! on address and port: the hard side's NAT gives every destination a new, unpredictable port,
//! so the easy side never learns which port to open its filter for. Instead:
//! - the hard side asks its shell ([`SprayRequest`], from `Punch::poll_spray`) to open
//!   `ports` extra UDP sockets and send one PUNCH from each to the easy side's public address,
//!   with the opener TTL (enough to create the mapping on its own NAT, too little to reach the
//!   easy NAT, where an unsolicited inbound packet would make Linux conntrack re-map the easy
//!   side's port). Each socket now owns a random public port open to exactly that address;
//! - the easy side, from its one data socket (endpoint-independent: every probe leaves from the
//!   same public port), sends PUNCHes to random ports of the hard side's public IP ([`Sweep`]),
//!   paced at one per `interval`, at most `probes` of them, starting `start_after` the
//!   introduction (the hard side's sockets must exist first).
//!
//! A sweep PUNCH that lands on one of the `ports` mappings passes both filters; the hard side's
//! shell feeds it to the core as if it came on the data socket and answers through the socket
//! that received it, which from then on is the path to that peer. With `ports` = 256 mapped
//! ports out of the 64 512 a Linux NAT picks from, `probes` = 2048 succeed with probability
//! 1 − (1 − 256/64 512)^2048 ≈ 99.97 %.
//!
//! The hard side sends its plain probes to the easy side's public address at the opener TTL
//! throughout (they cannot get through the easy side's filter, and at full TTL they would leave
//! inbound conntrack entries on the easy NAT, one of which a sweep probe could collide with);
//! what its shell routes through a spray socket leaves at the default TTL.
//!
//! Invariants: the sweep sends at most `probes` datagrams, never faster than one per `interval`
//! on average (catching up at most [`BURST`] at once after a late wake-up), only to the hard
//! side's public IP (an address the root validated), to ports in [`PORT_LO`]`..=65535`; it stops
//! as soon as the punch connects. A hard side asks for one spray per session. No allocation.

use super::report::NatCode;
use crate::ring::Rng;
use crate::time::Instant;
use core::net::{IpAddr, SocketAddr};
use core::time::Duration;

/// The `cand` byte of a sweep PUNCH (echoed in its ACK): tells the easy side an ACK from an
/// unknown port answers its sweep.
pub const SWEEP_CAND: u8 = 0xFE;
/// The `cand` byte of a hard side's spray PUNCH.
pub const SPRAY_CAND: u8 = 0xFD;
/// Lowest port a sweep tries (Linux maps unprivileged ports into 1024–65535).
pub const PORT_LO: u16 = 1024;
/// Most probes sent at once to catch up after a late wake-up.
pub const BURST: u32 = 8;

/// A box's part in a punch, from both NAT types.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// The ordinary punch ([`super::punch`]) works (or nothing will).
    Plain,
    /// This box lets anyone in (no NAT, full cone), the peer sits behind a NAT that filters:
    /// probe only after the peer's first PUNCH came in. A probe of ours reaching the peer's NAT
    /// before its box sent to us would leave an inbound conntrack entry there that makes Linux
    /// map the peer's flow to us, and then the peer's later new flows, to another port (the
    /// NAT lab's flaky b–d1 / b–d2 runs). The TTL-2 openers do not help here: a box without NAT
    /// is fewer hops from the peer's NAT than the openers assume.
    Passive,
    /// This box maps endpoint-independently, the peer does not: sweep the peer's ports.
    Easy,
    /// This box's NAT maps per destination, the peer's does not: spray extra ports.
    Hard,
}

/// The role of a box whose NAT is `own` punching to a peer whose NAT is `peer`. Only a cone
/// (endpoint-independent mapping, filtering on the remote) against a symmetric NAT needs the
/// birthday sweep: an open or full-cone side lets the other in anyway (and waits for it,
/// [`Role::Passive`]), and two symmetric NATs would need both sides to guess. An unknown type
/// on either side keeps the plain punch.
pub fn role(own: NatCode, peer: NatCode) -> Role {
    use NatCode::{Cone, FullCone, Open, Symmetric};
    match (own, peer) {
        (Cone, Symmetric) => Role::Easy,
        (Symmetric, Cone) => Role::Hard,
        (Open | FullCone, Cone | Symmetric) => Role::Passive,
        _ => Role::Plain,
    }
}

/// Birthday punch settings (defaults in brackets).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct BirthdayConfig {
    /// Hard side: extra sockets the shell opens (256; the board profile may lower it, 0 = the
    /// hard side does not spray and only answers, as a passive side).
    pub ports: u16,
    /// Easy side: most sweep probes (2048).
    pub probes: u16,
    /// Easy side: between two sweep probes (1 ms).
    pub interval: Duration,
    /// Easy side: wait after the introduction before sweeping (200 ms).
    pub start_after: Duration,
    /// The punch deadline for both sides in a birthday punch (6 s; the plain one is 3 s).
    pub deadline: Duration,
}

impl Default for BirthdayConfig {
    fn default() -> Self {
        BirthdayConfig {
            ports: 256,
            probes: 2048,
            interval: Duration::from_millis(1),
            start_after: Duration::from_millis(200),
            deadline: Duration::from_secs(6),
        }
    }
}

/// What a hard side asks its shell to do: open `ports` sockets and send `probe` from each to
/// `dst` with IP TTL `ttl` (`None`: the default).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct SprayRequest {
    /// The easy side's public address.
    pub dst: SocketAddr,
    /// Sockets to open.
    pub ports: u16,
    /// TTL of the spray datagrams.
    pub ttl: Option<u8>,
    /// The PUNCH datagram to send from each socket.
    pub probe: [u8; super::punch::Probe::LEN],
}

/// The easy side's port sweep toward one IP: where and when the next probe goes.
#[derive(Clone, Debug)]
pub struct Sweep {
    rng: Rng,
    ip: IpAddr,
    next: Instant,
    interval: Duration,
    left: u16,
    /// Probes sent so far.
    pub sent: u16,
}

impl Sweep {
    /// A sweep of `cfg.probes` probes to random ports of `ip`, starting `cfg.start_after` from
    /// `now`, with ports drawn from `seed`.
    pub fn new(now: Instant, ip: IpAddr, cfg: &BirthdayConfig, seed: u64) -> Sweep {
        Sweep {
            rng: Rng::new(seed),
            ip,
            next: now + cfg.start_after,
            interval: cfg.interval.max(Duration::from_micros(1)),
            left: cfg.probes,
            sent: 0,
        }
    }

    /// The next destination if a probe is due at `now`.
    pub fn poll(&mut self, now: Instant) -> Option<SocketAddr> {
        if self.left == 0 || now < self.next {
            return None;
        }
        self.left -= 1;
        self.sent += 1;
        // Behind by more than a burst (a late wake-up): forget the backlog beyond it.
        let floor = now - self.interval * BURST;
        self.next = self.next.max(floor) + self.interval;
        let span = u64::from(u16::MAX - PORT_LO) + 1;
        let port = PORT_LO + (self.rng.next_u64() % span) as u16;
        Some(SocketAddr::new(self.ip, port))
    }

    /// When the next probe is due (`None` once all are sent).
    pub fn poll_timeout(&self) -> Option<Instant> {
        (self.left > 0).then_some(self.next)
    }

    /// Stops sending (the punch connected or gave up).
    pub fn stop(&mut self) {
        self.left = 0;
    }
}

#[cfg(test)]
mod tests;
