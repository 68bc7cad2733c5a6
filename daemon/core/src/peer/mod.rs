//! The box: joins a channel, gets it from partners and the root, plays it, shares it.
//!
//! Driving contract as for every core state machine: `handle_datagram` / `handle_timeout`, then
//! drain [`Peer::poll_transmit`] and [`Peer::poll_event`], then sleep until [`Peer::poll_timeout`].
//! Outputs (the decoder sink, HTTP viewers) read through [`Peer::output_peek`] /
//! [`Peer::output_advance`].
//!
//! The mesh, in one paragraph: the root answers a JOIN with the channel's position and a sample of
//! peers. The box greets some of them (HELLO) and keeps up to `max_partners`. Partners exchange
//! buffer maps every `map_interval`. For each of the 4 substreams the box picks a parent — the
//! freshest partner with upload to spare, else the root — and SUBSCRIBEs; the parent pushes that
//! substream's chunks as soon as it has them. A chunk missing from its substream is REQUESTed from a
//! partner whose map shows it, or after `urgent_after` from the root. A parent that goes quiet or
//! falls behind is replaced. The box serves its own children through a token bucket whose rate a
//! LEDBAT controller sets from the queueing delay they report.
//!
//! Invariants: the pool, miss table, partner table, candidate list, queues and outputs are sized
//! at construction; receiving, requesting, serving and writing outputs never allocate. Datagrams
//! are acted on only from the root or a known partner (HELLO excepted). The play head never moves
//! backwards within a stream epoch.

mod fresh;
mod info;
mod integrity;
mod licence;
mod partner;
mod play;
mod punch;
mod repair;
mod sched;
mod serve;
mod types;

pub use integrity::IntegrityStats;
pub use licence::{DeviceIdentity, DrmState, DrmStats};
pub use punch::{PathKind, PunchInfo, MAX_PUNCHES, REPORT_EVERY};
pub use types::{JoinStep, PartnerInfo, PeerConfig, PeerError, PeerEvent, PeerState, PeerStats};

use crate::output::{OutputId, OutputStats, Outputs};
use crate::pool::ChunkPool;
use crate::ring::{ReportLimit, Ring, Rng};
use crate::time::{earliest, Instant};
use crate::upload::{substream, Budget, Ledbat, SUBSTREAMS};
use crate::wire::{Message, NakReason, MAX_MAP, MAX_NAME};
use crate::Transmit;
use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;
use partner::Partner;

/// Sequence numbers tracked for loss recovery (a window of 8 × MAX_MAP chunks).
/// "Not measured" for a source delay (also what the wire carries for it).
pub const NO_DELAY: u16 = u16::MAX;
/// Chunks of the miss window.
pub const MISS_WINDOW: usize = 8 * MAX_MAP;
/// The largest `PeerConfig::max_partners` (the table holds up to 2 more, greeted by others).
pub const MAX_PARTNERS: usize = 8;
/// Keepalive interval of a box the root feeds directly (see `root::SEED_SILENT`).
pub const SEED_KEEPALIVE: Duration = Duration::from_millis(250);
/// Control messages waiting to be sent.
const CTRL_CAP: usize = 64;
/// Events waiting to be polled.
const EVENT_CAP: usize = 32;
/// Peer addresses remembered for greeting.
const CANDIDATES: usize = 32;

#[derive(Copy, Clone, Debug)]
struct Miss {
    seq: u64,
    since: Instant,
    last_req: Option<Instant>,
    /// Requests sent so far: each retry waits twice as long as the one before.
    tries: u8,
}

/// Who feeds a substream.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Parent {
    None,
    Root,
    /// A partner, by token.
    Partner(u32),
}

enum State {
    Joining {
        nonce: u32,
        next_try: Instant,
        backoff: Duration,
    },
    Playing {
        channel: u16,
        token: u32,
        next_keepalive: Instant,
        last_chunk: Instant,
    },
    Refused {
        reason: NakReason,
        nonce: u32,
        next_try: Instant,
    },
}

