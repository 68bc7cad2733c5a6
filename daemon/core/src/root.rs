//! The root: ingests channels and serves them to boxes.
//!
//! Driving contract (see the crate docs): feed [`Root::handle_source`], [`Root::handle_datagram`]
//! and [`Root::handle_timeout`]; then drain [`Root::poll_transmit`] and [`Root::poll_event`] until
//! both return `None`; sleep until [`Root::poll_timeout`].
//!
//! Sessions: a box JOINs a channel by name and gets a random token. The root pushes chunks to a
//! session only after the box has echoed that token (KEEPALIVE or REQUEST) from the same address,
//! so a spoofed JOIN earns one small JOIN_ACK, never a stream. Sessions expire after
//! `session_timeout` without a valid message.
//!
//! Invariants: the session table, the per-session resend queues, the reply and event queues and
//! the chunk pools are all sized at construction from [`RootConfig`]; nothing on the per-datagram
//! or per-chunk path allocates. `poll_transmit` emits one datagram per call, serving sessions
//! round-robin so one slow box cannot starve the others.

use crate::chunker::{Chunker, ChunkerStats};
use crate::pool::{ChunkPool, PoolError};
use crate::ring::{Ring, Rng};
use crate::time::{earliest, Instant};
use crate::ts::sync::Framer;
use crate::wire::{self, Message, NakReason, WireError, MAX_NAME};
use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;

/// Chunks a session may have queued for resending.
pub const RESEND_CAP: usize = 64;
/// Control replies (JOIN_ACK/NAK) waiting to be sent; more in one burst are dropped.
pub const REPLY_CAP: usize = 64;
/// Events waiting to be polled.
pub const EVENT_CAP: usize = 64;

/// Capacities and timings of a root, from config.
#[derive(Clone, Debug)]
pub struct RootConfig {
    /// Boxes served at once, over all channels.
    pub max_sessions: usize,
    /// A session with no valid message for this long is dropped.
    pub session_timeout: Duration,
    /// Pool memory per channel, in bytes.
    pub pool_bytes: usize,
    /// Sequence number of each channel's first chunk (the daemon uses the wall clock in µs, so a
    /// restarted root never reuses numbers).
    pub first_seq: u64,
    /// Seed for session tokens.
    pub seed: u64,
}

/// One channel to ingest.
#[derive(Clone, Debug)]
pub struct ChannelSpec<'a> {
    /// Name boxes join by (1..=64 bytes).
    pub name: &'a str,
    /// Nominal bitrate, reported to boxes until a rate is measured (0: unknown).
    pub bitrate_kbps: u32,
}

/// Why a root could not be built.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum RootError {
    /// A channel name is empty or longer than 64 bytes.
    ChannelName,
    /// Two channels share a name.
    DuplicateChannel,
    /// More than 65535 channels.
    TooManyChannels,
    /// The pool budget is too small.
    Pool(PoolError),
}

/// Why a session ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum LeaveReason {
    /// The box said LEAVE.
    Left,
    /// Nothing valid heard for `session_timeout`.
    TimedOut,
    /// The box joined again (another channel, or a fresh session).
    Rejoined,
}

/// Something the shell may log or show (fields are named for what they hold).
#[allow(missing_docs)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum RootEvent {
    /// A box joined channel `channel` (index into the configured channels).
    Joined { addr: SocketAddr, channel: usize },
    /// A box's session ended.
    Left {
        addr: SocketAddr,
        channel: usize,
        reason: LeaveReason,
    },
    /// A JOIN was refused.
    Refused { addr: SocketAddr, reason: NakReason },
    /// The source of `channel` lost TS sync (garbage or truncation); the chunker resynchronised.
    SourceResync { channel: usize },
    /// A datagram did not parse (reported at most once per second; `total` counts all).
    BadDatagram {
        from: SocketAddr,
        error: WireError,
        total: u64,
    },
}

/// A datagram to send: `buf[..len]` to `dst`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Destination.
    pub dst: SocketAddr,
    /// Bytes written into the caller's buffer.
    pub len: usize,
}

/// Per-channel counters for the status page.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct ChannelStats {
    /// Source bytes received.
    pub bytes_in: u64,
    /// Chunks made.
    pub chunks_in: u64,
    /// Chunk datagrams sent.
    pub chunks_out: u64,
    /// Chunk payload bytes sent.
    pub bytes_out: u64,
    /// Chunks resent on request.
    pub resent: u64,
    /// Boxes with a validated session.
    pub peers: u32,
    /// Measured source rate over the last full second (or the configured rate before that).
    pub bitrate_kbps: u32,
    /// Chunker counters.
    pub chunker: ChunkerStats,
    /// Times the source lost sync.
    pub resyncs: u64,
}

