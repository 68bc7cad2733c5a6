//! Path freshness (DSDV's destination sequence numbers, with the root as the one destination):
//! per substream, the newest chunk the box's path from the root delivered. A seed's is the newest
//! chunk the root pushed it; any other box's is its parent's, as of the parent's last MAP; a box
//! without a path keeps the last one. MAP carries it (`wire::fresh_off`).
//!
//! Invariants:
//! - a box's freshness is never above that of the box it has it from (its parent, as that parent
//!   last said), so a subtree cut off from the root is never fresher than the box at its top,
//!   whatever chunks it gets by repair; a partner fresher than a box is therefore not below it,
//!   which is what `sched`'s feasibility rule relies on;
//! - when a box's freshness goes down (a new parent with an older path) its children hear at
//!   once (a triggered MAP), so none keeps showing the higher one for a MAP interval;
//! - a parent's fresher MAP is passed on to the children of that substream at once, at most
//!   twice per `map_interval` per child: freshness trails the root by about one MAP interval
//!   plus a link delay per level, not one MAP interval per level;
//! - bounded work: O(SUBSTREAMS × partners) per tick and per MAP, no allocation.

use super::*;
use crate::wire::HOPS_NONE;

impl Peer {
    /// Takes this tick's freshness per substream; returns the substreams where it went down.
    pub(super) fn update_fresh(&mut self) -> u8 {
        let mut staler = 0;
        for s in 0..SUBSTREAMS {
            let f = match self.parents[s] {
                Parent::Root if self.root_feeding(s) => self.root_top[s],
                Parent::Partner(t) => self
                    .partners
                    .iter()
                    .find(|p| p.token == t && p.hops[s] != HOPS_NONE)
                    .map_or(self.fresh[s], |p| p.fresh[s]),
                _ => self.fresh[s],
            };
            if f < self.fresh[s] {
                staler |= 1 << s;
            }
            self.fresh[s] = f;
        }
        staler
    }

    /// Partner `i` sent a MAP (its freshness was `was` before): where it is our parent and is now
    /// fresher than we are, our children in that substream get a MAP now (at most twice per
    /// `map_interval` each: a child of several substreams hears of each parent's MAP).
    pub(super) fn pass_fresher(&mut self, now: Instant, i: usize, was: [u64; SUBSTREAMS]) {
        let token = self.partners[i].token;
        let fresher = (0..SUBSTREAMS)
            .filter(|&s| {
                self.parents[s] == Parent::Partner(token)
                    && self.partners[i].fresh[s] > was[s].max(self.fresh[s])
            })
            .fold(0u8, |m, s| m | 1 << s);
        if fresher == 0 {
            return;
        }
        let half = self.cfg.map_interval / 2;
        for q in self
            .partners
            .iter_mut()
            .filter(|q| q.down.mask & fresher != 0 && q.next_map <= now + half)
        {
            q.next_map = now;
        }
    }

    /// Path freshness per substream (0: none yet), as sent in MAP.
    pub fn fresh(&self) -> [u64; SUBSTREAMS] {
        self.fresh
    }
}
