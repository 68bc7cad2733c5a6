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

mod partner;
mod sched;

use crate::output::{OutputId, OutputStats, Outputs};
use crate::pool::{ChunkPool, PoolError};
use crate::ring::{ReportLimit, Ring, Rng};
use crate::time::{earliest, Instant};
use crate::upload::{substream, Budget, Ledbat, SUBSTREAMS};
use crate::wire::{Message, NakReason, WireError, MAX_MAP, MAX_NAME};
use crate::Transmit;
use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;
use partner::Partner;

/// Sequence numbers tracked for loss recovery (a window of 8 × MAX_MAP chunks).
pub const MISS_WINDOW: usize = 8 * MAX_MAP;
/// Control messages waiting to be sent.
const CTRL_CAP: usize = 64;
/// Events waiting to be polled.
const EVENT_CAP: usize = 32;
/// Peer addresses remembered for greeting.
const CANDIDATES: usize = 32;

/// Capacities and timings of a box, from config and board profile.
#[derive(Clone, Debug)]
pub struct PeerConfig {
    /// Pool memory in bytes (the board's stream budget).
    pub pool_bytes: usize,
    /// Keep chunk metadata only, not payload (the simulator's 100,000 boxes; outputs read zeros).
    pub metadata_only: bool,
    /// Outputs: 1 for the decoder sink plus the HTTP viewers allowed.
    pub outputs: usize,
    /// How far (in chunks) an output may lag the play head before it skips to a key frame.
    pub output_queue_chunks: u64,
    /// Partners kept at most.
    pub max_partners: usize,
    /// Upload cap in kbit/s (0: none; LEDBAT still limits by delay).
    pub upload_kbps: u32,
    /// Whether others can start a partnership with this box (no NAT in the way).
    pub reachable: bool,
    /// Substreams this box serves to children when its upload is uncapped.
    pub max_child_substreams: u32,
    /// First JOIN retry interval; doubles up to `join_retry_max`.
    pub join_retry: Duration,
    /// Longest JOIN retry interval.
    pub join_retry_max: Duration,
    /// KEEPALIVE interval (to the root).
    pub keepalive: Duration,
    /// Buffer-map interval (to each partner; also their keepalive).
    pub map_interval: Duration,
    /// Scheduler tick: parent choice, repairs, partner upkeep.
    pub tick: Duration,
    /// Wait this long after a gap appears before requesting it.
    pub nack_delay: Duration,
    /// Request a still-missing chunk again after this long, doubling for each further retry
    /// (round trips through loaded uplinks can exceed it; a fixed interval would feed a storm).
    pub nack_retry: Duration,
    /// Ask the root for a chunk no partner has, this long after it went missing.
    pub urgent_after: Duration,
    /// Give a missing chunk up this long after its gap appeared.
    pub give_up: Duration,
    /// A chunk played further than this behind the source is late: it counts against continuity.
    pub late_after: Duration,
    /// A parent that sent nothing of its substream for this long is replaced.
    pub parent_timeout: Duration,
    /// A partner not heard from for this long is dropped.
    pub partner_timeout: Duration,
    /// No chunk at all for this long while playing: join again.
    pub stall_timeout: Duration,
    /// Seed for nonces and choices.
    pub seed: u64,
}

impl Default for PeerConfig {
    fn default() -> Self {
        PeerConfig {
            pool_bytes: 2 << 20,
            metadata_only: false,
            outputs: 5,
            output_queue_chunks: 512,
            max_partners: 6,
            upload_kbps: 0,
            reachable: true,
            max_child_substreams: 24,
            join_retry: Duration::from_millis(250),
            join_retry_max: Duration::from_secs(4),
            keepalive: Duration::from_secs(1),
            map_interval: Duration::from_millis(500),
            tick: Duration::from_millis(50),
            nack_delay: Duration::from_millis(20),
            nack_retry: Duration::from_millis(150),
            urgent_after: Duration::from_millis(300),
            give_up: Duration::from_millis(1500),
            late_after: Duration::from_secs(4),
            parent_timeout: Duration::from_millis(1000),
            partner_timeout: Duration::from_secs(3),
            stall_timeout: Duration::from_secs(3),
            seed: 1,
        }
    }
}

/// Why a box could not be built.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PeerError {
    /// Channel name empty or longer than 64 bytes.
    ChannelName,
    /// Pool budget too small.
    Pool(PoolError),
}

/// Where the box is.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PeerState {
    /// Asking the root for the channel.
    Joining,
    /// Receiving the channel.
    Playing,
    /// The root refused; retrying slowly.
    Refused(NakReason),
}

