//! The root as introducer (issue 5): boxes behind NATs meet through the root, then punch.
//!
//! Every box sends a REPORT ([`crate::nat::report`]) after its JOIN_ACK and again now and then:
//! its host address on the data socket and its own NAT classification. A box is *NATed* when its
//! host address is known and differs from the address the root sees. The root then
//! - offers a box in PEERS samples only once its REPORT shows a greeting gets in (its session's
//!   `reachable` flag follows the report: host address = the address seen, or a full cone; a box
//!   that knows its host address JOINs as unreachable and waits for this), so nobody greets an
//!   address that drops the greeting and, worse, makes a Linux masquerade re-map the box's port;
//! - every [`SCAN_EVERY`], introduces pairs of boxes on one channel of which at least one is
//!   NATed and not a full cone: both get an INTRODUCE ([`crate::nat::punch::Introduce`]) with one
//!   session nonce and the other's public address, plus its private one when both sit behind the
//!   same public IP (same NAT: they talk over the LAN). Same-IP pairs are introduced first.
//!   A box whose REPORT has no NAT type yet (its classification takes a few seconds) is
//!   introduced once it has one, or [`CLASSIFY_WAIT`] after its first REPORT: the INTRODUCE
//!   carries the peer's type, from which a cone ↔ symmetric pair picks the birthday punch
//!   ([`crate::nat::birthday`]).
//!
//! No amplification: INTRODUCE goes only to sessions that echoed their token from their address
//! (validated), and names only such addresses; a REPORT (≥ 10 bytes) is never answered. Each
//! box is introduced to at most [`MAX_INTROS`] peers per session, at most [`PAIRS_PER_SCAN`]
//! pairs are introduced per scan (the control budget: ≤ 2 × 8 × 30 bytes every 250 ms), and
//! the queue holds [`QUEUE_CAP`] datagrams (more are dropped; the next scan does not retry a pair
//! it already introduced). The first REPORT of a session also hands its address to the shell
//! ([`Root::poll_validated`]) to validate in the STUN responder's credit table.
//!
//! Invariants: tables are per session slot, sized at construction; a slot's entry counts only
//! while its token matches the live session in that slot; a scan does at most
//! `PAIRS_PER_SCAN × 2 × max_sessions` comparisons; nothing allocates after construction.

use super::*;
use crate::nat::punch::Introduce;
use crate::nat::report::{NatCode, Report, TYPE_REPORT};

/// Peers one box is introduced to, per session.
pub const MAX_INTROS: usize = 8;
/// Between two introduction scans.
pub const SCAN_EVERY: Duration = Duration::from_millis(250);
/// Pairs introduced per scan at most.
pub const PAIRS_PER_SCAN: usize = 8;
/// INTRODUCE datagrams waiting to be sent.
pub const QUEUE_CAP: usize = 64;
/// How long a box that reports no NAT type yet waits to be introduced (the box's classifier is
/// bounded by 8.75 s; a box that only asks a plain STUN server never learns its type).
pub const CLASSIFY_WAIT: Duration = Duration::from_secs(10);

/// The REPORT message type, for the datagram dispatch.
pub const REPORT: u8 = TYPE_REPORT;

/// What a box told us about itself.
#[derive(Clone, Copy, Debug)]
pub(super) struct BoxNat {
    pub(super) token: u32,
    pub(super) nat: NatCode,
    pub(super) private: Option<SocketAddr>,
    /// Tokens of the peers it was introduced to.
    intros: [u32; MAX_INTROS],
    n: usize,
    /// Substreams the root relays to it (`relay.rs`).
    pub(super) relay: u8,
    /// When its first REPORT came.
    since: Instant,
}

/// Introducer counters.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct IntroStats {
    /// REPORTs taken.
    pub reports: u64,
    /// Pairs introduced.
    pub pairs: u64,
    /// INTRODUCE datagrams dropped (queue full).
    pub dropped: u64,
}

/// The introducer's tables.
pub struct Introducer {
    pub(super) boxes: Vec<Option<BoxNat>>,
    queue: Ring<(SocketAddr, Introduce)>,
    validated: Ring<SocketAddr>,
    next_scan: Instant,
    /// Where the next scan starts.
    cursor: usize,
    stats: IntroStats,
}

impl Introducer {
    /// Tables for `sessions` session slots.
    pub fn new(sessions: usize, now: Instant) -> Introducer {
        Introducer {
            boxes: alloc::vec![None; sessions],
            queue: Ring::new(QUEUE_CAP),
            validated: Ring::new(QUEUE_CAP),
            next_scan: now,
            cursor: 0,
            stats: IntroStats::default(),
        }
    }

    /// When the next scan is due.
    pub fn next_scan(&self) -> Instant {
        self.next_scan
    }
}

impl Root {
    /// Introducer counters.
    pub fn intro_stats(&self) -> IntroStats {
        self.nat.stats
    }

