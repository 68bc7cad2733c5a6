//! A simulated node (the root with its synthetic source, or a box) and how it is driven through
//! one window: inputs in time order, then drained exactly as the daemon drains the core.
//!
//! Invariants: a node touches only its own state, its own link and its worker's `Ctx`; what it
//! sends goes to the worker's outboxes, never straight to another node.

use super::counters::{count_event, msg_type, Counters};
use super::{from_inst, inst, BLOCK, NONE};
use crate::metrics::Hist;
use crate::net::{id_of, Dgram, Link, Msg, Net, SendOutcome, Slab, CTRL_MAX};
use crate::tsgen::TsGen;
use std::time::Instant as Wall;
use tvmesh_core::output::OutputId;
use tvmesh_core::peer::Peer;
use tvmesh_core::root::Root;
use tvmesh_core::wire::MAX_DATAGRAM;

pub(super) struct RootNode {
    pub(super) root: Root,
    pub(super) gen: TsGen,
    pub(super) next_feed: u64,
    pub(super) drain_at: u64,
    pub(super) src: Vec<u8>,
    pub(super) src_bytes: u64,
}

pub(super) enum Core {
    Root(Box<RootNode>),
    Peer(Box<Peer>),
    Gone,
}

pub(super) struct Node {
    pub(super) core: Core,
    pub(super) link: Link,
    pub(super) inbox: Vec<Msg>,
    pub(super) timer: u64,
    pub(super) created: u64,
}

/// A worker's scratch and output.
pub(super) struct Ctx {
    /// Outboxes by destination worker.
    pub(super) out: Vec<Vec<Dgram>>,
    pub(super) slab: Slab,
    pub(super) buf: Vec<u8>,
    /// Datagram rebuild buffer: bytes past the chunk header stay zero.
    pub(super) zbuf: Vec<u8>,
    pub(super) dg: Dgram,
    pub(super) c: Counters,
    pub(super) busy_ns: u64,
    /// Age of chunks (ms behind the source) when they reach a box, from the root and from peers
    /// (steady state; duplicates included).
    pub(super) age_root: Hist,
    pub(super) age_peer: Hist,
}

impl Ctx {
    pub(super) fn new(threads: usize) -> Ctx {
        Ctx {
            out: (0..threads).map(|_| Vec::new()).collect(),
            slab: Slab::default(),
            buf: vec![0; MAX_DATAGRAM],
            zbuf: vec![0; MAX_DATAGRAM],
            dg: Dgram {
                at: 0,
                from: 0,
                to: 0,
                ctr: 0,
                len: 0,
                data: [0; CTRL_MAX],
            },
            c: Counters::default(),
            busy_ns: 0,
            age_root: Hist::new(30_000),
            age_peer: Hist::new(30_000),
        }
    }
}

pub(super) fn thread_of(id: u32, threads: usize) -> usize {
    (id as usize / BLOCK) % threads
}

/// Sends one datagram from a node: uplink, loss, counters; the record lands in `ctx.dg`.
/// Returns whether it is in flight.
pub(super) fn send(
    link: &mut Link,
    net: &Net,
    c: &mut Counters,
    dg: &mut Dgram,
    now: u64,
    dst: std::net::SocketAddr,
    bytes: &[u8],
) -> bool {
    let chunk = crate::net::is_chunk(bytes);
    let outcome = link.send(net, now, dst, bytes, dg);
    crate::trace::datagram(now, link.id, dst, outcome, bytes);
    if outcome == SendOutcome::UplinkFull {
        c.uplink_drops += 1;
        return false;
    }
    if outcome == SendOutcome::Unknown {
        c.unknown_dst += 1;
        return false;
    }
    let n = bytes.len() as u64;
    match (link.id == 0, chunk) {
        (true, true) => c.root_chunk_bytes += n,
        (true, false) => {
            c.root_ctrl_bytes += n;
            c.root_ctrl_by_type[msg_type(bytes)] += n;
        }
        (false, true) => {
            c.box_chunk_bytes += n;
            if let Some(to) = id_of(dst) {
                if to != 0 && net.group(to) == link.group {
                    c.same_group_bytes += n;
                }
            }
        }
        (false, false) => {
            c.box_ctrl_bytes += n;
            c.box_ctrl_by_type[msg_type(bytes)] += n;
        }
    }
    if !chunk && bytes.len() > CTRL_MAX {
        c.oversize += 1;
        return false;
    }
    if outcome == SendOutcome::Lost {
        c.lost += 1;
        return false;
    }
    true
}

/// Drains a box after an input at `t`: datagrams, events, output 0; returns its next wake-up.
pub(super) fn drain_peer(
    peer: &mut Peer,
    link: &mut Link,
    t: u64,
    net: &Net,
    ctx: &mut Ctx,
) -> u64 {
    let now = inst(t);
    while let Some(tx) = peer.poll_transmit(now, &mut ctx.buf) {
        if send(
            link,
            net,
            &mut ctx.c,
            &mut ctx.dg,
            t,
            tx.dst,
            &ctx.buf[..tx.len],
        ) {
            ctx.out[thread_of(ctx.dg.to, net.threads)].push(ctx.dg.clone());
        }
    }
    while let Some(e) = peer.poll_event() {
        count_event(&mut ctx.c, e);
    }
    while let Some(b) = peer.output_peek(OutputId(0)) {
        let n = b.len();
        peer.output_advance(OutputId(0), n);
    }
    from_inst(peer.poll_timeout())
}

