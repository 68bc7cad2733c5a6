//! What a box shows about itself: state, counters, partners, parents, lag — read-only views
//! for the status page and the simulator.
//!
//! Invariant: nothing here changes the box's state.

use super::*;
use crate::wire::HOPS_NONE;

impl Peer {
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

    /// Time from construction to each [`JoinStep`] of the first join, in step order (`None`:
    /// not reached). The simulator reports their percentiles (`TVMESH_SIM_JOINS`).
    pub fn join_phases(&self) -> [Option<Duration>; JoinStep::Output as usize + 1] {
        core::array::from_fn(|k| {
            let t = if k == JoinStep::Output as usize {
                self.first_output
            } else {
                self.join_marks[k]
            };
            t.map(|t| t.saturating_since(self.started))
        })
    }

    /// Records the first time the join reached `step`.
    pub(super) fn mark(&mut self, step: JoinStep, now: Instant) {
        if let Some(m) = self.join_marks.get_mut(step as usize) {
            m.get_or_insert(now);
        }
    }

    /// This box's smoothed distance from the source per substream, ms ([`NO_DELAY`] unknown).
    pub fn src_delay_ms(&self) -> [u16; SUBSTREAMS] {
        self.src_delay_ms
    }

    /// Per substream: 0 no parent, 1 the root, 2 a partner.
    pub fn parent_kinds(&self) -> [u8; SUBSTREAMS] {
        self.parents.map(|p| match p {
            Parent::None => 0,
            Parent::Root => 1,
            Parent::Partner(_) => 2,
        })
    }

    /// Per substream: the partner address feeding it (`None`: the root or no parent).
    pub fn parent_addrs(&self) -> [Option<SocketAddr>; SUBSTREAMS] {
        self.parents.map(|p| match p {
            Parent::Partner(t) => self.partners.iter().find(|q| q.token == t).map(|q| q.addr),
            _ => None,
        })
    }

    /// Per child (partner address) and substream: how far its push cursor trails this box's
    /// newest chunk of that substream (sequence numbers).
    pub fn push_behind(&self) -> impl Iterator<Item = (SocketAddr, [u64; SUBSTREAMS])> + '_ {
        self.partners.iter().filter(|p| p.down.mask != 0).map(|p| {
            let mut b = [0; SUBSTREAMS];
            for (s, x) in b.iter_mut().enumerate() {
                *x = self.sub_seen[s].map_or(0, |top| p.down.behind(s, top));
                // Diagnostics: a cursor waiting on a chunk this box lacks shows as 1_000_000+.
                if *x > 0 && !self.pool.contains(p.down.cursor(s)) {
                    *x += 1_000_000;
                }
            }
            (p.addr, b)
        })
    }

    /// Diagnostics: per partner, why it does not feed substream `s`: (address, up, spare slots
    /// it announced, refused us until later, is our child in `s`, its newest chunk of `s` minus
    /// ours).
    pub fn parent_candidates(
        &self,
        s: usize,
    ) -> impl Iterator<Item = (SocketAddr, bool, u8, bool, bool, i64)> + '_ {
        let mine = self.sub_seen[s].unwrap_or(0) as i64;
        self.partners.iter().map(move |p| {
            (
                p.addr,
                p.up,
                p.spare,
                p.refused_until[s] > self.now,
                p.down.mask & (1 << s) != 0,
                p.sub_top[s] as i64 - mine,
            )
        })
    }

    /// Hops from the root per substream, for MAP: the parent's plus one, [`HOPS_NONE`] with no
    /// parent. In a loop the count climbs by one per MAP until it passes [`MAX_HOPS`].
    pub fn hops(&self) -> [u8; SUBSTREAMS] {
        core::array::from_fn(|s| match self.parents[s] {
            // Asked of the root but not (or no longer) pushed by it: no path yet. Claiming one
            // would draw boxes cut off alongside this one onto a box with nothing to give.
            Parent::Root if !self.root_feeding(s) => HOPS_NONE,
            Parent::Root => 1,
            Parent::None => HOPS_NONE,
            Parent::Partner(t) => {
                self.partners
                    .iter()
                    .find(|p| p.token == t)
                    .map_or(HOPS_NONE, |p| match p.hops[s] {
                        HOPS_NONE => HOPS_NONE,
                        h => h.saturating_add(1).min(HOPS_NONE - 1),
                    })
            }
        })
    }

    /// Whether the root pushed substream `s` to us since we last chose it as parent, and
    /// within `parent_timeout`.
    pub(super) fn root_feeding(&self, s: usize) -> bool {
        self.root_last_chunk[s].is_some_and(|t| {
            t >= self.parent_since[s] && self.now.saturating_since(t) <= self.cfg.parent_timeout
        })
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
}
