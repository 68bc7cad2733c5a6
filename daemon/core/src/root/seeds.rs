//! Seed places: which boxes the root feeds each substream to directly (at most `seed_copies`
//! per substream), how a place changes hands, and whom a box cut off is pointed to.
//!
//! Invariants: a session in `Channel::seeds[sub]` has `sub`'s bit in its `down.mask` (a relayed
//! substream has it too, root/relay.rs); a place changes hands only here and in `end_session`,
//! and a box that loses one while alive is told (SUB_ACK refusing it). Work per SUBSCRIBE is
//! bounded by SUBSTREAMS × seed_copies.

use super::*;

impl Root {
    /// Session `i` took a seed place now.
    fn seeded(&mut self, i: u32, now: Instant) {
        if let Some(s) = self.sessions[i as usize].as_mut() {
            s.seed_since = now;
        }
    }

    /// Decides a subscription: keep what the box already has from us, accept new substreams while
    /// seed places are free, or in place of a seed with far less upload.
    pub(super) fn on_subscribe(
        &mut self,
        now: Instant,
        i: u32,
        mask: u8,
        from_seq: u64,
    ) -> (u8, u8) {
        let Some(s) = self.sessions[i as usize].as_ref() else {
            return (0, mask);
        };
        let (ch, have, upload, me) = (s.channel, s.down.mask, s.upload_kbps, s.addr);
        let asker_alone = s.alone_since.is_some();
        let mut accepted = 0u8;
        for sub in 0..SUBSTREAMS {
            let bit = 1u8 << sub;
            if mask & bit == 0 {
                continue;
            }
            if have & bit != 0 {
                accepted |= bit;
                continue;
            }
            // A seed not heard from for SEED_SILENT has crashed or lost its link: the boxes below
            // it ask here, so its place goes to them rather than wait for the session timeout.
            // A seed alone for SEED_ALONE feeds nobody: a box with partners takes its place.
            let silent = self.channels[ch].seeds[sub].iter().position(|&j| {
                self.sessions[j as usize].as_ref().is_none_or(|x| {
                    now.saturating_since(x.last_heard) > SEED_SILENT
                        || !asker_alone
                            && x.alone_since.is_some_and(|t| {
                                now.saturating_since(t.max(x.seed_since)) >= SEED_ALONE
                            })
                })
            });
            if let Some(k) = silent {
                self.stats.seed_changes[1] += 1;
                let j = self.channels[ch].seeds[sub].swap_remove(k);
                self.unseed(j, bit);
            }
            let seeds = &self.channels[ch].seeds[sub];
            if seeds.len() < self.cfg.seed_copies {
                self.channels[ch].seeds[sub].push(i);
                self.seeded(i, now);
                accepted |= bit;
                continue;
            }
            // Replace the weakest seed: the one with the least upload per substream it seeds,
            // if this box, seeding one more, would have half as much again. Seed places thus
            // spread over distinct strong boxes (one box seeding every substream is a single
            // point of failure with a narrow top of every tree).
            let load = |j: u32| {
                self.channels[ch]
                    .seeds
                    .iter()
                    .filter(|v| v.contains(&j))
                    .count() as u64
            };
            let weakest = seeds
                .iter()
                .enumerate()
                .filter_map(|(k, &j)| {
                    self.sessions[j as usize]
                        .as_ref()
                        .map(|x| (k, j, per_place(x.upload_kbps, load(j).max(1))))
                })
                .min_by_key(|&(_, _, up)| up);
            if let Some((k, j, up)) = weakest {
                let mine = per_place(upload, load(i) + 1);
                if mine * 2 > up * 3 {
                    self.stats.seed_changes[0] += 1;
                    self.channels[ch].seeds[sub][k] = i;
                    self.seeded(i, now);
                    if let Some(addr) = self.unseed(j, bit) {
                        // Its subtree hangs on: it goes below the new seed. Each hears of the
                        // other (the old seed's partner table may be full; the new one greets).
                        self.replies.push((
                            addr,
                            Reply::Seeds {
                                session: j,
                                mask: bit,
                            },
                        ));
                        let succ = Reply::Successor {
                            session: i,
                            predecessor: j,
                        };
                        self.replies.push((me, succ));
                    }
                    accepted |= bit;
                }
            }
            // Out of the mesh's reach: the root relays it (root/relay.rs).
            if accepted & bit == 0 && self.relay_accept(i, sub) {
                accepted |= bit;
            }
        }
        // Substreams the box no longer wants from us free their seed places.
        let dropped = have & !mask;
        for sub in 0..SUBSTREAMS {
            if dropped & (1 << sub) != 0 {
                let seeds = &mut self.channels[ch].seeds[sub];
                let n = seeds.len();
                seeds.retain(|&x| x != i);
                self.stats.seed_changes[2] += (n - seeds.len()) as u64;
            }
        }
        if let Some(s) = self.sessions[i as usize].as_mut() {
            s.down.subscribe(accepted, from_seq);
        }
        self.relay_settle(i, accepted);
        (accepted, mask & !accepted)
    }

    /// Stops feeding session `j` the substreams in `bits` and tells it (SUB_ACK refusing them);
    /// returns its address.
    fn unseed(&mut self, j: u32, bits: u8) -> Option<SocketAddr> {
        let x = self.sessions[j as usize].as_mut()?;
        let m = x.down.mask & !bits;
        x.down.subscribe(m, 0);
        let addr = x.addr;
        self.replies.push((
            addr,
            Reply::SubAck {
                session: j,
                accepted: m,
                refused: bits,
            },
        ));
        Some(addr)
    }

    /// The boxes channel `ch` seeds substream `sub` to (diagnostics: the simulator's
    /// `TVMESH_SIM_DIAG_AT`); empty for an unknown channel.
    pub fn seed_addrs(&self, ch: usize, sub: usize) -> impl Iterator<Item = SocketAddr> + '_ {
        self.channels
            .get(ch)
            .and_then(|c| c.seeds.get(sub))
            .into_iter()
            .flatten()
            .filter_map(|&j| self.sessions[j as usize].as_ref().map(|s| s.addr))
    }

    /// The seeds of the substreams in `mask` on session `i`'s channel (not `i` itself).
    pub(super) fn seed_sample(&self, i: usize, mask: u8) -> Sample {
        let mut out = Sample::new();
        let Some(me) = self.sessions[i].as_ref() else {
            return out;
        };
        for (sub, seeds) in self.channels[me.channel].seeds.iter().enumerate() {
            if mask & (1 << sub) == 0 {
                continue;
            }
            for &j in seeds {
                if let Some(s) = self.sessions[j as usize]
                    .as_ref()
                    .filter(|_| j as usize != i)
                {
                    out.add(s.addr, u8::from(s.reachable));
                }
            }
        }
        out
    }
}

/// Upload per seed place (bit/s) of a box with `upload_kbps` holding `places`. A box that gave
/// no figure (0: no cap) has none: it neither takes a place by strength nor loses one that way.
pub(super) fn per_place(upload_kbps: u32, places: u64) -> u64 {
    u64::from(upload_kbps) * 1000 / places.max(1)
}
