//! The box as a parent: which child substreams it admits, how many its uplink carries, and
//! sending their chunks through the LEDBAT-controlled token bucket.
//!
//! Invariants: admitted substreams never exceed `child_capacity` (85% of the current upload rate
//! in substream units) by more than one; a substream is never fed back to the partner that feeds
//! it to us; every chunk sent passes the budget.

use super::*;

impl Peer {
    /// Substreams of `mask` this box can serve to partner `i` (its current ones count as free).
    /// When full, a substream this box serves to fewer than its fair share of children (a
    /// quarter of its capacity) takes the slot of one child of its most-served substream: a
    /// box near the source must not fill up with three substreams and starve the fourth's tree.
    pub(super) fn admit(&mut self, i: usize, mask: u8) -> u8 {
        let cap = self.child_capacity();
        let fair = cap.div_ceil(SUBSTREAMS as u32);
        let mut per = [0u32; SUBSTREAMS];
        for (j, p) in self.partners.iter().enumerate() {
            if j != i {
                for (s, n) in per.iter_mut().enumerate() {
                    *n += u32::from(p.down.mask >> s & 1);
                }
            }
        }
        let token = self.partners[i].token;
        let hops = self.hops();
        let mut accepted = 0u8;
        for s in 0..SUBSTREAMS {
            let bit = 1u8 << s;
            // Never feed a substream back to the partner that feeds it to us.
            if mask & bit == 0 || self.parents[s] == Parent::Partner(token) {
                continue;
            }
            let n: u32 = per.iter().sum();
            if n >= cap {
                // Full: take a place from a substream over its fair share, else from a child of
                // this substream with half the requester's upload or less (it is pushed one level
                // down, under boxes that can carry more: strong boxes gather near the root and
                // the trees stay shallow).
                // A substream where this box sits deeper than in `s` gives way first: a box's
                // upload is worth most in the tree where it is nearest the root.
                let over = (0..SUBSTREAMS)
                    .filter(|&t| per[t] > 0 && hops[t] > hops[s])
                    .max_by_key(|&t| (hops[t], per[t]))
                    .or_else(|| {
                        (0..SUBSTREAMS)
                            .filter(|&t| per[s] < fair && per[t] > fair)
                            .max_by_key(|&t| per[t])
                    });
                match over {
                    Some(t) if self.preempt(i, t) => per[t] -= 1,
                    _ if self.preempt_weaker(i, s) => per[s] -= 1,
                    _ => continue,
                }
            }
            accepted |= bit;
            per[s] += 1;
        }
        accepted
    }

    /// Stops feeding substream `t` to one child other than `i` (it finds another parent).
    fn preempt(&mut self, i: usize, t: usize) -> bool {
        let bit = 1u8 << t;
        let Some(j) =
            (0..self.partners.len()).find(|&j| j != i && self.partners[j].down.mask & bit != 0)
        else {
            return false;
        };
        self.stop_feeding(j, bit);
        true
    }

    /// Stops feeding substream `s` to the weakest child with at most half partner `i`'s upload.
    fn preempt_weaker(&mut self, i: usize, s: usize) -> bool {
        let bit = 1u8 << s;
        let up = self.partners[i].upload_kbps;
        let Some(j) = (0..self.partners.len())
            .filter(|&j| {
                let p = &self.partners[j];
                j != i && p.down.mask & bit != 0 && p.upload_kbps.saturating_mul(2) <= up
            })
            .min_by_key(|&j| self.partners[j].upload_kbps)
        else {
            return false;
        };
        self.stop_feeding(j, bit);
        true
    }

    /// Substreams this box can serve at its current upload rate.
    pub(super) fn child_capacity(&self) -> u32 {
        if self.cfg.upload_kbps == 0 && self.ledbat.rate_bps() >= 8_000_000 {
            return self.cfg.max_child_substreams;
        }
        // Unknown rate (nothing measured yet): assume a generous 8 Mbit/s, so a box never
        // promises more than it can carry.
        let kbps = if self.stats.bitrate_kbps == 0 {
            8000
        } else {
            self.stats.bitrate_kbps
        };
        let rate = u64::from(kbps) * 1000;
        // One substream costs a quarter of the stream plus headers (~2%).
        let per = rate / SUBSTREAMS as u64 * 102 / 100;
        // Keep 15% of the uplink for repairs and control.
        ((self.ledbat.rate_bps() * 85 / 100 / per.max(1)) as u32).min(self.cfg.max_child_substreams)
    }

    /// Child substreams this box would still admit.
    pub(super) fn spare_slots(&self) -> u32 {
        let served: u32 = self.partners.iter().map(|p| p.down.count()).sum();
        self.child_capacity().saturating_sub(served)
    }

    /// Whether this box could take at least two more child substreams.
    pub(super) fn has_spare_upload(&self) -> bool {
        self.spare_slots() >= 2
    }

    /// If the delay controller cut the rate below what children take, drop one child substream.
    pub(super) fn shed_if_over(&mut self, _now: Instant) {
        let served: u32 = self.partners.iter().map(|p| p.down.count()).sum();
        if served <= self.child_capacity() + 1 {
            return;
        }
        let Some(i) = (0..self.partners.len()).max_by_key(|&i| self.partners[i].down.count())
        else {
            return;
        };
        let m = self.partners[i].down.mask;
        let top = (0..SUBSTREAMS)
            .rev()
            .find(|s| m & (1 << s) != 0)
            .unwrap_or(0);
        self.stop_feeding(i, 1 << top);
    }

    /// Stops pushing the substreams in `bits` to partner `j` and tells it (SUB_ACK refusing them).
    fn stop_feeding(&mut self, j: usize, bits: u8) {
        let p = &mut self.partners[j];
        let mask = p.down.mask & !bits;
        p.down.subscribe(mask, 0);
        let (addr, token) = (p.addr, p.token);
        self.ctrl.push((
            addr,
            Ctrl::SubAck {
                token,
                accepted: mask,
                refused: bits,
            },
        ));
    }

    /// Whether any child waits for a chunk.
    pub(super) fn upload_pending(&self) -> bool {
        self.partners
            .iter()
            .any(|p| p.up && p.down.pending(&self.pool))
    }

    /// The next chunk for a child, round-robin, within the upload budget.
    pub(super) fn poll_upload(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let n = self.partners.len();
        if n == 0 {
            return None;
        }
        let channel = self.channel()?;
        // The budget is asked before a chunk is picked: a picked chunk leaves its queue.
        if !self.budget.ready(now) {
            return None;
        }
        // Two rounds: children with a repair or a live chunk waiting first, then backlogs.
        for k in 0..2 * n {
            let i = (self.rr + k) % n;
            let d = &self.partners[i].down;
            let urgent = d.repair_ready() || d.live_ready(&self.pool);
            if !self.partners[i].up || !d.pending(&self.pool) || k < n && !urgent {
                continue;
            }
            let Some(seq) = self.partners[i].down.next_chunk(&self.pool, self.play) else {
                continue;
            };
            let Some(c) = self.pool.get(seq) else {
                continue;
            };
            let p = &mut self.partners[i];
            let sent_us = now.as_micros() as u32;
            let len = Message::Chunk {
                channel,
                info: c.info,
                sent_us,
                payload: c.payload,
            }
            .emit(buf)
            .ok()?;
            p.down.sent(len);
            self.budget.spend(crate::wire::MAX_DATAGRAM);
            self.stats.bytes_uploaded += len as u64;
            self.rr = (i + 1) % n;
            return Some(Transmit { dst: p.addr, len });
        }
        None
    }
}
