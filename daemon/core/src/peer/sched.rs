//! The box's mesh behaviour: partner messages, the scheduler tick (partner upkeep, parent
//! choice; the repairs it schedules are in `repair`) and serving children. See the module docs of
//! `peer` for the design.

use super::partner::{encode_map, Partner, MAP_BITS};
use super::*;
use crate::upload::ALL;
use crate::wire::{
    bitmap_seqs, emit_peers, fresh_off, fresh_seq, FLAG_REACHABLE, FLAG_WANT_PEERS, HOPS_NONE,
    MAP_SPARE_SHIFT, MAX_HOPS, MAX_PEERS,
};

/// Greetings sent per tick.
const HELLOS_PER_TICK: usize = 2;
/// HELLO attempts before a candidate is given up.
const HELLO_TRIES: u8 = 3;
/// A parent this far behind the freshest partner in its substream (or holding this much it has
/// not passed on) is replaced. Partners at different depths of the mesh differ by a few hundred
/// milliseconds normally, so this is well above that.
const LAG_SWITCH: Duration = Duration::from_millis(1500);
/// How far behind this box a partner may be and still be taken as parent by a box that has
/// none in that substream.
const ORPHAN_SLACK: Duration = Duration::from_millis(1000);
/// Source delays within one bucket count as equal when choosing a parent.
const DELAY_BUCKET_MS: u16 = 100;
/// A parent is replaced by a partner with room this much nearer the source (ms).
const NEARER_BY_MS: u32 = 400;
/// Least time between two changes of one substream's parent.
const SWITCH_HOLD: Duration = Duration::from_millis(3000);
/// A new parent pushes at most this many chunks of backlog; older ones are pulled as repairs.
const CATCH_UP_PUSH: u64 = 48;
/// How long a box waits for the root's first chunk (or its refusal) before taking a partner that
/// could feed it instead: ≫ the round trip to the root.
const ROOT_ANSWER: Duration = Duration::from_millis(400);
/// How long a box without a parent takes only partners no deeper than it was (see `could_feed`).
const FEASIBLE_HOLD: Duration = Duration::from_millis(3000);
/// Inbound greetings accepted beyond `max_partners`, so newcomers are never locked out of a mesh
/// whose members filled their tables with each other; the tick prunes back to the limit.
pub(super) const INBOUND_SLACK: usize = 2;

impl Peer {
    pub(super) fn partner_index(&self, from: SocketAddr) -> Option<usize> {
        self.partners.iter().position(|p| p.addr == from)
    }

    pub(super) fn partner_by_token(&self, from: SocketAddr, token: u32) -> Option<usize> {
        self.partners
            .iter()
            .position(|p| p.addr == from && p.token == token)
    }