/// Root-wide counters.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct RootStats {
    /// Datagrams that did not parse.
    pub bad_datagrams: u64,
    /// Valid datagrams that made no sense here (unknown session, wrong token, box-bound types).
    pub ignored: u64,
    /// JOINs refused.
    pub refused: u64,
}

struct RateMeter {
    window_start: Instant,
    bytes: u64,
    kbps: u32,
}

impl RateMeter {
    fn add(&mut self, now: Instant, n: usize) {
        let el = now.saturating_since(self.window_start);
        if el >= Duration::from_secs(1) {
            self.kbps = (self.bytes * 8 / el.as_millis().max(1) as u64) as u32;
            self.window_start = now;
            self.bytes = 0;
        }
        self.bytes += n as u64;
    }
}

struct Channel {
    name: [u8; MAX_NAME],
    name_len: usize,
    framer: Framer,
    chunker: Chunker,
    pool: ChunkPool,
    meter: RateMeter,
    stats: ChannelStats,
}

impl Channel {
    fn name(&self) -> &[u8] {
        &self.name[..self.name_len]
    }

    /// The chunk a new box should start at: the latest random-access chunk, else the next chunk.
    fn start_seq(&self) -> u64 {
        self.chunker
            .latest_rap()
            .filter(|&s| self.pool.contains(s))
            .unwrap_or(self.chunker.next_seq())
    }
}

#[derive(Clone, Debug)]
struct Session {
    addr: SocketAddr,
    channel: usize,
    token: u32,
    validated: bool,
    next_push: u64,
    last_heard: Instant,
    resend: [u64; RESEND_CAP],
    resend_len: usize,
}

#[derive(Copy, Clone, Debug)]
enum Reply {
    Ack {
        channel: usize,
        nonce: u32,
        token: u32,
    },
    Nak {
        nonce: u32,
        reason: NakReason,
    },
}

/// The root state machine.
pub struct Root {
    cfg: RootConfig,
    channels: Vec<Channel>,
    sessions: Vec<Option<Session>>,
    replies: Ring<(SocketAddr, Reply)>,
    events: Ring<RootEvent>,
    rng: Rng,
    rr: usize,
    now: Instant,
    next_expiry: Instant,
    last_bad_report: Option<Instant>,
    stats: RootStats,
}

