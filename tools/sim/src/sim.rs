//! The simulation loop: the core's `Root` and `Peer` state machines in virtual time.
//!
//! Time advances in windows as long as the shortest one-way latency (20 ms in the standard
//! scenario). Nothing sent inside a window can arrive inside it, so within a window every node
//! is independent: each processes its own events — datagram arrivals from its inbox and its
//! `poll_timeout` wake-ups (the root also its source feed and output batching) — in time order,
//! exactly as an earliest-deadline-first loop would, and what it sends goes to outboxes that are
//! merged into the receivers' inboxes when the next window starts. Nodes are spread over worker
//! threads in fixed blocks; since everything a node does depends only on its own state, its own
//! random draws and its inbox (sorted by arrival time, sender, sender's counter), results do not
//! depend on the number of threads.
//!
//! Between windows the main thread runs churn (boxes leave and join) and, once per virtual
//! second, takes the metrics row.
//!
//! After every input a node is drained the way the daemon drains it: `poll_transmit` until
//! `None` (each datagram through the node's uplink into the network), `poll_event`, and for a
//! box its output 0 (the decoder sink) until `output_peek` returns `None`.

use crate::metrics::{quantile, Hist, Row, Summary};
use crate::net::{id_of, Dgram, Link, Msg, Net, SendOutcome, Slab, CTRL_MAX, ID_BITS, ROOT_ADDR};
use crate::scenario::Params;
use crate::tsgen::TsGen;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Barrier, Mutex, MutexGuard, PoisonError};
use std::time::Instant as Wall;
use tvmesh_core::output::OutputId;
use tvmesh_core::peer::{Peer, PeerConfig, PeerEvent, PeerState, PeerStats};
use tvmesh_core::pool::{MIN_SLOTS, SLOT_COST};
use tvmesh_core::ring::Rng;
use tvmesh_core::root::tracker::Prefix;
use tvmesh_core::root::{ChannelSpec, Root, RootConfig};
use tvmesh_core::time::Instant;
use tvmesh_core::wire::MAX_DATAGRAM;

/// Virtual time 0 is this instant for the state machines (so nothing starts at the epoch).
const EPOCH_US: u64 = 1_000_000;
/// Nodes per scheduling block (blocks are dealt to threads round-robin).
const BLOCK: usize = 64;
/// The channel's name.
pub const CHANNEL: &str = "tv";
/// A box that never played although it lived this long counts as a failed join.
const JOIN_DEADLINE_US: u64 = 10_000_000;
const NONE: u64 = u64::MAX;

fn inst(t: u64) -> Instant {
    Instant::from_micros(t + EPOCH_US)
}

fn from_inst(i: Option<Instant>) -> u64 {
    i.map_or(NONE, |i| i.as_micros().saturating_sub(EPOCH_US))
}

/// Counters kept by workers and summed by the main thread.
#[derive(Clone, Debug, Default)]
pub struct Counters {
    /// Root datagram bytes sent: chunks and control.
    pub root_chunk_bytes: u64,
    /// Root control bytes.
    pub root_ctrl_bytes: u64,
    /// Box chunk bytes sent.
    pub box_chunk_bytes: u64,
    /// Box control bytes sent.
    pub box_ctrl_bytes: u64,
    /// Box-to-box chunk bytes within one group.
    pub same_group_bytes: u64,
    /// Datagrams lost in the network.
    pub lost: u64,
    /// Datagrams dropped at a full uplink.
    pub uplink_drops: u64,
    /// Datagrams dropped by NAT filtering.
    pub nat_drops: u64,
    /// Datagrams to nodes that are gone.
    pub dead_dst: u64,
    /// Datagrams to addresses that are not ours.
    pub unknown_dst: u64,
    /// Control datagrams too long to store (must stay 0).
    pub oversize: u64,
    /// Datagrams delivered.
    pub deliveries: u64,
    /// Timer firings.
    pub timer_fires: u64,
    /// A state machine asked to be woken at or before the time it was just woken at.
    pub timer_spins: u64,
    /// Root output drains.
    pub root_drains: u64,
    /// Stalled events.
    pub stalls: u64,
    /// Joined events.
    pub joined: u64,
    /// Refused events.
    pub refused: u64,
    /// NewEpoch events.
    pub new_epochs: u64,
    /// Partner up events.
    pub partner_up: u64,
    /// Bad datagram events.
    pub bad: u64,
    /// Wall time in the root's processing (ns).
    pub root_ns: u64,
    /// Control bytes the root sent, by message type (index: type byte).
    pub root_ctrl_by_type: [u64; 18],
    /// Control bytes boxes sent, by message type.
    pub box_ctrl_by_type: [u64; 18],
}

