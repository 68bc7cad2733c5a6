//! Repairs: which missing chunks to ask for, and from whom (the substream's parent, a partner
//! whose map shows the chunk, else the root once urgent), one REQUEST per source per tick.
//!
//! A joining box also asks for its start point (the key frame) and the chunks after it from the
//! first partner whose map shows them, without waiting for a push or a tick: they lie in the
//! past, so no push brings them soon.
//!
//! Invariants: only chunks inside the miss window ([`MISS_WINDOW`]) and the request bitmap
//! (`MAX_MAP` × 8 from the play head) are asked for; work per tick is bounded by that window.

use super::*;

/// Chunks from the start point on that a joining box asks one partner for at once.
const PREFETCH: u64 = 16;
/// Where a tick's REQUESTs can go: every slot of the partner table, then the root. (It was a
/// fixed 8 + 1: with `max_partners` 7 or 8, which the daemon accepts, partners in the last
/// slots were never asked and their repairs went to the root.)
const REPAIR_DESTS: usize = MAX_PARTNERS + sched::INBOUND_SLACK + 1;
/// The root's index among [`REPAIR_DESTS`].
const ROOT_DEST: usize = REPAIR_DESTS - 1;

impl Peer {
    /// Joining (nothing held yet in this epoch, the start point not yet asked for): asks partner
    /// `i` at once for the start point and the [`PREFETCH`] chunks from it that its map shows.
    /// They count as requested misses, so `schedule_repairs` retries them (from any holder) if
    /// the answer does not come.
    pub(super) fn prefetch_start(&mut self, now: Instant, i: usize) {
        let play = self.play;
        if self.highest.is_some() || self.miss_entry(play).is_some_and(|m| m.last_req.is_some()) {
            return;
        }
        // Verifying, chunks wait for the channel key and their manifests: asked for before the
        // key, they would only be held and expire.
        if self.cfg.verify && !self.integrity_ready() {
            return;
        }
        let p = &self.partners[i];
        if !p.up || !p.has(play) {
            return;
        }
        let (addr, token) = (p.addr, p.token);
        let mut map = [0u8; MAX_MAP];
        let mut len = 0;
        for k in 0..PREFETCH {
            let seq = play + k;
            if self.pool.contains(seq) || !self.partners[i].has(seq) {
                continue;
            }
            self.mark_missing(seq, now);
            if let Some(e) = self.miss[(seq % MISS_WINDOW as u64) as usize].as_mut() {
                e.last_req = Some(now);
            }
            map[k as usize / 8] |= 1 << (k % 8);
            len = k as usize / 8 + 1;
            self.stats.requested_chunks += 1;
        }
        self.stats.requests += 1;
        self.ctrl.push((
            addr,
            Ctrl::Request {
                token,
                base: play,
                map,
                len: len as u8,
            },
        ));
    }

    /// Requests missing chunks that are due, from a partner that has them, else (when urgent)
    /// from the root. One REQUEST per source per tick.
    pub(super) fn schedule_repairs(&mut self, now: Instant) {
        // Before the first chunk, only the start point's prefetch can be open.
        let h = match self.highest {
            Some(h) => h,
            None if self.miss_entry(self.play).is_some() => self.play + PREFETCH - 1,
            None => return,
        };
        let base = self.play.max(self.miss_lo);
        if base > h {
            return;
        }
        let end = h.min(self.play + MISS_WINDOW as u64 - 1);
        // Per destination: a partner's index, or ROOT_DEST; base, bitmap. Every partner index
        // fits: the table holds at most MAX_PARTNERS + INBOUND_SLACK (`Peer::new`).
        let n = self.partners.len().min(ROOT_DEST);
        let mut maps = [[0u8; MAX_MAP]; REPAIR_DESTS];
        let mut used = [false; REPAIR_DESTS];
        let mut lens = [0usize; REPAIR_DESTS];
        let rbase = self.play;
        let mut lowest_open = None;
        for seq in base..=end {
            if self.pool.contains(seq) {
                continue;
            }
            let idx = (seq % MISS_WINDOW as u64) as usize;
            let Some(m) = self.miss[idx].filter(|m| m.seq == seq) else {
                continue;
            };
            lowest_open.get_or_insert(seq);
            let due = match m.last_req {
                None => now.saturating_since(m.since) >= self.cfg.nack_delay,
                Some(t) => {
                    now.saturating_since(t) >= self.cfg.nack_retry * (1u32 << m.tries.min(1))
                }
            };
            if !due || seq - rbase >= (MAX_MAP * 8) as u64 {
                continue;
            }
            // The substream's parent holds a chunk it already pushed past (it pushes in order),
            // even before its next buffer map says so: a chunk lost on the way is asked there.
            // The root as that parent answers from its pool without touching its repair budget.
            let s = substream(seq);
            let parent_at = match self.parents[s] {
                Parent::Partner(t) => self.partners.iter().position(|p| p.token == t && p.up),
                _ => None,
            };
            let parent = parent_at
                .filter(|&j| self.partners[j].has(seq) || self.partners[j].pushed_past(seq));
            let root_parent =
                self.parents[s] == Parent::Root && self.sub_seen[s].is_some_and(|t| t > seq);
            // Otherwise any partner that shows it, starting at a random one: a backlog spreads
            // over every holder's uplink instead of queueing at one.
            let k = self.rng.next_u64() as usize;
            // Last, the parent if it is past `seq` at all (a chunk older than its map).
            let holder = parent
                .or_else(|| {
                    (0..n)
                        .map(|j| (j + k) % n)
                        .find(|&j| self.partners[j].up && self.partners[j].has(seq))
                })
                .or_else(|| parent_at.filter(|&j| self.partners[j].sub_top[s] > seq));
            let up_partners = self.partners.iter().any(|p| p.up);
            let dest = match holder {
                Some(j) if j < ROOT_DEST => j,
                _ if root_parent
                    || !up_partners
                    || now.saturating_since(m.since) >= self.cfg.urgent_after =>
                {
                    ROOT_DEST
                }
                _ => continue,
            };
            let bit = (seq - rbase) as usize;
            maps[dest][bit / 8] |= 1 << (bit % 8);
            lens[dest] = lens[dest].max(bit / 8 + 1);
            used[dest] = true;
            if let Some(e) = self.miss[idx].as_mut() {
                if e.last_req.is_some() {
                    e.tries = e.tries.saturating_add(1);
                }
                e.last_req = Some(now);
            }
            self.stats.requested_chunks += 1;
        }
        self.miss_lo = lowest_open.unwrap_or(end + 1);
        for d in 0..REPAIR_DESTS {
            if !used[d] {
                continue;
            }
            let (addr, token) = if d == ROOT_DEST {
                match self.root_token() {
                    Some(t) => (self.root, t),
                    None => continue,
                }
            } else {
                (self.partners[d].addr, self.partners[d].token)
            };
            self.stats.requests += 1;
            self.ctrl.push((
                addr,
                Ctrl::Request {
                    token,
                    base: rbase,
                    map: maps[d],
                    len: lens[d] as u8,
                },
            ));
        }
    }
}
