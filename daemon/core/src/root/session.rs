//! The root's behaviour: construction, input handlers, seeding decisions, output.

use super::*;

impl Root {
    /// A root serving `channels`, with all memory allocated now.
    pub fn new(
        cfg: RootConfig,
        channels: &[ChannelSpec<'_>],
        now: Instant,
    ) -> Result<Self, RootError> {
        if channels.len() > usize::from(u16::MAX) || cfg.max_sessions >= NONE as usize {
            return Err(RootError::TooMany);
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
            let seeds = core::array::from_fn(|_| Vec::with_capacity(cfg.seed_copies));
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
                egress: RateMeter {
                    window_start: now,
                    bytes: 0,
                    kbps: 0,
                },
                seeds,
                repair: Budget::new(u64::from(cfg.repair_kbps.max(256)) * 1000, 64 * 1024, now),
                epoch: now,
                stats: ChannelStats {
                    bitrate_kbps: spec.bitrate_kbps,
                    ..ChannelStats::default()
                },
            });
        }
        let names: Vec<&[u8]> = channels.iter().map(|c| c.name.as_bytes()).collect();
        Ok(Root {
            integrity: integrity::RootIntegrity::new(&cfg, &names, now),
            drm: super::licence::RootDrm::new(chans.len(), cfg.seed, now),
            sessions: (0..cfg.max_sessions).map(|_| None).collect(),
            addr_index: AddrIndex::new(cfg.max_sessions),
            nat: super::introduce::Introducer::new(cfg.max_sessions, now),
            relay: super::relay::Relay::new(cfg.relay_kbps, chans.len(), now),
            rng: Rng::new(cfg.seed),
            cfg,
            channels: chans,
            replies: Ring::new(REPLY_CAP),
            events: Ring::new(EVENT_CAP),
            rr: 0,
            now,
            next_expiry: now + Duration::from_secs(1),
            bad_reports: ReportLimit::default(),
            stats: RootStats::default(),
            peers_window: (Instant::ZERO, 0),
            refusals_window: (Instant::ZERO, 0),
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

    /// Counters of channel `i`. Counting viewers scans the session table: call it for status
    /// pages, not per packet.
    pub fn channel_stats(&self, i: usize) -> Option<ChannelStats> {
        let c = self.channels.get(i)?;
        let mut s = c.stats;
        s.chunker = c.chunker.stats();
        s.chunks_in = s.chunker.chunks;
        s.bitrate_kbps = c.meter.kbps;
        s.egress_kbps = c.egress.kbps;
        s.peers = self
            .sessions
            .iter()
            .flatten()
            .filter(|x| x.channel == i && x.validated)
            .count() as u32;
        s.seeds = self
            .sessions
            .iter()
            .flatten()
            .filter(|x| x.channel == i && x.down.mask != 0)
            .count() as u32;
        Some(s)
    }

    /// Pool of channel `i` (for status: slots, used; for tests: the reference stream).
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
        self.sign_new_chunks(now, channel);
    }

    /// The source of `channel` restarted (reconnect, file loop): the next chunk is flagged.
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
                if self.bad_reports.due(now) {
                    let total = self.stats.bad_datagrams;
                    self.events
                        .push(RootEvent::BadDatagram { from, error, total });
                }
                return;
            }
        };
        match msg {
            Message::Join {
                nonce,
                flags,
                upload_kbps,
                name,
            } => self.on_join(now, from, nonce, flags, upload_kbps, name),
            Message::Keepalive { token, flags, .. } => {
                let Some(i) = self.validate(now, from, token) else {
                    // Tell a box whose session is gone to join again (the reply is smaller than
                    // the keepalive, so this cannot amplify).
                    self.replies.push((
                        from,
                        Reply::Nak {
                            nonce: 0,
                            reason: NakReason::UnknownSession,
                        },
                    ));
                    return;
                };
                if let Some(s) = self.sessions[i as usize].as_mut() {
                    s.spare = flags & FLAG_SPARE_UPLOAD != 0;
                    s.alone_since = if flags & FLAG_ALONE != 0 {
                        s.alone_since.or(Some(now))
                    } else {
                        None
                    };
                }
                if flags & FLAG_WANT_PEERS != 0 {
                    if self.peers_budget(now) {
                        self.replies.push((from, Reply::Peers { session: i }));
                    } else {
                        self.stats.peers_dropped += 1;
                    }
                }
            }
            Message::Subscribe {
                token,
                mask,
                from_seq,
                ..
            } => {
                let Some(i) = self.validate(now, from, token) else {
                    return;
                };
                let (accepted, refused) = self.on_subscribe(now, i, mask & ALL, from_seq);
                // Bits 4-7: which accepted substreams are relayed (root/relay.rs).
                let relayed = self.relay_mask(i as usize) << 4;
                // A bare refusal to a box past its join changes nothing here, and a box that
                // hears none gives up on the root after `parent_timeout` anyway: beyond
                // REFUSALS_PER_S a second (boxes cut off all asking at once) it goes unsaid, so
                // the root's control egress stays flat whatever the audience. Joining boxes are
                // always answered: a second's wait would delay their first picture.
                let settled = self.sessions[i as usize]
                    .as_ref()
                    .is_some_and(|s| now.saturating_since(s.joined) >= SEEDS_AFTER);
                let bare = accepted | relayed == 0 && refused != 0 && settled;
                if !bare || take(&mut self.refusals_window, REFUSALS_PER_S, now) {
                    self.replies.push((
                        from,
                        Reply::SubAck {
                            session: i,
                            accepted: accepted | relayed,
                            refused,
                        },
                    ));
                } else {
                    self.stats.refusals_unsaid += 1;
                }
                // A box that has played a while and is refused a seed place is cut off (its
                // seed left, or it lost its place): it is told the seeds, the nearest the root
                // it can hang. Boxes still joining work from their JOIN_ACK sample instead.
                if refused != 0 && settled && self.peers_budget(now) {
                    self.replies.push((
                        from,
                        Reply::Seeds {
                            session: i,
                            mask: refused,
                        },
                    ));
                }
            }
            Message::Request {
                token, base, map, ..
            } => {
                let Some(i) = self.validate(now, from, token) else {
                    return;
                };
                if let Some(s) = self.sessions[i as usize].as_mut() {
                    s.down.request(wire::bitmap_seqs(base, map));
                }
            }
            Message::Leave { token, .. } => {
                if let Some(i) = self.session_index(from, token) {
                    self.end_session(i, LeaveReason::Left);
                }
            }
            m @ (Message::KeyReq { .. } | Message::ManifestReq { .. }) => {
                self.on_integrity(now, from, m)
            }
            // DRM licences (root/licence.rs).
            Message::LicenceReq { body, .. } => self.on_licence_req(now, from, body),
            // NAT traversal (root/introduce.rs).
            Message::Unknown {
                kind: super::introduce::REPORT,
            } => self.on_report(now, from, bytes),
            _ => self.stats.ignored += 1,
        }
    }

    /// Marks the session of (`from`, `token`) alive and validated; its index if it exists.
    pub(super) fn validate(&mut self, now: Instant, from: SocketAddr, token: u32) -> Option<u32> {
        let Some(i) = self.session_index(from, token) else {
            self.stats.ignored += 1;
            return None;
        };
        let s = self.sessions[i].as_mut()?;
        s.last_heard = now;
        let first = !s.validated;
        s.validated = true;
        if first {
            self.welcome(i);
        }
        Some(i as u32)
    }

    fn on_join(
        &mut self,
        now: Instant,
        from: SocketAddr,
        nonce: u32,
        flags: u16,
        upload_kbps: u32,
        name: &[u8],
    ) {
        let Some(ch) = self.channels.iter().position(|c| c.name() == name) else {
            self.refuse(from, nonce, NakReason::UnknownChannel);
            return;
        };
        // A box joining again replaces its old session.
        if let Some(i) = self.find_addr(from) {
            self.end_session(i, LeaveReason::Rejoined);
        }
        let Some(slot) = self.sessions.iter().position(Option::is_none) else {
            self.refuse(from, nonce, NakReason::Full);
            return;
        };
        let token = self.rng.next_nonzero_u32();
        let next_same_addr = self.addr_index.push(from.ip(), slot as u32);
        self.sessions[slot] = Some(Session {
            addr: from,
            channel: ch,
            token,
            validated: false,
            reachable: flags & FLAG_REACHABLE != 0,
            spare: false,
            alone_since: None,
            upload_kbps,
            group: tracker::group_of(&self.cfg.groups, from.ip()),
            next_same_addr,
            last_heard: now,
            joined: now,
            seed_since: now,
            down: Downstream::default(),
        });
        self.replies.push((
            from,
            Reply::Ack {
                session: slot as u32,
                nonce,
            },
        ));
        self.replies.push((
            from,
            Reply::Peers {
                session: slot as u32,
            },
        ));
        self.events.push(RootEvent::Joined {
            addr: from,
            channel: ch,
        });
    }

    /// Whether a PEERS answer fits this second's `peers_per_s` (and counts it).
    fn peers_budget(&mut self, now: Instant) -> bool {
        let ok = take(&mut self.peers_window, self.cfg.peers_per_s, now);
        self.stats.peers_answered += u64::from(ok);
        ok
    }

    fn refuse(&mut self, addr: SocketAddr, nonce: u32, reason: NakReason) {
        self.stats.refused += 1;
        self.replies.push((addr, Reply::Nak { nonce, reason }));
        self.events.push(RootEvent::Refused { addr, reason });
    }

    /// The session of `addr`, through the same-address index.
    fn find_addr(&self, addr: SocketAddr) -> Option<usize> {
        let mut i = self.addr_index.head(addr.ip());
        let mut hops = 0;
        while i != NONE && hops < self.sessions.len() {
            let s = self.sessions.get(i as usize)?.as_ref()?;
            if s.addr == addr {
                return Some(i as usize);
            }
            i = s.next_same_addr;
            hops += 1;
        }
        None
    }

    pub(super) fn session_index(&self, from: SocketAddr, token: u32) -> Option<usize> {
        self.find_addr(from)
            .filter(|&i| self.sessions[i].as_ref().is_some_and(|s| s.token == token))
    }

    fn end_session(&mut self, i: usize, reason: LeaveReason) {
        let Some(s) = self.sessions[i].take() else {
            return;
        };
        // Unlink from the same-address chain.
        if !self
            .addr_index
            .unlink_head(s.addr.ip(), i as u32, s.next_same_addr)
        {
            let mut j = self.addr_index.head(s.addr.ip());
            let mut hops = 0;
            while j != NONE && hops < self.sessions.len() {
                let Some(x) = self.sessions[j as usize].as_mut() else {
                    break;
                };
                if x.next_same_addr == i as u32 {
                    x.next_same_addr = s.next_same_addr;
                    break;
                }
                j = x.next_same_addr;
                hops += 1;
            }
        }
        for seeds in &mut self.channels[s.channel].seeds {
            let n = seeds.len();
            seeds.retain(|&x| x != i as u32);
            self.stats.seed_changes[2] += (n - seeds.len()) as u64;
        }
        self.events.push(RootEvent::Left {
            addr: s.addr,
            channel: s.channel,
            reason,
        });
    }

    /// Timers: partial-chunk flush, session expiry.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        for c in &mut self.channels {
            c.chunker.handle_timeout(now, &mut c.pool);
            let rate = if self.cfg.repair_kbps > 0 {
                self.cfg.repair_kbps
            } else {
                (c.meter.kbps / 2).max(256)
            };
            c.repair.set_rate(u64::from(rate) * 1000);
        }
        self.integrity_timeout(now);
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
        self.scan_intros(now);
    }

    /// When [`Root::handle_timeout`] should next run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let flush = self
            .channels
            .iter()
            .filter_map(|c| c.chunker.poll_timeout())
            .min();
        let sign = self.integrity.poll_timeout();
        earliest(
            earliest(flush, Some(self.next_expiry.min(self.nat.next_scan()))),
            sign,
        )
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<RootEvent> {
        self.events.pop()
    }

    /// Writes the next datagram to send into `buf` (at least [`wire::MAX_DATAGRAM`] bytes).
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        if let Some(t) = self.poll_reply(buf) {
            self.stats.control_out += 1;
            self.stats.control_bytes += t.len as u64;
            return Some(t);
        }
        if let Some(t) = self.poll_licence(buf) {
            self.stats.control_out += 1;
            self.stats.control_bytes += t.len as u64;
            return Some(t);
        }
        if let Some(t) = self.poll_integrity(buf) {
            self.stats.control_out += 1;
            self.stats.control_bytes += t.len as u64;
            return Some(t);
        }
        if let Some(t) = self.poll_intro(buf) {
            self.stats.control_out += 1;
            self.stats.control_bytes += t.len as u64;
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
            let len = match r {
                Reply::Ack { session, nonce } => {
                    let Some(s) = self.sessions[session as usize].as_ref() else {
                        continue;
                    };
                    let c = &self.channels[s.channel];
                    Message::JoinAck {
                        channel: s.channel as u16, // < u16::MAX, checked in new()
                        nonce,
                        token: s.token,
                        live_seq: c.chunker.next_seq(),
                        rap_seq: c.start_seq(),
                        // Not measured yet (the source began a moment ago): the stamps tell it.
                        bitrate_kbps: if c.meter.kbps > 0 {
                            c.meter.kbps
                        } else {
                            c.pool.rate_kbps(100).unwrap_or(0)
                        },
                        now_ms: self.now.saturating_since(c.epoch).as_millis() as u32,
                        flags: self.join_flags(s.channel),
                    }
                    .emit(buf)
                }
                Reply::Nak { nonce, reason } => Message::JoinNak { nonce, reason }.emit(buf),
                Reply::SubAck {
                    session,
                    accepted,
                    refused,
                } => {
                    let Some(s) = self.sessions[session as usize].as_ref() else {
                        continue;
                    };
                    Message::SubAck {
                        channel: s.channel as u16,
                        token: s.token,
                        accepted,
                        refused,
                    }
                    .emit(buf)
                }
                Reply::Seeds { session, mask } => {
                    let sample = self.seed_sample(session as usize, mask);
                    let Some(s) = self.sessions[session as usize].as_ref() else {
                        continue;
                    };
                    if sample.len == 0 {
                        continue;
                    }
                    wire::emit_peers(s.channel as u16, sample.as_slice(), buf)
                }
                Reply::Successor {
                    session,
                    predecessor,
                } => {
                    let (Some(s), Some(p)) = (
                        self.sessions[session as usize].as_ref(),
                        self.sessions[predecessor as usize].as_ref(),
                    ) else {
                        continue;
                    };
                    let one = [(p.addr, u8::from(p.reachable))];
                    wire::emit_peers(s.channel as u16, &one, buf)
                }
                Reply::Peers { session } => {
                    let sample = self.sample(session as usize);
                    let Some(s) = self.sessions[session as usize].as_ref() else {
                        continue;
                    };
                    wire::emit_peers(s.channel as u16, sample.as_slice(), buf)
                }
            };
            if let Ok(len) = len {
                return Some(Transmit { dst, len });
            }
        }
        None
    }

    /// Peers for session `i`: same address, then same group, then the rest (reachable ones).
    fn sample(&mut self, i: usize) -> Sample {
        let mut out = Sample::new();
        let Some(me) = self.sessions[i].as_ref() else {
            return out;
        };
        let (addr, ch, group) = (me.addr, me.channel, me.group);
        let flags = |s: &Session| if s.reachable { 1 } else { 0 };
        // 1. Same public address (same LAN): reachable or not, they can talk locally.
        let mut j = self.addr_index.head(addr.ip());
        let mut hops = 0;
        while j != NONE && hops < 64 && !out.full() {
            let Some(s) = self.sessions[j as usize].as_ref() else {
                break;
            };
            if j as usize != i && s.addr.ip() == addr.ip() && s.channel == ch && s.validated {
                out.add(s.addr, flags(s));
            }
            j = s.next_same_addr;
            hops += 1;
        }
        // 2 and 3: random probes (or a full scan of a small table), group members first.
        let n = self.sessions.len();
        let probes = if n <= SCAN_ALL { n } else { PROBES };
        let start = (self.rng.next_u64() % n as u64) as usize;
        // Group members first, then the rest; within each, boxes with upload to spare first.
        let mut classes = [Sample::new(), Sample::new(), Sample::new(), Sample::new()];
        for k in 0..probes {
            let j = if n <= SCAN_ALL {
                (start + k) % n
            } else {
                (self.rng.next_u64() % n as u64) as usize
            };
            let Some(s) = self.sessions[j].as_ref() else {
                continue;
            };
            if j == i || s.channel != ch || !s.validated || !s.reachable || s.addr == addr {
                continue;
            }
            let same_group = group.is_some() && s.group == group;
            let class = match (same_group, s.spare) {
                (true, true) => 0,
                (true, false) => 1,
                (false, true) => 2,
                (false, false) => 3,
            };
            classes[class].add(s.addr, flags(s));
        }
        for c in &classes {
            for &(a, f) in c.as_slice() {
                if !out.add(a, f) {
                    return out;
                }
            }
        }
        out
    }

    /// One datagram for session `i`: a repair or the next pushed chunk.
    fn poll_session(&mut self, i: usize, buf: &mut [u8]) -> Option<Transmit> {
        let s = self.sessions[i].as_mut()?;
        if !s.validated {
            return None;
        }
        let c = &mut self.channels[s.channel];
        if !s.down.pending(&c.pool) {
            return None;
        }
        // A relayed box waits for the relay budget rather than lose chunks (root/relay.rs).
        let relay = match self.nat.boxes[i] {
            Some(b) if b.token == s.token => b.relay,
            _ => 0,
        };
        if relay != 0 && !super::relay::ready(&mut self.relay, self.now) {
            return None;
        }
        let seq = s.down.next_chunk(&c.pool, 0)?;
        let is_seed = s.down.mask & (1 << substream(seq)) != 0;
        let relayed = relay & (1 << substream(seq)) != 0;
        if !is_seed && !c.repair.take(self.now, wire::MAX_DATAGRAM) {
            self.stats.repairs_dropped += 1;
            return None;
        }
        let chunk = c.pool.get(seq)?;
        let sent_us = self.now.as_micros() as u32;
        let len = Message::Chunk {
            channel: s.channel as u16,
            info: chunk.info,
            sent_us,
            payload: chunk.payload,
        }
        .emit(buf)
        .ok()?;
        if relayed && !super::relay::take(&mut self.relay, self.now, s.channel, len) {
            return None;
        }
        s.down.sent(len);
        c.egress.add(self.now, len);
        c.stats.chunks_out += 1;
        c.stats.bytes_out += len as u64;
        if !is_seed {
            c.stats.resent += 1;
        }
        Some(Transmit { dst: s.addr, len })
    }
}

