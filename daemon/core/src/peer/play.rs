//! The play head and the outputs: what the box has in order, what it gives up, what it hands
//! to its decoder sink and HTTP viewers, and how continuity is counted.
//!
//! Invariants: the play head only moves forward within an epoch; it passes a missing chunk only
//! after `give_up`; outputs read the pool up to the play head (see `crate::output`).

use super::*;

/// How long a box with no partner waits for its first chunk before its start point is stale.
pub(super) const START_STALE: Duration = Duration::from_millis(1500);

impl Peer {
    /// The stream rate as received, over windows of at least 2 s (the root's figure is only a
    /// hint: a box that joined before the root measured its source learns it here).
    pub(super) fn measure_rate(&mut self, now: Instant, bytes: usize) {
        let (start, n) = self.rate_window;
        let el = now.saturating_since(start);
        // The first estimate comes quickly (capacity decisions wait on it); later ones average
        // over 2 s.
        let first = self.stats.bitrate_kbps == 0
            && el >= Duration::from_millis(500)
            && n >= 16 * crate::chunk::CHUNK_MAX as u64;
        if first || el >= Duration::from_secs(2) {
            let kbps = self
                .rate_from_stamps()
                .unwrap_or((n * 8 / el.as_millis().max(1) as u64) as u32);
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

    /// The stream rate from the root's stamps on the chunks at the pool window's start and its
    /// newest (`None` until the pool has filled that far): unlike the receive rate it does not
    /// depend on how many substreams arrive, nor on catch-up bursts.
    fn rate_from_stamps(&self) -> Option<u32> {
        let (a, b) = (self.pool.window_start()?, self.pool.newest()?);
        self.pool.rate_kbps_between(a, b, 1000)
    }

    pub(super) fn mark_missing(&mut self, seq: u64, now: Instant) {
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

    pub(super) fn on_join_ack(
        &mut self,
        now: Instant,
        channel: u16,
        token: u32,
        rap_seq: u64,
        bitrate_kbps: u32,
    ) {
        self.mark(JoinStep::Ack, now);
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
            self.start_at = now;
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

    /// A start point gone stale: nothing has come for [`START_STALE`] since it was named and no
    /// partner is up (a box waiting for the root's relay, or for a seed place), so the stream
    /// that finally comes would be played that far behind the source. The start moves on by as
    /// many chunks as the stream carried meanwhile (outputs then wait for the next key frame),
    /// and a subscription the root holds is renewed from there, so it pushes from near the live
    /// edge instead of a backlog.
    pub(super) fn refresh_start(&mut self, now: Instant) {
        let waited = now.saturating_since(self.start_at);
        if self.highest.is_some() || waited < START_STALE || self.partners.iter().any(|p| p.up) {
            return;
        }
        let seq = self.play + self.chunks_in(waited);
        self.new_epoch(seq);
        self.start_at = now;
        if self.mask_of(Parent::Root) != 0 {
            self.subscribe_root(seq);
        }
    }

    /// Forgets the stream and restarts at `seq` (outputs wait for the next key frame).
    pub(super) fn new_epoch(&mut self, seq: u64) {
        if self.highest.is_some() {
            self.events.push(PeerEvent::NewEpoch);
        }
        self.pool.clear();
        self.miss.iter_mut().for_each(|m| *m = None);
        self.sub_seen = [None; SUBSTREAMS];
        self.fresh = [0; SUBSTREAMS];
        self.root_top = [0; SUBSTREAMS];
        self.play = seq;
        self.miss_lo = seq;
        self.highest = None;
        self.outputs.restart_all(seq, &self.pool);
    }

    /// The play head passes `seq`, present or lost.
    pub(super) fn pass(&mut self, seq: u64) {
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
    pub(super) fn advance_play(&mut self, now: Instant) {
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

    pub(super) fn miss_entry(&self, seq: u64) -> Option<Miss> {
        self.miss[(seq % MISS_WINDOW as u64) as usize].filter(|m| m.seq == seq)
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

    /// The next bytes for output `id` (whole packets, in order, descrambled), or `None` if nothing
    /// is ready (or the next chunk is scrambled and no key is held: see `peer/licence.rs`).
    pub fn output_peek(&mut self, id: OutputId) -> Option<&[u8]> {
        let (drm, now) = (&mut self.drm, self.now);
        self.outputs
            .peek(id, &self.pool, self.play, |info, buf| {
                drm.descramble(now, info, buf)
            })
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