    pub(super) fn on_partner(
        &mut self,
        now: Instant,
        from: SocketAddr,
        msg: Message<'_>,
        len: usize,
    ) {
        let Some(channel) = self.channel() else {
            self.stats.ignored += 1;
            return;
        };
        match msg {
            Message::Hello {
                channel: ch,
                nonce,
                flags,
                upload_kbps,
            } if ch == channel => {
                let token = match self.partner_index(from) {
                    // Crossed greetings settle on the smaller nonce; a partner that restarted
                    // (greets again after the handshake) gets its new one.
                    Some(i) if !self.partners[i].up => Some(nonce.min(self.partners[i].token)),
                    Some(_) => Some(nonce),
                    None if self.partners.len() < self.cfg.max_partners + INBOUND_SLACK => {
                        self.partners.push(Partner::new(from, nonce, true, now));
                        self.events.push(PeerEvent::Partner {
                            addr: from,
                            up: true,
                        });
                        Some(nonce)
                    }
                    None => None,
                };
                if let (Some(t), Some(i)) = (token, self.partner_index(from)) {
                    let p = &mut self.partners[i];
                    p.token = t;
                    p.up = true;
                    p.reachable = flags & FLAG_REACHABLE != 0;
                    p.last_heard = now;
                    p.next_map = now;
                    p.upload_kbps = upload_kbps;
                    self.mark(JoinStep::Partner, now);
                }
                self.ctrl.push((
                    from,
                    Ctrl::HelloAck {
                        nonce: token.unwrap_or(nonce),
                        accept: token.is_some(),
                    },
                ));
            }
            Message::HelloAck { nonce, accept, .. } => {
                // The answer carries our nonce, or a smaller one if greetings crossed.
                let Some(i) = self
                    .partner_index(from)
                    .filter(|&i| nonce <= self.partners[i].token)
                else {
                    self.stats.ignored += 1;
                    return;
                };
                if accept {
                    let p = &mut self.partners[i];
                    if !p.up {
                        self.events.push(PeerEvent::Partner {
                            addr: from,
                            up: true,
                        });
                    }
                    p.token = nonce;
                    p.up = true;
                    p.last_heard = now;
                    p.next_map = now;
                    self.mark(JoinStep::Partner, now);
                } else if !self.partners[i].up {
                    self.partners.swap_remove(i);
                }
            }
            Message::Map {
                token,
                base,
                delay_us,
                flags,
                src_delay_ms,
                hops,
                fresh,
                map,
                ..
            } => {
                let Some(i) = self.partner_by_token(from, token) else {
                    self.stats.ignored += 1;
                    return;
                };
                self.mark(JoinStep::Map, now);
                let p = &mut self.partners[i];
                p.last_heard = now;
                p.set_map(base, map);
                p.spare = flags >> MAP_SPARE_SHIFT;
                p.src_delay_ms = src_delay_ms;
                p.hops = hops;
                let was = p.fresh;
                p.fresh = core::array::from_fn(|s| fresh_seq(base, fresh[s]));
                self.pass_fresher(now, i, was);
                let p = &mut self.partners[i];
                let child = p.down.mask != 0;
                self.prefetch_start(now, i);
                if flags & FLAG_WANT_PEERS != 0 {
                    self.ctrl.push((from, Ctrl::Peers));
                }
                if child {
                    self.ledbat.on_delay(now, delay_us);
                    self.budget.set_rate(self.ledbat.rate_bps());
                    self.shed_if_over(now);
                }
            }
            Message::Subscribe {
                token,
                mask,
                from_seq,
                ..
            } => {
                let Some(i) = self.partner_by_token(from, token) else {
                    self.stats.ignored += 1;
                    return;
                };
                self.partners[i].last_heard = now;
                let accepted = self.admit(i, mask & ALL);
                self.partners[i].down.subscribe(accepted, from_seq);
                self.ctrl.push((
                    from,
                    Ctrl::SubAck {
                        token,
                        accepted,
                        refused: mask & ALL & !accepted,
                    },
                ));
            }
            Message::SubAck { token, refused, .. } => {
                let Some(i) = self.partner_by_token(from, token) else {
                    self.stats.ignored += 1;
                    return;
                };
                self.partners[i].last_heard = now;
                for s in 0..SUBSTREAMS {
                    if refused & (1 << s) != 0 {
                        self.stats.parent_drops[0] += 1;
                        self.partners[i].refused_until[s] = now + Duration::from_secs(3);
                        if self.parents[s] == Parent::Partner(token) {
                            self.parents[s] = Parent::None;
                        }
                    }
                }
            }
            Message::Request {
                token, base, map, ..
            } => {
                let Some(i) = self.partner_by_token(from, token) else {
                    self.stats.ignored += 1;
                    return;
                };
                self.partners[i].last_heard = now;
                self.partners[i].down.request(bitmap_seqs(base, map));
            }
            Message::Chunk {
                channel: ch,
                info,
                sent_us,
                payload,
            } if ch == channel => {
                let Some(i) = self.partner_index(from).filter(|&i| self.partners[i].up) else {
                    self.stats.ignored += 1;
                    return;
                };
                let p = &mut self.partners[i];
                p.last_heard = now;
                p.delay.sample(now, sent_us);
                p.saw(info.seq);
                p.last_chunk[substream(info.seq)] = Some(now);
                p.chunks_from += 1;
                p.bytes_from += len as u64;
                self.stats.bytes_from_peers += len as u64;
                self.on_chunk(now, info, payload, false);
            }
            Message::Peers { peers, .. } if self.partner_index(from).is_some() => {
                for (a, f) in peers.iter() {
                    self.add_candidate(a, f);
                }
            }
            Message::Leave { token, .. } => {
                if let Some(i) = self.partner_by_token(from, token) {
                    self.drop_partner(i);
                }
            }
            _ => self.stats.ignored += 1,
        }
    }

