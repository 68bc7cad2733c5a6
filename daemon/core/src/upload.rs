//! The serving side shared by the root and boxes: substreams, downstream cursors, the upload
//! budget and its delay-based (LEDBAT-style) controller.
//!
//! The stream is split into [`SUBSTREAMS`] substreams by sequence number (`seq % 4`). A child
//! subscribes to some substreams from a parent, which then pushes each chunk of those substreams
//! as soon as it holds it ([`Downstream`]). Repairs (REQUESTs) queue in a small fixed array, lowest
//! first; a partnership's first [`REPAIR_FREE`] go ahead of the pushes, the rest after. Every upload passes a token bucket ([`Budget`]) whose rate [`Ledbat`] sets from the
//! queueing delay children report: the box backs off before it fills the household uplink.
//!
//! Invariants: fixed memory per child (cursors and a resend array); a cursor never moves
//! backwards and never waits on a chunk the parent has given up on.

use crate::pool::ChunkPool;
use crate::time::Instant;
use core::time::Duration;

/// Number of substreams.
pub const SUBSTREAMS: usize = 4;
/// All substreams as a mask.
pub const ALL: u8 = (1 << SUBSTREAMS) - 1;
/// Repair requests a child may have queued with one parent.
pub const RESEND_CAP: usize = 32;

/// The substream of a chunk.
pub fn substream(seq: u64) -> usize {
    (seq % SUBSTREAMS as u64) as usize
}

/// The first sequence number at or after `from` in substream `s`.
pub fn first_in(s: usize, from: u64) -> u64 {
    let r = substream(from);
    from + ((s + SUBSTREAMS - r) % SUBSTREAMS) as u64
}

/// What a parent keeps for one child.
#[derive(Clone, Debug, Default)]
pub struct Downstream {
    /// Substreams pushed to the child.
    pub mask: u8,
    next: [u64; SUBSTREAMS],
    rr: usize,
    resend: [u64; RESEND_CAP],
    resend_len: usize,
    /// Repairs sent ahead of pushes (see [`Downstream::repair_ready`]).
    prio_repairs: u64,
    /// Chunks sent to this child.
    pub chunks: u64,
    /// Bytes sent to this child.
    pub bytes: u64,
}

impl Downstream {
    /// Replaces the subscription: push substreams in `mask` from `from_seq` on.
    pub fn subscribe(&mut self, mask: u8, from_seq: u64) {
        for s in 0..SUBSTREAMS {
            let bit = 1 << s;
            if mask & bit != 0 && (self.mask & bit == 0 || self.next[s] < from_seq) {
                self.next[s] = first_in(s, from_seq);
            }
        }
        self.mask = mask & ALL;
    }

    /// Moves push cursors that trail the parent's newest chunk of their substream (`tops`) by
    /// more than `backlog` sequence numbers up to that distance: a child subscribing from an old
    /// play head takes the rest as repairs from every partner, not as one parent's backlog that
    /// would keep its cursor (and the child's whole subtree) behind for good.
    pub fn limit_backlog(&mut self, tops: &[Option<u64>; SUBSTREAMS], backlog: u64) {
        for (s, top) in tops.iter().enumerate() {
            if let Some(top) = *top {
                if self.mask & (1 << s) != 0 && top.saturating_sub(self.next[s]) > backlog {
                    self.next[s] = first_in(s, top - backlog);
                }
            }
        }
    }

    /// Number of substreams subscribed.
    pub fn count(&self) -> u32 {
        self.mask.count_ones()
    }

    /// Queues repairs; ignores duplicates and overflow.
    pub fn request(&mut self, seqs: impl Iterator<Item = u64>) {
        for seq in seqs {
            if self.resend_len == RESEND_CAP {
                break;
            }
            if !self.resend[..self.resend_len].contains(&seq) {
                self.resend[self.resend_len] = seq;
                self.resend_len += 1;
            }
        }
    }

    /// Chunk `seq` arrived late (after a gap): if the push cursor skipped it a moment ago, queue
    /// it, so the child gets it from us without having to ask.
    pub fn late(&mut self, seq: u64) {
        let s = substream(seq);
        let n = self.next[s];
        if self.mask & (1 << s) != 0 && n > seq && n - seq <= LATE_WINDOW {
            self.request(core::iter::once(seq));
        }
    }