/// A control message waiting to be sent.
#[derive(Clone, Copy, Debug)]
enum Ctrl {
    Hello {
        nonce: u32,
    },
    HelloAck {
        nonce: u32,
        accept: bool,
    },
    Map {
        token: u32,
    },
    Subscribe {
        token: u32,
        mask: u8,
        from_seq: u64,
    },
    SubAck {
        token: u32,
        accepted: u8,
        refused: u8,
    },
    Peers,
    Request {
        token: u32,
        base: u64,
        map: [u8; MAX_MAP],
        len: u8,
    },
    Leave {
        token: u32,
    },
}

/// The box state machine for one channel.
pub struct Peer {
    cfg: PeerConfig,
    root: SocketAddr,
    name: [u8; MAX_NAME],
    name_len: usize,
    state: State,
    pool: ChunkPool,
    outputs: Outputs,
    miss: Vec<Option<Miss>>,
    miss_lo: u64,
    sub_seen: [Option<u64>; SUBSTREAMS],
    play: u64,
    highest: Option<u64>,
    partners: Vec<Partner>,
    candidates: [(SocketAddr, u8, Instant); CANDIDATES],
    n_candidates: usize,
    parents: [Parent; SUBSTREAMS],
    parent_since: [Instant; SUBSTREAMS],
    root_refused_until: [Instant; SUBSTREAMS],
    /// Substreams whose parent was a root seed and went away: its siblings are cut off too, so
    /// the box asks the root first (bit per substream).
    seed_lost: u8,
    /// Per substream: this box's hops from the root when it last had a parent, and when that
    /// was. A new parent must be no deeper than that, or fresher (`sched`'s feasibility rule),
    /// so a box never takes one of its own descendants as parent while their maps are stale.
    feasible: [(u8, Instant); SUBSTREAMS],
    /// Hops per substream as of the last scheduler tick (a change triggers MAPs to children).
    hops_seen: [u8; SUBSTREAMS],
    root_last_chunk: [Option<Instant>; SUBSTREAMS],
    /// Per substream: the newest chunk the root pushed us, and how fresh our path from the root
    /// is (the newest chunk it delivered, `fresh.rs`; 0 none), sent in MAP.
    root_top: [u64; SUBSTREAMS],
    fresh: [u64; SUBSTREAMS],
    budget: Budget,
    ledbat: Ledbat,
    ctrl: Ring<(SocketAddr, Ctrl)>,
    rng: Rng,
    events: Ring<PeerEvent>,
    bad_reports: ReportLimit,
    now: Instant,
    started: Instant,
    next_tick: Instant,
    last_peers_ask: Option<Instant>,
    first_output: Option<Instant>,
    /// When the join reached each step ([`JoinStep`]; the last, first output, is `first_output`).
    join_marks: [Option<Instant>; JoinStep::Output as usize],
    root_offset_ms: i64,
    /// Smoothed age (ms) of each substream's newest chunks on arrival: how far from the source
    /// this box sits in that substream's tree ([`NO_DELAY`] until measured).
    src_delay_ms: [u16; SUBSTREAMS],
    last_play_stamp: Option<u32>,
    rr: usize,
    chan: Option<u16>,
    /// Rate measured from chunks received: (window start, bytes in window).
    rate_window: (Instant, u64),
    /// When the start point was named (JOIN_ACK) or last moved on (`play.rs`).
    start_at: Instant,
    leaving: bool,
    stats: PeerStats,
    integrity: integrity::BoxIntegrity,
    /// Licences and descrambling (issue 6, peer/licence.rs).
    drm: licence::BoxLicence,
    /// Hole punching and REPORTs (peer/punch.rs).
    nat: punch::Punches,
}