    pub(super) fn drop_partner(&mut self, i: usize) {
        let p = self.partners.swap_remove(i);
        for s in 0..SUBSTREAMS {
            if self.parents[s] == Parent::Partner(p.token) {
                self.parents[s] = Parent::None;
                if p.hops[s] == 1 {
                    self.seed_lost |= 1 << s;
                }
            }
        }
        self.events.push(PeerEvent::Partner {
            addr: p.addr,
            up: false,
        });
    }

    /// The scheduler: partner upkeep, greetings, parents, repairs.
    pub(super) fn tick(&mut self, now: Instant) {
        self.refresh_start(now);
        // Partners that went quiet, or never answered, are dropped.
        let mut i = 0;
        while i < self.partners.len() {
            let p = &self.partners[i];
            let dead = if p.up {
                now.saturating_since(p.last_heard) > self.cfg.partner_timeout
            } else {
                p.hello_tries >= HELLO_TRIES
                    && now.saturating_since(p.hello_at) > Duration::from_millis(500)
            };
            if dead {
                self.drop_partner(i);
            } else {
                i += 1;
            }
        }
        // Over the limit (inbound slack): drop the least useful partner that is neither a parent
        // nor a child, and tell it.
        if self.partners.iter().filter(|p| p.up).count() > self.cfg.max_partners {
            let parents = self.parents;
            let victim = (0..self.partners.len())
                .filter(|&i| {
                    let p = &self.partners[i];
                    p.up && p.down.mask == 0
                        && !parents.contains(&Parent::Partner(p.token))
                        && now.saturating_since(p.hello_at) > Duration::from_secs(2)
                })
                .min_by_key(|&i| self.partners[i].bytes_from + self.partners[i].down.bytes);
            if let Some(i) = victim {
                let (a, t) = (self.partners[i].addr, self.partners[i].token);
                self.ctrl.push((a, Ctrl::Leave { token: t }));
                self.drop_partner(i);
            }
        }
        // Starving with a full table: make room by dropping a partner that refuses us and is
        // neither our parent nor our child, so a box with upload to spare can take its place.
        if self.starving() && self.n_candidates > 0 && self.partners.len() >= self.cfg.max_partners
        {
            let parents = self.parents;
            // Refused us, or has no room to admit anyone: it cannot end the starvation.
            let victim = (0..self.partners.len())
                .filter(|&i| {
                    let p = &self.partners[i];
                    p.up && p.down.mask == 0
                        && !parents.contains(&Parent::Partner(p.token))
                        && (p.refused_until.iter().any(|&t| t > now) || p.spare == 0)
                        && now.saturating_since(p.hello_at) > Duration::from_secs(1)
                })
                .min_by_key(|&i| self.partners[i].bytes_from + self.partners[i].down.bytes);
            if let Some(i) = victim {
                let (a, t) = (self.partners[i].addr, self.partners[i].token);
                self.ctrl.push((a, Ctrl::Leave { token: t }));
                self.drop_partner(i);
            }
        }
        // Greet candidates while there is room; retry greetings not yet answered.
        let mut sent = 0;
        for i in 0..self.partners.len() {
            let p = &mut self.partners[i];
            if !p.up
                && now.saturating_since(p.hello_at) >= Duration::from_millis(500)
                && p.hello_tries < HELLO_TRIES
            {
                p.hello_at = now;
                p.hello_tries += 1;
                let (a, t) = (p.addr, p.token);
                self.ctrl.push((a, Ctrl::Hello { nonce: t }));
            }
        }
        // A starving box whose partners are mostly its own children may greet a few more.
        let limit = self.cfg.max_partners + if self.starving() { INBOUND_SLACK } else { 0 };
        while self.partners.len() < limit && sent < HELLOS_PER_TICK && self.n_candidates > 0 {
            self.n_candidates -= 1;
            let (a, flags, _) = self.candidates[self.n_candidates];
            if self.partner_index(a).is_some() || flags & 1 == 0 && self.skips_unreachable() {
                // Unreachable boxes greet us (or the root introduces them); we cannot greet them.
                continue;
            }
            let nonce = self.rng.next_nonzero_u32();
            self.partners.push(Partner::new(a, nonce, false, now));
            self.ctrl.push((a, Ctrl::Hello { nonce }));
            sent += 1;
        }
        // Buffer maps to partners that are due.
        for i in 0..self.partners.len() {
            let p = &mut self.partners[i];
            if p.up && now >= p.next_map {
                p.next_map = now + self.cfg.map_interval;
                let (a, t) = (p.addr, p.token);
                self.ctrl.push((a, Ctrl::Map { token: t }));
            }
        }
        self.choose_parents(now);
        self.schedule_repairs(now);
    }

