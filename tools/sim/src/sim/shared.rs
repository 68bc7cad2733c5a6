//! What the worker threads share, and one worker's run through a window.
//!
//! Invariants: every lock is taken either by one worker during a window or by the main thread
//! between windows (the barriers separate the two), so none is ever contended.

use super::node::{run_node, thread_of, Core, Ctx, Node};
use super::BLOCK;
use crate::net::{Dgram, Net};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Barrier, Mutex, MutexGuard, PoisonError};
use std::time::Instant as Wall;

/// What the workers share. Every lock is taken either by one worker during a window or by the
/// main thread between windows (the barriers separate the two), so none is ever contended.
pub(super) struct Shared {
    /// Nodes by id, in blocks of [`BLOCK`]; block `b` belongs to worker `b % threads`. Sized
    /// for every node the run can create.
    pub(super) blocks: Vec<Mutex<Vec<Node>>>,
    /// Datagrams sent in the last window: `[destination worker][source worker]`.
    pub(super) inbound: Vec<Vec<Mutex<Vec<Dgram>>>>,
    pub(super) ctxs: Vec<Mutex<Ctx>>,
    pub(super) net: Net,
    pub(super) t1: AtomicU64,
    pub(super) stop: AtomicBool,
    pub(super) start: Barrier,
    pub(super) done: Barrier,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock means a worker panicked; the data is still what the worker left.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub(super) fn with_node<R>(&self, id: u32, f: impl FnOnce(&mut Node) -> R) -> Option<R> {
        let mut b = lock(&self.blocks[id as usize / BLOCK]);
        b.get_mut(id as usize % BLOCK).map(f)
    }

    /// Puts a datagram into its receiver's inbox directly (main thread, between windows).
    pub(super) fn deliver_later(&self, d: &Dgram) {
        let mut ctx = lock(&self.ctxs[thread_of(d.to, self.net.threads)]);
        let stored = self.with_node(d.to, |n| {
            if matches!(n.core, Core::Gone) {
                false
            } else {
                n.inbox.push(ctx.slab.store(d));
                true
            }
        });
        if stored != Some(true) {
            ctx.c.dead_dst += 1;
        }
    }

    /// Worker `k`'s share of the window ending at `t1`: merge what arrived for its nodes, then
    /// run them.
    pub(super) fn window(&self, k: usize) {
        let t1 = self.t1.load(Ordering::Acquire);
        let threads = self.net.threads;
        let mut ctx = lock(&self.ctxs[k]);
        let ctx = &mut *ctx;
        let started = Wall::now();
        let mut mine: Vec<MutexGuard<'_, Vec<Node>>> = self
            .blocks
            .iter()
            .skip(k)
            .step_by(threads)
            .map(lock)
            .collect();
        for src in 0..threads {
            let mut v = lock(&self.inbound[k][src]);
            for d in v.drain(..) {
                let b = d.to as usize / BLOCK;
                match mine[b / threads].get_mut(d.to as usize % BLOCK) {
                    Some(node) if !matches!(node.core, Core::Gone) => {
                        let m = ctx.slab.store(&d);
                        node.inbox.push(m);
                    }
                    _ => ctx.c.dead_dst += 1,
                }
            }
        }
        for block in mine.iter_mut() {
            for node in block.iter_mut() {
                run_node(node, t1, &self.net, ctx);
            }
        }
        ctx.busy_ns += started.elapsed().as_nanos() as u64;
    }

    /// Moves every worker's outboxes to the inbound queues (main thread, between windows).
    pub(super) fn publish(&self) {
        let threads = self.net.threads;
        for k in 0..threads {
            let mut ctx = lock(&self.ctxs[k]);
            for dst in 0..threads {
                std::mem::swap(&mut *lock(&self.inbound[dst][k]), &mut ctx.out[dst]);
            }
        }
    }
}