impl Peer {
    /// A box that will join `channel` at `root`, with all memory allocated now.
    pub fn new(
        cfg: PeerConfig,
        root: SocketAddr,
        channel: &str,
        now: Instant,
    ) -> Result<Self, PeerError> {
        let n = channel.as_bytes();
        if n.is_empty() || n.len() > MAX_NAME {
            return Err(PeerError::ChannelName);
        }
        if !(1..=MAX_PARTNERS).contains(&cfg.max_partners) {
            return Err(PeerError::MaxPartners);
        }
        let mut name = [0u8; MAX_NAME];
        name[..n.len()].copy_from_slice(n);
        let pool = if cfg.metadata_only {
            ChunkPool::metadata_only(cfg.pool_bytes)
        } else {
            ChunkPool::with_budget(cfg.pool_bytes)
        }
        .map_err(PeerError::Pool)?;
        // An output may lag at most half the pool, so its chunks are never evicted under it.
        let queue = cfg.output_queue_chunks.min(pool.slots() as u64 / 2);
        let mut rng = Rng::new(cfg.seed);
        let nonce = rng.next_nonzero_u32();
        let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
        let ledbat = Ledbat::new(u64::from(cfg.upload_kbps) * 1000, now);
        let integrity = integrity::BoxIntegrity::new(
            n,
            cfg.channel_key,
            cfg.pending_chunks,
            2 * cfg.max_partners + 2,
            cfg.verify,
        );
        Ok(Peer {
            integrity,
            drm: licence::BoxLicence::new(cfg.device.clone(), n),
            outputs: Outputs::new(cfg.outputs.max(1), queue),
            state: State::Joining {
                nonce,
                next_try: now,
                backoff: cfg.join_retry,
            },
            miss: alloc::vec![None; MISS_WINDOW],
            miss_lo: 0,
            sub_seen: [None; SUBSTREAMS],
            partners: Vec::with_capacity(cfg.max_partners + sched::INBOUND_SLACK),
            candidates: [(unspecified, 0, Instant::ZERO); CANDIDATES],
            n_candidates: 0,
            parents: [Parent::None; SUBSTREAMS],
            parent_since: [now; SUBSTREAMS],
            root_refused_until: [Instant::ZERO; SUBSTREAMS],
            seed_lost: 0,
            feasible: [(crate::wire::HOPS_NONE, now); SUBSTREAMS],
            hops_seen: [crate::wire::HOPS_NONE; SUBSTREAMS],
            root_last_chunk: [None; SUBSTREAMS],
            root_top: [0; SUBSTREAMS],
            fresh: [0; SUBSTREAMS],
            budget: Budget::new(ledbat.rate_bps(), 16 * 1024, now),
            ledbat,
            ctrl: Ring::new(CTRL_CAP),
            cfg,
            root,
            name,
            name_len: n.len(),
            pool,
            play: 0,
            highest: None,
            rng,
            events: Ring::new(EVENT_CAP),
            bad_reports: ReportLimit::default(),
            now,
            started: now,
            next_tick: now,
            last_peers_ask: None,
            first_output: None,
            join_marks: [None; JoinStep::Output as usize],
            root_offset_ms: 0,
            src_delay_ms: [NO_DELAY; SUBSTREAMS],
            last_play_stamp: None,
            rr: 0,
            chan: None,
            rate_window: (now, 0),
            start_at: now,
            leaving: false,
            stats: PeerStats::default(),
            nat: punch::Punches::new(),
        })
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<PeerEvent> {
        self.events.pop()
    }

    /// Changes how much this box serves, for a membership that changes role (a pre-joined
    /// neighbour channel promoted to the one on screen, or the reverse): from now on it keeps up
    /// to `max_partners` partners and serves children at `upload_kbps` (0: no cap) up to
    /// `max_child_substreams`. Children and partners over the new limits are shed by the
    /// scheduler as usual. The pool keeps its size; the partner table's room is reserved here.
    pub fn set_serving(
        &mut self,
        now: Instant,
        max_partners: usize,
        max_child_substreams: u32,
        upload_kbps: u32,
    ) {
        self.cfg.max_partners = max_partners;
        self.cfg.max_child_substreams = max_child_substreams;
        self.cfg.upload_kbps = upload_kbps;
        self.ledbat = Ledbat::new(u64::from(upload_kbps) * 1000, now);
        self.budget.set_rate(self.ledbat.rate_bps());
        let room = (max_partners + 1).saturating_sub(self.partners.len());
        self.partners.reserve(room);
    }

    /// Sends LEAVE to the root and partners on the next `poll_transmit` calls (shutdown).
    pub fn leave(&mut self) {
        self.leaving = true;
        for i in 0..self.partners.len() {
            let (addr, token) = (self.partners[i].addr, self.partners[i].token);
            self.ctrl.push((addr, Ctrl::Leave { token }));
        }
    }

    /// A datagram arrived from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        self.now = now;
        if punch::is_nat(bytes) {
            self.on_nat(now, from, bytes);
            return;
        }
        let msg = match Message::parse(bytes) {
            Ok(m) => m,
            Err(error) => {
                self.stats.bad_datagrams += 1;
                if self.bad_reports.due(now) {
                    let total = self.stats.bad_datagrams;
                    self.events
                        .push(PeerEvent::BadDatagram { from, error, total });
                }
                return;
            }
        };
        let Some(msg) = self.screen(now, from, msg) else {
            return;
        };
        if from == self.root {
            self.on_root(now, msg, bytes.len());
        } else {
            self.on_partner(now, from, msg, bytes.len());
        }
    }

