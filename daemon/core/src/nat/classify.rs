//! The box's NAT classifier: RFC 5780 §4.3 (mapping) and §4.4 (filtering) behaviour discovery as
//! a sans-IO state machine.
//!
//! Tests run one after another on one socket, in an order that keeps earlier tests from opening
//! the filter for later ones: (1) Binding to the primary → public address and OTHER-ADDRESS;
//! (2) filtering: CHANGE-REQUEST IP+port, then (3) port only — an answer arriving means the NAT
//! lets that source in; (4) mapping: Binding to the alternate IP on the primary port, then
//! (5) to the alternate IP and port; comparing the mapped addresses gives the mapping behaviour.
//! With only an alternate *port* (no alternate IP) the address tests run on the alternate port
//! and the report says `alt_ip_tested: false`. With a plain STUN server (no OTHER-ADDRESS) only
//! `public_addr` is learnt and both behaviours stay [`Mapping::Unknown`] / [`Filtering::Unknown`].
//!
//! Driving (the core contract): call [`Classifier::poll_transmit`] until `None`, feed every
//! datagram from the socket to [`Classifier::handle_response`], call
//! [`Classifier::handle_timeout`] at [`Classifier::poll_timeout`]; [`Classifier::report`] is
//! `Some` once done.
//!
//! Invariants: each test sends at most `max_tries` requests, the n-th retransmission after
//! `rto · 2^(n-1)` (RFC 8489 §6.2.1), so the whole run is bounded by
//! `5 · rto · (2^max_tries − 1)`. A response counts only if its transaction id is the current
//! one and, for the filtering tests, it comes from the address the test asked for. No allocation.

use crate::stun::{Builder, Class, Stun, StunError};
use crate::time::Instant;
use crate::Transmit;
use core::net::SocketAddr;
use core::time::Duration;

/// NAT mapping behaviour (RFC 4787 §4.1).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Mapping {
    /// No NAT: the mapped address is the local one.
    Open,
    /// Endpoint-independent: one public address for every destination.
    Independent,
    /// A new public address per destination IP.
    AddressDependent,
    /// A new public address per destination IP and port ("symmetric").
    AddressPortDependent,
    /// Not determined (no alternate server address, or no answer).
    Unknown,
}

/// NAT filtering behaviour (RFC 4787 §5).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Filtering {
    /// No NAT or firewall in the way.
    Open,
    /// Any source may send to the mapped address.
    Independent,
    /// Only IPs this box has sent to.
    AddressDependent,
    /// Only IP:port pairs this box has sent to.
    AddressPortDependent,
    /// Not determined.
    Unknown,
}

impl Mapping {
    /// Lower-case name for status pages and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Mapping::Open => "open",
            Mapping::Independent => "endpoint-independent",
            Mapping::AddressDependent => "address-dependent",
            Mapping::AddressPortDependent => "address-port-dependent",
            Mapping::Unknown => "unknown",
        }
    }
}

impl Filtering {
    /// Lower-case name for status pages and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Filtering::Open => "open",
            Filtering::Independent => "endpoint-independent",
            Filtering::AddressDependent => "address-dependent",
            Filtering::AddressPortDependent => "address-port-dependent",
            Filtering::Unknown => "unknown",
        }
    }
}

/// What the classifier found.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct NatReport {
    /// Mapping behaviour.
    pub mapping: Mapping,
    /// Filtering behaviour.
    pub filtering: Filtering,
    /// Our address as the primary server saw it (`None`: no answer at all).
    pub public_addr: Option<SocketAddr>,
    /// The server's alternate address (OTHER-ADDRESS or configured).
    pub other: Option<SocketAddr>,
    /// Whether an alternate IP was available (else address dependence was not tested: a NAT
    /// reported `Independent` might still be address-dependent).
    pub alt_ip_tested: bool,
}

impl NatReport {
    /// The classic name of the combination, for status pages: `open`, `full-cone`,
    /// `restricted-cone`, `port-restricted-cone`, `symmetric` or `unknown`.
    pub fn type_name(&self) -> &'static str {
        match (self.mapping, self.filtering) {
            (Mapping::Open, _) => "open",
            (Mapping::Independent, Filtering::Independent) => "full-cone",
            (Mapping::Independent, Filtering::AddressDependent) => "restricted-cone",
            (Mapping::Independent, Filtering::AddressPortDependent) => "port-restricted-cone",
            (Mapping::AddressDependent | Mapping::AddressPortDependent, _) => "symmetric",
            _ => "unknown",
        }
    }
}

