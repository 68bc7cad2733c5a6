//! The box: joins a channel at the root, receives chunks, recovers losses, feeds its outputs.
//!
//! Driving contract as for every core state machine: `handle_datagram` / `handle_timeout`, then
//! drain `poll_transmit` and `poll_event`, then sleep until `poll_timeout`. Outputs (the decoder
//! sink, HTTP viewers) read through [`Peer::output_peek`] / [`Peer::output_advance`].
//!
//! Loss recovery: chunks arrive pushed in sequence. A gap opens a *miss* record; after `nack_delay`
//! (reordering tolerance) the box REQUESTs it, again every `nack_retry`, until it arrives or
//! `give_up` after the gap was seen. The play head moves over present chunks at once and over a
//! missing chunk only when it is given up; continuity counts both.
//!
//! Invariants: the pool, miss table and outputs are sized at construction; receiving a chunk,
//! requesting and writing to outputs never allocate. Only datagrams from the root address are
//! accepted after parsing (the mesh will widen this to partners). The play head never moves backwards within a
//! stream epoch; a JOIN_ACK whose sequence numbers do not overlap the pool starts a new epoch.

use crate::output::{OutputId, OutputStats, Outputs};
use crate::pool::{ChunkPool, PoolError};
use crate::ring::{Ring, Rng};
use crate::time::{earliest, Instant};
use crate::wire::{Message, NakReason, WireError, MAX_MAP, MAX_NAME};
use core::net::SocketAddr;
use core::time::Duration;

/// Sequence numbers tracked for loss recovery (a window of 8 × MAX_MAP chunks).
pub const MISS_WINDOW: usize = 8 * MAX_MAP;
/// Events waiting to be polled.
const EVENT_CAP: usize = 32;

/// Capacities and timings of a box, from config and board profile.
#[derive(Clone, Debug)]
pub struct PeerConfig {
    /// Pool memory in bytes (the board's stream budget).
    pub pool_bytes: usize,
    /// Outputs: 1 for the decoder sink plus the HTTP viewers allowed.
    pub outputs: usize,
    /// How far (in chunks) an output may lag the play head before it skips to a key frame.
    pub output_queue_chunks: u64,
    /// First JOIN retry interval; doubles up to `join_retry_max`.
    pub join_retry: Duration,
    /// Longest JOIN retry interval.
    pub join_retry_max: Duration,
    /// KEEPALIVE interval.
    pub keepalive: Duration,
    /// Wait this long after a gap appears before requesting it (reordering tolerance).
    pub nack_delay: Duration,
    /// Request a still-missing chunk again after this long.
    pub nack_retry: Duration,
    /// Give a missing chunk up this long after its gap appeared.
    pub give_up: Duration,
    /// No chunk for this long while playing: join again.
    pub stall_timeout: Duration,
    /// Seed for nonces.
    pub seed: u64,
}

