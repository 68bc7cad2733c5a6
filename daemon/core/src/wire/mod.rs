//! The tvmesh datagram format, version 1.
//!
//! Every datagram starts with a 4-byte header: `magic (0xC1) | type | channel (u16)`, big-endian.
//! The magic byte's top bits are `11`, so tvmesh shares a UDP port with STUN (first byte 0..=3,
//! RFC 7983) without ambiguity. Messages:
//!
//! | type | name      | body after the header |
//! |------|-----------|------------------------|
//! | 0x01 | JOIN      | nonce u32, flags u16, name_len u8, name |
//! | 0x02 | JOIN_ACK  | nonce u32, token u32, live_seq u64, rap_seq u64, bitrate_kbps u32, flags u16 |
//! | 0x03 | JOIN_NAK  | nonce u32, reason u8 |
//! | 0x04 | KEEPALIVE | token u32, want_seq u64 |
//! | 0x05 | LEAVE     | token u32 |
//! | 0x10 | CHUNK     | seq u64, flags u8, key_id u8, stamp_ms u32, payload (n × 188 bytes, n ≤ 7) |
//! | 0x11 | REQUEST   | token u32, base u64, map_len u8, map (bit i of byte i/8, LSB first: base+i) |
//!
//! Room to grow without a redesign: CHUNK carries a key id and an ENCRYPTED flag for DRM; a signed
//! manifest per segment of chunks is a new message type; unknown types parse as
//! [`Message::Unknown`] and are ignored by receivers. Parsing checks every length before reading,
//! so no input can make it panic; emitting checks the buffer and returns [`WireError::Buffer`].

mod codec;
#[cfg(test)]
mod tests;

use crate::chunk::{ChunkFlags, ChunkInfo, CHUNK_MAX};
use crate::ts::PACKET_LEN;
use codec::{Reader, Writer};

/// First byte of every tvmesh datagram (version 1).
pub const MAGIC: u8 = 0xC1;
/// Common header length.
pub const HEADER_LEN: usize = 4;
/// CHUNK header length (common header included).
pub const CHUNK_HEADER_LEN: usize = HEADER_LEN + 14;
/// Largest datagram tvmesh sends.
pub const MAX_DATAGRAM: usize = CHUNK_HEADER_LEN + CHUNK_MAX;
/// Longest channel name.
pub const MAX_NAME: usize = 64;
/// Longest REQUEST bitmap, in bytes (512 chunks).
pub const MAX_MAP: usize = 64;

/// Why bytes are not a valid message, or a message does not fit a buffer.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum WireError {
    /// Shorter than its fields require.
    Truncated,
    /// First byte is not [`MAGIC`].
    Magic,
    /// A length field is out of range (name, map, payload not whole packets).
    Length,
    /// The output buffer is too small.
    Buffer,
}

/// Why a root refused a JOIN.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum NakReason {
    /// No channel by that name.
    UnknownChannel,
    /// The root has no room for another box.
    Full,
    /// A reason this version does not know.
    Other(u8),
}

impl NakReason {
    fn code(self) -> u8 {
        match self {
            NakReason::UnknownChannel => 1,
            NakReason::Full => 2,
            NakReason::Other(c) => c,
        }
    }
    fn from_code(c: u8) -> Self {
        match c {
            1 => NakReason::UnknownChannel,
            2 => NakReason::Full,
            c => NakReason::Other(c),
        }
    }
}

/// A parsed datagram. Borrowed fields point into the datagram; fields are described in the
/// module table.
#[allow(missing_docs)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// A box asks to watch a channel by name.
    Join {
        nonce: u32,
        flags: u16,
        name: &'a [u8],
    },
    /// The root accepts: the channel's id, the box's session token, and where the stream is.
    JoinAck {
        channel: u16,
        nonce: u32,
        token: u32,
        live_seq: u64,
        rap_seq: u64,
        bitrate_kbps: u32,
        flags: u16,
    },
    /// The root refuses.
    JoinNak { nonce: u32, reason: NakReason },
    /// The box is alive and wants chunks pushed from `want_seq` on. Proves it received the token.
    Keepalive {
        channel: u16,
        token: u32,
        want_seq: u64,
    },
    /// The box leaves.
    Leave { channel: u16, token: u32 },
    /// One chunk of the stream.
    Chunk {
        channel: u16,
        info: ChunkInfo,
        payload: &'a [u8],
    },
    /// The box asks again for chunks it misses.
    Request {
        channel: u16,
        token: u32,
        base: u64,
        map: &'a [u8],
    },
    /// A type this version does not know (ignored by receivers).
    Unknown { kind: u8 },
}

