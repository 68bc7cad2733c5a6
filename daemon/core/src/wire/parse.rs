//! Parsing datagrams. Every read is length-checked by [`Reader`]; nothing here can panic.

use super::codec::Reader;
use super::*;
use crate::chunk::ChunkFlags;
use crate::ts::PACKET_LEN;
use core::net::{Ipv4Addr, Ipv6Addr};

fn bitmap<'a>(r: &mut Reader<'a>) -> Result<&'a [u8], WireError> {
    let len = usize::from(r.u8()?);
    if len == 0 || len > MAX_MAP {
        return Err(WireError::Length);
    }
    r.bytes(len)
}

fn peer_entry(r: &mut Reader<'_>) -> Result<(SocketAddr, u8), WireError> {
    let ip: core::net::IpAddr = match r.u8()? {
        4 => {
            let b = r.bytes(4)?;
            Ipv4Addr::new(b[0], b[1], b[2], b[3]).into()
        }
        6 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(r.bytes(16)?);
            Ipv6Addr::from(a).into()
        }
        _ => return Err(WireError::Length),
    };
    let port = r.u16()?;
    let flags = r.u8()?;
    Ok((SocketAddr::new(ip, port), flags))
}

/// Entries of a PEERS body already validated by [`Message::parse`].
pub(super) fn peer_entries(raw: &[u8], count: u8) -> impl Iterator<Item = (SocketAddr, u8)> + '_ {
    let mut r = Reader::new(raw);
    (0..count).map_while(move |_| peer_entry(&mut r).ok())
}

impl<'a> Message<'a> {
    /// Parses one datagram.
    pub fn parse(d: &'a [u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(d);
        if r.u8()? != MAGIC {
            return Err(WireError::Magic);
        }
        let kind = r.u8()?;
        let channel = r.u16()?;
        let m = match kind {
            JOIN => {
                let nonce = r.u32()?;
                let flags = r.u16()?;
                let upload_kbps = r.u32()?;
                let len = usize::from(r.u8()?);
                if len == 0 || len > MAX_NAME {
                    return Err(WireError::Length);
                }
                Message::Join {
                    nonce,
                    flags,
                    upload_kbps,
                    name: r.bytes(len)?,
                }
            }
            JOIN_ACK => Message::JoinAck {
                channel,
                nonce: r.u32()?,
                token: r.u32()?,
                live_seq: r.u64()?,
                rap_seq: r.u64()?,
                bitrate_kbps: r.u32()?,
                now_ms: r.u32()?,
                flags: r.u16()?,
            },
            JOIN_NAK => Message::JoinNak {
                nonce: r.u32()?,
                reason: NakReason::from_code(r.u8()?),
            },
            KEEPALIVE => Message::Keepalive {
                channel,
                token: r.u32()?,
                want_seq: r.u64()?,
                flags: r.u8()?,
            },
            LEAVE => Message::Leave {
                channel,
                token: r.u32()?,
            },
            PEERS => {
                let count = r.u8()?;
                if usize::from(count) > MAX_PEERS {
                    return Err(WireError::Length);
                }
                let raw = r.rest();
                let mut check = Reader::new(raw);
                for _ in 0..count {
                    peer_entry(&mut check)?;
                }
                Message::Peers {
                    channel,
                    peers: PeerList { raw, count },
                }
            }
            HELLO => Message::Hello {
                channel,
                nonce: r.u32()?,
                flags: r.u16()?,
                upload_kbps: r.u32()?,
            },
            HELLO_ACK => Message::HelloAck {
                channel,
                nonce: r.u32()?,
                accept: r.u8()? != 0,
            },
            MAP => {
                let token = r.u32()?;
                let base = r.u64()?;
                let delay_us = r.u32()?;
                let flags = r.u8()?;
                let mut src_delay_ms = [0u16; crate::upload::SUBSTREAMS];
                for d in &mut src_delay_ms {
                    *d = r.u16()?;
                }
                let mut hops = [0u8; crate::upload::SUBSTREAMS];
                for h in &mut hops {
                    *h = r.u8()?;
                }
                let mut fresh = [0u16; crate::upload::SUBSTREAMS];
                for f in &mut fresh {
                    *f = r.u16()?;
                }
                Message::Map {
                    channel,
                    token,
                    base,
                    delay_us,
                    flags,
                    src_delay_ms,
                    hops,
                    fresh,
                    map: bitmap(&mut r)?,
                }
            }
            SUBSCRIBE => Message::Subscribe {
                channel,
                token: r.u32()?,
                mask: r.u8()?,
                from_seq: r.u64()?,
            },
            SUB_ACK => Message::SubAck {
                channel,
                token: r.u32()?,
                accepted: r.u8()?,
                refused: r.u8()?,
            },
            CHUNK => {
                let info = ChunkInfo {
                    seq: r.u64()?,
                    flags: ChunkFlags(r.u8()?),
                    key_id: r.u8()?,
                    stamp_ms: r.u32()?,
                };
                let sent_us = r.u32()?;
                let payload = r.rest();
                if payload.is_empty()
                    || payload.len() > CHUNK_MAX
                    || payload.len() % PACKET_LEN != 0
                {
                    return Err(WireError::Length);
                }
                return Ok(Message::Chunk {
                    channel,
                    info,
                    sent_us,
                    payload,
                });
            }
            REQUEST => {
                let token = r.u32()?;
                let base = r.u64()?;
                Message::Request {
                    channel,
                    token,
                    base,
                    map: bitmap(&mut r)?,
                }
            }
            DIR_REQ => Message::DirRequest {
                nonce: r.u32()?,
                page: r.u8()?,
            },
            DIRECTORY => Message::Directory {
                nonce: r.u32()?,
                page: r.u8()?,
                pages: r.u8()?,
                body: r.rest(),
            },
            kind => match nat::parse(kind, d) {
                Some(m) => return m,
                None => match drm::parse(kind, channel, &mut r) {
                    Some(m) => return m,
                    None => return Ok(Message::Unknown { kind }),
                },
            },
        };
        Ok(m)
    }
}
