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
//!
//! This file holds the driver ([`Sim`]: setup, the window loop, the run's [`Report`]); `node` a
//! node and how one is driven, `counters` what workers count, `shared` what the worker threads
//! share and one window's run, `churn` boxes joining and leaving, `sample` the per-second rows,
//! `summary` the end-of-run figures.

mod churn;
mod counters;
mod node;
mod sample;
mod shared;
mod summary;

use crate::metrics::{Hist, Row, Summary};
use crate::net::{Link, Net, ID_BITS};
use crate::scenario::Params;
use crate::tsgen::TsGen;
pub use counters::Counters;
use node::{Core, Ctx, Node, RootNode};
use sample::{BoxTotals, Snapshot};
use shared::{lock, Shared};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::Instant as Wall;
use tvmesh_core::pool::{MIN_SLOTS, SLOT_COST};
use tvmesh_core::ring::Rng;
use tvmesh_core::root::tracker::Prefix;
use tvmesh_core::root::{ChannelSpec, Root, RootConfig};
use tvmesh_core::time::Instant;

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

/// The result of a run.
pub struct Report {
    /// One row per virtual second.
    pub rows: Vec<Row>,
    /// Summary figures.
    pub summary: Summary,
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
}