const JOIN: u8 = 0x01;
const JOIN_ACK: u8 = 0x02;
const JOIN_NAK: u8 = 0x03;
const KEEPALIVE: u8 = 0x04;
const LEAVE: u8 = 0x05;
const CHUNK: u8 = 0x10;
const REQUEST: u8 = 0x11;

/// Whether a datagram looks like tvmesh (for demultiplexing a shared port).
pub fn is_tvmesh(datagram: &[u8]) -> bool {
    datagram.first() == Some(&MAGIC)
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
                let len = usize::from(r.u8()?);
                if len == 0 || len > MAX_NAME {
                    return Err(WireError::Length);
                }
                Message::Join {
                    nonce,
                    flags,
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
            },
            LEAVE => Message::Leave {
                channel,
                token: r.u32()?,
            },
            CHUNK => {
                let info = ChunkInfo {
                    seq: r.u64()?,
                    flags: ChunkFlags(r.u8()?),
                    key_id: r.u8()?,
                    stamp_ms: r.u32()?,
                };
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
                    payload,
                });
            }
            REQUEST => {
                let token = r.u32()?;
                let base = r.u64()?;
                let len = usize::from(r.u8()?);
                if len == 0 || len > MAX_MAP {
                    return Err(WireError::Length);
                }
                Message::Request {
                    channel,
                    token,
                    base,
                    map: r.bytes(len)?,
                }
            }
            kind => return Ok(Message::Unknown { kind }),
        };
        Ok(m)
    }

    /// Writes the message into `buf`; returns the length written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let mut w = Writer::new(buf);
        w.u8(MAGIC)?;
        match *self {
            Message::Join { nonce, flags, name } => {
                if name.is_empty() || name.len() > MAX_NAME {
                    return Err(WireError::Length);
                }
                w.u8(JOIN)?;
                w.u16(0)?;
                w.u32(nonce)?;
                w.u16(flags)?;
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
                flags,
            } => {
                w.u8(JOIN_ACK)?;
                w.u16(channel)?;
                w.u32(nonce)?;
                w.u32(token)?;
                w.u64(live_seq)?;
                w.u64(rap_seq)?;
                w.u32(bitrate_kbps)?;
                w.u16(flags)?;
            }
            Message::JoinNak { nonce, reason } => {
                w.u8(JOIN_NAK)?;
                w.u16(0)?;
                w.u32(nonce)?;
                w.u8(reason.code())?;
            }
            Message::Keepalive {
                channel,
                token,
                want_seq,
            } => {
                w.u8(KEEPALIVE)?;
                w.u16(channel)?;
                w.u32(token)?;
                w.u64(want_seq)?;
            }
            Message::Leave { channel, token } => {
                w.u8(LEAVE)?;
                w.u16(channel)?;
                w.u32(token)?;
            }
            Message::Chunk {
                channel,
                info,
                payload,
            } => {
                if payload.is_empty()
                    || payload.len() > CHUNK_MAX
                    || payload.len() % PACKET_LEN != 0
                {
                    return Err(WireError::Length);
                }
                w.u8(CHUNK)?;
                w.u16(channel)?;
                w.u64(info.seq)?;
                w.u8(info.flags.0)?;
                w.u8(info.key_id)?;
                w.u32(info.stamp_ms)?;
                w.bytes(payload)?;
            }
            Message::Request {
                channel,
                token,
                base,
                map,
            } => {
                if map.is_empty() || map.len() > MAX_MAP {
                    return Err(WireError::Length);
                }
                w.u8(REQUEST)?;
                w.u16(channel)?;
                w.u32(token)?;
                w.u64(base)?;
                w.u8(map.len() as u8)?; // <= MAX_MAP, checked above
                w.bytes(map)?;
            }
            Message::Unknown { kind } => {
                w.u8(kind)?;
                w.u16(0)?;
            }
        }
        Ok(w.len())
    }
}

/// Iterates the sequence numbers a REQUEST bitmap names.
pub fn request_seqs(base: u64, map: &[u8]) -> impl Iterator<Item = u64> + '_ {
    map.iter().enumerate().flat_map(move |(i, &byte)| {
        (0..8u64)
            .filter(move |b| byte & (1 << b) != 0)
            .map(move |b| base.saturating_add(i as u64 * 8 + b))
    })
}
