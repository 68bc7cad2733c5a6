//! Per-second metrics rows: cumulative snapshots of every node's counters, differenced against
//! the previous second's.
//!
//! Invariants: runs only between windows; a snapshot visits nodes in id order, so rows do not
//! depend on the number of threads.

use super::counters::Counters;
use super::node::{Core, Node};
use super::shared::{lock, Shared};
use super::{Main, BLOCK};
use crate::metrics::{quantile, Row};
use std::sync::MutexGuard;
use std::time::Instant as Wall;
use tvmesh_core::output::OutputId;
use tvmesh_core::peer::{Peer, PeerState, PeerStats};

/// Cumulative totals of the boxes' counters (alive + departed).
#[derive(Clone, Debug, Default)]
pub(super) struct BoxTotals {
    pub(super) out_chunks: u64,
    pub(super) out_missed: u64,
    pub(super) from_root: u64,
    pub(super) from_peers: u64,
    pub(super) control: u64,
}

impl BoxTotals {
    pub(super) fn add_peer(&mut self, p: &Peer) {
        let o = p.output_stats(OutputId(0));
        let s: PeerStats = p.stats();
        // As `Peer::continuity_ppm`: chunks played more than `late_after` behind the source were
        // handed out, but not on time.
        let late = s.late.min(o.chunks);
        self.out_chunks += o.chunks - late;
        self.out_missed += o.lost_chunks + o.skipped_chunks + late;
        self.from_root += s.bytes_from_root;
        self.from_peers += s.bytes_from_peers;
        self.control += s.control_bytes;
    }
}

#[derive(Clone, Debug, Default)]
pub(super) struct Snapshot {
    pub(super) boxes: BoxTotals,
    pub(super) c: Counters,
    pub(super) root_ctrl_core: u64,
    pub(super) root_repairs: u64,
    pub(super) src_bytes: u64,
    pub(super) joins: u64,
    pub(super) leaves: u64,
}

