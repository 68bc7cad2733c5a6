//! Test harness: one root and some boxes on a seeded virtual network, in virtual time.
//!
//! The same core state machines the daemon drives, driven here by an earliest-deadline loop. The
//! link model: fixed one-way latency plus seeded random loss, per direction.

#![allow(dead_code)]
#![allow(clippy::disallowed_methods)] // tests may read the sample file; the core itself may not

pub mod hostile;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::Duration;
use tvmesh_core::output::OutputId;
use tvmesh_core::peer::{Peer, PeerConfig};
use tvmesh_core::ring::Rng;
use tvmesh_core::root::{ChannelSpec, Root, RootConfig};
use tvmesh_core::time::Instant;
use tvmesh_core::wire::MAX_DATAGRAM;

pub const ROOT: &str = "192.0.2.1:7000";
pub const SOURCE_STEP: Duration = Duration::from_millis(10);
pub const SOURCE_BYTES: usize = 1316; // ~1.05 Mbit/s at one slice per 10 ms

pub fn sample() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/sample.ts"
    ))
    .unwrap()
}

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub fn box_addr(i: usize) -> SocketAddr {
    SocketAddr::from(([198, 51, 100, 10 + i as u8], 9000))
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct InFlight {
    at: u64,
    seq: u64,
    from: SocketAddr,
    to: SocketAddr,
    bytes: Vec<u8>,
}

pub struct Sim {
    pub now: Instant,
    pub root: Root,
    pub boxes: Vec<Peer>,
    pub latency: Duration,
    /// Extra one-way latency per address pair, 0..jitter_ms (fixed per pair, seeded by addresses).
    pub jitter_ms: u64,
    /// Loss probability in parts per million, per datagram.
    pub loss_ppm: u32,
    pub rng: Rng,
    net: BinaryHeap<Reverse<InFlight>>,
    n: u64,
    pub source: Vec<u8>,
    pub source_pos: usize,
    next_source: Instant,
    pub sent: u64,
    pub dropped: u64,
    /// Bytes each box's output 0 took, when `drain` is on.
    pub sink: Vec<Vec<u8>>,
    pub drain: bool,
    /// Boxes that crashed: they neither send nor receive.
    pub dead: Vec<bool>,
    /// Links cut in both directions.
    pub cut: Vec<(SocketAddr, SocketAddr)>,
    /// Boxes whose datagrams are rewritten by an attack ([`hostile`]).
    pub hostile: Vec<Option<hostile::Hostile>>,
    buf: Vec<u8>,
}

pub fn root_config() -> RootConfig {
    RootConfig {
        max_sessions: 256,
        pool_bytes: 4 << 20,
        first_seq: 1_000_000,
        seed: 7,
        ..RootConfig::default()
    }
}

impl Sim {
    pub fn new(boxes: usize, peer_cfg: PeerConfig) -> Sim {
        Sim::with_root(root_config(), boxes, peer_cfg)
    }

    /// As [`Sim::new`], with the root configured by the caller.
    pub fn with_root(root_cfg: RootConfig, boxes: usize, peer_cfg: PeerConfig) -> Sim {
        let now = Instant::from_millis(1_000);
        let root = Root::new(
            root_cfg,
            &[ChannelSpec {
                name: "demo",
                bitrate_kbps: 1000,
            }],
            now,
        )
        .unwrap();
        let mut peers = Vec::new();
        let mut sinks = Vec::new();
        for i in 0..boxes {
            let mut c = peer_cfg.clone();
            c.seed = 100 + i as u64;
            let mut p = Peer::new(c, addr(ROOT), "demo", now).unwrap();
            assert_eq!(p.output_open(), Some(OutputId(0)));
            peers.push(p);
            sinks.push(Vec::new());
        }
        Sim {
            now,
            root,
            boxes: peers,
            latency: Duration::from_millis(20),
            jitter_ms: 0,
            loss_ppm: 0,
            rng: Rng::new(42),
            net: BinaryHeap::new(),
            n: 0,
            source: sample(),
            source_pos: 0,
            next_source: now,
            sent: 0,
            dropped: 0,
            sink: sinks,
            drain: true,
            dead: vec![false; boxes],
            cut: Vec::new(),
            hostile: (0..boxes).map(|_| None).collect(),
            buf: vec![0; MAX_DATAGRAM],
        }
    }

    fn send(&mut self, from: SocketAddr, to: SocketAddr, len: usize) {
        self.sent += 1;
        if self
            .cut
            .iter()
            .any(|&(a, b)| (a, b) == (from, to) || (b, a) == (from, to))
        {
            return;
        }
        if (self.rng.next_u64() % 1_000_000) < u64::from(self.loss_ppm) {
            self.dropped += 1;
            return;
        }
        self.n += 1;
        let pair = u64::from(from.port())
            ^ (u64::from(to.port()) << 16)
            ^ match (from.ip(), to.ip()) {
                (std::net::IpAddr::V4(a), std::net::IpAddr::V4(b)) => {
                    u64::from(u32::from(a)) ^ (u64::from(u32::from(b)) << 7)
                }
                _ => 0,
            };
        let jitter = if self.jitter_ms == 0 {
            0
        } else {
            pair.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40
        } % self.jitter_ms.max(1);
        let at = (self.now + self.latency + Duration::from_millis(jitter)).as_micros();
        self.net.push(Reverse(InFlight {
            at,
            seq: self.n,
            from,
            to,
            bytes: self.buf[..len].to_vec(),
        }));
    }

    /// Drains every state machine's output at the current time.
    pub fn pump(&mut self) {
        loop {
            let mut any = false;
            while let Some(t) = self.root.poll_transmit(&mut self.buf) {
                any = true;
                self.send(addr(ROOT), t.dst, t.len);
            }
            while self.root.poll_event().is_some() {}
            for i in 0..self.boxes.len() {
                if self.dead[i] {
                    continue;
                }
                while let Some(t) = self.boxes[i].poll_transmit(self.now, &mut self.buf) {
                    any = true;
                    let Some(h) = self.hostile.get_mut(i).and_then(|h| h.as_mut()) else {
                        self.send(box_addr(i), t.dst, t.len);
                        continue;
                    };
                    for d in h.tamper(&self.buf[..t.len]) {
                        self.buf[..d.len()].copy_from_slice(&d);
                        self.send(box_addr(i), t.dst, d.len());
                    }
                }
                while self.boxes[i].poll_event().is_some() {}
                if self.drain {
                    while let Some(b) = self.boxes[i].output_peek(OutputId(0)) {
                        let n = b.len();
                        self.sink[i].extend_from_slice(b);
                        self.boxes[i].output_advance(OutputId(0), n);
                    }
                }
            }
            if !any {
                break;
            }
        }
    }

    /// Runs until virtual time `until` (source fed while it lasts).
    pub fn run_until(&mut self, until: Instant) {
        let mut steps = 0u64;
        while self.now < until {
            steps += 1;
            assert!(steps < 10_000_000, "bounded");
            let mut next = until;
            next = next.min(self.next_source);
            if let Some(Reverse(f)) = self.net.peek() {
                next = next.min(Instant::from_micros(f.at));
            }
            if let Some(t) = self.root.poll_timeout() {
                next = next.min(t);
            }
            for (i, b) in self.boxes.iter().enumerate() {
                if self.dead[i] {
                    continue;
                }
                if let Some(t) = b.poll_timeout() {
                    next = next.min(t);
                }
            }
            self.now = next.max(self.now);
            if self.now >= self.next_source {
                if self.source_pos >= self.source.len() {
                    // Loop the sample, as a file source does.
                    self.source_pos = 0;
                    self.root.source_discontinuity(0);
                }
                let end = (self.source_pos + SOURCE_BYTES).min(self.source.len());
                let chunk = self.source[self.source_pos..end].to_vec();
                self.root.handle_source(self.now, 0, &chunk);
                self.source_pos = end;
                self.next_source = self.now + SOURCE_STEP;
            }
            while self
                .net
                .peek()
                .is_some_and(|Reverse(f)| f.at <= self.now.as_micros())
            {
                let Reverse(f) = self.net.pop().unwrap();
                if f.to == addr(ROOT) {
                    self.root.handle_datagram(self.now, f.from, &f.bytes);
                } else if let Some(i) =
                    (0..self.boxes.len()).find(|&i| box_addr(i) == f.to && !self.dead[i])
                {
                    self.boxes[i].handle_datagram(self.now, f.from, &f.bytes);
                }
            }
            self.root.handle_timeout(self.now);
            for (i, b) in self.boxes.iter_mut().enumerate() {
                if !self.dead[i] {
                    b.handle_timeout(self.now);
                }
            }
            self.pump();
        }
    }

    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }
}

