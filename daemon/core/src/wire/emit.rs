//! Emitting datagrams into caller buffers. Every write is length-checked by [`Writer`].

use super::codec::Writer;
use super::*;
use crate::ts::PACKET_LEN;

fn header(w: &mut Writer<'_>, kind: u8, channel: u16) -> Result<(), WireError> {
    w.u8(MAGIC)?;
    w.u8(kind)?;
    w.u16(channel)
}

fn bitmap(w: &mut Writer<'_>, map: &[u8]) -> Result<(), WireError> {
    if map.is_empty() || map.len() > MAX_MAP {
        return Err(WireError::Length);
    }
    w.u8(map.len() as u8)?; // <= MAX_MAP, checked above
    w.bytes(map)
}

pub(super) fn peers(
    channel: u16,
    peers: &[(SocketAddr, u8)],
    buf: &mut [u8],
) -> Result<usize, WireError> {
    let mut w = Writer::new(buf);
    header(&mut w, PEERS, channel)?;
    let peers = &peers[..peers.len().min(MAX_PEERS)];
    w.u8(peers.len() as u8)?; // <= MAX_PEERS
    for (a, flags) in peers {
        match a {
            SocketAddr::V4(v4) => {
                w.u8(4)?;
                w.bytes(&v4.ip().octets())?;
            }
            SocketAddr::V6(v6) => {
                w.u8(6)?;
                w.bytes(&v6.ip().octets())?;
            }
        }
        w.u16(a.port())?;
        w.u8(*flags)?;
    }
    Ok(w.len())
}

impl Message<'_> {
    /// Writes the message into `buf`; returns the length written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        if let Some(r) = nat::emit(self, buf) {
            return r;
        }
        let mut w = Writer::new(buf);
        match *self {
            Message::Join {
                nonce,
                flags,
                upload_kbps,
                name,
            } => {
                if name.is_empty() || name.len() > MAX_NAME {
                    return Err(WireError::Length);
                }
                header(&mut w, JOIN, 0)?;
                w.u32(nonce)?;
                w.u16(flags)?;
                w.u32(upload_kbps)?;
                w.u8(name.len() as u8)?; // <= MAX_NAME, checked above
                w.bytes(name)?;
            }
            Message::JoinAck {
                channel,
                nonce,
                token,
                live_seq,
                rap_seq,
                bitrate_kbps,
                now_ms,
                flags,
            } => {
                header(&mut w, JOIN_ACK, channel)?;
                w.u32(nonce)?;
                w.u32(token)?;
                w.u64(live_seq)?;
                w.u64(rap_seq)?;
                w.u32(bitrate_kbps)?;
                w.u32(now_ms)?;
                w.u16(flags)?;
            }
            Message::JoinNak { nonce, reason } => {
                header(&mut w, JOIN_NAK, 0)?;
                w.u32(nonce)?;
                w.u8(reason.code())?;
            }
            Message::Keepalive {
                channel,
                token,
                want_seq,
                flags,
            } => {
                header(&mut w, KEEPALIVE, channel)?;
                w.u32(token)?;
                w.u64(want_seq)?;
                w.u8(flags)?;
            }
            Message::Leave { channel, token } => {
                header(&mut w, LEAVE, channel)?;
                w.u32(token)?;
            }
            Message::Peers {
                channel,
                peers: list,
            } => {
                header(&mut w, PEERS, channel)?;
                w.u8(list.count)?;
                w.bytes(list.raw)?;
            }
            Message::Hello {
                channel,
                nonce,
                flags,
                upload_kbps,
            } => {
                header(&mut w, HELLO, channel)?;
                w.u32(nonce)?;
                w.u16(flags)?;
                w.u32(upload_kbps)?;
            }
            Message::HelloAck {
                channel,
                nonce,
                accept,
            } => {
                header(&mut w, HELLO_ACK, channel)?;
                w.u32(nonce)?;
                w.u8(u8::from(accept))?;
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
                map,
            } => {
                header(&mut w, MAP, channel)?;
                w.u32(token)?;
                w.u64(base)?;
                w.u32(delay_us)?;
                w.u8(flags)?;
                for d in src_delay_ms {
                    w.u16(d)?;
                }
                for h in hops {
                    w.u8(h)?;
                }
                for f in fresh {
                    w.u16(f)?;
                }
                bitmap(&mut w, map)?;
            }
            Message::Subscribe {
                channel,
                token,
                mask,
                from_seq,
            } => {
                header(&mut w, SUBSCRIBE, channel)?;
                w.u32(token)?;
                w.u8(mask)?;
                w.u64(from_seq)?;
            }
            Message::SubAck {
                channel,
                token,
                accepted,
                refused,
            } => {
                header(&mut w, SUB_ACK, channel)?;
                w.u32(token)?;
                w.u8(accepted)?;
                w.u8(refused)?;
            }
            Message::Chunk {
                channel,
                info,
                sent_us,
                payload,
            } => {
                if payload.is_empty()
                    || payload.len() > CHUNK_MAX
                    || payload.len() % PACKET_LEN != 0
                {
                    return Err(WireError::Length);
                }
                header(&mut w, CHUNK, channel)?;
                w.u64(info.seq)?;
                w.u8(info.flags.0)?;
                w.u8(info.key_id)?;
                w.u32(info.stamp_ms)?;
                w.u32(sent_us)?;
                w.bytes(payload)?;
            }
            Message::Request {
                channel,
                token,
                base,
                map,
            } => {
                header(&mut w, REQUEST, channel)?;
                w.u32(token)?;
                w.u64(base)?;
                bitmap(&mut w, map)?;
            }
            Message::DirRequest { nonce, page } => {
                header(&mut w, DIR_REQ, 0)?;
                w.u32(nonce)?;
                w.u8(page)?;
            }
            Message::Directory {
                nonce,
                page,
                pages,
                body,
            } => {
                header(&mut w, DIRECTORY, 0)?;
                w.u32(nonce)?;
                w.u8(page)?;
                w.u8(pages)?;
                w.bytes(body)?;
            }
            Message::Unknown { kind } => header(&mut w, kind, 0)?,
            ref m => drm::emit(m, &mut w).unwrap_or(Err(WireError::Length))?,
        }
        Ok(w.len())
    }
}