impl Counters {
    fn add(&mut self, o: &Counters) {
        macro_rules! sum {
            ($($f:ident),*) => { $( self.$f += o.$f; )* };
        }
        sum!(
            root_chunk_bytes,
            root_ctrl_bytes,
            box_chunk_bytes,
            box_ctrl_bytes,
            same_group_bytes,
            lost,
            uplink_drops,
            nat_drops,
            dead_dst,
            unknown_dst,
            oversize,
            deliveries,
            timer_fires,
            timer_spins,
            root_drains,
            stalls,
            joined,
            refused,
            new_epochs,
            partner_up,
            bad,
            root_ns
        );
        for i in 0..18 {
            self.root_ctrl_by_type[i] += o.root_ctrl_by_type[i];
            self.box_ctrl_by_type[i] += o.box_ctrl_by_type[i];
        }
    }
}

struct RootNode {
    root: Root,
    gen: TsGen,
    next_feed: u64,
    drain_at: u64,
    src: Vec<u8>,
    src_bytes: u64,
}

enum Core {
    Root(Box<RootNode>),
    Peer(Box<Peer>),
    Gone,
}

struct Node {
    core: Core,
    link: Link,
    inbox: Vec<Msg>,
    timer: u64,
    created: u64,
}

/// A worker's scratch and output.
struct Ctx {
    /// Outboxes by destination worker.
    out: Vec<Vec<Dgram>>,
    slab: Slab,
    buf: Vec<u8>,
    /// Datagram rebuild buffer: bytes past the chunk header stay zero.
    zbuf: Vec<u8>,
    dg: Dgram,
    c: Counters,
    busy_ns: u64,
    /// Age of chunks (ms behind the source) when they reach a box, from the root and from peers
    /// (steady state; duplicates included).
    age_root: Hist,
    age_peer: Hist,
}