    /// Whether anything could be sent now (cheap check before asking the budget).
    pub fn pending(&self, pool: &ChunkPool) -> bool {
        if self.resend_len > 0 {
            return true;
        }
        let Some(newest) = pool.newest() else {
            return false;
        };
        (0..SUBSTREAMS).any(|s| self.mask & (1 << s) != 0 && self.next[s] <= newest)
    }

    /// Whether a pushed chunk near the live edge (within [`LIVE_SPAN`]) waits for this child.
    pub fn live_ready(&self, pool: &ChunkPool) -> bool {
        let Some(newest) = pool.newest() else {
            return false;
        };
        (0..SUBSTREAMS).any(|s| {
            let n = self.next[s];
            self.mask & (1 << s) != 0 && n <= newest && newest - n < LIVE_SPAN && pool.contains(n)
        })
    }

    /// The next chunk to send: while [`Downstream::repair_ready`], the lowest queued repair the
    /// pool holds (nearest its deadline; for a joining child, the key frame it starts at);
    /// otherwise a pushed chunk, the substreams in turn, then the lowest repair. `gone_below`:
    /// chunks below it that the pool lacks will never come (the parent gave up).
    pub fn next_chunk(&mut self, pool: &ChunkPool, gone_below: u64) -> Option<u64> {
        if self.repair_ready() {
            if let Some(seq) = self.next_repair(pool) {
                self.prio_repairs += 1;
                return Some(seq);
            }
        }
        self.next_push(pool, gone_below)
            .or_else(|| self.next_repair(pool))
    }

    /// The lowest queued repair the pool holds (dropping those it does not).
    fn next_repair(&mut self, pool: &ChunkPool) -> Option<u64> {
        while self.resend_len > 0 {
            let q = &mut self.resend[..self.resend_len];
            let (k, &seq) = q.iter().enumerate().min_by_key(|&(_, &s)| s)?;
            q[k] = q[q.len() - 1];
            self.resend_len -= 1;
            if pool.contains(seq) {
                return Some(seq);
            }
        }
        None
    }

    /// Whether a repair waits for this child and may go ahead of every push: the first
    /// [`REPAIR_FREE`] of a partnership (a joining box's start point and first gaps). After
    /// that, repairs take what the pushes leave: served first they slowed the trees' forming
    /// in the flash crowd at 10,000 viewers, and a request flood would take a child's share.
    pub fn repair_ready(&self) -> bool {
        self.resend_len > 0 && self.prio_repairs < REPAIR_FREE
    }

    fn next_push(&mut self, pool: &ChunkPool, gone_below: u64) -> Option<u64> {
        let newest = pool.newest()?;
        let start = pool.window_start().unwrap_or(0);
        for k in 0..SUBSTREAMS {
            let s = (self.rr + k) % SUBSTREAMS;
            if self.mask & (1 << s) == 0 {
                continue;
            }
            let n = &mut self.next[s];
            // Fallen out of the window, waiting on a chunk that will never come, or a gap (lost
            // on its way here) with later chunks of the substream already held: move on. Waiting
            // would hold the whole subtree behind one repair; the child repairs the gap itself.
            while *n <= newest && !pool.contains(*n) {
                if *n < start || *n < gone_below {
                    *n += SUBSTREAMS as u64;
                    continue;
                }
                let step = SUBSTREAMS as u64;
                match (1..=GAP_LOOKAHEAD).find(|k| pool.contains(*n + k * step)) {
                    Some(k) => *n += k * step,
                    None => break,
                }
            }
            if *n <= newest && pool.contains(*n) {
                let seq = *n;
                *n += SUBSTREAMS as u64;
                self.rr = (s + 1) % SUBSTREAMS;
                return Some(seq);
            }
        }
        None
    }

    /// How far the push cursor of substream `s` trails `top`, the parent's newest chunk of it
    /// (sequence numbers; 0 when `s` is not subscribed).
    pub fn behind(&self, s: usize, top: u64) -> u64 {
        if self.mask & (1 << s) == 0 {
            return 0;
        }
        (top + SUBSTREAMS as u64).saturating_sub(self.next[s])
    }