impl Main {
    /// Cumulative totals now, plus (playing, partners of playing boxes, root sessions, seeds).
    /// With `lags`, also collects each box's `lag_ms` into `self.lag_buf`.
    pub(super) fn snapshot(
        &mut self,
        shared: &Shared,
        lags: bool,
    ) -> (Snapshot, u64, u64, u64, u64) {
        let mut boxes = self.departed.clone();
        let (mut playing, mut partners) = (0u64, 0u64);
        self.lag_buf.clear();
        let mut guard: Option<(usize, MutexGuard<'_, Vec<Node>>)> = None;
        let mut ids = self.alive.clone();
        ids.sort_unstable();
        for id in ids {
            let b = id as usize / BLOCK;
            if guard.as_ref().is_none_or(|g| g.0 != b) {
                guard = Some((b, lock(&shared.blocks[b])));
            }
            let Some((_, g)) = guard.as_ref() else {
                continue;
            };
            if let Some(Core::Peer(p)) = g.get(id as usize % BLOCK).map(|n| &n.core) {
                boxes.add_peer(p);
                if p.state() == PeerState::Playing {
                    playing += 1;
                    partners += p.partners() as u64;
                }
                if lags {
                    if let Some(l) = p.lag_ms() {
                        self.lag_buf.push(l);
                    }
                }
            }
        }
        drop(guard);
        let root = lock(&shared.blocks[0]);
        let Some(Core::Root(r)) = root.first().map(|n| &n.core) else {
            // `Sim::new` puts the root at node 0 and only boxes (`Core::Peer`) ever depart.
            unreachable!("node 0 is the root for the whole run")
        };
        let cs = r.root.channel_stats(0).unwrap_or_default();
        if std::env::var_os("TVMESH_SIM_SEEDS").is_some() {
            let st = r.root.stats();
            eprintln!(
                "seeds: boxes {} changes stronger/silent/left {:?} peers dropped {}",
                cs.seeds, st.seed_changes, st.peers_dropped
            );
        }
        (
            Snapshot {
                boxes,
                c: self.totals.clone(),
                root_ctrl_core: r.root.stats().control_bytes,
                root_repairs: cs.resent,
                src_bytes: r.src_bytes,
                joins: self.joins,
                leaves: self.leaves,
            },
            playing,
            partners,
            u64::from(cs.peers),
            u64::from(cs.seeds),
        )
    }

    pub(super) fn sample(&mut self, shared: &Shared, t: u64) {
        let started = Wall::now();
        if crate::diag::wanted().contains(&(t / 1_000_000)) {
            let mut seen = std::collections::HashMap::new();
            for &id in &self.alive {
                shared.with_node(id, |n| {
                    if let Core::Peer(p) = &n.core {
                        let mut x = crate::diag::Seen::of(p, n.link.cap_bps);
                        x.queue_ms = n.link.free_at.saturating_sub(t) / 1000;
                        x.reachable = n.link.reachable;
                        seen.insert(id, x);
                    }
                });
            }
            crate::diag::print_chains(t / 1_000_000, &seen, 6);
            // The root's seeds, per substream, as their boxes see themselves.
            let root = lock(&shared.blocks[0]);
            if let Some(Core::Root(r)) = root.first().map(|n| &n.core) {
                for sub in 0..4 {
                    for a in r.root.seed_addrs(0, sub) {
                        let id = crate::net::id_of(a).unwrap_or(u32::MAX);
                        crate::diag::print_seed(t / 1_000_000, sub, id, &seen);
                    }
                }
            }
        }
        let (s, playing, partners, sessions, seeds) = self.snapshot(shared, true);
        if t / 1_000_000 > self.p.steady_from_s() {
            for &l in &self.lag_buf {
                self.lag.add(l);
            }
        }
        if t == 0 {
            self.prev = s;
            return;
        }
        if t / 1_000_000 == self.p.steady_from_s() {
            self.steady_start = Some(s.clone());
        }
        let d = |a: u64, b: u64| a.saturating_sub(b);
        let pv = &self.prev;
        let root_bytes = d(
            s.c.root_chunk_bytes + s.c.root_ctrl_bytes,
            pv.c.root_chunk_bytes + pv.c.root_ctrl_bytes,
        );
        let src = d(s.src_bytes, pv.src_bytes);
        let good = d(s.boxes.out_chunks, pv.boxes.out_chunks);
        let missed = d(s.boxes.out_missed, pv.boxes.out_missed);
        let ctrl = d(
            s.boxes.control + s.root_ctrl_core,
            pv.boxes.control + pv.root_ctrl_core,
        );
        let chunk_bytes = d(
            s.c.root_chunk_bytes + s.c.box_chunk_bytes,
            pv.c.root_chunk_bytes + pv.c.box_chunk_bytes,
        );
        let got_peers = d(s.boxes.from_peers, pv.boxes.from_peers);
        let got_all = got_peers + d(s.boxes.from_root, pv.boxes.from_root);
        let row = Row {
            time_s: t / 1_000_000,
            viewers: self.alive.len() as u64,
            playing,
            root_sessions: sessions,
            root_seeds: seeds,
            root_egress_kbps: root_bytes * 8 / 1000,
            root_egress_milli: (root_bytes * 1000).checked_div(src).unwrap_or(0),
            root_ctrl_kbps: d(s.c.root_ctrl_bytes, pv.c.root_ctrl_bytes) * 8 / 1000,
            root_repairs: d(s.root_repairs, pv.root_repairs),
            stream_kbps: src * 8 / 1000,
            continuity_ppm: (good * 1_000_000)
                .checked_div(good + missed)
                .unwrap_or(1_000_000),
            chunks_missed: missed,
            p95_lag_ms: quantile(&mut self.lag_buf, 0.95),
            control_ppm: (ctrl * 1_000_000).checked_div(chunk_bytes).unwrap_or(0),
            peer_share_ppm: (got_peers * 1_000_000).checked_div(got_all).unwrap_or(0),
            partners_centi: (partners * 100).checked_div(playing).unwrap_or(0),
            joins: d(s.joins, pv.joins),
            leaves: d(s.leaves, pv.leaves),
            stalls: d(s.c.stalls, pv.c.stalls),
            net_lost: d(s.c.lost, pv.c.lost),
            uplink_drops: d(s.c.uplink_drops, pv.c.uplink_drops),
            nat_drops: d(s.c.nat_drops, pv.c.nat_drops),
        };
        self.rows.push(row);
        self.prev = s;
        self.sample_ns += started.elapsed().as_nanos() as u64;
    }
}
