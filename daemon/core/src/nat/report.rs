//! REPORT (box → root, type 0x23): what a box knows about its own address, so the root can
//! introduce it for hole punching ([`super::punch`]).
//!
//! Wire (after the tvmesh 4-byte header): `token u32, nat u8, flags u8, private addr` (the
//! address encoding of [`super::punch`]: `family u8 (0 none / 4 / 6), address, port u16`; flags
//! bit 0 [`REPORT_REACHABLE`]: the box takes greetings, its `reachable` setting). `token` is the
//! box's root session token, so the root acts only on a REPORT from the address the session
//! belongs to; an answer to it is never sent (no amplification). `nat` is the box's own RFC 5780
//! classification ([`NatCode`]); the root also compares `private` with the address it sees, so
//! it knows a box sits behind a NAT before the box has classified: a box is offered to others
//! (PEERS) only when it takes greetings and either its host address is the one the root sees or
//! its NAT lets anyone in (full cone).
//!
//! Invariants: parsing checks every length and never panics; no allocation.

use super::classify::{Filtering, Mapping, NatReport};
use super::punch::{get_addr, put_addr, PunchError};
use crate::wire::MAGIC;
use core::net::SocketAddr;

/// REPORT message type.
pub const TYPE_REPORT: u8 = 0x23;
/// REPORT flag: the box takes greetings (not configured unreachable).
pub const REPORT_REACHABLE: u8 = 0x01;

/// The box's NAT as one byte.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum NatCode {
    /// Not classified (yet).
    Unknown,
    /// No NAT: the host address is the public one.
    Open,
    /// Endpoint-independent mapping and filtering: anyone may send in.
    FullCone,
    /// Endpoint-independent mapping, filtering on the remote address (and port).
    Cone,
    /// Address(-port)-dependent mapping: every peer sees another port.
    Symmetric,
    /// A code this version does not know.
    Other(u8),
}

impl NatCode {
    /// The wire byte.
    pub fn code(self) -> u8 {
        match self {
            NatCode::Unknown => 0,
            NatCode::Open => 1,
            NatCode::FullCone => 2,
            NatCode::Cone => 3,
            NatCode::Symmetric => 4,
            NatCode::Other(c) => c,
        }
    }

    /// From the wire byte.
    pub fn from_code(c: u8) -> NatCode {
        match c {
            0 => NatCode::Unknown,
            1 => NatCode::Open,
            2 => NatCode::FullCone,
            3 => NatCode::Cone,
            4 => NatCode::Symmetric,
            c => NatCode::Other(c),
        }
    }

    /// From a classifier report.
    pub fn of(r: &NatReport) -> NatCode {
        match (r.mapping, r.filtering) {
            (Mapping::Open, _) => NatCode::Open,
            (Mapping::Independent, Filtering::Independent | Filtering::Open) => NatCode::FullCone,
            (Mapping::Independent, _) => NatCode::Cone,
            (Mapping::AddressDependent | Mapping::AddressPortDependent, _) => NatCode::Symmetric,
            _ => NatCode::Unknown,
        }
    }

    /// Whether anyone can start a conversation with the box (no NAT, or a full cone).
    pub fn inbound_open(self) -> bool {
        matches!(self, NatCode::Open | NatCode::FullCone)
    }
}

/// A box's REPORT.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The box's root session token.
    pub token: u32,
    /// Its own classification.
    pub nat: NatCode,
    /// Its host address on the data socket (what a box behind the same NAT can reach).
    pub private: Option<SocketAddr>,
    /// It takes greetings where its NAT lets them in ([`REPORT_REACHABLE`]).
    pub reachable: bool,
}

impl Report {
    /// Writes the whole datagram (header + body); returns its length.
    pub fn encode(&self, channel: u16, buf: &mut [u8]) -> Result<usize, PunchError> {
        let b = buf.get_mut(..10).ok_or(PunchError::Buffer)?;
        b[..2].copy_from_slice(&[MAGIC, TYPE_REPORT]);
        b[2..4].copy_from_slice(&channel.to_be_bytes());
        b[4..8].copy_from_slice(&self.token.to_be_bytes());
        b[8] = self.nat.code();
        b[9] = if self.reachable { REPORT_REACHABLE } else { 0 };
        let n = put_addr(buf.get_mut(10..).ok_or(PunchError::Buffer)?, self.private)?;
        Ok(10 + n)
    }

    /// Parses a whole REPORT datagram.
    pub fn parse(d: &[u8]) -> Result<Report, PunchError> {
        if d.len() < 4 || d[0] != MAGIC || d[1] != TYPE_REPORT {
            return Err(PunchError::Type);
        }
        let b = d.get(4..10).ok_or(PunchError::Truncated)?;
        let (private, _) = get_addr(&d[10..])?;
        Ok(Report {
            token: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            nat: NatCode::from_code(b[4]),
            private,
            reachable: b[5] & REPORT_REACHABLE != 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_bytes() {
        let r = Report {
            token: 0x0A0B_0C0D,
            nat: NatCode::Cone,
            private: Some("198.51.100.34:4000".parse().unwrap()),
            reachable: true,
        };
        let mut b = [0u8; 64];
        let n = r.encode(7, &mut b).unwrap();
        #[rustfmt::skip]
        let want = [
            0xC1, 0x23, 0x00, 0x07,
            0x0A, 0x0B, 0x0C, 0x0D, 0x03, 0x01,
            0x04, 198, 51, 100, 34, 0x0F, 0xA0,
        ];
        assert_eq!(b[..n], want);
        assert_eq!(Report::parse(&want), Ok(r));
        for cut in 0..want.len() {
            assert!(Report::parse(&want[..cut]).is_err(), "cut at {cut}");
        }
        let none = Report {
            private: None,
            nat: NatCode::Other(9),
            reachable: false,
            ..r
        };
        let n = none.encode(0, &mut b).unwrap();
        assert_eq!(b[..n], [0xC1, 0x23, 0, 0, 0x0A, 0x0B, 0x0C, 0x0D, 9, 0, 0]);
        assert_eq!(Report::parse(&b[..n]), Ok(none));
        assert_eq!(r.encode(7, &mut b[..13]), Err(PunchError::Buffer));
        assert_eq!(Report::parse(&[0xC1, 0x21, 0, 0]), Err(PunchError::Type));
    }

    #[test]
    fn codes_roundtrip() {
        for c in 0..=255u8 {
            assert_eq!(NatCode::from_code(c).code(), c);
        }
        assert!(NatCode::FullCone.inbound_open() && !NatCode::Cone.inbound_open());
    }
}
