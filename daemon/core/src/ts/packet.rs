//! A checked view of one TS packet.
//!
//! Invariant: a [`Packet`] always wraps exactly [`PACKET_LEN`] bytes starting with the sync byte,
//! so no accessor can index out of bounds; a malformed adaptation field yields an empty payload
//! rather than a panic.

use super::{PACKET_LEN, SYNC_BYTE};

/// One 188-byte transport stream packet.
#[derive(Copy, Clone, Debug)]
pub struct Packet<'a> {
    b: &'a [u8; PACKET_LEN],
}

/// Why bytes are not a packet.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PacketError {
    /// Not exactly 188 bytes.
    Length,
    /// First byte is not 0x47.
    Sync,
}

impl<'a> Packet<'a> {
    /// Checks length and sync byte.
    pub fn new(bytes: &'a [u8]) -> Result<Self, PacketError> {
        let b: &[u8; PACKET_LEN] = bytes.try_into().map_err(|_| PacketError::Length)?;
        if b[0] != SYNC_BYTE {
            return Err(PacketError::Sync);
        }
        Ok(Packet { b })
    }

    /// The raw 188 bytes.
    pub fn bytes(&self) -> &'a [u8; PACKET_LEN] {
        self.b
    }

    /// transport_error_indicator.
    pub fn transport_error(&self) -> bool {
        self.b[1] & 0x80 != 0
    }

    /// payload_unit_start_indicator: a PES packet or PSI section starts here.
    pub fn payload_start(&self) -> bool {
        self.b[1] & 0x40 != 0
    }

    /// The 13-bit packet identifier.
    pub fn pid(&self) -> u16 {
        u16::from_be_bytes([self.b[1] & 0x1F, self.b[2]])
    }

    /// continuity_counter.
    pub fn continuity(&self) -> u8 {
        self.b[3] & 0x0F
    }

    fn has_adaptation(&self) -> bool {
        self.b[3] & 0x20 != 0
    }

    fn has_payload(&self) -> bool {
        self.b[3] & 0x10 != 0
    }

    /// Adaptation field body (after its length byte), empty if absent or malformed.
    fn adaptation(&self) -> &'a [u8] {
        if !self.has_adaptation() {
            return &[];
        }
        let len = self.b[4] as usize;
        if len == 0 || 5 + len > PACKET_LEN {
            return &[];
        }
        &self.b[5..5 + len]
    }

    /// random_access_indicator from the adaptation field.
    pub fn random_access(&self) -> bool {
        self.adaptation().first().is_some_and(|f| f & 0x40 != 0)
    }

    /// discontinuity_indicator from the adaptation field.
    pub fn discontinuity(&self) -> bool {
        self.adaptation().first().is_some_and(|f| f & 0x80 != 0)
    }

    /// Program clock reference base (90 kHz units, 33 bits) if this packet carries one.
    pub fn pcr_base(&self) -> Option<u64> {
        let a = self.adaptation();
        if a.len() < 7 || a[0] & 0x10 == 0 {
            return None;
        }
        let base = (u64::from(a[1]) << 25)
            | (u64::from(a[2]) << 17)
            | (u64::from(a[3]) << 9)
            | (u64::from(a[4]) << 1)
            | (u64::from(a[5]) >> 7);
        Some(base)
    }

    /// The payload bytes after header and adaptation field (empty if none or malformed).
    pub fn payload(&self) -> &'a [u8] {
        if !self.has_payload() {
            return &[];
        }
        let start = if self.has_adaptation() {
            5 + self.b[4] as usize
        } else {
            4
        };
        if start >= PACKET_LEN {
            return &[];
        }
        &self.b[start..]
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A packet on `pid` with optional adaptation flags byte and payload filled with `fill`.
    pub(crate) fn make(
        pid: u16,
        pusi: bool,
        af_flags: Option<u8>,
        cc: u8,
        fill: u8,
    ) -> [u8; PACKET_LEN] {
        let mut p = [fill; PACKET_LEN];
        p[0] = SYNC_BYTE;
        p[1] = ((pid >> 8) as u8 & 0x1F) | if pusi { 0x40 } else { 0 };
        p[2] = pid as u8;
        p[3] = 0x10 | (cc & 0x0F);
        if let Some(f) = af_flags {
            p[3] |= 0x20;
            p[4] = 1;
            p[5] = f;
        }
        p
    }

    #[test]
    fn header_fields_from_literal() {
        // PID 0x0100, PUSI, adaptation (RAI + PCR) and payload, CC 7.
        let mut b = [0xFFu8; PACKET_LEN];
        b[..12].copy_from_slice(&[
            0x47, 0x41, 0x00, 0x37, 0x07, 0x50, 0x00, 0x00, 0x00, 0x01, 0x80, 0x00,
        ]);
        let p = Packet::new(&b).unwrap();
        assert!(p.payload_start());
        assert!(!p.transport_error());
        assert_eq!(p.pid(), 0x100);
        assert_eq!(p.continuity(), 7);
        assert!(p.random_access());
        assert!(!p.discontinuity());
        assert_eq!(p.pcr_base(), Some(3)); // 0x00000001 << 1 | 1
        assert_eq!(p.payload().len(), PACKET_LEN - 12);
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(Packet::new(&[0x47; 10]).unwrap_err(), PacketError::Length);
        assert_eq!(
            Packet::new(&[0u8; PACKET_LEN]).unwrap_err(),
            PacketError::Sync
        );
        // Adaptation length beyond the packet: empty adaptation and payload, no panic.
        let mut b = make(0x100, true, Some(0x40), 0, 0);
        b[4] = 250;
        let p = Packet::new(&b).unwrap();
        assert!(!p.random_access());
        assert!(p.payload().is_empty());
    }
}