    /// The push cursor of substream `s`.
    pub fn cursor(&self, s: usize) -> u64 {
        self.next[s]
    }

    /// Counts a sent chunk.
    pub fn sent(&mut self, bytes: usize) {
        self.chunks += 1;
        self.bytes += bytes as u64;
    }
}

/// Repairs a partnership gets ahead of every push: a joining box asks for its start point and
/// the chunks after it (`peer/repair.rs`, 16) and its first gaps.
const REPAIR_FREE: u64 = 32;

/// A push cursor this close to the newest chunk held (in sequence numbers) is "live".
const LIVE_SPAN: u64 = 16;

/// Chunks of one substream a push cursor looks ahead for a held chunk past a gap.
const GAP_LOOKAHEAD: u64 = 8;

/// A chunk that fills a gap this many sequence numbers behind a child's push cursor is still
/// sent to it (about 1.3 s at 1.5 Mbit/s): the child is likely still waiting for it.
const LATE_WINDOW: u64 = 256;

/// A token bucket in bytes. A rate of 0 means unlimited.
#[derive(Clone, Debug)]
pub struct Budget {
    rate_bps: u64,
    tokens: i64,
    burst: i64,
    last: Instant,
}

impl Budget {
    /// A bucket at `rate_bps` bits/s (0: unlimited) holding at most `burst` bytes.
    pub fn new(rate_bps: u64, burst: usize, now: Instant) -> Self {
        Budget {
            rate_bps,
            tokens: burst as i64,
            burst: burst as i64,
            last: now,
        }
    }

    /// Current rate in bits/s (0: unlimited).
    pub fn rate_bps(&self) -> u64 {
        self.rate_bps
    }

    /// Changes the rate.
    pub fn set_rate(&mut self, rate_bps: u64) {
        self.rate_bps = rate_bps;
    }

    fn refill(&mut self, now: Instant) {
        let us = now.saturating_since(self.last).as_micros() as u64;
        self.last = now;
        let add = (self.rate_bps.saturating_mul(us) / 8_000_000) as i64;
        self.tokens = (self.tokens + add).min(self.burst);
    }

    /// Whether `bytes` may be sent now; takes them if so.
    pub fn take(&mut self, now: Instant, bytes: usize) -> bool {
        if !self.ready(now) {
            return false;
        }
        self.spend(bytes);
        true
    }

    /// Whether one datagram may be sent now (any size: the bucket may go below zero once).
    pub fn ready(&mut self, now: Instant) -> bool {
        if self.rate_bps == 0 {
            return true;
        }
        self.refill(now);
        self.tokens > 0
    }

    /// Takes `bytes` sent after [`Budget::ready`] said yes.
    pub fn spend(&mut self, bytes: usize) {
        if self.rate_bps != 0 {
            self.tokens -= bytes as i64;
        }
    }

    /// When enough tokens for one datagram will have accrued (None if unlimited or ready).
    pub fn ready_at(&self, now: Instant) -> Option<Instant> {
        if self.rate_bps == 0 || self.tokens > 0 {
            return None;
        }
        let need = (1 - self.tokens) as u64 * 8_000_000 / self.rate_bps.max(1);
        Some(now + Duration::from_micros(need.max(100)))
    }
}

/// LEDBAT-style rate control (RFC 6817, adapted to a rate): the upload rate grows while the
/// queueing delay children report is under [`Ledbat::TARGET`] and shrinks in proportion when over.
#[derive(Clone, Debug)]
pub struct Ledbat {
    cap_bps: u64,
    rate_bps: u64,
    last: Instant,
}

impl Ledbat {
    /// Queueing delay the controller aims at (RFC 6817 allows up to 100 ms).
    pub const TARGET: Duration = Duration::from_millis(50);
    /// Lowest rate it falls to (bits/s): enough for one substream of a modest stream.
    pub const MIN_BPS: u64 = 128_000;