/// Splits TS bytes into 188-byte packets.
pub fn packets(b: &[u8]) -> Vec<&[u8]> {
    b.chunks(188).collect()
}

pub fn pid(p: &[u8]) -> u16 {
    u16::from_be_bytes([p[1] & 0x1F, p[2]])
}

impl Sim {
    /// Adds a box now (it starts joining at once).
    pub fn add_box(&mut self, cfg: PeerConfig) -> usize {
        let i = self.boxes.len();
        let mut c = cfg;
        c.seed = 100 + i as u64;
        let mut p = Peer::new(c, addr(ROOT), "demo", self.now).unwrap();
        p.output_open().unwrap();
        self.boxes.push(p);
        self.sink.push(Vec::new());
        self.dead.push(false);
        self.hostile.push(None);
        i
    }

    /// A root with one seed copy and `boxes` boxes with mixed uplinks, as in the field (1.2, 3, 3
    /// and 8 Mbit/s in turn): trees several levels deep.
    pub fn one_seed_mixed(boxes: usize) -> Sim {
        let root = RootConfig {
            seed_copies: 1,
            ..root_config()
        };
        let mut sim = Sim::with_root(root, 0, PeerConfig::default());
        for i in 0..boxes {
            sim.add_box(PeerConfig {
                upload_kbps: [1200, 3000, 3000, 8000][i % 4],
                ..PeerConfig::default()
            });
        }
        sim
    }

    /// Root chunk egress in bytes so far.
    pub fn root_bytes_out(&self) -> u64 {
        self.root.channel_stats(0).unwrap().bytes_out
    }
}
