//! What a box shows about itself: state, counters, partners, parents, lag — read-only views
//! for the status page and the simulator.
//!
//! Invariant: nothing here changes the box's state.

use super::*;

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