    /// A controller capped at `cap_bps` (0: no cap, only delay limits the rate).
    pub fn new(cap_bps: u64, now: Instant) -> Self {
        let start = if cap_bps == 0 { 8_000_000 } else { cap_bps };
        Ledbat {
            cap_bps,
            rate_bps: start,
            last: now,
        }
    }

    /// The rate to send at.
    pub fn rate_bps(&self) -> u64 {
        self.rate_bps
    }

    /// Feeds a queueing-delay report (µs). At most one adjustment per 100 ms.
    pub fn on_delay(&mut self, now: Instant, queue_us: u32) {
        if now.saturating_since(self.last) < Duration::from_millis(100) {
            return;
        }
        self.last = now;
        let target = Self::TARGET.as_micros() as i64;
        let off = (target - i64::from(queue_us)).clamp(-target, target); // -1..=1 × target
                                                                         // Multiplicative step of at most ±10% per adjustment, proportional to the off-target.
        let step = self.rate_bps as i64 / 10 * off / target;
        let mut r = (self.rate_bps as i64 + step).max(Self::MIN_BPS as i64) as u64;
        if self.cap_bps != 0 {
            r = r.min(self.cap_bps);
        } else {
            r = r.min(1_000_000_000);
        }
        self.rate_bps = r;
    }
}

/// One-way delay of chunks arriving from one sender, for feedback to it. Clocks differ, so only
/// differences from the lowest delay seen (the base) mean anything: that is the queueing delay.
#[derive(Clone, Debug, Default)]
pub struct DelayMeter {
    base: Option<u32>,
    base_at: Option<Instant>,
    current: u32,
}

impl DelayMeter {
    /// How long a base delay is trusted before it is allowed to rise (routes change).
    pub const BASE_WINDOW: Duration = Duration::from_secs(30);

    /// A chunk stamped `sent_us` by the sender arrived at `now`.
    pub fn sample(&mut self, now: Instant, sent_us: u32) {
        let d = (now.as_micros() as u32).wrapping_sub(sent_us);
        let stale = self
            .base_at
            .is_none_or(|t| now.saturating_since(t) > Self::BASE_WINDOW);
        match self.base {
            Some(b) if !stale && (d.wrapping_sub(b) as i32) >= 0 => {}
            _ => {
                self.base = Some(d);
                self.base_at = Some(now);
            }
        }
        self.current = d;
    }