    /// Whether partner `p` could feed substream `s` now.
    fn could_feed(&self, now: Instant, p: &Partner, s: usize) -> bool {
        let mine = self.sub_seen[s].unwrap_or(0);
        // A box with no parent in `s` gets it only through repairs: a partner up to
        // [`ORPHAN_SLACK`] behind it still beats that.
        let slack = if self.parents[s] == Parent::None {
            self.chunks_in(ORPHAN_SLACK)
        } else {
            SUBSTREAMS as u64 * 2
        };
        // Feasibility (as in distance-vector routing): a partner deeper than this box was when
        // it last had a path may be its own descendant, still advertising a stale path. That
        // holds as much for a box replacing a quiet or slow parent as for an orphan: taking a
        // descendant closes a loop. Only after FEASIBLE_HOLD without a path (the subtree below
        // has heard by then) may any partner do.
        let (fd, since) = self.feasible[s];
        let cut_off = now.saturating_since(since);
        // A partner whose path from the root is fresher than ours is no descendant: the boxes
        // below us have their freshness from us (DSDV's sequence numbers). Holding chunks we
        // lack proves nothing: a subtree cut off with us gets repairs too.
        let ahead = p.fresh[s] > self.fresh[s];
        let feasible = p.hops[s] <= fd || ahead || cut_off >= FEASIBLE_HOLD;
        p.up && p.refused_until[s] <= now
            && feasible
            && p.down.mask & (1 << s) == 0
            && p.sub_top[s] != 0
            && p.sub_top[s] + slack >= mine
            && p.hops[s] < MAX_HOPS - 1
    }

    /// The partner to ask for substream `s`: one with admission room first, then the nearest
    /// the source (in [`DELAY_BUCKET_MS`] steps, so MAP jitter does not decide), then the most
    /// room. Children so gather under boxes near the root and the trees stay shallow, and they
    /// spread over uplinks with room instead of all asking one box and being refused.
    fn best_parent(&mut self, now: Instant, s: usize) -> Option<usize> {
        // (partner, (has room, nearness bucket, room, tie-break))
        type Choice = (usize, (bool, core::cmp::Reverse<u16>, u8, u64));
        let mut best: Option<Choice> = None;
        for i in 0..self.partners.len() {
            let p = &self.partners[i];
            if !self.could_feed(now, p, s) {
                continue;
            }
            let near = core::cmp::Reverse(p.src_delay_ms[s] / DELAY_BUCKET_MS);
            let key = (p.spare > 0, near, p.spare, self.rng.next_u64());
            if best.is_none_or(|b| b.1 < key) {
                best = Some((i, key));
            }
        }
        let i = best?.0;
        let p = &mut self.partners[i];
        p.spare = p.spare.saturating_sub(1);
        Some(i)
    }

