//! The tvmesh datagram format, version 1.
//!
//! Every datagram starts with a 4-byte header: `magic (0xC1) | type | channel (u16)`, big-endian.
//! The magic byte's top bits are `11`, so tvmesh shares a UDP port with STUN (first byte 0..=3,
//! RFC 7983) without ambiguity. Messages (body after the header):
//!
//! | type | name      | sender → receiver | body |
//! |------|-----------|-------------------|------|
//! | 0x01 | JOIN      | box → root  | nonce u32, flags u16, upload_kbps u32, name_len u8, name |
//! | 0x02 | JOIN_ACK  | root → box  | nonce u32, token u32, live_seq u64, rap_seq u64, bitrate_kbps u32, now_ms u32, flags u16 |
//! | 0x03 | JOIN_NAK  | root → box  | nonce u32, reason u8 |
//! | 0x04 | KEEPALIVE | box → root  | token u32, want_seq u64, flags u8 (bit 0: send me peers; bit 1: I have upload to spare; bit 2: I have no partner) |
//! | 0x05 | LEAVE     | box → any   | token u32 |
//! | 0x06 | PEERS     | root/box → box | count u8, count × (family u8 = 4/6, addr 4/16, port u16, flags u8) |
//! | 0x07 | HELLO     | box → box   | nonce u32, flags u16, upload_kbps u32 |
//! | 0x08 | HELLO_ACK | box → box   | nonce u32, accept u8 |
//! | 0x09 | MAP       | box → box   | token u32, base u64, delay_us u32, flags u8, src_delay_ms u16 × 4, hops u8 × 4, fresh u16 × 4, map_len u8, map |
//! | 0x0A | SUBSCRIBE | box → parent | token u32, mask u8, from_seq u64 |
//! | 0x0B | SUB_ACK   | parent → box | token u32, accepted u8 (root: bits 4–7 = relayed), refused u8 |
//! | 0x10 | CHUNK     | any → box   | seq u64, flags u8, key_id u8, stamp_ms u32, sent_us u32, payload (n × 188, n ≤ 7) |
//! | 0x11 | REQUEST   | box → any   | token u32, base u64, map_len u8, map |
//! | 0x20–0x22 | INTRODUCE, PUNCH, PUNCH_ACK | see `nat.rs` | hole punching |
//! | 0x30–0x33 | MANIFEST, MANIFEST_REQ, KEY_REQ, CHANNEL_KEY | see `drm.rs` | chunk integrity |
//! | 0x34–0x35 | LICENCE_REQ, LICENCE | see `drm.rs` | DRM licences |
//! | 0x40 | DIR_REQ   | box → root  | nonce u32, page u8 |
//! | 0x41 | DIRECTORY | root → box  | nonce u32, page u8, pages u8, body (a directory body, [`crate::zap::Directory`]) |
//!
//! Bitmaps (MAP, REQUEST): bit i of byte i/8, LSB first, names sequence number base+i. A token
//! names a relationship: the root's session token, or between boxes the nonce of the HELLO that
//! made them partners; a receiver acts only on (address, token) pairs it knows.
//!
//! Room to grow without a redesign: CHUNK carries a key id and an ENCRYPTED flag for DRM; a signed
//! manifest per segment of chunks is a new message type; unknown types parse as
//! [`Message::Unknown`] and are ignored. Parsing checks every length before reading, so no input
//! can make it panic; emitting checks the buffer and returns [`WireError::Buffer`].

mod codec;
mod drm;
mod emit;
mod nat;
mod parse;
#[cfg(test)]
mod tests;

use crate::chunk::{ChunkInfo, CHUNK_MAX};
use core::net::SocketAddr;

/// First byte of every tvmesh datagram (version 1).
pub const MAGIC: u8 = 0xC1;
/// Common header length.
pub const HEADER_LEN: usize = 4;
/// CHUNK header length (common header included).
pub const CHUNK_HEADER_LEN: usize = HEADER_LEN + 18;
/// Largest datagram tvmesh sends.
pub const MAX_DATAGRAM: usize = CHUNK_HEADER_LEN + CHUNK_MAX;
/// Longest channel name.
pub const MAX_NAME: usize = 64;
/// Longest REQUEST or MAP bitmap, in bytes (512 chunks).
pub const MAX_MAP: usize = 64;
/// Most addresses in one PEERS message (fits a datagram even all IPv6: 16 × 20 bytes).
pub const MAX_PEERS: usize = 16;