    /// Current queueing delay estimate in µs.
    pub fn queue_us(&self) -> u32 {
        match self.base {
            Some(b) => (self.current.wrapping_sub(b) as i32).max(0) as u32,
            None => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::{ChunkFlags, ChunkInfo};
    use crate::pool::SLOT_COST;

    fn info(seq: u64) -> ChunkInfo {
        ChunkInfo {
            seq,
            flags: ChunkFlags::NONE,
            key_id: 0,
            stamp_ms: 0,
        }
    }

    fn pool(seqs: impl Iterator<Item = u64>) -> ChunkPool {
        let mut p = ChunkPool::with_budget(128 * SLOT_COST).unwrap();
        for s in seqs {
            p.insert(info(s), &[0x47; 188]);
        }
        p
    }

    #[test]
    fn substream_math() {
        assert_eq!(substream(13), 1);
        assert_eq!(first_in(2, 13), 14);
        assert_eq!(first_in(1, 13), 13);
        assert_eq!(first_in(0, 13), 16);
    }

    #[test]
    fn pushes_subscribed_substreams_and_repairs_first() {
        let p = pool(100..120);
        let mut d = Downstream::default();
        d.subscribe(0b0011, 104);
        let mut got = std::vec::Vec::new();
        while let Some(s) = d.next_chunk(&p, 0) {
            got.push(s);
        }
        got.sort();
        assert_eq!(got, [104, 105, 108, 109, 112, 113, 116, 117]);
        d.request([101u64, 101, 50].into_iter());
        assert_eq!(d.next_chunk(&p, 0), Some(101));
        assert_eq!(
            d.next_chunk(&p, 0),
            None,
            "50 is not held; duplicate dropped"
        );
    }

    #[test]
    fn repairs_go_first_lowest_first_within_the_allowance() {
        let p = pool(100..200);
        let mut d = Downstream::default();
        d.subscribe(0b0001, 100);
        d.request([130u64, 110, 120].into_iter());
        assert!(d.repair_ready());
        // Ahead of the push (100), oldest first.
        assert_eq!(d.next_chunk(&p, 0), Some(110));
        assert_eq!(d.next_chunk(&p, 0), Some(120));
        assert_eq!(d.next_chunk(&p, 0), Some(130));
        assert_eq!(d.next_chunk(&p, 0), Some(100));
        assert!(!d.repair_ready());
    }

    #[test]
    fn a_request_flood_loses_its_priority() {
        let p = pool(100..200);
        let mut d = Downstream::default();
        d.subscribe(0b0001, 100);
        let mut first = 0;
        for round in 0..4u64 {
            d.request((0..RESEND_CAP as u64).map(|k| 101 + k * 2 + round % 2));
            while d.repair_ready() {
                d.next_chunk(&p, 0);
                first += 1;
            }
            d.resend_len = 0;
        }
        // REPAIR_FREE ahead of the pushes, then none.
        assert_eq!(first, REPAIR_FREE);
        d.request([151u64].into_iter());
        assert!(!d.repair_ready());
        assert_eq!(d.next_chunk(&p, 0), Some(100), "the push goes first");
    }

    #[test]
    fn skips_a_gap_and_sends_it_when_it_arrives() {
        // 108 missing, 112.. held: the push goes on past the gap.
        let mut p = pool((100..120).filter(|&s| s != 108));
        let mut d = Downstream::default();
        d.subscribe(0b0001, 100);
        assert_eq!(d.next_chunk(&p, 0), Some(100));
        assert_eq!(d.next_chunk(&p, 0), Some(104));
        assert_eq!(d.next_chunk(&p, 0), Some(112), "108 skipped: 112 is held");
        assert_eq!(d.next_chunk(&p, 0), Some(116));
        assert_eq!(d.next_chunk(&p, 0), None, "waits at the live edge");
        // 108 arrives late: queued for the child; a chunk of another substream is not.
        assert!(p.insert(info(108), &[0x47; 188]));
        d.late(108);
        d.late(109);
        assert_eq!(d.next_chunk(&p, 0), Some(108));
        assert_eq!(d.next_chunk(&p, 0), None);
    }

    #[test]
    fn waits_on_a_gap_at_the_edge_unless_given_up() {
        let p = pool((100..109).filter(|&s| s != 108));
        let mut d = Downstream::default();
        d.subscribe(0b0001, 100);
        assert_eq!(d.next_chunk(&p, 0), Some(100));
        assert_eq!(d.next_chunk(&p, 0), Some(104));
        assert_eq!(
            d.next_chunk(&p, 0),
            None,
            "nothing later held: waits for 108"
        );
    }

    #[test]
    fn budget_and_ledbat() {
        let t = Instant::from_millis(1000);
        let mut b = Budget::new(8_000_000, 2000, t); // 1 MB/s
        assert!(b.take(t, 1500));
        assert!(b.take(t, 1500));
        assert!(!b.take(t, 1500));
        assert!(b.ready_at(t).is_some());
        assert!(b.take(t + Duration::from_millis(2), 1500));
        let mut l = Ledbat::new(4_000_000, t);
        l.on_delay(t + Duration::from_millis(200), 200_000);
        assert!(l.rate_bps() < 4_000_000, "backs off over target");
        let r = l.rate_bps();
        l.on_delay(t + Duration::from_millis(400), 0);
        assert!(
            l.rate_bps() > r && l.rate_bps() <= 4_000_000,
            "grows under target, capped"
        );
    }

    #[test]
    fn delay_meter_sees_queueing() {
        let mut m = DelayMeter::default();
        let t = Instant::from_millis(5000);
        m.sample(t, (t.as_micros() as u32).wrapping_sub(20_000)); // 20 ms path
        assert_eq!(m.queue_us(), 0);
        let t2 = t + Duration::from_millis(10);
        m.sample(t2, (t2.as_micros() as u32).wrapping_sub(65_000)); // 45 ms queued
        assert_eq!(m.queue_us(), 45_000);
    }
}