    /// Whether another partner with room sits clearly nearer the source in substream `s` than
    /// this box does through its current parent `t`.
    fn nearer_parent(&self, now: Instant, t: u32, s: usize) -> bool {
        let mine = self.src_delay_ms[s];
        mine != NO_DELAY
            && self.partners.iter().any(|q| {
                q.token != t
                    && q.spare > 0
                    && self.could_feed(now, q, s)
                    && u32::from(q.src_delay_ms[s]) + NEARER_BY_MS < u32::from(mine)
            })
    }

    fn choose_parents(&mut self, now: Instant) {
        // Where this box stands now, per substream, for the feasibility rule; children hear at
        // once when that changed (a triggered MAP), so stale paths die within a tick per level.
        let staler = self.update_fresh();
        for (s, h) in self.hops().into_iter().enumerate() {
            if h != self.hops_seen[s] || staler & (1 << s) != 0 {
                // A path found again: every partner hears at once, as boxes cut off with us
                // may take us only once they see our freshness.
                let regained = self.hops_seen[s] == HOPS_NONE && h != HOPS_NONE;
                self.hops_seen[s] = h;
                let bit = 1u8 << s;
                for p in self
                    .partners
                    .iter_mut()
                    .filter(|p| p.up && (regained || p.down.mask & bit != 0))
                {
                    p.next_map = now;
                }
            }
            if self.parents[s] != Parent::None && h != HOPS_NONE {
                self.feasible[s] = (h, now);
            }
        }
        let mut changed_root = false;
        let mut changed = [0u32; SUBSTREAMS];
        let mut n_changed = 0;
        let lag_switch = self.chunks_in(LAG_SWITCH);
        let freshest = |ps: &[Partner], s: usize| {
            ps.iter()
                .filter(|p| p.up)
                .map(|p| p.sub_top[s])
                .max()
                .unwrap_or(0)
        };
        for s in 0..SUBSTREAMS {
            let hold = now.saturating_since(self.parent_since[s]) < SWITCH_HOLD;
            // Silence means a failed parent only if someone else has newer chunks of `s`.
            let others_ahead = freshest(&self.partners, s) > self.sub_seen[s].unwrap_or(0);
            let keep = match self.parents[s] {
                Parent::None => false,
                // Relayed by the root (peer/punch.rs): leave the relay once a partner can feed us.
                Parent::Root
                    if !hold
                        && self.relayed(s)
                        && self
                            .partners
                            .iter()
                            .any(|p| p.spare > 0 && self.could_feed(now, p, s)) =>
                {
                    false
                }
                // Asked of the root, nothing from it after ROOT_ANSWER (its refusal lost, or no
                // answer at all), and a partner could feed us: take the partner now rather than
                // wait `parent_timeout` (a joining box would show nothing that long).
                Parent::Root
                    if self.root_last_chunk[s].is_none_or(|t| t < self.parent_since[s])
                        && now.saturating_since(self.parent_since[s]) >= ROOT_ANSWER
                        && self
                            .partners
                            .iter()
                            .any(|p| p.spare > 0 && self.could_feed(now, p, s)) =>
                {
                    self.root_refused_until[s] = now + Duration::from_secs(2);
                    false
                }
                Parent::Root => {
                    // The root pushes as it ingests: its silence means it is not feeding us (a
                    // lost refusal, a replaced seed), even when no partner is ahead either.
                    let quiet = self.root_last_chunk[s]
                        .map_or(now.saturating_since(self.parent_since[s]), |t| {
                            now.saturating_since(t)
                        })
                        > self.cfg.parent_timeout;
                    if quiet && !hold {
                        self.root_refused_until[s] = now + Duration::from_secs(5);
                    }
                    hold || !quiet
                }
                Parent::Partner(t) => match self.partners.iter().find(|p| p.token == t) {
                    None => {
                        self.stats.parent_drops[0] += 1;
                        false
                    }
                    Some(p) => {
                        // A seed's silence needs no one ahead: the whole tree below it is silent.
                        let seed = p.hops[s] == 1;
                        let quiet = (others_ahead || seed)
                            && p.last_chunk[s]
                                .map_or(now.saturating_since(self.parent_since[s]), |t| {
                                    now.saturating_since(t)
                                })
                                > self.cfg.parent_timeout;
                        let behind = p.sub_top[s] + lag_switch < freshest(&self.partners, s)
                            || self.nearer_parent(now, t, s);
                        // Holds the live edge but does not pass it on: its uplink is saturated.
                        let backlogged = p.sub_top[s] > self.sub_seen[s].unwrap_or(0) + lag_switch;
                        // Cut off from the root: in a loop (hops counted up), or below a box
                        // with no parent while a partner with a path could feed us instead.
                        let cut = p.hops[s] >= MAX_HOPS - 1
                            && (p.hops[s] != HOPS_NONE
                                || self.partners.iter().any(|q| {
                                    q.token != t && q.spare > 0 && self.could_feed(now, q, s)
                                }));
                        if !hold {
                            for (k, why) in
                                [quiet, behind, backlogged || cut].into_iter().enumerate()
                            {
                                if why {
                                    self.stats.parent_drops[k + 1] += 1;
                                    if k == 0 && seed {
                                        self.seed_lost |= 1 << s;
                                    }
                                    break;
                                }
                            }
                        }
                        hold || !(quiet || behind || backlogged || cut)
                    }
                },
            };
            if keep {
                continue;
            }
            if let Parent::Partner(t) = self.parents[s] {
                if let Some(p) = self.partners.iter_mut().find(|p| p.token == t) {
                    p.refused_until[s] = now + Duration::from_secs(2);
                }
            }
            let seed_lost = self.seed_lost & (1 << s) != 0;
            self.seed_lost &= !(1 << s);
            // Our parent was the root's seed: every partner in this tree lost it too (asked
            // before `best_parent`, which counts a place taken from the partner it picks).
            let serves = self.cfg.max_child_substreams > 0;
            let new = if seed_lost && serves {
                Parent::Root
            } else {
                match self.best_parent(now, s) {
                    Some(i) => Parent::Partner(self.partners[i].token),
                    // A thin membership (neighbour pre-join: serves no children) never takes one
                    // of the root's few seed places from a box that would pass the stream on.
                    None if self.root_refused_until[s] <= now && serves => Parent::Root,
                    None => Parent::None,
                }
            };
            if new != self.parents[s] {
                self.stats.parent_switches += 1;
                // Both the old and the new parent hear the new subscription.
                for side in [self.parents[s], new] {
                    match side {
                        Parent::Root => changed_root = true,
                        Parent::Partner(t)
                            if !changed[..n_changed].contains(&t) && n_changed < SUBSTREAMS =>
                        {
                            changed[n_changed] = t;
                            n_changed += 1;
                        }
                        _ => {}
                    }
                }
                self.parents[s] = new;
                self.parent_since[s] = now;
            }
        }
        let from_seq = self.play;
        if changed_root {
            self.subscribe_root(from_seq);
        }
        for &t in &changed[..n_changed] {
            self.mark(JoinStep::Subscribe, now);
            let mask = self.mask_of(Parent::Partner(t));
            if let Some(p) = self.partners.iter().find(|p| p.token == t) {
                // Far behind this parent (joining): take the push from near its live edge and
                // pull the backlog as repairs spread over every partner that holds it, rather than
                // through this one parent's uplink.
                let edge = (0..SUBSTREAMS)
                    .filter(|&s| mask & (1 << s) != 0)
                    .map(|s| p.sub_top[s])
                    .min()
                    .unwrap_or(0);
                let from = if edge > from_seq + CATCH_UP_PUSH {
                    edge - CATCH_UP_PUSH
                } else {
                    from_seq
                };
                self.ctrl.push((
                    p.addr,
                    Ctrl::Subscribe {
                        token: t,
                        mask,
                        from_seq: from,
                    },
                ));
            }
        }
    }

