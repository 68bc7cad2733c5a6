//! What a chunk is: up to [`PACKETS_PER_CHUNK`] whole TS packets, numbered and flagged.
//!
//! Invariants: a chunk's payload is a whole number of 188-byte packets and at most [`CHUNK_MAX`]
//! bytes, so one chunk fits one UDP datagram under a 1500-byte MTU with its header. Sequence numbers
//! are 64-bit and never wrap in practice (2^64 chunks at 10^6 chunks/s is 584,000 years).

/// TS packets in a full chunk.
pub const PACKETS_PER_CHUNK: usize = 7;
/// Largest chunk payload: 7 × 188 = 1316 bytes, the size IPTV uses for TS over UDP.
pub const CHUNK_MAX: usize = PACKETS_PER_CHUNK * crate::ts::PACKET_LEN;

/// Chunk flags, as carried on the wire.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ChunkFlags(pub u8);

impl ChunkFlags {
    /// No flag.
    pub const NONE: ChunkFlags = ChunkFlags(0);
    /// The chunk starts with PAT and PMT followed by the first packet of a key frame: a decoder
    /// can start here.
    pub const RAP: ChunkFlags = ChunkFlags(0x01);
    /// The stream is discontinuous before this chunk (source restarted, file looped).
    pub const DISCONTINUITY: ChunkFlags = ChunkFlags(0x02);
    /// The payload is encrypted under the key named by the chunk's key id (reserved for DRM).
    pub const ENCRYPTED: ChunkFlags = ChunkFlags(0x04);

    /// Whether every flag of `other` is set.
    pub fn contains(self, other: ChunkFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Both sets of flags.
    pub fn union(self, other: ChunkFlags) -> ChunkFlags {
        ChunkFlags(self.0 | other.0)
    }
}

/// A chunk's metadata.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ChunkInfo {
    /// Sequence number within the channel.
    pub seq: u64,
    /// Flags.
    pub flags: ChunkFlags,
    /// Key id for encrypted chunks (0 when clear).
    pub key_id: u8,
    /// Root's clock when the chunk's first packet arrived, in ms, wrapping.
    pub stamp_ms: u32,
}
