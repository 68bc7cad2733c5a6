//! The virtual network: addresses, per-pair latency, uplinks, NAT filtering, datagram records.
//!
//! Addresses (all virtual; nothing is sent on a real network):
//! - the root is 192.0.2.1:7000 (TEST-NET-1), node id 0;
//! - box `id` (1 ≤ id < 2^21) is 100.64.0.0/10 (RFC 6598 shared address space, where set-top
//!   boxes behind carrier NAT live) + `group << 21` + `id`, port 9000. The id is in the address,
//!   so routing needs no table; with two network groups, group 0 is 100.64.0.0/11 and group 1
//!   is 100.96.0.0/11, the prefixes the root is configured with.
//!
//! Datagrams in flight are stored compactly. CHUNK datagrams keep only their 22-byte header and
//! their length: every box runs with a metadata-only pool, which stores a chunk's length and
//! metadata but never its payload, and parsing checks only the payload's length (a multiple of
//! 188). Delivering the header followed by zeros is therefore lossless for the receiving box,
//! for chunks from boxes (whose payloads read as zeros anyway) and from the root (whose real TS
//! bytes no box would keep). Control datagrams are kept whole (at most [`CTRL_MAX`] bytes: the
//! largest IPv4 control message is a 16-address PEERS of 133 bytes).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use tvmesh_core::ring::Rng;
use tvmesh_core::wire::{CHUNK_HEADER_LEN, MAGIC};

/// The root's address.
pub const ROOT_ADDR: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 7000));
const BOX_NET: u32 = 0x6440_0000; // 100.64.0.0
const BOX_PORT: u16 = 9000;
/// Bits of the box id in its address.
pub const ID_BITS: u32 = 21;
/// Largest control datagram stored.
pub const CTRL_MAX: usize = 136;
/// Remembered outbound destinations of an unreachable box (its NAT mappings).
pub const NAT_SLOTS: usize = 16;
/// CHUNK message type byte.
const CHUNK_TYPE: u8 = 0x10;

/// splitmix64's finaliser: a good 64-bit mix.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Network settings shared (read-only) by all workers.
#[derive(Clone, Debug)]
pub struct Net {
    /// Seed for latencies and groups.
    pub seed: u64,
    /// Lowest one-way latency (µs).
    pub lat_lo_us: u64,
    /// Latency range width (µs).
    pub lat_span_us: u64,
    /// Loss probability (ppm).
    pub loss_ppm: u32,
    /// Uplink buffer (µs of queueing before tail drop).
    pub uplink_buffer_us: u64,
    /// Header bytes per datagram counted against uplink capacity.
    pub ip_overhead: usize,
    /// Groups in use (0 or 2).
    pub groups: u8,
    /// Worker threads.
    pub threads: usize,
    /// Root output batching (µs).
    pub root_batch_us: u64,
    /// Source feed interval (µs).
    pub feed_us: u64,
    /// Steady state starts here (µs); chunk ages are recorded from then on.
    pub steady_from_us: u64,
}

impl Net {
    /// One-way latency between two nodes (µs): fixed per unordered pair, uniform in the range.
    pub fn latency(&self, a: u32, b: u32) -> u64 {
        let (x, y) = if a < b { (a, b) } else { (b, a) };
        let h = mix(self.seed ^ 0x6C61_7465_6E63_7900 ^ (u64::from(x) << 32 | u64::from(y)));
        self.lat_lo_us + h % (self.lat_span_us + 1)
    }

    /// The network group of box `id` (0 when groups are off; else 0 or 1, half the boxes each).
    pub fn group(&self, id: u32) -> u8 {
        if self.groups == 0 || id == 0 {
            0
        } else {
            (mix(self.seed ^ 0x6772_6F75_7000_0000 ^ u64::from(id)) & 1) as u8
        }
    }