    fn on_root(&mut self, now: Instant, msg: Message<'_>, len: usize) {
        match msg {
            Message::JoinAck {
                channel,
                nonce,
                token,
                rap_seq,
                bitrate_kbps,
                now_ms,
                flags,
                ..
            } => {
                let ours = match self.state {
                    State::Joining { nonce: n, .. } | State::Refused { nonce: n, .. } => n == nonce,
                    State::Playing { .. } => false,
                };
                if ours {
                    self.root_offset_ms = now.as_millis() as i64 - i64::from(now_ms);
                    self.on_join_ack(now, channel, token, rap_seq, bitrate_kbps);
                    self.drm_on_join(now, flags);
                } else {
                    self.stats.ignored += 1;
                }
            }
            Message::JoinNak {
                reason: NakReason::UnknownSession,
                ..
            } => {
                if let State::Playing { .. } = self.state {
                    // The root forgot us (session expired, root restarted): register again and
                    // keep playing from partners meanwhile.
                    let nonce = self.rng.next_nonzero_u32();
                    self.state = State::Joining {
                        nonce,
                        next_try: now,
                        backoff: self.cfg.join_retry,
                    };
                }
            }
            Message::JoinNak { nonce, reason } => match self.state {
                State::Joining { nonce: n, .. } if n == nonce => {
                    self.events.push(PeerEvent::Refused { reason });
                    self.state = State::Refused {
                        reason,
                        nonce,
                        next_try: now + self.cfg.join_retry_max,
                    };
                }
                _ => self.stats.ignored += 1,
            },
            Message::Peers { peers, .. } => {
                for (a, flags) in peers.iter() {
                    self.add_candidate(a, flags);
                }
            }
            Message::Licence { body, .. } => self.on_licence(now, body),
            Message::SubAck {
                token,
                accepted,
                refused,
                ..
            } if self.root_token() == Some(token) => {
                self.nat.relayed = accepted >> 4;
                for s in 0..SUBSTREAMS {
                    let bit = 1 << s;
                    if refused & bit != 0 && self.parents[s] == Parent::Root {
                        self.parents[s] = Parent::None;
                        self.root_refused_until[s] = now + Duration::from_secs(2);
                    }
                    let _ = accepted;
                }
            }
            Message::Chunk {
                channel,
                info,
                sent_us,
                payload,
            } => {
                if self.chan != Some(channel) {
                    self.stats.ignored += 1;
                    return;
                }
                self.stats.bytes_from_root += len as u64;
                self.count_relayed(info.seq, len);
                // Only a chunk past what we hold shows the root pushing to us; repairs it answers
                // for older ones do not (else a box it no longer seeds would wait on it forever).
                let s = substream(info.seq);
                if self.sub_seen[s].is_none_or(|t| info.seq > t) {
                    self.root_last_chunk[s] = Some(now);
                    self.root_top[s] = info.seq;
                }
                let _ = sent_us;
                self.on_chunk(now, info, payload, true);
            }
            _ => self.stats.ignored += 1,
        }
    }

    fn root_token(&self) -> Option<u32> {
        match self.state {
            State::Playing { token, .. } => Some(token),
            _ => None,
        }
    }

    /// The channel id, known from the first JOIN_ACK on (kept while joining again).
    fn channel(&self) -> Option<u16> {
        self.chan
    }