/// Drains the root's output at `t`.
pub(super) fn drain_root(r: &mut RootNode, link: &mut Link, t: u64, net: &Net, ctx: &mut Ctx) {
    ctx.c.root_drains += 1;
    while let Some(tx) = r.root.poll_transmit(&mut ctx.buf) {
        if send(
            link,
            net,
            &mut ctx.c,
            &mut ctx.dg,
            t,
            tx.dst,
            &ctx.buf[..tx.len],
        ) {
            ctx.out[thread_of(ctx.dg.to, net.threads)].push(ctx.dg.clone());
        }
    }
    while r.root.poll_event().is_some() {}
    crate::trace::seeds(t, &r.root);
}

/// Runs one node's events in `[.., t1)`.
pub(super) fn run_node(node: &mut Node, t1: u64, net: &Net, ctx: &mut Ctx) {
    let Node {
        core,
        link,
        inbox,
        timer,
        ..
    } = node;
    if inbox.len() > 1 {
        inbox.sort_unstable_by_key(Msg::key);
    }
    let mut k = 0;
    match core {
        Core::Gone => {
            for m in inbox.iter() {
                ctx.slab.free(m);
            }
            k = inbox.len();
        }
        Core::Peer(peer) => loop {
            let m = inbox.get(k).map_or(NONE, |m| m.at);
            let t = m.min(*timer);
            if t >= t1 {
                break;
            }
            let woke = m > *timer;
            if woke {
                ctx.c.timer_fires += 1;
                peer.handle_timeout(inst(t));
            } else {
                let msg = inbox[k];
                k += 1;
                let bytes = ctx.slab.take(&msg, &mut ctx.zbuf);
                if !link.admits(msg.from) {
                    ctx.c.nat_drops += 1;
                    continue;
                }
                ctx.c.deliveries += 1;
                if t >= net.steady_from_us && crate::net::is_chunk(bytes) {
                    // CHUNK header: 4-byte common header, seq u64, flags, key id, stamp_ms u32
                    // (the root's clock, whose zero is virtual time 0).
                    let stamp = u32::from_be_bytes([bytes[14], bytes[15], bytes[16], bytes[17]]);
                    let age = ((t / 1000) as u32).wrapping_sub(stamp);
                    if msg.from == 0 {
                        ctx.age_root.add(u64::from(age));
                    } else {
                        ctx.age_peer.add(u64::from(age));
                    }
                }
                peer.handle_datagram(inst(t), net.addr(msg.from), bytes);
            }
            let next = drain_peer(peer, link, t, net, ctx);
            *timer = if woke && next <= t {
                ctx.c.timer_spins += 1;
                t + 1
            } else {
                next.max(t)
            };
        },
        Core::Root(r) => {
            let started = Wall::now();
            loop {
                let m = inbox.get(k).map_or(NONE, |m| m.at);
                let t = m.min(*timer).min(r.next_feed).min(r.drain_at);
                if t >= t1 {
                    break;
                }
                let now = inst(t);
                let mut woke = false;
                let mut dirty = true;
                if m == t {
                    let msg = inbox[k];
                    k += 1;
                    let bytes = ctx.slab.take(&msg, &mut ctx.zbuf);
                    ctx.c.deliveries += 1;
                    r.root.handle_datagram(now, net.addr(msg.from), bytes);
                } else if r.next_feed == t {
                    r.gen.feed_until(t, &mut r.src);
                    r.src_bytes += r.src.len() as u64;
                    r.root.handle_source(now, 0, &r.src);
                    r.src.clear();
                    r.next_feed = t + net.feed_us;
                } else if *timer == t {
                    // Partial-chunk flush or session expiry: may make a chunk to push.
                    ctx.c.timer_fires += 1;
                    woke = true;
                    r.root.handle_timeout(now);
                } else {
                    // The batch is due: bring the root's clock here, then send everything.
                    r.root.handle_timeout(now);
                    drain_root(r, link, t, net, ctx);
                    r.drain_at = NONE;
                    dirty = false;
                }
                if dirty {
                    if net.root_batch_us == 0 {
                        drain_root(r, link, t, net, ctx);
                    } else if r.drain_at == NONE {
                        r.drain_at = t + net.root_batch_us;
                    }
                }
                let next = from_inst(r.root.poll_timeout());
                *timer = if woke && next <= t {
                    ctx.c.timer_spins += 1;
                    t + 1
                } else {
                    next.max(t)
                };
            }
            ctx.c.root_ns += started.elapsed().as_nanos() as u64;
        }
    }
    inbox.drain(..k);
}