    /// The address of node `id`.
    pub fn addr(&self, id: u32) -> SocketAddr {
        if id == 0 {
            return ROOT_ADDR;
        }
        let ip = BOX_NET | (u32::from(self.group(id)) << ID_BITS) | id;
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), BOX_PORT))
    }
}

/// The node an address belongs to, if it is one of ours.
pub fn id_of(a: SocketAddr) -> Option<u32> {
    if a == ROOT_ADDR {
        return Some(0);
    }
    match a {
        SocketAddr::V4(v4) if v4.port() == BOX_PORT => {
            let ip = u32::from(*v4.ip());
            (ip & 0xFFC0_0000 == BOX_NET).then_some(ip & ((1 << ID_BITS) - 1))
        }
        _ => None,
    }
}

/// Whether a datagram is a CHUNK.
pub fn is_chunk(bytes: &[u8]) -> bool {
    bytes.len() > CHUNK_HEADER_LEN && bytes[0] == MAGIC && bytes[1] == CHUNK_TYPE
}

/// A datagram on its way between workers.
#[derive(Clone)]
pub struct Dgram {
    /// Arrival time (µs).
    pub at: u64,
    /// Sender node.
    pub from: u32,
    /// Receiver node.
    pub to: u32,
    /// Sender's datagram counter (orders simultaneous arrivals deterministically).
    pub ctr: u32,
    /// Full datagram length.
    pub len: u16,
    /// CHUNK: the header only; control: the whole datagram.
    pub data: [u8; CTRL_MAX],
}

/// A datagram waiting in a node's inbox; its bytes are in the worker's slab.
#[derive(Copy, Clone, Debug)]
pub struct Msg {
    /// Arrival time (µs).
    pub at: u64,
    /// Sender node.
    pub from: u32,
    /// Sender's counter.
    pub ctr: u32,
    /// Slab slot; the top bit set means the control slab.
    pub slot: u32,
}

impl Msg {
    /// Sort key: arrival, then sender, then the sender's order.
    pub fn key(&self) -> (u64, u32, u32) {
        (self.at, self.from, self.ctr)
    }
}

const CTRL_BIT: u32 = 1 << 31;

#[derive(Copy, Clone)]
struct ChunkBody {
    len: u16,
    head: [u8; CHUNK_HEADER_LEN],
}

#[derive(Copy, Clone)]
struct CtrlBody {
    len: u16,
    data: [u8; CTRL_MAX],
}

/// Datagram bodies of one worker's inboxes (chunk headers and control datagrams apart, so the
/// common case stays 24 bytes).
#[derive(Default)]
pub struct Slab {
    chunks: Vec<ChunkBody>,
    free_chunks: Vec<u32>,
    ctrls: Vec<CtrlBody>,
    free_ctrls: Vec<u32>,
}

impl Slab {
    /// Stores a datagram's bytes; the returned message goes into the receiver's inbox.
    pub fn store(&mut self, d: &Dgram) -> Msg {
        let slot = if is_chunk(&d.data[..usize::from(d.len).min(CTRL_MAX)]) {
            let mut head = [0u8; CHUNK_HEADER_LEN];
            head.copy_from_slice(&d.data[..CHUNK_HEADER_LEN]);
            let b = ChunkBody { len: d.len, head };
            match self.free_chunks.pop() {
                Some(i) => {
                    self.chunks[i as usize] = b;
                    i
                }
                None => {
                    self.chunks.push(b);
                    (self.chunks.len() - 1) as u32
                }
            }
        } else {
            let b = CtrlBody {
                len: d.len,
                data: d.data,
            };
            CTRL_BIT
                | match self.free_ctrls.pop() {
                    Some(i) => {
                        self.ctrls[i as usize] = b;
                        i
                    }
                    None => {
                        self.ctrls.push(b);
                        (self.ctrls.len() - 1) as u32
                    }
                }
        };
        Msg {
            at: d.at,
            from: d.from,
            ctr: d.ctr,
            slot,
        }
    }