impl Ctx {
    fn new(threads: usize) -> Ctx {
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

fn thread_of(id: u32, threads: usize) -> usize {
    (id as usize / BLOCK) % threads
}

/// Sends one datagram from a node: uplink, loss, counters; the record lands in `ctx.dg`.
/// Returns whether it is in flight.
fn send(
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

/// The message type byte of a datagram (unknown types at 0).
fn msg_type(bytes: &[u8]) -> usize {
    match bytes.get(1) {
        Some(&t) if t < 18 => usize::from(t),
        _ => 0,
    }
}

/// Names of the control message types, for the profile.
const TYPE_NAMES: [&str; 18] = [
    "other",
    "JOIN",
    "JOIN_ACK",
    "JOIN_NAK",
    "KEEPALIVE",
    "LEAVE",
    "PEERS",
    "HELLO",
    "HELLO_ACK",
    "MAP",
    "SUBSCRIBE",
    "SUB_ACK",
    "other",
    "other",
    "other",
    "other",
    "CHUNK",
    "REQUEST",
];

fn by_type(v: &[u64; 18], secs: u64) -> String {
    let mut parts: Vec<(u64, &str)> = v
        .iter()
        .zip(TYPE_NAMES)
        .filter(|(b, _)| **b > 0)
        .map(|(b, n)| (*b, n))
        .collect();
    parts.sort_unstable_by_key(|b| std::cmp::Reverse(b.0));
    parts
        .iter()
        .map(|(b, n)| format!("{n} {} kbit/s", b * 8 / 1000 / secs.max(1)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn count_event(c: &mut Counters, e: PeerEvent) {
    match e {
        PeerEvent::Stalled => c.stalls += 1,
        PeerEvent::Joined { .. } => c.joined += 1,
        PeerEvent::Refused { .. } => c.refused += 1,
        PeerEvent::NewEpoch => c.new_epochs += 1,
        PeerEvent::Partner { up: true, .. } => c.partner_up += 1,
        PeerEvent::Partner { .. } => {}
        PeerEvent::BadDatagram { .. } => c.bad += 1,
    }
}

/// Drains a box after an input at `t`: datagrams, events, output 0; returns its next wake-up.
fn drain_peer(peer: &mut Peer, link: &mut Link, t: u64, net: &Net, ctx: &mut Ctx) -> u64 {
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
fn drain_root(r: &mut RootNode, link: &mut Link, t: u64, net: &Net, ctx: &mut Ctx) {
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
}

/// Runs one node's events in `[.., t1)`.
fn run_node(node: &mut Node, t1: u64, net: &Net, ctx: &mut Ctx) {
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

/// Cumulative totals of the boxes' counters (alive + departed).
#[derive(Clone, Debug, Default)]
struct BoxTotals {
    out_chunks: u64,
    out_missed: u64,
    from_root: u64,
    from_peers: u64,
    control: u64,
}

impl BoxTotals {
    fn add_peer(&mut self, p: &Peer) {
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
struct Snapshot {
    boxes: BoxTotals,
    c: Counters,
    root_ctrl_core: u64,
    root_repairs: u64,
    src_bytes: u64,
    joins: u64,
    leaves: u64,
}

/// The result of a run.
pub struct Report {
    /// One row per virtual second.
    pub rows: Vec<Row>,
    /// Summary figures.
    pub summary: Summary,
}

/// What the workers share. Every lock is taken either by one worker during a window or by the
/// main thread between windows (the barriers separate the two), so none is ever contended.
struct Shared {
    /// Nodes by id, in blocks of [`BLOCK`]; block `b` belongs to worker `b % threads`. Sized
    /// for every node the run can create.
    blocks: Vec<Mutex<Vec<Node>>>,
    /// Datagrams sent in the last window: `[destination worker][source worker]`.
    inbound: Vec<Vec<Mutex<Vec<Dgram>>>>,
    ctxs: Vec<Mutex<Ctx>>,
    net: Net,
    t1: AtomicU64,
    stop: AtomicBool,
    start: Barrier,
    done: Barrier,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock means a worker panicked; the data is still what the worker left.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn with_node<R>(&self, id: u32, f: impl FnOnce(&mut Node) -> R) -> Option<R> {
        let mut b = lock(&self.blocks[id as usize / BLOCK]);
        b.get_mut(id as usize % BLOCK).map(f)
    }

    /// Puts a datagram into its receiver's inbox directly (main thread, between windows).
    fn deliver_later(&self, d: &Dgram) {
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
    fn window(&self, k: usize) {
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
    fn publish(&self) {
        let threads = self.net.threads;
        for k in 0..threads {
            let mut ctx = lock(&self.ctxs[k]);
            for dst in 0..threads {
                std::mem::swap(&mut *lock(&self.inbound[dst][k]), &mut ctx.out[dst]);
            }
        }
    }
}

/// The simulator.
pub struct Sim {
    shared: Shared,
    main: Main,
}

/// State only the main thread touches.
struct Main {
    p: Params,
    /// Boxes alive, and each node's index in that list.
    alive: Vec<u32>,
    alive_pos: Vec<u32>,
    n_nodes: usize,
    rng: Rng,
    window: u64,
    ramp_created: usize,
    churn_acc: u128,
    totals: Counters,
    departed: BoxTotals,
    joins: u64,
    leaves: u64,
    join_all: Hist,
    join_churn: Hist,
    lag: Hist,
    lag_buf: Vec<u64>,
    prev: Snapshot,
    steady_start: Option<Snapshot>,
    rows: Vec<Row>,
    main_ns: u64,
    sample_ns: u64,
}

impl Sim {
    /// Builds the root and the network; boxes come during the run.
    pub fn new(p: &Params) -> Result<Sim, String> {
        crate::scenario::check(p)?;
        if p.pool_kib * 1024 / SLOT_COST < MIN_SLOTS {
            return Err(format!(
                "--pool-kib must be at least {}",
                (MIN_SLOTS * SLOT_COST).div_ceil(1024)
            ));
        }
        let threads = p.threads.max(1);
        let lat_lo = p.latency_ms.0 * 1000;
        // Windows divide a second, so metrics rows fall on window boundaries.
        let mut window = lat_lo.min(1_000_000);
        while 1_000_000 % window != 0 {
            window -= 1;
        }
        let net = Net {
            seed: p.seed,
            lat_lo_us: lat_lo,
            lat_span_us: (p.latency_ms.1 - p.latency_ms.0) * 1000,
            loss_ppm: p.loss_ppm,
            uplink_buffer_us: p.uplink_buffer_ms * 1000,
            ip_overhead: p.ip_overhead,
            groups: p.groups,
            threads,
            root_batch_us: p.root_batch_us,
            feed_us: p.feed_us.max(100),
            steady_from_us: p.steady_from_s() * 1_000_000,
        };
        let groups = if p.groups == 2 {
            let pfx = |s: &str, len| {
                // Literal addresses and lengths ≤ 32: both parse and fit.
                Prefix::new(s.parse().expect("literal address"), len).expect("length ≤ 32")
            };
            vec![vec![pfx("100.64.0.0", 11)], vec![pfx("100.96.0.0", 11)]]
        } else {
            Vec::new()
        };
        let rc = RootConfig {
            // Room for every viewer plus departed boxes whose sessions have not yet timed out.
            max_sessions: p.viewers + p.viewers / 4 + 64,
            session_timeout: std::time::Duration::from_secs(10),
            pool_bytes: p.root_pool_kib * 1024,
            first_seq: 1_000_000,
            seed: p.seed ^ 0x726F_6F74,
            seed_copies: p.seed_copies,
            repair_kbps: 0,
            groups,
            // The simulator carries chunk headers, not payloads: integrity (hashes of payloads)
            // is tested by the core's malicious-swarm scenario instead.
            sign: false,
            // The simulator models no NATs: nothing to relay.
            relay_kbps: 0,
            ..RootConfig::default()
        };
        let root = Root::new(
            rc,
            &[ChannelSpec {
                name: CHANNEL,
                bitrate_kbps: (p.stream_bps / 1000) as u32,
            }],
            inst(0),
        )
        .map_err(|e| format!("root: {e:?}"))?;
        let root_node = Node {
            core: Core::Root(Box::new(RootNode {
                root,
                gen: TsGen::new(p.stream_bps, 25, 25),
                next_feed: 0,
                drain_at: NONE,
                src: Vec::with_capacity(64 * 1024),
                src_bytes: 0,
            })),
            link: Link::new(0, 0, 0, true, p.seed ^ 0x5EED),
            inbox: Vec::new(),
            timer: 0,
            created: 0,
        };
        // Every node the run can create: the viewers, the churn replacements, some slack.
        let churn_s = p.duration_s.saturating_sub(p.ramp_start_s + p.ramp_s);
        let replacements =
            (p.viewers as u128 * u128::from(p.churn_permille_per_min) * u128::from(churn_s))
                .div_ceil(1000 * 60) as usize;
        let max_nodes = 1 + p.viewers + replacements + 16;
        if max_nodes >= 1 << ID_BITS {
            return Err(format!(
                "this run would create {max_nodes} boxes; the address plan holds {}",
                (1u32 << ID_BITS) - 1
            ));
        }
        let blocks: Vec<Mutex<Vec<Node>>> = (0..max_nodes.div_ceil(BLOCK))
            .map(|_| Mutex::new(Vec::new()))
            .collect();
        lock(&blocks[0]).push(root_node);
        let shared = Shared {
            blocks,
            inbound: (0..threads)
                .map(|_| (0..threads).map(|_| Mutex::new(Vec::new())).collect())
                .collect(),
            ctxs: (0..threads)
                .map(|_| Mutex::new(Ctx::new(threads)))
                .collect(),
            net,
            t1: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            start: Barrier::new(threads),
            done: Barrier::new(threads),
        };
        let main = Main {
            alive: Vec::with_capacity(p.viewers + 16),
            alive_pos: vec![u32::MAX],
            n_nodes: 1,
            rng: Rng::new(p.seed ^ 0xC4A7_0000),
            window,
            ramp_created: 0,
            churn_acc: 0,
            totals: Counters::default(),
            departed: BoxTotals::default(),
            joins: 0,
            leaves: 0,
            join_all: Hist::new(60_000),
            join_churn: Hist::new(60_000),
            lag: Hist::new(120_000),
            lag_buf: Vec::new(),
            prev: Snapshot::default(),
            steady_start: None,
            rows: Vec::new(),
            main_ns: 0,
            sample_ns: 0,
            p: p.clone(),
        };
        Ok(Sim { shared, main })
    }

    /// Runs the whole scenario. `progress` prints a line every 10 virtual seconds to stderr.
    pub fn run(self, progress: bool) -> Result<Report, String> {
        let Sim { shared, mut main } = self;
        let shared = &shared;
        let wall = Wall::now();
        let threads = shared.net.threads;
        let result = std::thread::scope(|s| {
            for k in 1..threads {
                s.spawn(move || loop {
                    shared.start.wait();
                    if shared.stop.load(Ordering::Acquire) {
                        break;
                    }
                    shared.window(k);
                    shared.done.wait();
                });
            }
            let r = main.main_loop(shared, progress, wall);
            shared.stop.store(true, Ordering::Release);
            shared.start.wait();
            r
        });
        result?;
        let end = main.p.duration_s * 1_000_000;
        let summary = main.summarise(shared, end, wall.elapsed().as_secs_f64());
        Ok(Report {
            rows: main.rows,
            summary,
        })
    }
}

impl Main {
    fn main_loop(&mut self, shared: &Shared, progress: bool, wall: Wall) -> Result<(), String> {
        let end = self.p.duration_s * 1_000_000;
        let mut t = 0u64;
        loop {
            if t % 1_000_000 == 0 {
                self.sample(shared, t);
                if progress && t % 10_000_000 == 0 && t > 0 {
                    let r = self.rows.last().cloned().unwrap_or_default();
                    eprintln!(
                        "[{:>6.1}s wall] t={:>4}s viewers={} playing={} root={}.{:03}x continuity={}ppm p95lag={}ms rss={}MiB",
                        wall.elapsed().as_secs_f64(),
                        t / 1_000_000,
                        r.viewers,
                        r.playing,
                        r.root_egress_milli / 1000,
                        r.root_egress_milli % 1000,
                        r.continuity_ppm,
                        r.p95_lag_ms,
                        crate::metrics::peak_rss_kib() / 1024
                    );
                }
            }
            if t >= end {
                return Ok(());
            }
            let m = Wall::now();
            self.churn(shared, t)?;
            shared.publish();
            self.main_ns += m.elapsed().as_nanos() as u64;
            shared.t1.store(t + self.window, Ordering::Release);
            shared.start.wait();
            shared.window(0);
            shared.done.wait();
            for ctx in &shared.ctxs {
                let c = std::mem::take(&mut lock(ctx).c);
                self.totals.add(&c);
            }
            t += self.window;
        }
    }

    fn ramp_time(&self, k: usize) -> u64 {
        let start = self.p.ramp_start_s * 1_000_000;
        let ramp = self.p.ramp_s * 1_000_000;
        start + (k as u128 * u128::from(ramp) / self.p.viewers as u128) as u64
    }

    fn create_box(&mut self, shared: &Shared, created: u64) -> Result<(), String> {
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
    fn depart(&mut self, shared: &Shared, id: u32, t: u64, polite: bool) {
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
    fn churn(&mut self, shared: &Shared, t: u64) -> Result<(), String> {
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

    /// Cumulative totals now, plus (playing, partners of playing boxes, root sessions, seeds).
    /// With `lags`, also collects each box's `lag_ms` into `self.lag_buf`.
    fn snapshot(&mut self, shared: &Shared, lags: bool) -> (Snapshot, u64, u64, u64, u64) {
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

    fn sample(&mut self, shared: &Shared, t: u64) {
        let started = Wall::now();
        if crate::diag::wanted().contains(&(t / 1_000_000)) {
            let mut seen = std::collections::HashMap::new();
            for &id in &self.alive {
                shared.with_node(id, |n| {
                    if let Core::Peer(p) = &n.core {
                        seen.insert(id, crate::diag::Seen::of(p, n.link.cap_bps));
                    }
                });
            }
            crate::diag::print_chains(t / 1_000_000, &seen, 6);
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

    fn summarise(&mut self, shared: &Shared, end: u64, wall_s: f64) -> Summary {
        let ramp_end = (self.p.ramp_start_s + self.p.ramp_s) * 1_000_000;
        let mut t = PeerStats::default();
        let (mut out_lost, mut out_skipped, mut skips) = (0, 0, 0);
        for &id in &self.alive {
            shared.with_node(id, |node| {
                if let Core::Peer(p) = &node.core {
                    record_join(
                        &mut self.join_all,
                        &mut self.join_churn,
                        p,
                        end.saturating_sub(node.created),
                        node.created >= ramp_end,
                    );
                    let x = p.stats();
                    t.chunks_in += x.chunks_in;
                    t.duplicates += x.duplicates;
                    t.requests += x.requests;
                    t.requested_chunks += x.requested_chunks;
                    t.played += x.played;
                    t.lost += x.lost;
                    t.ignored += x.ignored;
                    t.parent_switches += x.parent_switches;
                    for (a, b) in t.parent_drops.iter_mut().zip(x.parent_drops) {
                        *a += b;
                    }
                    t.joins += x.joins;
                    let o = p.output_stats(OutputId(0));
                    out_lost += o.lost_chunks;
                    out_skipped += o.skipped_chunks;
                    skips += o.skips;
                }
            });
        }
        // Per upload class: boxes, LEDBAT rate, actual upload, substreams served to children.
        let mut classes: Vec<(u64, [u64; 8])> = Vec::new();
        for &id in &self.alive {
            shared.with_node(id, |node| {
                if let Core::Peer(p) = &node.core {
                    let cap = node.link.cap_bps;
                    let i = match classes.iter().position(|c| c.0 == cap) {
                        Some(i) => i,
                        None => {
                            classes.push((cap, [0; 8]));
                            classes.len() - 1
                        }
                    };
                    let age_s = end.saturating_sub(node.created).max(1) as f64 / 1e6;
                    let c = &mut classes[i].1;
                    c[0] += 1;
                    c[1] += p.upload_rate_bps() / 1000;
                    c[2] += (p.stats().bytes_uploaded as f64 * 8.0 / 1000.0 / age_s) as u64;
                    let (mut served, mut fed) = (0u64, 0u64);
                    for x in p.partner_info() {
                        served += u64::from(x.we_feed.count_ones());
                        fed += u64::from(x.feeds_us.count_ones());
                    }
                    c[3] += served;
                    c[4] += fed;
                    c[5] += p.root_substreams() as u64;
                    c[6] += node.link.queued_us;
                    c[7] += node.link.queued_n;
                }
            });
        }
        if std::env::var_os("TVMESH_SIM_DIAG").is_some() {
            let mut lines = Vec::new();
            for &id in &self.alive {
                shared.with_node(id, |node| {
                    if let Core::Peer(p) = &node.core {
                        let lag = p.lag_ms().unwrap_or(0);
                        let seed = p.parent_kinds().contains(&1);
                        if (seed || lag > 2000 && id % 25 == 0) && lines.len() < 60 {
                            let x = p.stats();
                            lines.push(format!(
                                "diag box {id}{} cap {} lag {lag} src_delay {:?} parents {:?} partners {} lost {} requested {} dup {}",
                                if seed { " SEED" } else { "" },
                                node.link.cap_bps / 1000,
                                p.src_delay_ms(),
                                p.parent_kinds(),
                                p.partners(),
                                x.lost,
                                x.requested_chunks,
                                x.duplicates
                            ));
                        }
                    }
                });
            }
            for l in lines {
                eprintln!("{l}");
            }
        }
        classes.sort_unstable_by_key(|c| c.0);
        let class_lines: Vec<String> = classes
            .iter()
            .map(|(cap, c)| {
                let n = c[0].max(1);
                format!(
                    "cap {} kbit/s: {} boxes, LEDBAT rate {} kbit/s, uploaded {} kbit/s (lifetime mean), serves {:.2} substreams, fed {:.2} by partners + {:.2} by the root, uplink queue mean {} ms",
                    cap / 1000,
                    c[0],
                    c[1] / n,
                    c[2] / n,
                    c[3] as f64 / n as f64,
                    c[4] as f64 / n as f64,
                    c[5] as f64 / n as f64,
                    c[6] / c[7].max(1) / 1000
                )
            })
            .collect();
        let steady_from = self.p.steady_from_s();
        let (end_s, _, _, _, _) = self.snapshot(shared, false);
        let steady: Vec<&Row> = self
            .rows
            .iter()
            .filter(|r| r.time_s > steady_from)
            .collect();
        let n = steady.len().max(1) as u64;
        let st = self.steady_start.clone().unwrap_or_default();
        let d = |a: u64, b: u64| a.saturating_sub(b);
        let good = d(end_s.boxes.out_chunks, st.boxes.out_chunks);
        let missed = d(end_s.boxes.out_missed, st.boxes.out_missed);
        let ctrl = d(
            end_s.boxes.control + end_s.root_ctrl_core,
            st.boxes.control + st.root_ctrl_core,
        );
        let wire_ctrl = d(
            end_s.c.box_ctrl_bytes + end_s.c.root_ctrl_bytes,
            st.c.box_ctrl_bytes + st.c.root_ctrl_bytes,
        );
        let chunk_bytes = d(
            end_s.c.root_chunk_bytes + end_s.c.box_chunk_bytes,
            st.c.root_chunk_bytes + st.c.box_chunk_bytes,
        );
        let got_peers = d(end_s.boxes.from_peers, st.boxes.from_peers);
        let got_all = got_peers + d(end_s.boxes.from_root, st.boxes.from_root);
        let root_bytes = d(
            end_s.c.root_chunk_bytes + end_s.c.root_ctrl_bytes,
            st.c.root_chunk_bytes + st.c.root_ctrl_bytes,
        );
        let src = d(end_s.src_bytes, st.src_bytes);
        let all_good = end_s.boxes.out_chunks;
        let all_missed = end_s.boxes.out_missed;
        let c = self.totals.clone();
        let (busy, slab): (Vec<String>, usize) =
            shared.ctxs.iter().fold((Vec::new(), 0), |(mut v, s), x| {
                let x = lock(x);
                v.push(format!("{:.1}", x.busy_ns as f64 / 1e9));
                (v, s + x.slab.capacity_bytes())
            });
        let mut s = Summary {
            steady_from_s: steady_from,
            root_egress_milli: (root_bytes * 1000).checked_div(src).unwrap_or(0),
            root_egress_max_milli: steady
                .iter()
                .map(|r| r.root_egress_milli)
                .max()
                .unwrap_or(0),
            root_chunk_milli: (d(end_s.c.root_chunk_bytes, st.c.root_chunk_bytes) * 1000)
                .checked_div(src)
                .unwrap_or(0),
            root_ctrl_milli: (d(end_s.c.root_ctrl_bytes, st.c.root_ctrl_bytes) * 1000)
                .checked_div(src)
                .unwrap_or(0),
            root_repairs_per_s: d(end_s.root_repairs, st.root_repairs) / n,
            viewers_mean: steady.iter().map(|r| r.viewers).sum::<u64>() / n,
            continuity_ppm: (good * 1_000_000)
                .checked_div(good + missed)
                .unwrap_or(1_000_000),
            continuity_all_ppm: (all_good * 1_000_000)
                .checked_div(all_good + all_missed)
                .unwrap_or(1_000_000),
            p95_join_ms: self.join_all.quantile(0.95),
            p50_join_ms: self.join_all.quantile(0.5),
            p95_join_churn_ms: self.join_churn.quantile(0.95),
            joins_counted: self.join_all.count(),
            joins_never: self.join_all.overflow(),
            p95_lag_ms: self.lag.quantile(0.95),
            p50_lag_ms: self.lag.quantile(0.5),
            control_ppm: (ctrl * 1_000_000).checked_div(chunk_bytes).unwrap_or(0),
            control_wire_ppm: (wire_ctrl * 1_000_000)
                .checked_div(chunk_bytes)
                .unwrap_or(0),
            peer_share_ppm: (got_peers * 1_000_000).checked_div(got_all).unwrap_or(0),
            same_group_ppm: if self.p.groups > 0 {
                (c.same_group_bytes * 1_000_000)
                    .checked_div(c.box_chunk_bytes)
                    .unwrap_or(0)
            } else {
                0
            },
            stalls: c.stalls,
            wall_s,
            peak_rss_kib: crate::metrics::peak_rss_kib(),
            deliveries: c.deliveries,
            timer_fires: c.timer_fires,
            profile: Vec::new(),
            anomalies: Vec::new(),
        };
        s.profile.push(format!(
            "wall {wall_s:.1} s: workers busy {} s (of which the root {:.1} s), main thread churn {:.1} s, sampling {:.1} s",
            busy.join(" + "),
            c.root_ns as f64 / 1e9,
            self.main_ns as f64 / 1e9,
            self.sample_ns as f64 / 1e9
        ));
        s.profile.push(format!(
            "{:.2} M events/s of wall time; root drains {}; boxes created {}; slab {} MiB",
            (c.deliveries + c.timer_fires) as f64 / wall_s.max(1e-9) / 1e6,
            c.root_drains,
            self.n_nodes - 1,
            slab >> 20
        ));
        s.profile.push(format!(
            "datagrams: {} lost in the network, {} dropped at full uplinks, {} by NAT filters, {} to departed boxes",
            c.lost, c.uplink_drops, c.nat_drops, c.dead_dst
        ));
        s.profile.push(format!(
            "box events: {} joins acknowledged, {} refused, {} stalls, {} new epochs, {} partnerships, {} bad datagrams",
            c.joined, c.refused, c.stalls, c.new_epochs, c.partner_up, c.bad
        ));
        s.profile.push(format!(
            "boxes alive at the end, summed: chunks_in {} duplicates {} requests {} requested_chunks {} played {} lost {} ignored {} parent_switches {} (drops gone/quiet/behind/backlogged {:?}) joins {}; output 0: lost {} skipped {} in {} skips",
            t.chunks_in, t.duplicates, t.requests, t.requested_chunks, t.played, t.lost, t.ignored, t.parent_switches, t.parent_drops, t.joins, out_lost, out_skipped, skips
        ));
        s.profile.push(format!(
            "root control egress by type (whole run): {}",
            by_type(&c.root_ctrl_by_type, self.p.duration_s)
        ));
        s.profile.push(format!(
            "box control by type, all boxes (whole run): {}",
            by_type(&c.box_ctrl_by_type, self.p.duration_s)
        ));
        let (mut age_root, mut age_peer) = (Hist::new(30_000), Hist::new(30_000));
        for x in &shared.ctxs {
            let x = lock(x);
            age_root.merge(&x.age_root);
            age_peer.merge(&x.age_peer);
        }
        let q = |h: &Hist, f: f64| {
            h.quantile(f)
                .map_or("≥30 s".to_string(), |v| format!("{v} ms"))
        };
        s.profile.push(format!(
            "chunk age on arrival at a box (steady state, duplicates included): from peers p50 {} p95 {} ({} chunks); from the root p50 {} p95 {} ({} chunks)",
            q(&age_peer, 0.5),
            q(&age_peer, 0.95),
            age_peer.count(),
            q(&age_root, 0.5),
            q(&age_root, 0.95),
            age_root.count()
        ));
        s.profile.extend(class_lines);
        if c.oversize > 0 {
            s.anomalies.push(format!(
                "{} control datagrams longer than {CTRL_MAX} bytes dropped",
                c.oversize
            ));
        }
        if c.unknown_dst > 0 {
            s.anomalies
                .push(format!("{} datagrams to unknown addresses", c.unknown_dst));
        }
        if c.timer_spins > 0 {
            s.anomalies.push(format!(
                "{} times a state machine asked to be woken no later than the wake-up it was handling",
                c.timer_spins
            ));
        }
        s
    }
}

fn record_join(all: &mut Hist, churn: &mut Hist, p: &Peer, age_us: u64, after_ramp: bool) {
    let v = match p.join_time() {
        Some(d) => Some(d.as_millis() as u64),
        None if age_us >= JOIN_DEADLINE_US => None,
        None => return, // too young to judge
    };
    for h in [Some(all), after_ramp.then_some(churn)]
        .into_iter()
        .flatten()
    {
        match v {
            Some(ms) => h.add(ms),
            None => h.add_never(),
        }
    }
}