    /// Stores a chunk from the root (`from_root`) or a partner.
    fn on_chunk(
        &mut self,
        now: Instant,
        info: crate::chunk::ChunkInfo,
        payload: &[u8],
        from_root: bool,
    ) -> bool {
        let seq = info.seq;
        let slots = self.pool.slots() as u64;
        if self.highest.is_some_and(|h| seq > h + slots) {
            if !from_root {
                // A partner far ahead of us is on another epoch or lying: ignore it.
                self.stats.ignored += 1;
                return false;
            }
            self.new_epoch(seq);
        }
        if seq < self.play || !self.pool.insert(info, payload) {
            self.stats.duplicates += 1;
            return false;
        }
        if let State::Playing {
            ref mut last_chunk, ..
        } = self.state
        {
            *last_chunk = now;
        }
        self.stats.chunks_in += 1;
        self.mark(JoinStep::Chunk, now);
        if seq == self.play {
            self.mark(JoinStep::Start, now);
        }
        self.stats.bytes_in += payload.len() as u64;
        self.measure_rate(now, payload.len());
        // A later chunk of the same substream arrived: the ones skipped in between are missing.
        let s = substream(seq);
        let prev = self.sub_seen[s].unwrap_or_else(|| {
            crate::upload::first_in(s, self.play).saturating_sub(SUBSTREAMS as u64)
        });
        if seq < prev {
            // Filled a gap: children whose push went past it get it now.
            for p in self.partners.iter_mut() {
                p.down.late(seq);
            }
        }
        if seq > prev && self.root_offset_ms != 0 {
            let root_now = (now.as_millis() as i64 - self.root_offset_ms) as u32;
            let age = (root_now.wrapping_sub(info.stamp_ms) as i32).clamp(0, 60_000) as u32;
            let d = &mut self.src_delay_ms[s];
            *d = if *d == NO_DELAY {
                age as u16
            } else {
                // EWMA with gain 1/8: a hop's jitter does not move it, a slower tree does.
                ((u32::from(*d) * 7 + age) / 8) as u16
            };
        }
        if seq > prev {
            let lo = (prev + SUBSTREAMS as u64)
                .max(seq.saturating_sub(MISS_WINDOW as u64))
                .max(self.play);
            let mut m = crate::upload::first_in(s, lo);
            while m < seq {
                self.mark_missing(m, now);
                m += SUBSTREAMS as u64;
            }
            self.sub_seen[s] = Some(seq);
        }
        if self.highest.is_none_or(|h| seq > h) {
            self.highest = Some(seq);
        }
        // Chunks older than the miss window can no longer be requested: pass over them now.
        let floor = seq.saturating_sub(MISS_WINDOW as u64);
        while self.play < floor {
            self.pass(self.play);
        }
        self.advance_play(now);
        true
    }

    fn add_candidate(&mut self, a: SocketAddr, flags: u8) {
        if self.is_banned(a)
            || self.partners.iter().any(|p| p.addr == a)
            || self.candidates[..self.n_candidates]
                .iter()
                .any(|c| c.0 == a)
        {
            return;
        }
        if self.n_candidates < CANDIDATES {
            self.candidates[self.n_candidates] = (a, flags, Instant::ZERO);
            self.n_candidates += 1;
        } else {
            let i = (self.rng.next_u64() % CANDIDATES as u64) as usize;
            self.candidates[i] = (a, flags, Instant::ZERO);
        }
    }