/// Classifier settings.
#[derive(Copy, Clone, Debug)]
pub struct ClassifyConfig {
    /// The server's primary address.
    pub server: SocketAddr,
    /// The alternate address, if known in advance (else OTHER-ADDRESS from the first answer).
    pub alt: Option<SocketAddr>,
    /// The socket's local address if known (to recognise "no NAT").
    pub local: Option<SocketAddr>,
    /// Initial retransmission timeout (RFC 8489: 500 ms).
    pub rto: Duration,
    /// Requests per test (RFC 8489's Rc is 7; 3–4 keeps a run to seconds).
    pub max_tries: u8,
    /// Pad requests to [`PADDED_LEN`] so a no-amplification server sends its full answer.
    pub pad: bool,
    /// Seed for transaction ids.
    pub seed: u64,
}

/// Length requests are padded to: the largest full answer of a tvmesh root (IPv6).
pub const PADDED_LEN: usize = 100;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Test {
    Primary,
    FilterBoth,
    FilterPort,
    MapAltIp,
    MapAltBoth,
}

/// The classifier. See the module docs for the driving contract.
pub struct Classifier {
    cfg: ClassifyConfig,
    test: Option<Test>,
    txid: [u8; 12],
    rng: u64,
    tries: u8,
    next_send: Option<Instant>,
    give_up: Option<Instant>,
    report: NatReport,
    done: bool,
    mapped_alt_ip: Option<SocketAddr>,
}

impl Classifier {
    /// A classifier that starts sending at the first `poll_transmit`.
    pub fn new(cfg: ClassifyConfig) -> Classifier {
        let mut c = Classifier {
            cfg,
            test: None,
            txid: [0; 12],
            rng: cfg.seed | 1,
            tries: 0,
            next_send: None,
            give_up: None,
            report: NatReport {
                mapping: Mapping::Unknown,
                filtering: Filtering::Unknown,
                public_addr: None,
                other: cfg.alt,
                alt_ip_tested: false,
            },
            done: false,
            mapped_alt_ip: None,
        };
        c.start(Test::Primary, None);
        c
    }

    /// The result, once every test has finished.
    pub fn report(&self) -> Option<NatReport> {
        self.done.then_some(self.report)
    }

    fn next_rand(&mut self) -> u64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn start(&mut self, t: Test, now: Option<Instant>) {
        let a = self.next_rand().to_le_bytes();
        let b = self.next_rand().to_le_bytes();
        self.txid[..8].copy_from_slice(&a);
        self.txid[8..].copy_from_slice(&b[..4]);
        self.test = Some(t);
        self.tries = 0;
        // `None`: send at the first poll, whatever its time.
        self.next_send = now;
        self.give_up = None;
    }

    fn finish(&mut self) {
        self.test = None;
        self.done = true;
        self.next_send = None;
        self.give_up = None;
    }

    /// (destination, change IP, change port, where the answer must come from) for test `t`.
    fn plan(&self, t: Test) -> Option<(SocketAddr, bool, bool, SocketAddr)> {
        let p = self.cfg.server;
        if t == Test::Primary {
            return Some((p, false, false, p));
        }
        let o = self.report.other?;
        let alt_ip = o.ip() != p.ip();
        let alt_port = o.port() != p.port();
        let at = |ip, port| SocketAddr::new(ip, port);
        match t {
            Test::FilterBoth if alt_ip && alt_port => Some((p, true, true, o)),
            Test::FilterPort if alt_port => Some((p, false, true, at(p.ip(), o.port()))),
            Test::MapAltIp if alt_ip => {
                Some((at(o.ip(), p.port()), false, false, at(o.ip(), p.port())))
            }
            Test::MapAltIp if alt_port => {
                Some((at(p.ip(), o.port()), false, false, at(p.ip(), o.port())))
            }
            Test::MapAltBoth if alt_ip && alt_port => Some((o, false, false, o)),
            _ => None,
        }
    }