    /// Rebuilds a datagram into `zbuf` (whose bytes past the chunk header are always zero) or
    /// borrows it from the slab, and frees the slot.
    pub fn take<'a>(&'a mut self, m: &Msg, zbuf: &'a mut [u8]) -> &'a [u8] {
        if m.slot & CTRL_BIT != 0 {
            let i = m.slot & !CTRL_BIT;
            self.free_ctrls.push(i);
            let b = &self.ctrls[i as usize];
            &b.data[..usize::from(b.len)]
        } else {
            self.free_chunks.push(m.slot);
            let b = &self.chunks[m.slot as usize];
            zbuf[..CHUNK_HEADER_LEN].copy_from_slice(&b.head);
            &zbuf[..usize::from(b.len)]
        }
    }

    /// Frees a slot without reading it (the receiver is gone).
    pub fn free(&mut self, m: &Msg) {
        if m.slot & CTRL_BIT != 0 {
            self.free_ctrls.push(m.slot & !CTRL_BIT);
        } else {
            self.free_chunks.push(m.slot);
        }
    }

    /// Bytes held by the slab's tables.
    pub fn capacity_bytes(&self) -> usize {
        self.chunks.capacity() * std::mem::size_of::<ChunkBody>()
            + self.ctrls.capacity() * std::mem::size_of::<CtrlBody>()
    }
}

/// A node's attachment to the network: uplink, loss draws, NAT state.
pub struct Link {
    /// Node id.
    pub id: u32,
    /// Network group.
    pub group: u8,
    /// Uplink capacity (bits/s); 0: unlimited.
    pub cap_bps: u64,
    /// When the uplink finishes sending what is queued (µs).
    pub free_at: u64,
    /// Whether others can reach this node unsolicited.
    pub reachable: bool,
    /// Loss draws.
    pub rng: Rng,
    /// Datagrams sent.
    pub ctr: u32,
    /// Sum of the uplink queueing delay met by datagrams sent (µs), and how many.
    pub queued_us: u64,
    /// Datagrams that met the uplink queue (counted for `queued_us`).
    pub queued_n: u64,
    /// Recent outbound destinations, most recent first (NAT mappings of an unreachable node).
    contacted: [u32; NAT_SLOTS],
    n_contacted: u8,
}

/// Why a datagram did not leave, or what it was.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    /// On its way.
    Sent,
    /// Dropped by the network (random loss).
    Lost,
    /// Dropped at the sender's full uplink queue.
    UplinkFull,
    /// Not one of our addresses.
    Unknown,
}

impl Link {
    /// A node's link.
    pub fn new(id: u32, group: u8, cap_bps: u64, reachable: bool, seed: u64) -> Link {
        Link {
            id,
            group,
            cap_bps,
            free_at: 0,
            reachable,
            rng: Rng::new(seed),
            ctr: 0,
            queued_us: 0,
            queued_n: 0,
            contacted: [0; NAT_SLOTS],
            n_contacted: 0,
        }
    }

    /// Records an outbound datagram to `to` (LRU).
    fn touch(&mut self, to: u32) {
        let n = usize::from(self.n_contacted);
        let pos = self.contacted[..n].iter().position(|&x| x == to);
        let end = match pos {
            Some(0) => return,
            Some(i) => i,
            None => {
                if n < NAT_SLOTS {
                    self.n_contacted += 1;
                    n
                } else {
                    NAT_SLOTS - 1
                }
            }
        };
        self.contacted.copy_within(0..end, 1);
        self.contacted[0] = to;
    }

    /// Whether a datagram from `from` gets through this node's NAT.
    pub fn admits(&self, from: u32) -> bool {
        self.reachable || self.contacted[..usize::from(self.n_contacted)].contains(&from)
    }

