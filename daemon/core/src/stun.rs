//! STUN (RFC 8489) Binding, just what tvmesh needs: a root answers Binding requests on its data
//! port, boxes learn their public address on the socket they use for data, and RFC 5780's
//! CHANGE-REQUEST / OTHER-ADDRESS / RESPONSE-ORIGIN let a box classify its NAT.
//!
//! STUN and tvmesh share a port: STUN's first byte is 0x00–0x03 and bytes 4..8 are the magic
//! cookie ([`is_stun`]); tvmesh datagrams start with 0xC1.
//!
//! Invariants: parsing checks the header length against the datagram, every attribute length
//! against what remains, and the FINGERPRINT when present; nothing can panic or read out of
//! bounds. MESSAGE-INTEGRITY is skipped (a Binding needs no credentials). Emitting checks the
//! buffer. No allocation.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The magic cookie.
pub const COOKIE: u32 = 0x2112_A442;
/// Header length.
pub const HEADER: usize = 20;
const BINDING: u16 = 0x0001;
const XOR_MAPPED_ADDRESS: u16 = 0x0020;
const MAPPED_ADDRESS: u16 = 0x0001;
const CHANGE_REQUEST: u16 = 0x0003;
const PADDING: u16 = 0x0026;
const RESPONSE_ORIGIN: u16 = 0x802B;
const OTHER_ADDRESS: u16 = 0x802C;
const FINGERPRINT: u16 = 0x8028;
const FINGERPRINT_XOR: u32 = 0x5354_554E;

/// Why bytes are not a usable STUN message, or a message does not fit.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum StunError {
    /// Not STUN (first bits, cookie) or shorter than the header.
    NotStun,
    /// Length field or an attribute runs past the datagram.
    Length,
    /// FINGERPRINT present but wrong.
    Fingerprint,
    /// Output buffer too small.
    Buffer,
}

/// Message class.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Class {
    /// A request.
    Request,
    /// An indication.
    Indication,
    /// A success response.
    Success,
    /// An error response.
    Error,
}

/// Whether a datagram is (probably) STUN: top two bits zero, the cookie in place.
pub fn is_stun(d: &[u8]) -> bool {
    d.len() >= HEADER && d[0] & 0xC0 == 0 && d[4..8] == COOKIE.to_be_bytes()
}

/// A parsed STUN message borrowing the datagram.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Stun<'a> {
    /// Method (0x001 = Binding).
    pub method: u16,
    /// Class.
    pub class: Class,
    /// Transaction id.
    pub txid: [u8; 12],
    attrs: &'a [u8],
}

impl<'a> Stun<'a> {
    /// Parses and checks a STUN message (FINGERPRINT verified when present).
    pub fn parse(d: &'a [u8]) -> Result<Self, StunError> {
        if !is_stun(d) {
            return Err(StunError::NotStun);
        }
        let ty = u16::from_be_bytes([d[0], d[1]]);
        let len = usize::from(u16::from_be_bytes([d[2], d[3]]));
        if len % 4 != 0 || HEADER + len > d.len() {
            return Err(StunError::Length);
        }
        let method = (ty & 0x000F) | ((ty & 0x00E0) >> 1) | ((ty & 0x3E00) >> 2);
        let class = match ((ty >> 7) & 0x2) | ((ty >> 4) & 0x1) {
            0 => Class::Request,
            1 => Class::Indication,
            2 => Class::Success,
            _ => Class::Error,
        };
        let mut txid = [0u8; 12];
        txid.copy_from_slice(&d[8..20]);
        let msg = Stun {
            method,
            class,
            txid,
            attrs: &d[HEADER..HEADER + len],
        };
        // Walk every attribute once: lengths in bounds, FINGERPRINT last and correct.
        let mut off = 0;
        for (t, v) in msg.attributes() {
            let next = off + 4 + v.len().next_multiple_of(4);
            if t == FINGERPRINT {
                if next != len || v.len() != 4 {
                    return Err(StunError::Fingerprint);
                }
                let want = crc32(&d[..HEADER + off]) ^ FINGERPRINT_XOR;
                if u32::from_be_bytes([v[0], v[1], v[2], v[3]]) != want {
                    return Err(StunError::Fingerprint);
                }
            }
            off = next;
        }
        if off != len {
            return Err(StunError::Length);
        }
        Ok(msg)
    }