    /// The next request to send, written into `buf`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let t = self.test?;
        if self.next_send.is_some_and(|s| s > now) || self.tries >= self.cfg.max_tries {
            return None;
        }
        let Some((dst, ci, cp, _)) = self.plan(t) else {
            // Test not possible with this server: conclude as if it timed out.
            self.conclude(now, None);
            return self.poll_transmit(now, buf);
        };
        let len = self.request(ci, cp, buf).ok()?;
        self.tries += 1;
        let wait = self.cfg.rto * (1u32 << (self.tries - 1).min(16));
        self.next_send = Some(now + wait);
        if self.tries >= self.cfg.max_tries {
            self.give_up = Some(now + wait);
            self.next_send = None;
        }
        Some(Transmit { dst, len })
    }

    fn request(&self, ci: bool, cp: bool, buf: &mut [u8]) -> Result<usize, StunError> {
        let mut b = Builder::binding(Class::Request, self.txid, buf)?;
        let mut len = crate::stun::HEADER;
        if ci || cp {
            b.change_request(ci, cp)?;
            len += 8;
        }
        if self.cfg.pad && len + 8 + 4 < PADDED_LEN {
            b.padding(PADDED_LEN - len - 8 - 4)?;
        }
        b.finish_with_fingerprint()
    }

    /// When to call [`Classifier::handle_timeout`] (or poll again) next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_send.or(self.give_up)
    }

    /// Advances timers: a test whose last request went unanswered concludes "no answer".
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.give_up.is_some_and(|g| g <= now) {
            self.conclude(now, None);
        }
    }

    /// Feeds a datagram received on the classifier's socket. Returns whether it was consumed
    /// (a STUN answer to the current test); other datagrams are left to the caller.
    pub fn handle_response(&mut self, now: Instant, from: SocketAddr, d: &[u8]) -> bool {
        let Some(t) = self.test else { return false };
        let Ok(m) = Stun::parse(d) else { return false };
        if m.txid != self.txid || m.method != 1 {
            return false;
        }
        if m.class == Class::Error && self.cfg.pad {
            // A server that rejects PADDING (comprehension-required): retry unpadded, at once.
            self.cfg.pad = false;
            self.tries = 0;
            self.next_send = Some(now);
            self.give_up = None;
            return true;
        }
        let Some((_, _, _, want_from)) = self.plan(t) else {
            return false;
        };
        if m.class != Class::Success || (from != want_from && t != Test::Primary) {
            return false;
        }
        if t == Test::Primary && self.report.other.is_none() {
            self.report.other = m.other_address();
        }
        self.conclude(now, m.mapped());
        true
    }

    /// Ends the current test with `mapped` (`None`: no answer) and starts the next.
    fn conclude(&mut self, now: Instant, mapped: Option<SocketAddr>) {
        let Some(t) = self.test else { return };
        let r = &mut self.report;
        let other = r.other;
        let alt_ip = other.is_some_and(|o| o.ip() != self.cfg.server.ip());
        match t {
            Test::Primary => {
                r.public_addr = mapped;
                let Some(m) = mapped else {
                    return self.finish();
                };
                if self.cfg.local.is_some_and(|l| l == m) {
                    r.mapping = Mapping::Open;
                    r.filtering = Filtering::Open;
                    return self.finish();
                }
                if other.is_none() {
                    return self.finish();
                }
                r.alt_ip_tested = alt_ip;
                self.start(Test::FilterBoth, Some(now));
            }
            Test::FilterBoth => {
                if mapped.is_some() {
                    r.filtering = Filtering::Independent;
                    self.start(Test::MapAltIp, Some(now));
                } else {
                    self.start(Test::FilterPort, Some(now));
                }
            }
            Test::FilterPort => {
                r.filtering = match (mapped.is_some(), alt_ip) {
                    (true, true) => Filtering::AddressDependent,
                    // Port-only server: an answer from another port says "not port-dependent".
                    (true, false) => Filtering::Independent,
                    (false, _) => Filtering::AddressPortDependent,
                };
                self.start(Test::MapAltIp, Some(now));
            }
            Test::MapAltIp => {
                self.mapped_alt_ip = mapped;
                match mapped {
                    None => self.finish(),
                    Some(m) if Some(m) == r.public_addr => {
                        r.mapping = Mapping::Independent;
                        self.finish();
                    }
                    Some(_) if !alt_ip => {
                        r.mapping = Mapping::AddressPortDependent;
                        self.finish();
                    }
                    Some(_) => self.start(Test::MapAltBoth, Some(now)),
                }
            }
            Test::MapAltBoth => {
                r.mapping = match mapped {
                    None => Mapping::Unknown,
                    Some(m) if Some(m) == self.mapped_alt_ip => Mapping::AddressDependent,
                    Some(_) => Mapping::AddressPortDependent,
                };
                self.finish();
            }
        }
    }
}

#[cfg(test)]
mod tests;
