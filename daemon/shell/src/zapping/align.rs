//! [`Aligned`]: keeps the sink's byte stream 188-byte aligned across a zap.
//!
//! A sink may take part of a TS packet (a partial write); the core's output cursor hands the rest
//! next time. At a zap the old channel's output goes away, so the rest of a packet begun at the
//! sink is stashed here and written before anything of the new channel. If the old output could
//! not supply the whole rest (it never happens with whole-packet chunks), the packet is finished
//! with 0xFF bytes so the next packet still starts on a 188-byte boundary.
//!
//! Invariants: at most one packet (188 bytes) is carried; the new channel's first byte is always
//! written at an offset that is a multiple of 188 in the sink's stream.

use tvmesh_core::ts::PACKET_LEN;

/// Sink stream position and the carried end of a packet. See the module documentation.
pub struct Aligned {
    written: u64,
    carry: [u8; PACKET_LEN],
    carry_len: usize,
    carry_off: usize,
}

impl Default for Aligned {
    fn default() -> Self {
        Aligned {
            written: 0,
            carry: [0xFF; PACKET_LEN],
            carry_len: 0,
            carry_off: 0,
        }
    }
}

impl Aligned {
    /// The sink accepted `n` more bytes.
    pub fn wrote(&mut self, n: usize) {
        self.written += n as u64;
    }

    /// Bytes the sink has taken in all.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Bytes still owed to finish the packet the sink is in (0 when aligned).
    pub fn owed(&self) -> usize {
        let r = (self.written % PACKET_LEN as u64) as usize;
        (PACKET_LEN - r) % PACKET_LEN
    }

    /// At a zap: stashes the rest of the current packet from the old output's next bytes `rest`
    /// (padding with 0xFF when `rest` is short). Nothing happens when aligned.
    pub fn stash(&mut self, rest: &[u8]) {
        let owed = self.owed() - (self.carry_len - self.carry_off).min(self.owed());
        if owed == 0 {
            return;
        }
        let n = rest.len().min(owed);
        self.carry = [0xFF; PACKET_LEN];
        self.carry[..n].copy_from_slice(&rest[..n]);
        self.carry_len = owed;
        self.carry_off = 0;
    }

    /// The output's stream starts over (a decoder flushed at a zap): the carried end of a packet
    /// is dropped and the position counts as aligned.
    pub fn restart(&mut self) {
        self.written += (self.carry_len - self.carry_off) as u64;
        self.carry_len = 0;
        self.carry_off = 0;
    }

    /// Writes the carried bytes through `write` (returns bytes accepted); `true` when nothing is
    /// carried any more.
    pub fn drain(&mut self, mut write: impl FnMut(&[u8]) -> usize) -> bool {
        while self.carry_off < self.carry_len {
            let n = write(&self.carry[self.carry_off..self.carry_len]);
            if n == 0 {
                return false;
            }
            self.carry_off += n;
            self.wrote(n);
        }
        self.carry_len = 0;
        self.carry_off = 0;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_packet_is_finished_before_the_new_channel() {
        let mut a = Aligned::default();
        let mut out: Vec<u8> = Vec::new();
        // 1.5 packets written from the old channel (bytes 1).
        a.wrote(188 + 94);
        out.extend_from_slice(&[1u8; 188 + 94]);
        assert_eq!(a.owed(), 94);
        a.stash(&[2u8; 300]);
        // The sink takes 50 bytes, then nothing, then the rest.
        let budget = [50usize, 0, 1000];
        let mut i = 0;
        let mut w = |b: &[u8]| {
            let n = budget[i.min(2)].min(b.len());
            i += 1;
            out.extend_from_slice(&b[..n]);
            n
        };
        assert!(!a.drain(&mut w));
        assert!(a.drain(&mut w));
        assert_eq!(a.owed(), 0);
        assert_eq!(out.len(), 2 * 188);
        assert_eq!(&out[188 + 94..], &[2u8; 94][..]);
        assert_eq!(a.written(), 376);
    }

    #[test]
    fn restart_drops_the_carry() {
        let mut a = Aligned::default();
        a.wrote(100);
        a.stash(&[1u8; 88]);
        a.restart();
        assert_eq!(a.owed(), 0);
        assert!(a.drain(|_| panic!("nothing carried")));
    }

    #[test]
    fn short_rest_is_padded_and_aligned_stream_carries_nothing() {
        let mut a = Aligned::default();
        a.stash(&[7u8; 10]);
        assert!(a.drain(|_| panic!("nothing to write")));
        a.wrote(10);
        a.stash(&[7u8; 5]);
        let mut got = Vec::new();
        assert!(a.drain(|b| {
            got.extend_from_slice(b);
            b.len()
        }));
        assert_eq!(got.len(), 178);
        assert_eq!(&got[..5], &[7u8; 5]);
        assert!(got[5..].iter().all(|&b| b == 0xFF));
        assert_eq!(a.owed(), 0);
    }
}