/// Something the shell may log or show (fields are named for what they hold).
#[allow(missing_docs)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PeerEvent {
    /// The root accepted the JOIN; play starts at `rap_seq`.
    Joined {
        channel: u16,
        rap_seq: u64,
        bitrate_kbps: u32,
    },
    /// The root refused the JOIN.
    Refused { reason: NakReason },
    /// Nothing arrived for `stall_timeout`: joining again.
    Stalled,
    /// The stream restarted with unrelated sequence numbers (root restart).
    NewEpoch,
    /// A partnership began or ended.
    Partner { addr: SocketAddr, up: bool },
    /// A datagram did not parse (at most once per second; `total` counts all).
    BadDatagram {
        from: SocketAddr,
        error: WireError,
        total: u64,
    },
}

/// One partner as seen from this box.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct PartnerInfo {
    /// Its address.
    pub addr: SocketAddr,
    /// Handshake complete.
    pub up: bool,
    /// Highest chunk it is known to hold.
    pub top: u64,
    /// Substreams it feeds us (mask).
    pub feeds_us: u8,
    /// Substreams we feed it (mask).
    pub we_feed: u8,
    /// Chunk bytes received from it.
    pub bytes_from: u64,
    /// Chunk bytes sent to it.
    pub bytes_to: u64,
}

