//! A box's partners: other boxes it exchanges buffer maps and chunks with.
//!
//! Invariants: a partner is identified by (address, token), the token being the nonce of the
//! HELLO that created the partnership; its buffer map covers at most [`MAP_BITS`] chunks and is
//! only consulted inside that range; all state is fixed-size.

use crate::time::Instant;
use crate::upload::{substream, DelayMeter, Downstream, SUBSTREAMS};
use core::net::SocketAddr;

/// Chunks a buffer map covers.
pub const MAP_BITS: usize = 512;
const MAP_WORDS: usize = MAP_BITS / 64;

/// One partner.
#[derive(Clone, Debug)]
pub struct Partner {
    pub addr: SocketAddr,
    pub token: u32,
    /// Handshake complete.
    pub up: bool,
    pub hello_at: Instant,
    pub hello_tries: u8,
    pub last_heard: Instant,
    pub next_map: Instant,
    pub reachable: bool,
    pub upload_kbps: u32,
    /// Child substreams the partner said (in its last MAP) it would still admit; taken down by
    /// one for each subscription sent since.
    pub spare: u8,
    /// The partner's distance from the source per substream (ms, from its MAP).
    pub src_delay_ms: [u16; SUBSTREAMS],
    /// The partner's hops from the root per substream (from its MAP; `HOPS_NONE` unknown).
    pub hops: [u8; SUBSTREAMS],
    /// How fresh the partner's path from the root is per substream (from its MAP; 0 none).
    pub fresh: [u64; SUBSTREAMS],
    map_base: u64,
    /// End (exclusive) of what the last map described.
    map_end: u64,
    map: [u64; MAP_WORDS],
    /// Highest sequence number the partner is known to hold, per substream.
    pub sub_top: [u64; SUBSTREAMS],
    /// What this box pushes to the partner.
    pub down: Downstream,
    /// Delay of the partner's chunks arriving here (reported back to it).
    pub delay: DelayMeter,
    /// Last chunk of each substream received from this partner.
    pub last_chunk: [Option<Instant>; SUBSTREAMS],
    /// Until when the partner refused each substream.
    pub refused_until: [Instant; SUBSTREAMS],
    pub chunks_from: u64,
    pub bytes_from: u64,
}

impl Partner {
    /// A partner being greeted (`up` false) or accepted (`up` true).
    pub fn new(addr: SocketAddr, token: u32, up: bool, now: Instant) -> Self {
        Partner {
            addr,
            token,
            up,
            hello_at: now,
            hello_tries: 1,
            last_heard: now,
            next_map: now,
            reachable: true,
            upload_kbps: 0,
            spare: 0,
            src_delay_ms: [u16::MAX; SUBSTREAMS],
            hops: [crate::wire::HOPS_NONE; SUBSTREAMS],
            fresh: [0; SUBSTREAMS],
            map_base: 0,
            map_end: 0,
            map: [0; MAP_WORDS],
            sub_top: [0; SUBSTREAMS],
            down: Downstream::default(),
            delay: DelayMeter::default(),
            last_chunk: [None; SUBSTREAMS],
            refused_until: [Instant::ZERO; SUBSTREAMS],
            chunks_from: 0,
            bytes_from: 0,
        }
    }

    /// Takes a buffer map: bit i of byte i/8 (LSB first) means the partner holds `base + i`.
    pub fn set_map(&mut self, base: u64, bytes: &[u8]) {
        self.map_base = base;
        self.map_end = base + (bytes.len().min(MAP_BITS / 8) * 8) as u64;
        self.map = [0; MAP_WORDS];
        for (i, &b) in bytes.iter().enumerate().take(MAP_BITS / 8) {
            self.map[i / 8] |= u64::from(b) << ((i % 8) * 8);
        }
        for bit in (0..bytes.len().min(MAP_BITS / 8) * 8).rev() {
            if self.map[bit / 64] & (1 << (bit % 64)) != 0 {
                let seq = base + bit as u64;
                let s = substream(seq);
                if seq > self.sub_top[s] {
                    self.sub_top[s] = seq;
                }
            }
        }
    }

    /// The partner sent us chunk `seq`: it holds it.
    pub fn saw(&mut self, seq: u64) {
        let s = substream(seq);
        if seq > self.sub_top[s] {
            self.sub_top[s] = seq;
        }
        if seq >= self.map_base && seq < self.map_base + MAP_BITS as u64 {
            let bit = (seq - self.map_base) as usize;
            self.map[bit / 64] |= 1 << (bit % 64);
        }
    }

    /// Whether the partner's last map (or a chunk it sent) shows `seq`.
    pub fn has(&self, seq: u64) -> bool {
        if seq < self.map_base || seq >= self.map_base + MAP_BITS as u64 {
            return false;
        }
        let bit = (seq - self.map_base) as usize;
        self.map[bit / 64] & (1 << (bit % 64)) != 0
    }

    /// Whether the partner, feeding us `seq`'s substream, has pushed past `seq` after its last
    /// map (so it holds it, though no map said so yet). A chunk its map covered but did not show,
    /// or one below its map, it may well lack.
    pub fn pushed_past(&self, seq: u64) -> bool {
        seq >= self.map_end && self.sub_top[substream(seq)] > seq
    }

    /// The highest sequence number the partner holds in any substream.
    pub fn top(&self) -> u64 {
        self.sub_top.iter().copied().max().unwrap_or(0)
    }
}

/// Writes this box's buffer map for `[base, base + n)` into `out`; returns the byte length.
pub fn encode_map(
    base: u64,
    n: usize,
    has: impl Fn(u64) -> bool,
    out: &mut [u8; MAP_BITS / 8],
) -> usize {
    let n = n.min(MAP_BITS);
    let bytes = n.div_ceil(8).max(1);
    out[..bytes].fill(0);
    for i in 0..n {
        if has(base + i as u64) {
            out[i / 8] |= 1 << (i % 8);
        }
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_roundtrip_and_tops() {
        let a: SocketAddr = "198.51.100.1:1".parse().unwrap();
        let mut p = Partner::new(a, 1, true, Instant::ZERO);
        let mut buf = [0u8; MAP_BITS / 8];
        let n = encode_map(1000, 20, |s| s % 3 == 0, &mut buf);
        assert_eq!(n, 3);
        p.set_map(1000, &buf[..n]);
        assert!(p.has(1002) && p.has(1005) && !p.has(1001) && !p.has(1020));
        assert_eq!(p.sub_top[substream(1017)], 1017);
        assert_eq!(p.top(), 1017);
        p.saw(1001);
        assert!(p.has(1001));
        assert!(!p.has(5), "outside the map");
    }

    #[test]
    fn pushed_past_only_beyond_its_last_map() {
        let a: SocketAddr = "198.51.100.1:1".parse().unwrap();
        let mut p = Partner::new(a, 1, true, Instant::ZERO);
        let mut buf = [0u8; MAP_BITS / 8];
        // Holds 1000..1016 except 1004; the map describes 1000..1016.
        let n = encode_map(1000, 16, |s| s != 1004, &mut buf);
        p.set_map(1000, &buf[..n]);
        p.saw(1024); // pushed after the map
        assert!(!p.pushed_past(1004), "the map showed it lacks 1004");
        assert!(!p.pushed_past(996), "below its map: unknown");
        assert!(
            p.pushed_past(1020),
            "pushed 1024 after the map, so it holds 1020"
        );
        assert!(!p.pushed_past(1028), "not past 1028 yet");
    }
}
