//! Repairs: which missing chunks to ask for, and from whom (the substream's parent, a partner
//! whose map shows the chunk, else the root once urgent), one REQUEST per source per tick.
//!
//! Invariants: only chunks inside the miss window ([`MISS_WINDOW`]) and the request bitmap
//! (`MAX_MAP` × 8 from the play head) are asked for; work per tick is bounded by that window.

use super::*;

impl Peer {
    /// Requests missing chunks that are due, from a partner that has them, else (when urgent)
    /// from the root. One REQUEST per source per tick.
    pub(super) fn schedule_repairs(&mut self, now: Instant) {
        let Some(h) = self.highest else { return };
        let base = self.play.max(self.miss_lo);
        if base > h {
            return;
        }
        let end = h.min(self.play + MISS_WINDOW as u64 - 1);
        // Per destination: index (partners.len() = root), base, bitmap.
        let n = self.partners.len();
        let mut maps = [[0u8; MAX_MAP]; 9];
        let mut used = [false; 9];
        let mut lens = [0usize; 9];
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
            let parent = match self.parents[s] {
                Parent::Partner(t) => self
                    .partners
                    .iter()
                    .position(|p| p.token == t && p.up && (p.has(seq) || p.sub_top[s] > seq)),
                _ => None,
            };
            let root_parent =
                self.parents[s] == Parent::Root && self.sub_seen[s].is_some_and(|t| t > seq);
            // Otherwise any partner that shows it, starting at a random one: a backlog spreads
            // over every holder's uplink instead of queueing at one.
            let k = self.rng.next_u64() as usize;
            let holder = parent.or_else(|| {
                (0..n)
                    .map(|j| (j + k) % n)
                    .find(|&j| self.partners[j].up && self.partners[j].has(seq))
            });
            let up_partners = self.partners.iter().any(|p| p.up);
            let dest = match holder {
                Some(j) if j < 8 => j,
                _ if root_parent
                    || !up_partners
                    || now.saturating_since(m.since) >= self.cfg.urgent_after =>
                {
                    8
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
        for d in 0..9 {
            if !used[d] {
                continue;
            }
            let (addr, token) = if d == 8 {
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