    /// Tells the root which substreams we take from it now (those whose parent is the root),
    /// pushed from `from_seq`.
    pub(super) fn subscribe_root(&mut self, from_seq: u64) {
        let mask = self.mask_of(Parent::Root);
        if let Some(token) = self.root_token() {
            self.ctrl.push((
                self.root,
                Ctrl::Subscribe {
                    token,
                    mask,
                    from_seq,
                },
            ));
        }
    }

    /// How many chunks the stream carries in `d` (from the measured rate; 8 Mbit/s if unknown).
    pub(super) fn chunks_in(&self, d: Duration) -> u64 {
        let kbps = if self.stats.bitrate_kbps == 0 {
            8000
        } else {
            u64::from(self.stats.bitrate_kbps)
        };
        (kbps * 1000 / 8 * d.as_millis() as u64 / 1000 / crate::chunk::CHUNK_MAX as u64).max(8)
    }

    pub(super) fn mask_of(&self, parent: Parent) -> u8 {
        (0..SUBSTREAMS)
            .filter(|&s| self.parents[s] == parent)
            .fold(0, |m, s| m | (1 << s))
    }

    /// Emits a queued control message; `None` if it no longer applies.
    pub(super) fn emit_ctrl(
        &mut self,
        _now: Instant,
        dst: SocketAddr,
        c: Ctrl,
        buf: &mut [u8],
    ) -> Option<usize> {
        let channel = self.channel()?;
        let msg = match c {
            Ctrl::Hello { nonce } => {
                let flags = if self.advertised_reachable() {
                    FLAG_REACHABLE
                } else {
                    0
                };
                Message::Hello {
                    channel,
                    nonce,
                    flags,
                    upload_kbps: self.cfg.upload_kbps,
                }
            }
            Ctrl::HelloAck { nonce, accept } => Message::HelloAck {
                channel,
                nonce,
                accept,
            },
            Ctrl::Map { token } => {
                let i = self.partner_by_token(dst, token)?;
                // An empty map still tells the partner we are alive.
                // The newest MAP_BITS chunks held (played or not): what partners may lack.
                let next = self.highest.map_or(self.play, |h| h + 1);
                let base = next
                    .saturating_sub(MAP_BITS as u64)
                    .max(self.pool.window_start().unwrap_or(0));
                let n = next.saturating_sub(base) as usize;
                let mut bits = [0u8; MAP_BITS / 8];
                let len = encode_map(base, n, |s| self.pool.contains(s), &mut bits);
                let want = self.partners() < self.cfg.max_partners && self.n_candidates < 2;
                let delay_us = self.partners[i].delay.queue_us();
                let spare = self.spare_slots().min(15) as u8;
                let flags = (spare << MAP_SPARE_SHIFT) | if want { FLAG_WANT_PEERS } else { 0 };
                return Message::Map {
                    channel,
                    token,
                    base,
                    delay_us,
                    flags,
                    src_delay_ms: self.src_delay_ms,
                    hops: self.hops(),
                    fresh: core::array::from_fn(|s| fresh_off(base, self.fresh[s])),
                    map: &bits[..len],
                }
                .emit(buf)
                .ok();
            }
            Ctrl::Subscribe {
                token,
                mask,
                from_seq,
            } => Message::Subscribe {
                channel,
                token,
                mask,
                from_seq,
            },
            Ctrl::SubAck {
                token,
                accepted,
                refused,
            } => Message::SubAck {
                channel,
                token,
                accepted,
                refused,
            },
            Ctrl::Peers => {
                let mut list = [(self.root, 0u8); MAX_PEERS];
                let mut k = 0;
                for p in self.partners.iter().filter(|p| p.up && p.addr != dst) {
                    if k == MAX_PEERS {
                        break;
                    }
                    list[k] = (p.addr, u8::from(p.reachable));
                    k += 1;
                }
                return emit_peers(channel, &list[..k], buf).ok();
            }
            Ctrl::Request {
                token,
                base,
                map,
                len,
            } => {
                return Message::Request {
                    channel,
                    token,
                    base,
                    map: &map[..usize::from(len).max(1)],
                }
                .emit(buf)
                .ok();
            }
            Ctrl::Leave { token } => Message::Leave { channel, token },
        };
        msg.emit(buf).ok()
    }
}
