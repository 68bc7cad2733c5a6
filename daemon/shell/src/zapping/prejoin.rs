//! Neighbour pre-join: thin memberships in the channels a viewer is likely to zap to next
//! (number +1, number −1 and the previous channel), so a zap to one of them writes its latest
//! random-access chunk run at once, with no network round trip, and then continues from its swarm.
//!
//! A thin membership is an ordinary core `Peer` on its own UDP socket (the root keeps one session
//! per box address, so each membership needs its own port), with:
//! - a pool of `prejoin_kib` KiB (config; `prejoin=no` turns the whole thing off, as boxes with
//!   64 MiB should) — it holds the channel's last seconds, so its latest key frame run is there;
//! - no output open: nothing is written anywhere until it is promoted;
//! - no children (`max_child_substreams = 0`), at most 2 partners, announced upload 0 and not
//!   reachable: it never serves pushes, so its upload cost is only control traffic and the odd
//!   repair a partner requests; the root does not list it in other boxes' peer samples, and any
//!   box announcing upload (`upload_kbps` > 0) takes its place among the root's seeds.
//!
//! Its download cost is the channel's full stream rate (the core has no "key frames only"
//! subscription yet), so `MAX_THIN` memberships cost at most 3 stream rates extra downstream.
//!
//! On a zap to a held channel the run loop takes the membership ([`Prejoin::take`]), swaps its
//! socket and `Peer` in as the active ones, and hands the old active membership back through
//! [`Prejoin::plan`], which keeps it as a thin member if it is a neighbour of the new channel
//! (it already holds the stream) and otherwise makes it LEAVE. `plan` then joins the missing
//! neighbours and leaves the ones no longer wanted. `Peer::set_serving` gives the promoted
//! membership the box's partners, children and upload cap, and takes them from the one that
//! goes thin. A promoted membership keeps its `prejoin_kib` pool: size it to hold at least one
//! key-frame interval plus the sink queue.
//!
//! Invariants: at most [`MAX_THIN`] memberships, each with a fixed pool; sockets live under the
//! tokens `TOKEN_THIN ..= TOKEN_THIN + MAX_THIN - 1`, one per slot; a membership that goes sends
//! LEAVE before its socket closes; nothing blocks (the sockets are non-blocking, work per call is
//! bounded by the core and the receive batch).

use super::ZapTarget;
use crate::net::Udp;
use crate::reactor::{Reactor, Token};
use std::io;
use std::net::SocketAddr;
use tvmesh_core::nat::server::{kind, Kind};
use tvmesh_core::peer::{Peer, PeerConfig};
use tvmesh_core::time::{earliest, Instant};

/// Thin memberships at most: +1, −1 and previous.
pub const MAX_THIN: usize = 3;
/// Token of slot 0; slot i uses `TOKEN_THIN + i`.
pub const TOKEN_THIN: Token = 40;

/// One membership: a socket, its `Peer` and the channel number.
pub struct Thin {
    pub udp: Udp,
    pub peer: Peer,
    pub number: u16,
    /// The `Peer`'s (bytes in, bytes uploaded, control bytes) when it became thin.
    pub base: [u64; 3],
}

fn counters(p: &Peer) -> [u64; 3] {
    let s = p.stats();
    [s.bytes_in, s.bytes_uploaded, s.control_bytes]
}

/// `acc += m`'s counters since it became thin.
fn add_thin_time(acc: &mut [u64; 3], m: &Thin) {
    for ((a, now), base) in acc.iter_mut().zip(counters(&m.peer)).zip(m.base) {
        *a += now.saturating_sub(base);
    }
}

/// Counters.
#[derive(Copy, Clone, Debug, Default, serde::Serialize)]
pub struct PrejoinStats {
    /// Thin memberships now.
    pub members: usize,
    /// Zaps to a held channel.
    pub hits: u64,
    /// Zaps to a channel not held.
    pub misses: u64,
    /// Thin joins started.
    pub joins: u64,
    /// Pool per membership, KiB (0: pre-join off).
    pub pool_kib: usize,
    /// Stream bytes received, chunk bytes uploaded and control bytes sent by memberships while
    /// they were thin (the cost of pre-join).
    pub bytes_in: u64,
    pub bytes_uploaded: u64,
    pub control_bytes: u64,
}

/// The thin memberships. See the module documentation.
pub struct Prejoin {
    enabled: bool,
    cfg: PeerConfig,
    listen: SocketAddr,
    slots: Vec<Option<Thin>>,
    seed: u64,
    stats: PrejoinStats,
    /// Thin-time counters of memberships that went (promoted or left).
    done: [u64; 3],
}

impl Prejoin {
    /// Thin memberships derived from the active box's `active` config; `listen` is the data
    /// socket's address (its port is not reused: each membership binds port 0 on that IP).
    pub fn new(
        enabled: bool,
        kib: usize,
        active: &PeerConfig,
        listen: SocketAddr,
        seed: u64,
    ) -> Prejoin {
        let cfg = PeerConfig {
            pool_bytes: kib * 1024,
            max_partners: 2,
            max_child_substreams: 0,
            upload_kbps: 0,
            reachable: false,
            ..active.clone()
        };
        Prejoin {
            enabled,
            cfg,
            listen: SocketAddr::new(listen.ip(), 0),
            slots: (0..MAX_THIN).map(|_| None).collect(),
            seed,
            done: [0; 3],
            stats: PrejoinStats {
                pool_kib: if enabled { kib } else { 0 },
                ..PrejoinStats::default()
            },
        }
    }