    /// Whether this is a Binding request.
    pub fn is_binding_request(&self) -> bool {
        self.method == BINDING && self.class == Class::Request
    }

    /// Attributes as (type, value), stopping at the first malformed one.
    pub fn attributes(&self) -> impl Iterator<Item = (u16, &'a [u8])> + 'a {
        let mut rest = self.attrs;
        core::iter::from_fn(move || {
            if rest.len() < 4 {
                return None;
            }
            let t = u16::from_be_bytes([rest[0], rest[1]]);
            let l = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
            let padded = l.next_multiple_of(4);
            if 4 + padded > rest.len() {
                rest = &[];
                return None;
            }
            let v = &rest[4..4 + l];
            rest = &rest[4 + padded..];
            Some((t, v))
        })
    }

    fn attr(&self, ty: u16) -> Option<&'a [u8]> {
        self.attributes().find(|(t, _)| *t == ty).map(|(_, v)| v)
    }

    /// XOR-MAPPED-ADDRESS (or, from old servers, MAPPED-ADDRESS): our address as the server saw it.
    pub fn mapped(&self) -> Option<SocketAddr> {
        self.attr(XOR_MAPPED_ADDRESS)
            .and_then(|v| address(v, Some(&self.txid)))
            .or_else(|| self.attr(MAPPED_ADDRESS).and_then(|v| address(v, None)))
    }

    /// OTHER-ADDRESS (RFC 5780): the server's alternate address.
    pub fn other_address(&self) -> Option<SocketAddr> {
        self.attr(OTHER_ADDRESS).and_then(|v| address(v, None))
    }

    /// RESPONSE-ORIGIN (RFC 5780): where the response was sent from.
    pub fn response_origin(&self) -> Option<SocketAddr> {
        self.attr(RESPONSE_ORIGIN).and_then(|v| address(v, None))
    }

    /// CHANGE-REQUEST (RFC 5780): (change IP, change port).
    pub fn change_request(&self) -> Option<(bool, bool)> {
        let v = self.attr(CHANGE_REQUEST)?;
        let f = *v.get(3)?;
        Some((f & 0x4 != 0, f & 0x2 != 0))
    }
}

/// Decodes a (XOR-)MAPPED-ADDRESS-style value; `txid` given means XOR-encoded.
fn address(v: &[u8], txid: Option<&[u8; 12]>) -> Option<SocketAddr> {
    if v.len() < 8 {
        return None;
    }
    let c = COOKIE.to_be_bytes();
    let mut port = u16::from_be_bytes([v[2], v[3]]);
    if txid.is_some() {
        port ^= (COOKIE >> 16) as u16;
    }
    let ip = match (v[1], v.len()) {
        (1, 8) => {
            let mut a = [v[4], v[5], v[6], v[7]];
            if txid.is_some() {
                for (b, k) in a.iter_mut().zip(c) {
                    *b ^= k;
                }
            }
            IpAddr::V4(Ipv4Addr::from(a))
        }
        (2, 20) => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&v[4..20]);
            if let Some(t) = txid {
                let key: [u8; 16] = core::array::from_fn(|i| if i < 4 { c[i] } else { t[i - 4] });
                for (b, k) in a.iter_mut().zip(key) {
                    *b ^= k;
                }
            }
            IpAddr::V6(Ipv6Addr::from(a))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Builds STUN messages in a caller buffer.
pub struct Builder<'b> {
    buf: &'b mut [u8],
    len: usize,
    txid: [u8; 12],
}

impl<'b> Builder<'b> {
    /// A message of `class` for the Binding method.
    pub fn binding(class: Class, txid: [u8; 12], buf: &'b mut [u8]) -> Result<Self, StunError> {
        if buf.len() < HEADER {
            return Err(StunError::Buffer);
        }
        let ty: u16 = match class {
            Class::Request => 0x0001,
            Class::Indication => 0x0011,
            Class::Success => 0x0101,
            Class::Error => 0x0111,
        };
        buf[0..2].copy_from_slice(&ty.to_be_bytes());
        buf[2..4].copy_from_slice(&[0, 0]);
        buf[4..8].copy_from_slice(&COOKIE.to_be_bytes());
        buf[8..20].copy_from_slice(&txid);
        Ok(Builder {
            buf,
            len: HEADER,
            txid,
        })
    }