impl Default for PeerConfig {
    fn default() -> Self {
        PeerConfig {
            pool_bytes: 2 << 20,
            outputs: 5,
            output_queue_chunks: 512,
            join_retry: Duration::from_millis(250),
            join_retry_max: Duration::from_secs(4),
            keepalive: Duration::from_secs(1),
            nack_delay: Duration::from_millis(20),
            nack_retry: Duration::from_millis(150),
            give_up: Duration::from_millis(1000),
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
    /// The stream restarted with unrelated sequence numbers (root restart): outputs restart at
    /// the next key frame.
    NewEpoch,
    /// A datagram did not parse (at most once per second; `total` counts all).
    BadDatagram {
        from: SocketAddr,
        error: WireError,
        total: u64,
    },
}

/// Counters for the status page.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerStats {
    /// Chunks received and stored (duplicates excluded).
    pub chunks_in: u64,
    /// Payload bytes of those chunks.
    pub bytes_in: u64,
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
    /// Datagrams that did not parse.
    pub bad_datagrams: u64,
    /// Datagrams from unexpected senders or of unexpected types.
    pub ignored: u64,
    /// Joins completed.
    pub joins: u64,
    /// Stream rate announced by the root.
    pub bitrate_kbps: u32,
}

#[derive(Copy, Clone, Debug)]
struct Miss {
    seq: u64,
    since: Instant,
    last_req: Option<Instant>,
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

/// The box state machine for one channel.
pub struct Peer {
    cfg: PeerConfig,
    root: SocketAddr,
    name: [u8; MAX_NAME],
    name_len: usize,
    state: State,
    pool: ChunkPool,
    outputs: Outputs,
    miss: alloc::vec::Vec<Option<Miss>>,
    play: u64,
    highest: Option<u64>,
    rng: Rng,
    events: Ring<PeerEvent>,
    last_bad_report: Option<Instant>,
    now: Instant,
    started: Instant,
    first_output: Option<Instant>,
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
        let pool = ChunkPool::with_budget(cfg.pool_bytes).map_err(PeerError::Pool)?;
        // An output may lag at most half the pool, so its chunks are never evicted under it.
        let queue = cfg.output_queue_chunks.min(pool.slots() as u64 / 2);
        let mut rng = Rng::new(cfg.seed);
        let nonce = rng.next_nonzero_u32();
        Ok(Peer {
            outputs: Outputs::new(cfg.outputs.max(1), queue),
            state: State::Joining {
                nonce,
                next_try: now,
                backoff: cfg.join_retry,
            },
            miss: alloc::vec![None; MISS_WINDOW],
            cfg,
            root,
            name,
            name_len: n.len(),
            pool,
            play: 0,
            highest: None,
            rng,
            events: Ring::new(EVENT_CAP),
            last_bad_report: None,
            now,
            started: now,
            first_output: None,
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

    /// Time from construction to the first bytes handed to output 0 (the decoder sink).
    pub fn join_time(&self) -> Option<Duration> {
        self.first_output.map(|t| t.saturating_since(self.started))
    }

    /// Sequence number of the next chunk to play.
    pub fn play_head(&self) -> u64 {
        self.play
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<PeerEvent> {
        self.events.pop()
    }

    /// Sends a LEAVE on the next `poll_transmit` (shutdown).
    pub fn leave(&mut self) {
        self.leaving = true;
    }

    /// A datagram arrived from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        self.now = now;
        let msg = match Message::parse(bytes) {
            Ok(m) => m,
            Err(error) => {
                self.stats.bad_datagrams += 1;
                if self
                    .last_bad_report
                    .is_none_or(|t| now.saturating_since(t) >= Duration::from_secs(1))
                {
                    self.last_bad_report = Some(now);
                    self.events.push(PeerEvent::BadDatagram {
                        from,
                        error,
                        total: self.stats.bad_datagrams,
                    });
                }
                return;
            }
        };
        if from != self.root {
            self.stats.ignored += 1;
            return;
        }
        match msg {
            Message::JoinAck {
                channel,
                nonce,
                token,
                rap_seq,
                bitrate_kbps,
                ..
            } => {
                let ours = match self.state {
                    State::Joining { nonce: n, .. } | State::Refused { nonce: n, .. } => n == nonce,
                    State::Playing { .. } => false,
                };
                if ours {
                    self.on_join_ack(now, channel, token, rap_seq, bitrate_kbps);
                } else {
                    self.stats.ignored += 1;
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
            Message::Chunk {
                channel,
                info,
                payload,
            } => {
                let State::Playing {
                    channel: ch,
                    ref mut last_chunk,
                    ..
                } = self.state
                else {
                    self.stats.ignored += 1;
                    return;
                };
                if channel != ch {
                    self.stats.ignored += 1;
                    return;
                }
                *last_chunk = now;
                self.on_chunk(now, info, payload);
            }
            _ => self.stats.ignored += 1,
        }
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
        if !continues {
            self.new_epoch(rap_seq);
        }
        self.stats.joins += 1;
        self.stats.bitrate_kbps = bitrate_kbps;
        self.state = State::Playing {
            channel,
            token,
            next_keepalive: now,
            last_chunk: now,
        };
        self.events.push(PeerEvent::Joined {
            channel,
            rap_seq,
            bitrate_kbps,
        });
    }

    fn on_chunk(&mut self, now: Instant, info: crate::chunk::ChunkInfo, payload: &[u8]) {
        let seq = info.seq;
        let slots = self.pool.slots() as u64;
        if self.highest.is_some_and(|h| seq > h + slots) {
            // Further ahead than the pool reaches: the stream jumped (e.g. a root restart).
            self.new_epoch(seq);
        }
        if seq < self.play || !self.pool.insert(info, payload) {
            self.stats.duplicates += 1;
            return;
        }
        self.stats.chunks_in += 1;
        self.stats.bytes_in += payload.len() as u64;
        let from = self.highest.map_or(self.play, |h| h + 1);
        if seq > from {
            // Record the gap, at most the last MISS_WINDOW of it.
            let lo = from.max(seq.saturating_sub(MISS_WINDOW as u64));
            for s in lo..seq {
                self.miss[(s % MISS_WINDOW as u64) as usize] = Some(Miss {
                    seq: s,
                    since: now,
                    last_req: None,
                });
            }
        }
        if self.highest.is_none_or(|h| seq > h) {
            self.highest = Some(seq);
        }
        // Chunks older than the miss window can no longer be requested: pass over them now.
        let floor = seq.saturating_sub(MISS_WINDOW as u64);
        while self.play < floor {
            if self.pool.contains(self.play) {
                self.stats.played += 1;
            } else {
                self.stats.lost += 1;
            }
            self.play += 1;
        }
        self.advance_play(now);
    }

    /// Forgets the stream and restarts at `seq` (outputs wait for the next key frame).
    fn new_epoch(&mut self, seq: u64) {
        if self.highest.is_some() {
            self.events.push(PeerEvent::NewEpoch);
        }
        self.pool.clear();
        self.miss.iter_mut().for_each(|m| *m = None);
        self.play = seq;
        self.highest = None;
        self.outputs.restart_all(seq, &self.pool);
    }

    /// Moves the play head over present chunks and given-up misses.
    fn advance_play(&mut self, now: Instant) {
        let Some(h) = self.highest else { return };
        while self.play <= h {
            if self.pool.contains(self.play) {
                self.stats.played += 1;
            } else {
                let since = self.miss_entry(self.play).map_or(now, |m| m.since);
                if now.saturating_since(since) < self.cfg.give_up {
                    break;
                }
                self.stats.lost += 1;
            }
            self.play += 1;
        }
    }

    fn miss_entry(&self, seq: u64) -> Option<Miss> {
        self.miss[(seq % MISS_WINDOW as u64) as usize].filter(|m| m.seq == seq)
    }

    /// Timers: join retries, keepalives, give-ups, stall detection.
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
    }

    /// When [`Peer::handle_timeout`] or [`Peer::poll_transmit`] next has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Joining { next_try, .. } => Some(next_try),
            State::Refused { next_try, .. } => Some(next_try),
            State::Playing {
                next_keepalive,
                last_chunk,
                ..
            } => {
                let gaps = self.highest.is_some_and(|h| self.play <= h);
                let gap_check = gaps.then(|| self.now + self.cfg.nack_delay / 2);
                earliest(
                    Some(next_keepalive.min(last_chunk + self.cfg.stall_timeout)),
                    gap_check,
                )
            }
        }
    }

    /// Writes the next datagram for the root into `buf`; returns its length.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.now = now;
        if self.leaving {
            self.leaving = false;
            if let State::Playing { channel, token, .. } = self.state {
                return Message::Leave { channel, token }.emit(buf).ok();
            }
            return None;
        }
        match self.state {
            State::Joining {
                nonce,
                ref mut next_try,
                ref mut backoff,
            } => {
                if now < *next_try {
                    return None;
                }
                *next_try = now + *backoff;
                *backoff = (*backoff * 2).min(self.cfg.join_retry_max);
                let name = &self.name[..self.name_len];
                Message::Join {
                    nonce,
                    flags: 0,
                    name,
                }
                .emit(buf)
                .ok()
            }
            State::Refused { .. } => None,
            State::Playing {
                channel,
                token,
                ref mut next_keepalive,
                ..
            } => {
                if now >= *next_keepalive {
                    *next_keepalive = now + self.cfg.keepalive;
                    return Message::Keepalive {
                        channel,
                        token,
                        want_seq: self.play,
                    }
                    .emit(buf)
                    .ok();
                }
                self.poll_request(now, channel, token, buf)
            }
        }
    }