    /// Counters. (A promoted membership keeps its `prejoin_kib` pool while it is on screen; the
    /// next zap to a channel not held builds a full-size `Peer` again.)
    pub fn stats(&self) -> PrejoinStats {
        let mut c = self.done;
        for m in self.slots.iter().flatten() {
            add_thin_time(&mut c, m);
        }
        PrejoinStats {
            members: self.slots.iter().flatten().count(),
            bytes_in: c[0],
            bytes_uploaded: c[1],
            control_bytes: c[2],
            ..self.stats
        }
    }

    /// Whether `token` is one of the memberships' sockets.
    pub fn owns(&self, token: Token) -> bool {
        (TOKEN_THIN..TOKEN_THIN + MAX_THIN as Token).contains(&token)
    }

    /// A membership's socket is readable.
    pub fn on_readable(&mut self, now: Instant, token: Token, buf: &mut [u8]) {
        let Some(Some(m)) = self.slots.get_mut((token - TOKEN_THIN) as usize) else {
            return;
        };
        let Thin { udp, peer, .. } = m;
        udp.recv_batch(buf, |from, d| {
            if kind(d) != Kind::Stun {
                peer.handle_datagram(now, from, d);
            }
        });
    }

    /// Runs the memberships' timers; their events are only logged (debug).
    pub fn handle_timeout(&mut self, now: Instant) {
        for m in self.slots.iter_mut().flatten() {
            m.peer.handle_timeout(now);
            while let Some(e) = m.peer.poll_event() {
                log::debug!("pre-joined {}: {e:?}", m.number);
            }
        }
    }

    /// The earliest membership timer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.slots
            .iter()
            .flatten()
            .fold(None, |t, m| earliest(t, m.peer.poll_timeout()))
    }

    /// Sends what the memberships have to send.
    pub fn drain(&mut self, now: Instant, reactor: &Reactor, tx: &mut [u8]) -> io::Result<()> {
        for (i, m) in self.slots.iter_mut().enumerate() {
            if let Some(Thin { udp, peer, .. }) = m {
                udp.drain(reactor, TOKEN_THIN + i as Token, tx, |b| {
                    peer.poll_transmit(now, b)
                })?;
            }
        }
        Ok(())
    }

    /// Takes the membership of channel `number` for promotion (counts a hit or a miss).
    pub fn take(&mut self, number: u16) -> Option<Thin> {
        let slot = self
            .slots
            .iter_mut()
            .find(|s| s.as_ref().is_some_and(|m| m.number == number));
        match slot.and_then(Option::take) {
            Some(m) => {
                self.stats.hits += 1;
                add_thin_time(&mut self.done, &m);
                Some(m)
            }
            None => {
                self.stats.misses += 1;
                None
            }
        }
    }

    /// Keeps memberships for `wanted` (at most [`MAX_THIN`] are taken): leaves the others,
    /// adopts `spare` (the membership that was on screen) if wanted, joins the missing ones.
    pub fn plan(
        &mut self,
        now: Instant,
        reactor: &Reactor,
        tx: &mut [u8],
        wanted: &[ZapTarget],
        spare: Option<Thin>,
    ) -> io::Result<()> {
        let wanted = if self.enabled {
            &wanted[..wanted.len().min(MAX_THIN)]
        } else {
            &[][..]
        };
        for i in 0..self.slots.len() {
            let going = self.slots[i]
                .as_ref()
                .is_some_and(|m| !wanted.iter().any(|w| w.number == m.number));
            if let Some(m) = self.slots[i].take_if(|_| going) {
                add_thin_time(&mut self.done, &m);
                leave(m, now, reactor, tx)?;
            }
        }
        if let Some(mut m) = spare {
            let c = &self.cfg;
            m.peer
                .set_serving(now, c.max_partners, c.max_child_substreams, c.upload_kbps);
            m.base = counters(&m.peer);
            let free = self.slots.iter().position(Option::is_none);
            match free {
                Some(i) if wanted.iter().any(|w| w.number == m.number) => {
                    m.udp.retoken(reactor, TOKEN_THIN + i as Token)?;
                    self.slots[i] = Some(m);
                }
                _ => leave(m, now, reactor, tx)?,
            }
        }
        for w in wanted {
            if self.slots.iter().flatten().any(|m| m.number == w.number) {
                continue;
            }
            let Some(i) = self.slots.iter().position(Option::is_none) else {
                break;
            };
            let udp = Udp::bind(self.listen)?;
            reactor.add(&udp.sock, TOKEN_THIN + i as Token, true, false)?;
            self.stats.joins += 1;
            let cfg = PeerConfig {
                seed: self.seed ^ self.stats.joins.wrapping_mul(0x9E37_79B9_7F4A_7C15),
                ..self.cfg.clone()
            };
            let peer = Peer::new(cfg, w.root, &w.name, now)
                .map_err(|e| io::Error::other(format!("pre-join {}: {e:?}", w.name)))?;
            log::debug!("pre-joining {} {}", w.number, w.name);
            self.slots[i] = Some(Thin {
                udp,
                peer,
                number: w.number,
                base: [0; 3],
            });
        }
        Ok(())
    }
}

/// Sends the membership's LEAVE (best effort: a full socket drops it; the root times it out)
/// and closes its socket.
fn leave(mut m: Thin, now: Instant, reactor: &Reactor, tx: &mut [u8]) -> io::Result<()> {
    m.peer.leave();
    // Only the LEAVE messages: a bounded number of datagrams (root + partners).
    for _ in 0..16 {
        let Some(t) = m.peer.poll_transmit(now, tx) else {
            break;
        };
        if !m.udp.send(t.dst, &tx[..t.len]) {
            break;
        }
    }
    reactor.remove(&m.udp.sock);
    Ok(())
}