    /// Timers: joins, keepalives, the scheduler tick, give-ups, stall detection.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        self.integrity_tick(now);
        self.licence_tick(now);
        self.advance_play(now);
        if let State::Playing { last_chunk, .. } = self.state {
            if now.saturating_since(last_chunk) >= self.cfg.stall_timeout {
                self.events.push(PeerEvent::Stalled);
                let nonce = self.rng.next_nonzero_u32();
                self.state = State::Joining {
                    nonce,
                    next_try: now,
                    backoff: self.cfg.join_retry,
                };
            }
        }
        if let State::Refused { next_try, .. } = self.state {
            if now >= next_try {
                let nonce = self.rng.next_nonzero_u32();
                self.state = State::Joining {
                    nonce,
                    next_try: now,
                    backoff: self.cfg.join_retry_max,
                };
            }
        }
        self.nat_timeout(now);
        if now >= self.next_tick {
            self.next_tick = now + self.cfg.tick;
            if self.chan.is_some() {
                self.tick(now);
            }
        }
    }

    /// When [`Peer::handle_timeout`] or [`Peer::poll_transmit`] next has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let base = match self.state {
            State::Joining { next_try, .. } | State::Refused { next_try, .. } => {
                Some(if self.chan.is_some() {
                    next_try.min(self.next_tick)
                } else {
                    next_try
                })
            }
            State::Playing {
                next_keepalive,
                last_chunk,
                ..
            } => Some(
                next_keepalive
                    .min(last_chunk + self.cfg.stall_timeout)
                    .min(self.next_tick),
            ),
        };
        let base = earliest(base, self.integrity_timeout());
        let base = earliest(base, self.licence_timeout());
        let base = earliest(base, self.nat_poll_timeout());
        earliest(
            base,
            self.budget
                .ready_at(self.now)
                .filter(|_| self.upload_pending()),
        )
    }

    /// Writes the next datagram into `buf`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.now = now;
        if let Some(t) = self
            .poll_nat(now, buf)
            .or_else(|| self.poll_control(now, buf))
        {
            self.stats.control_bytes += t.len as u64;
            return Some(t);
        }
        if let Some(t) = self.poll_integrity(buf).or_else(|| self.poll_licence(buf)) {
            self.stats.control_bytes += t.len as u64;
            return Some(t);
        }
        self.poll_upload(now, buf)
    }

    fn poll_control(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if self.leaving {
            self.leaving = false;
            if let State::Playing { channel, token, .. } = self.state {
                let len = Message::Leave { channel, token }.emit(buf).ok()?;
                return Some(Transmit {
                    dst: self.root,
                    len,
                });
            }
        }
        let want_peers = self.wants_peers(now);
        let spare = self.has_spare_upload();
        match self.state {
            State::Joining {
                nonce,
                ref mut next_try,
                ref mut backoff,
            } => {
                if now >= *next_try {
                    *next_try = now + *backoff;
                    *backoff = (*backoff * 2).min(self.cfg.join_retry_max);
                    let flags = if self.advertised_reachable() {
                        crate::wire::FLAG_REACHABLE
                    } else {
                        0
                    };
                    let name = &self.name[..self.name_len];
                    let len = Message::Join {
                        nonce,
                        flags,
                        upload_kbps: self.cfg.upload_kbps,
                        name,
                    }
                    .emit(buf)
                    .ok()?;
                    return Some(Transmit {
                        dst: self.root,
                        len,
                    });
                }
                return None;
            }
            State::Refused { .. } => return None,
            State::Playing {
                channel,
                token,
                ref mut next_keepalive,
                ..
            } => {
                if now >= *next_keepalive {
                    // A seed (fed by the root) is watched closely: the root gives its place away
                    // after a few missed keepalives (root::SEED_SILENT), so its subtree, cut off
                    // if it crashes, is fed again within about a second.
                    let seed = self.parents.contains(&Parent::Root);
                    *next_keepalive = now
                        + if seed {
                            self.cfg.keepalive.min(SEED_KEEPALIVE)
                        } else {
                            self.cfg.keepalive
                        };
                    use crate::wire::{FLAG_ALONE, FLAG_SPARE_UPLOAD, FLAG_WANT_PEERS};
                    let alone = !self.partners.iter().any(|p| p.up);
                    let flags = (u8::from(want_peers) * FLAG_WANT_PEERS)
                        | (u8::from(spare) * FLAG_SPARE_UPLOAD)
                        | (u8::from(alone) * FLAG_ALONE);
                    if want_peers {
                        self.last_peers_ask = Some(now);
                    }
                    let len = Message::Keepalive {
                        channel,
                        token,
                        want_seq: self.play,
                        flags,
                    }
                    .emit(buf)
                    .ok()?;
                    return Some(Transmit {
                        dst: self.root,
                        len,
                    });
                }
            }
        }
        while let Some((dst, c)) = self.ctrl.pop() {
            if let Some(len) = self.emit_ctrl(now, dst, c, buf) {
                return Some(Transmit { dst, len });
            }
        }
        None
    }

    /// Whether to ask for more peer addresses now.
    fn wants_peers(&self, now: Instant) -> bool {
        let since = |d: u64| {
            self.last_peers_ask
                .is_none_or(|t| now.saturating_since(t) >= Duration::from_secs(d))
        };
        // Few partners, or partners that cannot feed every substream: look for more.
        (self.partners() < self.cfg.max_partners.div_ceil(2) && self.n_candidates < 4 && since(5))
            || (self.starving() && self.n_candidates < 2 && since(2))
    }

    /// Some substream has no parent.
    fn starving(&self) -> bool {
        self.chan.is_some() && self.parents.contains(&Parent::None)
    }
}