/// KEEPALIVE / MAP flag: please send me peer addresses.
pub const FLAG_WANT_PEERS: u8 = 0x01;
/// MAP hops: the sender has no path from the root in that substream.
pub const HOPS_NONE: u8 = u8::MAX;
/// MAP hops: a path this long is taken for a loop (boxes feeding each other in a ring count up
/// by one per MAP), and the substream as cut off. Trees of 100,000 boxes reach 25–40 levels in
/// places (measured, tvmesh-sim), so 24 cut real paths; loops are prevented in the first place by
/// the feasibility rule (peer/sched.rs) and this is only the backstop.
pub const MAX_HOPS: u8 = 64;
/// MAP `fresh` field for sequence number `fresh` (0: none) against the map's `base`: values
/// older than `base` (or none) are sent as 0, which the receiver reads as "none" — a freshness is
/// only ever understated, never overstated.
pub fn fresh_off(base: u64, fresh: u64) -> u16 {
    if fresh == 0 || fresh < base {
        0
    } else {
        (fresh - base).saturating_add(1).min(u64::from(u16::MAX)) as u16
    }
}

/// The sequence number a MAP `fresh` field names (0: none).
pub fn fresh_seq(base: u64, off: u16) -> u64 {
    match off {
        0 => 0,
        o => base.saturating_add(u64::from(o) - 1),
    }
}

/// KEEPALIVE flag: this box has upload to spare for more children (the tracker offers it first).
pub const FLAG_SPARE_UPLOAD: u8 = 0x02;
/// KEEPALIVE flag: this box has no partner at all, so it can pass nothing on (a seed place it
/// holds feeds only itself; see `root/seeds.rs`). Roots before it ignore the bit.
pub const FLAG_ALONE: u8 = 0x04;
/// MAP flags, high nibble: how many more child substreams the sender would admit now (0–15), so
/// a box picks a parent with room instead of asking a full one and being refused.
pub const MAP_SPARE_SHIFT: u8 = 4;
/// HELLO / JOIN flag: this box accepts partnerships it did not start (reachable inbound).
pub const FLAG_REACHABLE: u16 = 0x0001;
/// JOIN_ACK flag: the channel is scrambled (DRM); the box needs a licence to output it.
pub const FLAG_PROTECTED: u16 = 0x0002;

/// Why bytes are not a valid message, or a message does not fit a buffer.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum WireError {
    /// Shorter than its fields require.
    Truncated,
    /// First byte is not [`MAGIC`].
    Magic,
    /// A length or count field is out of range, or an address family is unknown.
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
    /// The root does not know the session (it expired or the root restarted): join again.
    UnknownSession,
    /// A reason this version does not know.
    Other(u8),
}

impl NakReason {
    fn code(self) -> u8 {
        match self {
            NakReason::UnknownChannel => 1,
            NakReason::Full => 2,
            NakReason::UnknownSession => 3,
            NakReason::Other(c) => c,
        }
    }
    fn from_code(c: u8) -> Self {
        match c {
            1 => NakReason::UnknownChannel,
            2 => NakReason::Full,
            3 => NakReason::UnknownSession,
            c => NakReason::Other(c),
        }
    }
}

/// A peer address in a PEERS message, as bytes still in the datagram (no allocation).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct PeerList<'a> {
    raw: &'a [u8],
    count: u8,
}