/// Takes one from a per-second budget of `cap`: `window` is (window start, taken in it).
pub(super) fn take(window: &mut (Instant, u32), cap: u32, now: Instant) -> bool {
    if now.saturating_since(window.0) >= Duration::from_secs(1) {
        *window = (now, 0);
    }
    let ok = window.1 < cap;
    window.1 += u32::from(ok);
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_allows_cap_per_second_window() {
        let mut w = (Instant::ZERO, 0);
        let t = |ms| Instant::from_millis(ms);
        assert!(take(&mut w, 2, t(1000)));
        assert!(take(&mut w, 2, t(1500)));
        assert!(!take(&mut w, 2, t(1999)), "third in the same second");
        assert!(take(&mut w, 2, t(2000)), "a new window");
        assert!(!take(&mut w, 0, t(5000)), "a zero budget says nothing");
    }

    #[test]
    fn per_place_spreads_places_and_ignores_no_figure() {
        use super::super::seeds::per_place;
        // A box holding four places yields one to an equal box, but two equal single-place
        // seeds never trade (the 1.5× hysteresis in on_subscribe).
        let (four, one) = (per_place(3000, 4), per_place(3000, 1));
        assert!(one * 2 > four * 3);
        assert!(one * 2 <= per_place(3000, 1) * 3);
        assert_eq!(per_place(0, 1), 0, "no figure, no strength");
    }
}