/// Counters for the status page.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerStats {
    /// Chunks received and stored (duplicates excluded).
    pub chunks_in: u64,
    /// Payload bytes of those chunks.
    pub bytes_in: u64,
    /// Chunk bytes (datagrams) received from the root.
    pub bytes_from_root: u64,
    /// Chunk bytes (datagrams) received from partners.
    pub bytes_from_peers: u64,
    /// Chunk bytes (datagrams) sent to partners.
    pub bytes_uploaded: u64,
    /// Control bytes sent (everything but chunks).
    pub control_bytes: u64,
    /// Duplicate or out-of-window chunks.
    pub duplicates: u64,
    /// REQUEST datagrams sent.
    pub requests: u64,
    /// Chunk requests in them.
    pub requested_chunks: u64,
    /// Chunks the play head passed while present.
    pub played: u64,
    /// Chunks the play head gave up on.
    pub lost: u64,
    /// Chunks played later than `late_after` behind the source.
    pub late: u64,
    /// Datagrams that did not parse.
    pub bad_datagrams: u64,
    /// Datagrams from unexpected senders or of unexpected types.
    pub ignored: u64,
    /// Joins completed.
    pub joins: u64,
    /// Parent changes.
    pub parent_switches: u64,
    /// Why parents were dropped or refused: [refused or gone, quiet, behind the freshest, backlogged].
    pub parent_drops: [u64; 4],
    /// Stream rate announced by the root.
    pub bitrate_kbps: u32,
}

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
    root_last_chunk: [Option<Instant>; SUBSTREAMS],
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
    root_offset_ms: i64,
    last_play_stamp: Option<u32>,
    rr: usize,
    chan: Option<u16>,
    /// Rate measured from chunks received: (window start, bytes in window).
    rate_window: (Instant, u64),
    leaving: bool,
    stats: PeerStats,
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
        Ok(Peer {
            outputs: Outputs::new(cfg.outputs.max(1), queue),
            state: State::Joining {
                nonce,
                next_try: now,
                backoff: cfg.join_retry,
            },
            miss: alloc::vec![None; MISS_WINDOW],
            miss_lo: 0,
            sub_seen: [None; SUBSTREAMS],
            partners: Vec::with_capacity(cfg.max_partners + 1),
            candidates: [(unspecified, 0, Instant::ZERO); CANDIDATES],
            n_candidates: 0,
            parents: [Parent::None; SUBSTREAMS],
            parent_since: [now; SUBSTREAMS],
            root_refused_until: [Instant::ZERO; SUBSTREAMS],
            root_last_chunk: [None; SUBSTREAMS],
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
            root_offset_ms: 0,
            last_play_stamp: None,
            rr: 0,
            chan: None,
            rate_window: (now, 0),
            leaving: false,
            stats: PeerStats::default(),
        })
    }

    /// Where the box is.
    pub fn state(&self) -> PeerState {
        match self.state {
            State::Joining { .. } => PeerState::Joining,
            State::Playing { .. } => PeerState::Playing,
            State::Refused { reason, .. } => PeerState::Refused(reason),
        }
    }

    /// Counters.
    pub fn stats(&self) -> PeerStats {
        self.stats
    }

    /// The box's pool.
    pub fn pool(&self) -> &ChunkPool {
        &self.pool
    }

    /// Partners with a completed handshake.
    pub fn partners(&self) -> usize {
        self.partners.iter().filter(|p| p.up).count()
    }

    /// The partner table, for status pages and tests.
    pub fn partner_info(&self) -> impl Iterator<Item = PartnerInfo> + '_ {
        self.partners.iter().map(|p| PartnerInfo {
            addr: p.addr,
            up: p.up,
            top: p.top(),
            feeds_us: self.mask_of(Parent::Partner(p.token)),
            we_feed: p.down.mask,
            bytes_from: p.bytes_from,
            bytes_to: p.down.bytes,
        })
    }

    /// Substreams fed by the root directly (0..=4).
    pub fn root_substreams(&self) -> usize {
        self.parents.iter().filter(|p| **p == Parent::Root).count()
    }

    /// Current upload rate allowed by the delay controller, bits/s.
    pub fn upload_rate_bps(&self) -> u64 {
        self.ledbat.rate_bps()
    }

    /// Time from construction to the first bytes handed to output 0 (the decoder sink).
    pub fn join_time(&self) -> Option<Duration> {
        self.first_output.map(|t| t.saturating_since(self.started))
    }

    /// How far playback is behind the source, from the chunk stamps and the root's clock
    /// announced at join (ms; `None` before anything played).
    pub fn lag_ms(&self) -> Option<u64> {
        let stamp = self.last_play_stamp?;
        let root_now = (self.now.as_millis() as i64 - self.root_offset_ms) as u32;
        // Stamps wrap at 2^32 ms; a chunk stamped "after" now (clock estimate off) is no lag.
        Some((root_now.wrapping_sub(stamp) as i32).max(0) as u64)
    }

    /// Sequence number of the next chunk to play.
    pub fn play_head(&self) -> u64 {
        self.play
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<PeerEvent> {
        self.events.pop()
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
                ..
            } => {
                let ours = match self.state {
                    State::Joining { nonce: n, .. } | State::Refused { nonce: n, .. } => n == nonce,
                    State::Playing { .. } => false,
                };
                if ours {
                    self.root_offset_ms = now.as_millis() as i64 - i64::from(now_ms);
                    self.on_join_ack(now, channel, token, rap_seq, bitrate_kbps);
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
            Message::SubAck {
                token,
                accepted,
                refused,
                ..
            } if self.root_token() == Some(token) => {
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
                self.root_last_chunk[substream(info.seq)] = Some(now);
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

    fn on_join_ack(
        &mut self,
        now: Instant,
        channel: u16,
        token: u32,
        rap_seq: u64,
        bitrate_kbps: u32,
    ) {
        // Same stream as before (a rejoin after a hiccup) if the start lies near what we hold.
        let continues = self.highest.is_some_and(|h| {
            let slots = self.pool.slots() as u64;
            rap_seq + slots >= self.play && rap_seq <= h + slots
        });
        if continues {
            // The root session is new: substreams it fed must be asked for again.
            for p in self.parents.iter_mut().filter(|p| **p == Parent::Root) {
                *p = Parent::None;
            }
        } else {
            self.new_epoch(rap_seq);
            self.parents = [Parent::None; SUBSTREAMS];
        }
        self.stats.joins += 1;
        if bitrate_kbps > 0 {
            self.stats.bitrate_kbps = bitrate_kbps;
        }
        self.state = State::Playing {
            channel,
            token,
            next_keepalive: now,
            last_chunk: now,
        };
        self.chan = Some(channel);
        self.next_tick = now;
        self.events.push(PeerEvent::Joined {
            channel,
            rap_seq,
            bitrate_kbps,
        });
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
        self.stats.bytes_in += payload.len() as u64;
        self.measure_rate(now, payload.len());
        // A later chunk of the same substream arrived: the ones skipped in between are missing.
        let s = substream(seq);
        let prev = self.sub_seen[s].unwrap_or_else(|| {
            crate::upload::first_in(s, self.play).saturating_sub(SUBSTREAMS as u64)
        });
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

    /// The stream rate as received, over windows of at least 2 s (the root's figure is only a
    /// hint: a box that joined before the root measured its source learns it here).
    fn measure_rate(&mut self, now: Instant, bytes: usize) {
        let (start, n) = self.rate_window;
        let el = now.saturating_since(start);
        // The first estimate comes quickly (capacity decisions wait on it); later ones average
        // over 2 s.
        let first = self.stats.bitrate_kbps == 0
            && el >= Duration::from_millis(500)
            && n >= 16 * crate::chunk::CHUNK_MAX as u64;
        if first || el >= Duration::from_secs(2) {
            let kbps = (n * 8 / el.as_millis().max(1) as u64) as u32;
            // A box that falls behind receives slower than real time; taking that as the stream
            // rate would make each child substream look cheaper and invite overload. So the
            // figure rises at once and decays only slowly (about 5% per window).
            let decayed = self.stats.bitrate_kbps - self.stats.bitrate_kbps / 20;
            self.stats.bitrate_kbps = kbps.max(decayed);
            self.rate_window = (now, bytes as u64);
        } else {
            self.rate_window.1 = n + bytes as u64;
        }
    }

    fn mark_missing(&mut self, seq: u64, now: Instant) {
        if self.pool.contains(seq) {
            return;
        }
        let slot = &mut self.miss[(seq % MISS_WINDOW as u64) as usize];
        if slot.is_none_or(|m| m.seq != seq) {
            *slot = Some(Miss {
                seq,
                since: now,
                last_req: None,
                tries: 0,
            });
            // miss_lo: no open miss lies below it (a hint for the repair scan).
            self.miss_lo = self.miss_lo.max(self.play).min(seq);
        }
    }

    /// Forgets the stream and restarts at `seq` (outputs wait for the next key frame).
    fn new_epoch(&mut self, seq: u64) {
        if self.highest.is_some() {
            self.events.push(PeerEvent::NewEpoch);
        }
        self.pool.clear();
        self.miss.iter_mut().for_each(|m| *m = None);
        self.sub_seen = [None; SUBSTREAMS];
        self.play = seq;
        self.miss_lo = seq;
        self.highest = None;
        self.outputs.restart_all(seq, &self.pool);
    }

    /// The play head passes `seq`, present or lost.
    fn pass(&mut self, seq: u64) {
        match self.pool.get(seq) {
            Some(c) => {
                self.stats.played += 1;
                self.last_play_stamp = Some(c.info.stamp_ms);
                if self
                    .lag_ms()
                    .is_some_and(|l| l > self.cfg.late_after.as_millis() as u64)
                {
                    self.stats.late += 1;
                }
            }
            None => self.stats.lost += 1,
        }
        self.play = seq + 1;
    }

    /// Moves the play head over present chunks and given-up misses.
    fn advance_play(&mut self, now: Instant) {
        let Some(h) = self.highest else { return };
        while self.play <= h {
            if !self.pool.contains(self.play) {
                let since = self.miss_entry(self.play).map(|m| m.since);
                match since {
                    Some(t) if now.saturating_since(t) >= self.cfg.give_up => {}
                    Some(_) => break,
                    None => {
                        // Not yet known missing: if the stream is well past it, start the clock.
                        if h >= self.play + 4 * SUBSTREAMS as u64 * 4 {
                            self.mark_missing(self.play, now);
                        }
                        break;
                    }
                }
            }
            self.pass(self.play);
        }
    }

    fn miss_entry(&self, seq: u64) -> Option<Miss> {
        self.miss[(seq % MISS_WINDOW as u64) as usize].filter(|m| m.seq == seq)
    }

    fn add_candidate(&mut self, a: SocketAddr, flags: u8) {
        if self.partners.iter().any(|p| p.addr == a)
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
        if let Some(t) = self.poll_control(now, buf) {
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
                    let flags = if self.cfg.reachable {
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
                    *next_keepalive = now + self.cfg.keepalive;
                    let flags = if want_peers {
                        crate::wire::FLAG_WANT_PEERS
                    } else {
                        0
                    } | if spare {
                        crate::wire::FLAG_SPARE_UPLOAD
                    } else {
                        0
                    };
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

    /// Opens an output (e.g. an HTTP viewer); it starts at the latest key frame.
    pub fn output_open(&mut self) -> Option<OutputId> {
        self.outputs.open()
    }

    /// Closes an output.
    pub fn output_close(&mut self, id: OutputId) {
        self.outputs.close(id);
    }

    /// Counters of an output.
    pub fn output_stats(&self, id: OutputId) -> OutputStats {
        self.outputs.stats(id)
    }

    /// The next bytes for output `id` (whole packets, in order), or `None` if nothing is ready.
    pub fn output_peek(&mut self, id: OutputId) -> Option<&[u8]> {
        self.outputs
            .peek(id, &self.pool, self.play)
            .filter(|b| !b.is_empty())
    }

    /// Output `id` wrote `n` bytes of what `output_peek` returned.
    pub fn output_advance(&mut self, id: OutputId, n: usize) {
        if n > 0 && id.0 == 0 && self.first_output.is_none() {
            self.first_output = Some(self.now);
        }
        self.outputs.advance(id, &self.pool, n);
    }

    /// Continuity of output `id` in parts per million: chunks it was handed on time over chunks
    /// the stream had since it started (lost, skipped and late chunks count against it); 0 before
    /// the first chunk.
    pub fn continuity_ppm(&self, id: OutputId) -> u32 {
        let o = self.outputs.stats(id);
        let bad = o.lost_chunks + o.skipped_chunks;
        let total = o.chunks + bad;
        if total == 0 {
            // Nothing delivered yet is not continuity.
            return 0;
        }
        // Chunks the play head passed late were handed out, but not on time.
        let on_time = o.chunks.saturating_sub(self.stats.late);
        (on_time * 1_000_000 / total) as u32
    }
}
