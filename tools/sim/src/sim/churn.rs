//! The main thread's churn between windows: boxes created on the ramp and by churn, and boxes
//! leaving (politely or not), with their totals kept.
//!
//! Invariants: runs only between windows (no worker holds a lock); draws come from the main
//! thread's own seeded `Rng`, in a fixed order.

use super::node::{send, thread_of, Core, Node};
use super::shared::{lock, Shared};
use super::summary::record_join;
use super::{inst, Main, BLOCK, CHANNEL};
use crate::net::{Link, ROOT_ADDR};
use tvmesh_core::output::OutputId;
use tvmesh_core::peer::{Peer, PeerConfig};

impl Main {
    pub(super) fn create_box(&mut self, shared: &Shared, created: u64) -> Result<(), String> {
        let id = self.n_nodes as u32;
        if self.n_nodes >= shared.blocks.len() * BLOCK {
            return Err("more boxes than planned for".into());
        }
        // Capacity class, reachability: drawn from the main generator, in creation order.
        let r = (self.rng.next_u64() % 1000) as u32;
        let mut acc = 0;
        let mut mult = self.p.capacity[0].1;
        for &(share, m) in &self.p.capacity {
            acc += share;
            if r < acc {
                mult = m;
                break;
            }
        }
        let cap_bps = self.p.stream_bps * u64::from(mult) / 1000;
        let reachable = ((self.rng.next_u64() % 1000) as u32) >= self.p.unreachable_permille;
        let seed = crate::net::mix(self.p.seed ^ (u64::from(id) << 20) ^ 0xB0C5);
        // The daemon's sink queue: 2000 ms at 8 Mbit/s in chunks (run_peer.rs).
        let queue_chunks = (2000u64 * 8_000 / 8 / tvmesh_core::chunk::CHUNK_MAX as u64).max(16);
        let cfg = PeerConfig {
            pool_bytes: self.p.pool_kib * 1024,
            metadata_only: true,
            outputs: 1,
            output_queue_chunks: queue_chunks,
            max_partners: self.p.max_partners,
            upload_kbps: (cap_bps / 1000) as u32,
            reachable,
            seed,
            verify: false,
            ..PeerConfig::default()
        };
        let mut peer =
            Peer::new(cfg, ROOT_ADDR, CHANNEL, inst(created)).map_err(|e| format!("box: {e:?}"))?;
        // A fresh box with one output slot: the first open gets output 0.
        if peer.output_open() != Some(OutputId(0)) {
            return Err("a new box did not open output 0".into());
        }
        let group = shared.net.group(id);
        let node = Node {
            core: Core::Peer(Box::new(peer)),
            link: Link::new(id, group, cap_bps, reachable, seed ^ 0x1055),
            inbox: Vec::new(),
            timer: created,
            created,
        };
        lock(&shared.blocks[id as usize / BLOCK]).push(node);
        self.n_nodes += 1;
        self.alive_pos.push(self.alive.len() as u32);
        self.alive.push(id);
        self.joins += 1;
        Ok(())
    }

    /// Takes box `id` out at `t` (LEAVE first if `polite`).
    pub(super) fn depart(&mut self, shared: &Shared, id: u32, t: u64, polite: bool) {
        let ramp_end = (self.p.ramp_start_s + self.p.ramp_s) * 1_000_000;
        let mut sent = Vec::new();
        {
            let mut block = lock(&shared.blocks[id as usize / BLOCK]);
            let Some(node) = block.get_mut(id as usize % BLOCK) else {
                return;
            };
            let Core::Peer(peer) = &mut node.core else {
                return;
            };
            let mut ctx = lock(&shared.ctxs[thread_of(id, shared.net.threads)]);
            let ctx = &mut *ctx;
            if polite {
                peer.leave();
                while let Some(tx) = peer.poll_transmit(inst(t), &mut ctx.buf) {
                    if send(
                        &mut node.link,
                        &shared.net,
                        &mut ctx.c,
                        &mut ctx.dg,
                        t,
                        tx.dst,
                        &ctx.buf[..tx.len],
                    ) {
                        sent.push(ctx.dg.clone());
                    }
                }
            }
            self.departed.add_peer(peer);
            let age = t.saturating_sub(node.created);
            record_join(
                &mut self.join_all,
                &mut self.join_churn,
                peer,
                age,
                node.created >= ramp_end,
            );
            for m in node.inbox.drain(..) {
                ctx.slab.free(&m);
            }
            node.inbox = Vec::new();
            node.core = Core::Gone;
        }
        let pos = self.alive_pos[id as usize] as usize;
        self.alive_pos[id as usize] = u32::MAX;
        self.alive.swap_remove(pos);
        if let Some(&moved) = self.alive.get(pos) {
            self.alive_pos[moved as usize] = pos as u32;
        }
        for d in &sent {
            shared.deliver_later(d);
        }
        self.leaves += 1;
    }

    /// Joins and departures for the window starting at `t`.
    pub(super) fn churn(&mut self, shared: &Shared, t: u64) -> Result<(), String> {
        let t1 = t + self.window;
        while self.ramp_created < self.p.viewers {
            let at = self.ramp_time(self.ramp_created);
            if at >= t1 {
                break;
            }
            self.ramp_created += 1;
            self.create_box(shared, at.max(t))?;
        }
        let ramp_end = (self.p.ramp_start_s + self.p.ramp_s) * 1_000_000;
        if t < ramp_end || self.p.churn_permille_per_min == 0 {
            return Ok(());
        }
        // viewers × permille/1000 per minute, accumulated in units of 1/(1000 × 60e6).
        self.churn_acc += self.p.viewers as u128
            * u128::from(self.p.churn_permille_per_min)
            * u128::from(self.window);
        let one = 1000u128 * 60_000_000;
        while self.churn_acc >= one {
            self.churn_acc -= one;
            if !self.alive.is_empty() {
                let i = (self.rng.next_u64() % self.alive.len() as u64) as usize;
                let id = self.alive[i];
                let polite = ((self.rng.next_u64() % 1000) as u32) < self.p.leave_permille;
                self.depart(shared, id, t, polite);
            }
            let at = t + self.rng.next_u64() % self.window;
            self.create_box(shared, at)?;
        }
        Ok(())
    }
}
