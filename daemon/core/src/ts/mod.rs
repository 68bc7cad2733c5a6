//! MPEG transport stream: just enough to cut a live stream into decodable chunks.
//!
//! - [`packet`]: a checked view of one 188-byte packet (header, adaptation field, PCR, payload).
//! - [`sync`]: turns arbitrary byte slices (datagrams, HTTP reads, file reads) into aligned packets,
//!   resynchronising on garbage.
//! - [`psi`]: PAT/PMT parsing, to learn the video PID and codec.
//! - [`streams`]: the PMT's video, audio and PCR PIDs with stream types, for decoder set-up.
//! - [`rap`]: random-access detection (H.264 IDR, HEVC IRAP, random_access_indicator).
//! - [`pacer`]: PCR-paced release of packets, for looping file sources.
//!
//! Nothing here allocates; all state is fixed-size.

pub mod pacer;
pub mod packet;
pub mod psi;
pub mod rap;
pub mod streams;
pub mod sync;

/// Size of one transport stream packet.
pub const PACKET_LEN: usize = 188;
/// The sync byte every packet starts with.
pub const SYNC_BYTE: u8 = 0x47;
/// PID of the program association table.
pub const PAT_PID: u16 = 0x0000;
/// PID of null (stuffing) packets.
pub const NULL_PID: u16 = 0x1FFF;
