//! Framing: arbitrary byte slices in, aligned 188-byte packets out.
//!
//! Sources deliver TS in datagrams (usually 7 packets), HTTP reads of any size, or file reads. The
//! [`Framer`] carries a partial packet across calls and resynchronises after garbage: while out of
//! sync it accepts a 0x47 only when the byte 188 further on is also 0x47, so a stray 0x47 in
//! garbage does not produce a false packet. Memory is one packet of carry; nothing allocates.

use super::{PACKET_LEN, SYNC_BYTE};

/// Counters kept by a [`Framer`].
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct FramerStats {
    /// Packets emitted.
    pub packets: u64,
    /// Bytes discarded while looking for sync.
    pub dropped_bytes: u64,
    /// Times sync was lost after having been found.
    pub sync_losses: u64,
}

/// Resynchronising TS packetiser.
#[derive(Clone, Debug)]
pub struct Framer {
    carry: [u8; PACKET_LEN],
    len: usize,
    synced: bool,
    stats: FramerStats,
}

impl Default for Framer {
    fn default() -> Self {
        Self::new()
    }
}

impl Framer {
    /// A framer that has not found sync yet.
    pub fn new() -> Self {
        Framer {
            carry: [0; PACKET_LEN],
            len: 0,
            synced: false,
            stats: FramerStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> FramerStats {
        self.stats
    }

    /// Whether the framer is in sync.
    pub fn synced(&self) -> bool {
        self.synced
    }

    /// Forgets any partial packet and sync (e.g. when the source reconnects).
    pub fn reset(&mut self) {
        self.len = 0;
        self.synced = false;
    }

    /// Feeds bytes; calls `out` once per complete, aligned packet, in order.
    pub fn push(&mut self, mut input: &[u8], mut out: impl FnMut(&[u8; PACKET_LEN])) {
        loop {
            // A complete packet waits in the carry for confirmation of sync.
            if self.len == PACKET_LEN {
                match input.first() {
                    None => return,
                    Some(&SYNC_BYTE) => {
                        self.synced = true;
                        self.emit_carry(&mut out);
                    }
                    Some(_) if self.synced => self.emit_carry(&mut out),
                    Some(_) => self.slip(),
                }
                continue;
            }
            if input.is_empty() {
                return;
            }
            // Fast path: in sync and aligned, emit straight from the input.
            if self.len == 0 && self.synced && input.len() >= PACKET_LEN && input[0] == SYNC_BYTE {
                let (p, rest) = input.split_at(PACKET_LEN);
                if let Ok(p) = <&[u8; PACKET_LEN]>::try_from(p) {
                    self.stats.packets += 1;
                    out(p);
                }
                input = rest;
                continue;
            }
            if self.len == 0 && input[0] != SYNC_BYTE {
                if self.synced {
                    self.synced = false;
                    self.stats.sync_losses += 1;
                }
                let skip = input
                    .iter()
                    .position(|&b| b == SYNC_BYTE)
                    .unwrap_or(input.len());
                self.stats.dropped_bytes += skip as u64;
                input = &input[skip..];
                continue;
            }
            let take = (PACKET_LEN - self.len).min(input.len());
            self.carry[self.len..self.len + take].copy_from_slice(&input[..take]);
            self.len += take;
            input = &input[take..];
            // In sync, a complete packet needs no confirmation.
            if self.len == PACKET_LEN && self.synced {
                self.emit_carry(&mut out);
            }
        }
    }

    fn emit_carry(&mut self, out: &mut impl FnMut(&[u8; PACKET_LEN])) {
        self.stats.packets += 1;
        out(&self.carry);
        self.len = 0;
    }

    /// The candidate in the carry was a false sync: drop up to the next 0x47 inside it.
    fn slip(&mut self) {
        let next = self.carry[1..self.len]
            .iter()
            .position(|&b| b == SYNC_BYTE)
            .map_or(self.len, |i| i + 1);
        self.carry.copy_within(next..self.len, 0);
        self.len -= next;
        self.stats.dropped_bytes += next as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn packets(n: usize) -> Vec<u8> {
        let mut v = Vec::new();
        for i in 0..n {
            let mut p = [i as u8; PACKET_LEN];
            p[0] = SYNC_BYTE;
            v.extend_from_slice(&p);
        }
        v
    }

    fn run(f: &mut Framer, chunks: &[&[u8]]) -> Vec<u8> {
        let mut got = Vec::new();
        for c in chunks {
            f.push(c, |p| got.push(p[1]));
        }
        got
    }

    #[test]
    fn aligned_and_split_input() {
        let s = packets(5);
        let mut f = Framer::new();
        let got = run(&mut f, &[&s[..100], &s[100..500], &s[500..]]);
        // The last packet waits for its successor's sync byte only while unsynced; here sync was
        // confirmed by the second packet, so all five are out.
        assert_eq!(got, [0, 1, 2, 3, 4]);
        assert!(f.synced());
    }

    #[test]
    fn garbage_then_stream() {
        let mut input = std::vec![0x47, 1, 2, 3, 0x47, 9, 9];
        input.extend_from_slice(&packets(3));
        let mut f = Framer::new();
        let got = run(&mut f, &[&input]);
        // Packet 0 is confirmed by packet 1's sync byte; after that no confirmation is needed.
        assert_eq!(got, [0, 1, 2]);
        assert_eq!(f.stats().dropped_bytes, 7);
        let got = run(&mut f, &[&packets(1)]);
        assert_eq!(got, [0]);
    }

    #[test]
    fn sync_loss_counted() {
        let mut input = packets(3);
        input.extend_from_slice(&[1, 2, 3]);
        input.extend_from_slice(&packets(3));
        let mut f = Framer::new();
        let got = run(&mut f, &[&input]);
        assert_eq!(got, [0, 1, 2, 0, 1, 2]);
        assert_eq!(f.stats().sync_losses, 1);
        assert_eq!(f.stats().dropped_bytes, 3);
    }
}