impl<'a> PeerList<'a> {
    /// Addresses and their flags.
    pub fn iter(&self) -> impl Iterator<Item = (SocketAddr, u8)> + 'a {
        parse::peer_entries(self.raw, self.count)
    }
    /// How many entries.
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// A parsed datagram. Borrowed fields point into the datagram; fields are described in the
/// module table.
#[allow(missing_docs)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    Join {
        nonce: u32,
        flags: u16,
        upload_kbps: u32,
        name: &'a [u8],
    },
    JoinAck {
        channel: u16,
        nonce: u32,
        token: u32,
        live_seq: u64,
        rap_seq: u64,
        bitrate_kbps: u32,
        now_ms: u32,
        flags: u16,
    },
    JoinNak {
        nonce: u32,
        reason: NakReason,
    },
    Keepalive {
        channel: u16,
        token: u32,
        want_seq: u64,
        flags: u8,
    },
    Leave {
        channel: u16,
        token: u32,
    },
    Peers {
        channel: u16,
        peers: PeerList<'a>,
    },
    Hello {
        channel: u16,
        nonce: u32,
        flags: u16,
        upload_kbps: u32,
    },
    HelloAck {
        channel: u16,
        nonce: u32,
        accept: bool,
    },
    Map {
        channel: u16,
        token: u32,
        base: u64,
        delay_us: u32,
        flags: u8,
        /// How long ago (ms, saturating) the sender's newest chunk of each substream left the
        /// root, smoothed: its distance from the source, for choosing parents near the root.
        src_delay_ms: [u16; crate::upload::SUBSTREAMS],
        /// The sender's distance from the root in hops per substream (1: fed by the root;
        /// [`HOPS_NONE`]: cut off — no parent, or a loop counted up past [`MAX_HOPS`]).
        hops: [u8; crate::upload::SUBSTREAMS],
        /// Per substream, how fresh the sender's path from the root is: 1 + (the newest chunk
        /// that path delivered − `base`); 0: none, or older than `base` (see [`fresh_off`]).
        fresh: [u16; crate::upload::SUBSTREAMS],
        map: &'a [u8],
    },
    Subscribe {
        channel: u16,
        token: u32,
        mask: u8,
        from_seq: u64,
    },
    SubAck {
        channel: u16,
        token: u32,
        accepted: u8,
        refused: u8,
    },
    Chunk {
        channel: u16,
        info: ChunkInfo,
        sent_us: u32,
        payload: &'a [u8],
    },
    Request {
        channel: u16,
        token: u32,
        base: u64,
        map: &'a [u8],
    },
    /// A signed segment manifest (0x30), body unparsed (see [`crate::drm::manifest`]).
    Manifest {
        channel: u16,
        body: &'a [u8],
    },
    /// Ask for the manifest covering `seq` (0x31).
    ManifestReq {
        channel: u16,
        token: u32,
        seq: u64,
    },
    /// Ask the root for the channel's signing key (0x32).
    KeyReq {
        channel: u16,
        token: u32,
    },
    /// The channel's public signing key (0x33); `kind` 2 is RSA-2048 with e = 3, `key` its
    /// 256-byte modulus (1, an Ed25519 key, is retired).
    ChannelKey {
        channel: u16,
        kind: u8,
        key: &'a [u8],
    },
    /// A licence request, box → root (0x34), body unparsed (see [`crate::drm::licence`]).
    LicenceReq {
        channel: u16,
        body: &'a [u8],
    },
    /// A licence reply, root → box (0x35), body unparsed (see [`crate::drm::licence`]).
    Licence {
        channel: u16,
        body: &'a [u8],
    },
    /// Asks a root for its channel directory (the header's channel is 0).
    DirRequest {
        nonce: u32,
        page: u8,
    },
    /// Page `page` of `pages` of a root's channel directory; each page's `body` is a complete
    /// directory body ([`crate::zap::fetch`] joins the pages).
    Directory {
        nonce: u32,
        page: u8,
        pages: u8,
        body: &'a [u8],
    },
    /// Root → box: meet this peer (0x20, [`crate::nat::punch::Introduce`]).
    Introduce(crate::nat::punch::Introduce),
    /// PUNCH (0x21) or PUNCH_ACK (0x22, `ack` set), [`crate::nat::punch::Probe`].
    Probe(crate::nat::punch::Probe),
    Unknown {
        kind: u8,
    },
}

pub use drm::{KEY_RSA2048, LICENCE_MAX_LEN};

const JOIN: u8 = 0x01;
const JOIN_ACK: u8 = 0x02;
const JOIN_NAK: u8 = 0x03;
const KEEPALIVE: u8 = 0x04;
const LEAVE: u8 = 0x05;
const PEERS: u8 = 0x06;
const HELLO: u8 = 0x07;
const HELLO_ACK: u8 = 0x08;
const MAP: u8 = 0x09;
const SUBSCRIBE: u8 = 0x0A;
const SUB_ACK: u8 = 0x0B;
const CHUNK: u8 = 0x10;
const REQUEST: u8 = 0x11;
const DIR_REQ: u8 = 0x40;
const DIRECTORY: u8 = 0x41;

/// Whether a datagram looks like tvmesh (for demultiplexing a shared port).
pub fn is_tvmesh(datagram: &[u8]) -> bool {
    datagram.first() == Some(&MAGIC)
}

/// Iterates the sequence numbers a REQUEST or MAP bitmap names.
pub fn bitmap_seqs(base: u64, map: &[u8]) -> impl Iterator<Item = u64> + '_ {
    map.iter().enumerate().flat_map(move |(i, &byte)| {
        (0..8u64)
            .filter(move |b| byte & (1 << b) != 0)
            .map(move |b| base.saturating_add(i as u64 * 8 + b))
    })
}

/// Writes a PEERS message listing `peers` (at most [`MAX_PEERS`] are taken) into `buf`.
pub fn emit_peers(
    channel: u16,
    peers: &[(SocketAddr, u8)],
    buf: &mut [u8],
) -> Result<usize, WireError> {
    emit::peers(channel, peers, buf)
}