impl Root {
    /// A root serving `channels`, with all memory allocated now.
    pub fn new(
        cfg: RootConfig,
        channels: &[ChannelSpec<'_>],
        now: Instant,
    ) -> Result<Self, RootError> {
        if channels.len() > usize::from(u16::MAX) {
            return Err(RootError::TooManyChannels);
        }
        let mut chans: Vec<Channel> = Vec::with_capacity(channels.len());
        for spec in channels {
            let n = spec.name.as_bytes();
            if n.is_empty() || n.len() > MAX_NAME {
                return Err(RootError::ChannelName);
            }
            if chans.iter().any(|c| c.name() == n) {
                return Err(RootError::DuplicateChannel);
            }
            let mut name = [0u8; MAX_NAME];
            name[..n.len()].copy_from_slice(n);
            chans.push(Channel {
                name,
                name_len: n.len(),
                framer: Framer::new(),
                chunker: Chunker::new(cfg.first_seq, now),
                pool: ChunkPool::with_budget(cfg.pool_bytes).map_err(RootError::Pool)?,
                meter: RateMeter {
                    window_start: now,
                    bytes: 0,
                    kbps: spec.bitrate_kbps,
                },
                stats: ChannelStats {
                    bitrate_kbps: spec.bitrate_kbps,
                    ..ChannelStats::default()
                },
            });
        }
        Ok(Root {
            sessions: (0..cfg.max_sessions).map(|_| None).collect(),
            rng: Rng::new(cfg.seed),
            cfg,
            channels: chans,
            replies: Ring::new(REPLY_CAP),
            events: Ring::new(EVENT_CAP),
            rr: 0,
            now,
            next_expiry: now + Duration::from_secs(1),
            last_bad_report: None,
            stats: RootStats::default(),
        })
    }

    /// Root-wide counters.
    pub fn stats(&self) -> RootStats {
        self.stats
    }

    /// Number of channels.
    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    /// Counters of channel `i`.
    pub fn channel_stats(&self, i: usize) -> Option<ChannelStats> {
        let c = self.channels.get(i)?;
        let mut s = c.stats;
        s.chunker = c.chunker.stats();
        s.chunks_in = s.chunker.chunks;
        s.bitrate_kbps = c.meter.kbps;
        s.peers = self
            .sessions
            .iter()
            .flatten()
            .filter(|x| x.channel == i && x.validated)
            .count() as u32;
        Some(s)
    }

    /// Pool of channel `i` (for status: slots, used).
    pub fn pool(&self, i: usize) -> Option<&ChunkPool> {
        self.channels.get(i).map(|c| &c.pool)
    }

    /// Source bytes for channel `i` arrived. Garbage and partial packets are handled by the framer.
    pub fn handle_source(&mut self, now: Instant, channel: usize, bytes: &[u8]) {
        self.now = now;
        let Some(c) = self.channels.get_mut(channel) else {
            return;
        };
        c.stats.bytes_in += bytes.len() as u64;
        c.meter.add(now, bytes.len());
        let losses = c.framer.stats().sync_losses;
        let (framer, chunker, pool) = (&mut c.framer, &mut c.chunker, &mut c.pool);
        framer.push(bytes, |p| chunker.push_packet(now, p, pool));
        if c.framer.stats().sync_losses != losses {
            c.stats.resyncs += 1;
            c.chunker.mark_discontinuity();
            self.events.push(RootEvent::SourceResync { channel });
        }
    }

    /// The source of channel `channel` restarted (reconnect, file loop): the next chunk is flagged.
    pub fn source_discontinuity(&mut self, channel: usize) {
        if let Some(c) = self.channels.get_mut(channel) {
            c.framer.reset();
            c.chunker.mark_discontinuity();
        }
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
                    self.events.push(RootEvent::BadDatagram {
                        from,
                        error,
                        total: self.stats.bad_datagrams,
                    });
                }
                return;
            }
        };
        match msg {
            Message::Join { nonce, name, .. } => self.on_join(now, from, nonce, name),
            Message::Keepalive {
                token, want_seq, ..
            } => {
                let Some(s) = self.session_mut(from, token) else {
                    return;
                };
                s.last_heard = now;
                if !s.validated {
                    s.validated = true;
                    s.next_push = want_seq.max(s.next_push);
                } else if want_seq > s.next_push {
                    s.next_push = want_seq;
                }
            }
            Message::Request {
                token, base, map, ..
            } => {
                let Some(s) = self.session_mut(from, token) else {
                    return;
                };
                s.last_heard = now;
                s.validated = true;
                for seq in wire::request_seqs(base, map) {
                    // Chunks not yet pushed will be pushed anyway.
                    if seq >= s.next_push || s.resend[..s.resend_len].contains(&seq) {
                        continue;
                    }
                    if s.resend_len == RESEND_CAP {
                        break;
                    }
                    s.resend[s.resend_len] = seq;
                    s.resend_len += 1;
                }
            }
            Message::Leave { token, .. } => {
                if let Some(i) = self.session_index(from, token) {
                    self.end_session(i, LeaveReason::Left);
                }
            }
            _ => self.stats.ignored += 1,
        }
    }

    fn on_join(&mut self, now: Instant, from: SocketAddr, nonce: u32, name: &[u8]) {
        let Some(ch) = self.channels.iter().position(|c| c.name() == name) else {
            self.refuse(from, nonce, NakReason::UnknownChannel);
            return;
        };
        // A box joining again replaces its old session.
        if let Some(i) = self
            .sessions
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.addr == from))
        {
            self.end_session(i, LeaveReason::Rejoined);
        }
        let Some(slot) = self.sessions.iter().position(Option::is_none) else {
            self.refuse(from, nonce, NakReason::Full);
            return;
        };
        let token = self.rng.next_nonzero_u32();
        let start = self.channels[ch].start_seq();
        self.sessions[slot] = Some(Session {
            addr: from,
            channel: ch,
            token,
            validated: false,
            next_push: start,
            last_heard: now,
            resend: [0; RESEND_CAP],
            resend_len: 0,
        });
        self.replies.push((
            from,
            Reply::Ack {
                channel: ch,
                nonce,
                token,
            },
        ));
        self.events.push(RootEvent::Joined {
            addr: from,
            channel: ch,
        });
    }

    fn refuse(&mut self, addr: SocketAddr, nonce: u32, reason: NakReason) {
        self.stats.refused += 1;
        self.replies.push((addr, Reply::Nak { nonce, reason }));
        self.events.push(RootEvent::Refused { addr, reason });
    }

    fn session_index(&self, from: SocketAddr, token: u32) -> Option<usize> {
        self.sessions.iter().position(|s| {
            s.as_ref()
                .is_some_and(|s| s.addr == from && s.token == token)
        })
    }

    fn session_mut(&mut self, from: SocketAddr, token: u32) -> Option<&mut Session> {
        match self.session_index(from, token) {
            Some(i) => self.sessions[i].as_mut(),
            None => {
                self.stats.ignored += 1;
                None
            }
        }
    }

    fn end_session(&mut self, i: usize, reason: LeaveReason) {
        if let Some(s) = self.sessions[i].take() {
            self.events.push(RootEvent::Left {
                addr: s.addr,
                channel: s.channel,
                reason,
            });
        }
    }

    /// Timers: partial-chunk flush, session expiry.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        for c in &mut self.channels {
            c.chunker.handle_timeout(now, &mut c.pool);
        }
        if now >= self.next_expiry {
            self.next_expiry = now + Duration::from_secs(1);
            for i in 0..self.sessions.len() {
                let expired = self.sessions[i]
                    .as_ref()
                    .is_some_and(|s| now.saturating_since(s.last_heard) > self.cfg.session_timeout);
                if expired {
                    self.end_session(i, LeaveReason::TimedOut);
                }
            }
        }
    }

    /// When [`Root::handle_timeout`] should next run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let flush = self
            .channels
            .iter()
            .filter_map(|c| c.chunker.poll_timeout())
            .min();
        earliest(flush, Some(self.next_expiry))
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<RootEvent> {
        self.events.pop()
    }

    /// Writes the next datagram to send into `buf` (at least [`wire::MAX_DATAGRAM`] bytes).
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        if let Some(t) = self.poll_reply(buf) {
            return Some(t);
        }
        let n = self.sessions.len();
        for k in 0..n {
            let i = (self.rr + k) % n;
            if let Some(t) = self.poll_session(i, buf) {
                self.rr = (i + 1) % n;
                return Some(t);
            }
        }
        None
    }

    fn poll_reply(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        while let Some((dst, r)) = self.replies.pop() {
            let msg = match r {
                Reply::Ack {
                    channel,
                    nonce,
                    token,
                } => {
                    let c = &self.channels[channel];
                    let start = c.start_seq();
                    Message::JoinAck {
                        channel: channel as u16, // < u16::MAX, checked in new()
                        nonce,
                        token,
                        live_seq: c.chunker.next_seq(),
                        rap_seq: start,
                        bitrate_kbps: c.meter.kbps,
                        flags: 0,
                    }
                }
                Reply::Nak { nonce, reason } => Message::JoinNak { nonce, reason },
            };
            if let Ok(len) = msg.emit(buf) {
                return Some(Transmit { dst, len });
            }
        }
        None
    }

    /// One datagram for session `i`: a resend first, else the next live chunk.
    fn poll_session(&mut self, i: usize, buf: &mut [u8]) -> Option<Transmit> {
        let s = self.sessions[i].as_mut()?;
        if !s.validated {
            return None;
        }
        let c = &mut self.channels[s.channel];
        while s.resend_len > 0 {
            s.resend_len -= 1;
            let seq = s.resend[s.resend_len];
            if let Some(len) = emit_chunk(&c.pool, s.channel, seq, buf) {
                c.stats.resent += 1;
                c.stats.chunks_out += 1;
                c.stats.bytes_out += len as u64;
                return Some(Transmit { dst: s.addr, len });
            }
        }
        let newest = c.pool.newest()?;
        if s.next_push > newest {
            return None;
        }
        if !c.pool.contains(s.next_push) {
            // The box fell out of the window: continue from the newest key frame.
            s.next_push = c.pool.rap_at_or_before(newest).unwrap_or(newest);
        }
        let seq = s.next_push;
        s.next_push += 1;
        let len = emit_chunk(&c.pool, s.channel, seq, buf)?;
        c.stats.chunks_out += 1;
        c.stats.bytes_out += len as u64;
        Some(Transmit { dst: s.addr, len })
    }
}

fn emit_chunk(pool: &ChunkPool, channel: usize, seq: u64, buf: &mut [u8]) -> Option<usize> {
    let c = pool.get(seq)?;
    let msg = Message::Chunk {
        channel: channel as u16,
        info: c.info,
        payload: c.payload,
    };
    msg.emit(buf).ok()
}