    /// A REQUEST for every missing chunk that is due, or `None`.
    fn poll_request(
        &mut self,
        now: Instant,
        channel: u16,
        token: u32,
        buf: &mut [u8],
    ) -> Option<usize> {
        let h = self.highest?;
        let base = self.play;
        let mut map = [0u8; MAX_MAP];
        let mut count = 0u64;
        let mut top = 0usize;
        let end = h.min(base + MISS_WINDOW as u64 - 1);
        for s in base..=end {
            if self.pool.contains(s) {
                continue;
            }
            let idx = (s % MISS_WINDOW as u64) as usize;
            let Some(m) = self.miss[idx].as_mut().filter(|m| m.seq == s) else {
                continue;
            };
            let due = match m.last_req {
                None => now.saturating_since(m.since) >= self.cfg.nack_delay,
                Some(t) => now.saturating_since(t) >= self.cfg.nack_retry,
            };
            if due {
                m.last_req = Some(now);
                let bit = (s - base) as usize;
                map[bit / 8] |= 1 << (bit % 8);
                top = bit / 8 + 1;
                count += 1;
            }
        }
        if count == 0 {
            return None;
        }
        self.stats.requests += 1;
        self.stats.requested_chunks += count;
        Message::Request {
            channel,
            token,
            base,
            map: &map[..top],
        }
        .emit(buf)
        .ok()
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
    /// the stream had since it started (lost and skipped chunks count against it).
    pub fn continuity_ppm(&self, id: OutputId) -> u32 {
        let o = self.outputs.stats(id);
        let bad = o.lost_chunks + o.skipped_chunks;
        let total = o.chunks + bad;
        if total == 0 {
            return 1_000_000;
        }
        (o.chunks * 1_000_000 / total) as u32
    }
}