    /// The next box address that proved it receives (its first REPORT echoed its token): the
    /// shell marks it validated in the STUN credit table.
    pub fn poll_validated(&mut self) -> Option<SocketAddr> {
        self.nat.validated.pop()
    }

    /// A REPORT datagram from `from`.
    pub(super) fn on_report(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        let Ok(r) = Report::parse(bytes) else {
            self.stats.ignored += 1;
            return;
        };
        let Some(i) = self.validate(now, from, r.token) else {
            return;
        };
        let i = i as usize;
        self.nat.stats.reports += 1;
        let entry = &mut self.nat.boxes[i];
        match entry {
            Some(b) if b.token == r.token => {
                b.nat = r.nat;
                b.private = r.private;
            }
            _ => {
                *entry = Some(BoxNat {
                    token: r.token,
                    nat: r.nat,
                    private: r.private,
                    intros: [0; MAX_INTROS],
                    n: 0,
                    relay: 0,
                    since: now,
                });
                self.nat.validated.push(from);
            }
        }
        // Offered in PEERS only where a greeting gets in (a box that knows its host address
        // joins unreachable and waits for this).
        if let Some(s) = self.sessions[i].as_mut() {
            s.reachable = r.reachable && (r.private == Some(from) || r.nat.inbound_open());
        }
    }

    /// The live entry of slot `i`: (session address, channel, box info).
    pub(super) fn intro_entry(&self, i: usize) -> Option<(SocketAddr, usize, BoxNat)> {
        let s = self.sessions[i].as_ref()?;
        let b = self.nat.boxes[i].filter(|b| b.token == s.token)?;
        s.validated.then_some((s.addr, s.channel, b))
    }

    /// Introduces up to [`PAIRS_PER_SCAN`] new pairs, if a scan is due.
    pub(super) fn scan_intros(&mut self, now: Instant) {
        if now < self.nat.next_scan {
            return;
        }
        self.nat.next_scan = now + SCAN_EVERY;
        let n = self.sessions.len();
        let (mut made, mut rows) = (0, 0);
        for k in 0..n {
            let i = (self.nat.cursor + k) % n;
            if self
                .intro_entry(i)
                .is_none_or(|(_, _, b)| b.n >= MAX_INTROS)
            {
                continue;
            }
            // Rows scanned whole per scan are bounded too, so a scan costs O(max_sessions).
            rows += 1;
            if rows > PAIRS_PER_SCAN {
                self.nat.cursor = i;
                return;
            }
            for same_ip in [true, false] {
                for j in 0..n {
                    if made >= PAIRS_PER_SCAN {
                        self.nat.cursor = i;
                        return;
                    }
                    if i != j && self.should_introduce(now, i, j, same_ip) {
                        self.introduce(i, j);
                        made += 1;
                    }
                }
            }
        }
    }

    fn should_introduce(&self, now: Instant, i: usize, j: usize, same_ip: bool) -> bool {
        let (Some((ai, ci, bi)), Some((aj, cj, bj))) = (self.intro_entry(i), self.intro_entry(j))
        else {
            return false;
        };
        let natted =
            |a: SocketAddr, b: &BoxNat| b.private.is_some_and(|p| p != a) && !b.nat.inbound_open();
        let typed = |b: &BoxNat| b.nat != NatCode::Unknown || now >= b.since + CLASSIFY_WAIT;
        ci == cj
            && (ai.ip() == aj.ip()) == same_ip
            && ai != aj
            && bi.n < MAX_INTROS
            && bj.n < MAX_INTROS
            && !bi.intros[..bi.n].contains(&bj.token)
            && (natted(ai, &bi) || natted(aj, &bj))
            && typed(&bi)
            && typed(&bj)
    }

    fn introduce(&mut self, i: usize, j: usize) {
        let (Some((ai, _, bi)), Some((aj, _, bj))) = (self.intro_entry(i), self.intro_entry(j))
        else {
            return;
        };
        let session = self.rng.next_nonzero_u32();
        let same = ai.ip() == aj.ip();
        for (to, peer, addr, b) in [(ai, j, aj, bj), (aj, i, ai, bi)] {
            let intro = Introduce {
                session,
                peer_id: peer as u32,
                public: addr,
                private: b.private.filter(|_| same),
                nat: b.nat,
            };
            if !self.nat.queue.push((to, intro)) {
                self.nat.stats.dropped += 1;
            }
        }
        for (k, t) in [(i, bj.token), (j, bi.token)] {
            if let Some(b) = self.nat.boxes[k].as_mut() {
                if b.n < MAX_INTROS {
                    b.intros[b.n] = t;
                    b.n += 1;
                }
            }
        }
        self.nat.stats.pairs += 1;
    }

    /// The next INTRODUCE to send.
    pub(super) fn poll_intro(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        while let Some((dst, intro)) = self.nat.queue.pop() {
            if let Ok(len) = intro.encode(buf) {
                return Some(Transmit { dst, len });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests;
