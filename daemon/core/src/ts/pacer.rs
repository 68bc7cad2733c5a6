//! PCR pacing: release packets of a stored stream at the rate it was encoded for.
//!
//! A file source is read far faster than real time; the pacer says when each packet is due. The
//! first PCR anchors stream time to wall time; a later PCR is due at `anchor + (pcr - pcr0)/90 kHz`;
//! packets without a PCR go with the PCR before them. A PCR that goes backwards or jumps by more than
//! [`MAX_PCR_GAP_MS`] (a loop of the file, a splice, the 33-bit wrap) re-anchors at the current due
//! time, so the stream continues without a stall or a burst.

use super::packet::Packet;
use crate::time::Instant;
use core::time::Duration;

/// A PCR step larger than this is treated as a discontinuity.
pub const MAX_PCR_GAP_MS: u64 = 1000;

/// Computes release times for packets from their PCRs.
#[derive(Clone, Debug, Default)]
pub struct PcrPacer {
    anchor: Option<(Instant, u64)>,
    last_pcr: u64,
    due: Instant,
    pcr_pid: Option<u16>,
    discontinuities: u64,
}

impl PcrPacer {
    /// A pacer with no anchor: the first packets are due at once.
    pub fn new() -> Self {
        Self::default()
    }

    /// Times the stream's clock was re-anchored.
    pub fn discontinuities(&self) -> u64 {
        self.discontinuities
    }

    /// When `pkt`, the next packet of the stream, may be released. `now` anchors the first PCR.
    pub fn due(&mut self, now: Instant, pkt: &Packet<'_>) -> Instant {
        let Some(pcr) = pkt.pcr_base() else {
            return self.due;
        };
        // Pace on one PID only: the first that carries a PCR.
        match self.pcr_pid {
            Some(pid) if pid != pkt.pid() => return self.due,
            None => self.pcr_pid = Some(pkt.pid()),
            _ => {}
        }
        match self.anchor {
            None => {
                self.anchor = Some((now, pcr));
                self.due = now;
            }
            Some((t0, p0)) => {
                let step = pcr.wrapping_sub(self.last_pcr);
                if pcr < self.last_pcr || step > MAX_PCR_GAP_MS * 90 {
                    self.discontinuities += 1;
                    self.anchor = Some((self.due, pcr));
                } else {
                    self.due = t0 + Duration::from_micros((pcr - p0) * 100 / 9);
                }
            }
        }
        self.last_pcr = pcr;
        self.due
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ts::PACKET_LEN;

    fn pcr_packet(pcr: u64) -> [u8; PACKET_LEN] {
        let mut b = [0xFF; PACKET_LEN];
        b[..4].copy_from_slice(&[0x47, 0x01, 0x00, 0x30]);
        b[4] = 7;
        b[5] = 0x10;
        b[6] = (pcr >> 25) as u8;
        b[7] = (pcr >> 17) as u8;
        b[8] = (pcr >> 9) as u8;
        b[9] = (pcr >> 1) as u8;
        b[10] = ((pcr & 1) << 7) as u8 | 0x7E;
        b[11] = 0;
        b
    }

    #[test]
    fn paces_and_reanchors_on_loop() {
        let mut p = PcrPacer::new();
        let t = Instant::from_millis(1000);
        let a = pcr_packet(90_000);
        assert_eq!(p.due(t, &Packet::new(&a).unwrap()), t);
        let b = pcr_packet(90_000 + 9_000); // +100 ms
        assert_eq!(
            p.due(t, &Packet::new(&b).unwrap()),
            Instant::from_millis(1100)
        );
        // The file loops: PCR goes back. Due time holds, then continues from there.
        let c = pcr_packet(90_000);
        assert_eq!(
            p.due(t, &Packet::new(&c).unwrap()),
            Instant::from_millis(1100)
        );
        let d = pcr_packet(90_000 + 4_500);
        assert_eq!(
            p.due(t, &Packet::new(&d).unwrap()),
            Instant::from_millis(1150)
        );
        assert_eq!(p.discontinuities(), 1);
    }
}