    /// Sends `bytes` to `dst` at `now`: queues it on the uplink, draws loss, and fills `out`.
    pub fn send(
        &mut self,
        net: &Net,
        now: u64,
        dst: SocketAddr,
        bytes: &[u8],
        out: &mut Dgram,
    ) -> SendOutcome {
        let Some(to) = id_of(dst) else {
            return SendOutcome::Unknown;
        };
        let depart = if self.cap_bps == 0 {
            now
        } else {
            let start = self.free_at.max(now);
            if start - now > net.uplink_buffer_us {
                return SendOutcome::UplinkFull;
            }
            self.queued_us += start - now;
            self.queued_n += 1;
            let bits = ((bytes.len() + net.ip_overhead) * 8) as u64;
            self.free_at = start + (bits * 1_000_000).div_ceil(self.cap_bps);
            self.free_at
        };
        if !self.reachable {
            self.touch(to);
        }
        let ctr = self.ctr;
        self.ctr = self.ctr.wrapping_add(1);
        if net.loss_ppm > 0 && self.rng.next_u64() % 1_000_000 < u64::from(net.loss_ppm) {
            return SendOutcome::Lost;
        }
        out.at = depart + net.latency(self.id, to);
        out.from = self.id;
        out.to = to;
        out.ctr = ctr;
        out.len = bytes.len() as u16; // ≤ MAX_DATAGRAM
        let keep = if is_chunk(bytes) {
            CHUNK_HEADER_LEN
        } else {
            bytes.len().min(CTRL_MAX)
        };
        out.data[..keep].copy_from_slice(&bytes[..keep]);
        SendOutcome::Sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net() -> Net {
        Net {
            seed: 9,
            lat_lo_us: 20_000,
            lat_span_us: 60_000,
            loss_ppm: 0,
            uplink_buffer_us: 1_000_000,
            ip_overhead: 28,
            groups: 2,
            threads: 1,
            root_batch_us: 0,
            feed_us: 5000,
            steady_from_us: 0,
        }
    }

    #[test]
    fn addresses_round_trip() {
        let n = net();
        for id in [0u32, 1, 2, 77, (1 << ID_BITS) - 1] {
            assert_eq!(id_of(n.addr(id)), Some(id));
        }
        assert_eq!(id_of("203.0.113.5:9000".parse().unwrap()), None);
        let groups: Vec<u8> = (1..200).map(|i| n.group(i)).collect();
        assert!(groups.contains(&0) && groups.contains(&1));
    }

    #[test]
    fn latency_symmetric_in_range() {
        let n = net();
        for (a, b) in [(1, 2), (0, 5), (9, 3)] {
            let l = n.latency(a, b);
            assert_eq!(l, n.latency(b, a));
            assert!((20_000..=80_000).contains(&l));
        }
    }

    #[test]
    fn uplink_queues_and_nat_filters() {
        let n = net();
        let mut l = Link::new(3, 0, 1_000_000, false, 1); // 1 Mbit/s
        let mut d = Dgram {
            at: 0,
            from: 0,
            to: 0,
            ctr: 0,
            len: 0,
            data: [0; CTRL_MAX],
        };
        let bytes = [0u8; 972]; // 1000 bytes with headers: 8 ms each
        assert_eq!(l.send(&n, 0, n.addr(5), &bytes, &mut d), SendOutcome::Sent);
        assert_eq!(d.at, 8_000 + n.latency(3, 5));
        assert_eq!(l.send(&n, 0, n.addr(5), &bytes, &mut d), SendOutcome::Sent);
        assert_eq!(d.at, 16_000 + n.latency(3, 5), "queued behind the first");
        assert!(l.admits(5) && !l.admits(6));
        for k in 10..10 + NAT_SLOTS as u32 {
            l.send(&n, 0, n.addr(k), &[0u8; 10], &mut d);
        }
        assert!(!l.admits(5), "evicted after {NAT_SLOTS} newer destinations");
        l.send(&n, 0, n.addr(10), &[0u8; 10], &mut d);
        l.send(&n, 0, n.addr(99), &[0u8; 10], &mut d);
        assert!(l.admits(10), "refreshed on use");
    }
}