    fn attr(
        &mut self,
        ty: u16,
        value_len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<&mut Self, StunError> {
        let padded = value_len.next_multiple_of(4);
        let end = self.len + 4 + padded;
        if end > self.buf.len() || end - HEADER > usize::from(u16::MAX) {
            return Err(StunError::Buffer);
        }
        self.buf[self.len..self.len + 2].copy_from_slice(&ty.to_be_bytes());
        self.buf[self.len + 2..self.len + 4].copy_from_slice(&(value_len as u16).to_be_bytes());
        self.buf[self.len + 4..end].fill(0);
        fill(&mut self.buf[self.len + 4..self.len + 4 + value_len]);
        self.len = end;
        let l = (self.len - HEADER) as u16;
        self.buf[2..4].copy_from_slice(&l.to_be_bytes());
        Ok(self)
    }

    fn address_attr(&mut self, ty: u16, a: SocketAddr, xor: bool) -> Result<&mut Self, StunError> {
        let c = COOKIE.to_be_bytes();
        let txid = self.txid;
        let (fam, n) = if a.is_ipv4() { (1u8, 8) } else { (2u8, 20) };
        self.attr(ty, n, |v| {
            v[1] = fam;
            let port = if xor {
                a.port() ^ (COOKIE >> 16) as u16
            } else {
                a.port()
            };
            v[2..4].copy_from_slice(&port.to_be_bytes());
            match a.ip() {
                IpAddr::V4(ip) => {
                    let mut o = ip.octets();
                    if xor {
                        for (b, k) in o.iter_mut().zip(c) {
                            *b ^= k;
                        }
                    }
                    v[4..8].copy_from_slice(&o);
                }
                IpAddr::V6(ip) => {
                    let mut o = ip.octets();
                    if xor {
                        let key: [u8; 16] =
                            core::array::from_fn(|i| if i < 4 { c[i] } else { txid[i - 4] });
                        for (b, k) in o.iter_mut().zip(key) {
                            *b ^= k;
                        }
                    }
                    v[4..20].copy_from_slice(&o);
                }
            }
        })
    }

    /// XOR-MAPPED-ADDRESS.
    pub fn xor_mapped(&mut self, a: SocketAddr) -> Result<&mut Self, StunError> {
        self.address_attr(XOR_MAPPED_ADDRESS, a, true)
    }

    /// OTHER-ADDRESS (RFC 5780).
    pub fn other_address(&mut self, a: SocketAddr) -> Result<&mut Self, StunError> {
        self.address_attr(OTHER_ADDRESS, a, false)
    }

    /// RESPONSE-ORIGIN (RFC 5780).
    pub fn response_origin(&mut self, a: SocketAddr) -> Result<&mut Self, StunError> {
        self.address_attr(RESPONSE_ORIGIN, a, false)
    }

    /// CHANGE-REQUEST (RFC 5780).
    pub fn change_request(&mut self, ip: bool, port: bool) -> Result<&mut Self, StunError> {
        self.attr(CHANGE_REQUEST, 4, |v| {
            v[3] = (u8::from(ip) << 2) | (u8::from(port) << 1)
        })
    }

    /// PADDING (RFC 5780) of `n` zero bytes: makes a request as large as the answer it asks for,
    /// so a server that never amplifies can answer at once.
    pub fn padding(&mut self, n: usize) -> Result<&mut Self, StunError> {
        self.attr(PADDING, n, |_| {})
    }

    /// Appends FINGERPRINT and returns the message length.
    pub fn finish_with_fingerprint(&mut self) -> Result<usize, StunError> {
        let at = self.len;
        // The length field must already count the fingerprint when the CRC is computed.
        let l = (at + 8 - HEADER) as u16;
        if at + 8 > self.buf.len() {
            return Err(StunError::Buffer);
        }
        self.buf[2..4].copy_from_slice(&l.to_be_bytes());
        let crc = crc32(&self.buf[..at]) ^ FINGERPRINT_XOR;
        self.attr(FINGERPRINT, 4, |v| v.copy_from_slice(&crc.to_be_bytes()))?;
        Ok(self.len)
    }

    /// The message length without a fingerprint.
    pub fn finish(&mut self) -> usize {
        self.len
    }
}

const CRC_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// CRC-32 (ISO-HDLC), as FINGERPRINT uses.
pub fn crc32(d: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in d {
        c = CRC_TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
    }
    !c
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 5769 §2.2, sample IPv4 response (SOFTWARE, XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY,
    /// FINGERPRINT).
    const RFC5769_V4_RESPONSE: [u8; 80] = [
        0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6,
        0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74, 0x20, 0x76,
        0x65, 0x63, 0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01, 0xa1, 0x47, 0xe1,
        0x12, 0xa6, 0x43, 0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99, 0xfd, 0x9e, 0x90, 0xc3,
        0x8c, 0x74, 0x89, 0xf9, 0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7, 0x80, 0x28, 0x00,
        0x04, 0xc0, 0x7d, 0x4c, 0x96,
    ];

    #[test]
    fn rfc5769_ipv4_response() {
        let m = Stun::parse(&RFC5769_V4_RESPONSE).expect("valid, fingerprint checks");
        assert_eq!(m.class, Class::Success);
        assert_eq!(m.method, BINDING);
        assert_eq!(m.mapped(), Some("192.0.2.1:32853".parse().unwrap()));
        let mut bad = RFC5769_V4_RESPONSE;
        bad[47] ^= 1;
        assert_eq!(Stun::parse(&bad), Err(StunError::Fingerprint));
    }

    #[test]
    fn request_and_response_roundtrip() {
        let txid = [7u8; 12];
        let mut buf = [0u8; 128];
        let n = Builder::binding(Class::Request, txid, &mut buf)
            .unwrap()
            .change_request(true, false)
            .unwrap()
            .finish_with_fingerprint()
            .unwrap();
        assert_eq!(&buf[..4], &[0x00, 0x01, 0x00, 0x10]);
        let m = Stun::parse(&buf[..n]).unwrap();
        assert!(m.is_binding_request());
        assert_eq!(m.change_request(), Some((true, false)));
        let a: SocketAddr = "203.0.113.9:4242".parse().unwrap();
        let o: SocketAddr = "198.51.100.2:3479".parse().unwrap();
        let n = Builder::binding(Class::Success, txid, &mut buf)
            .unwrap()
            .xor_mapped(a)
            .unwrap()
            .other_address(o)
            .unwrap()
            .finish_with_fingerprint()
            .unwrap();
        let m = Stun::parse(&buf[..n]).unwrap();
        assert_eq!((m.mapped(), m.other_address()), (Some(a), Some(o)));
        let a6: SocketAddr = "[2001:db8::7]:9".parse().unwrap();
        let n = Builder::binding(Class::Success, txid, &mut buf)
            .unwrap()
            .xor_mapped(a6)
            .unwrap()
            .finish();
        assert_eq!(Stun::parse(&buf[..n]).unwrap().mapped(), Some(a6));
    }

    #[test]
    fn garbage_is_rejected_without_panic() {
        assert!(!is_stun(&[0xC1, 0x10, 0, 0]));
        assert_eq!(Stun::parse(&[0u8; 10]), Err(StunError::NotStun));
        let mut d = [0u8; 24];
        d[4..8].copy_from_slice(&COOKIE.to_be_bytes());
        d[3] = 8; // claims 8 bytes of attributes, has 4
        assert_eq!(Stun::parse(&d), Err(StunError::Length));
        d[3] = 4;
        d[20..24].copy_from_slice(&[0x00, 0x20, 0x00, 0x40]); // attribute longer than the message
        assert_eq!(Stun::parse(&d), Err(StunError::Length));
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(mut bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            if bytes.len() >= 8 {
                bytes[0] &= 0x3F;
                bytes[4..8].copy_from_slice(&COOKIE.to_be_bytes());
            }
            if let Ok(m) = Stun::parse(&bytes) {
                let _ = (m.mapped(), m.other_address(), m.response_origin(), m.change_request());
            }
        }
    }
}
