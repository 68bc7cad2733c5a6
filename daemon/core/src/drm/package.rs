//! The packaged-stream container (version 1): what the ahead-of-time packager writes and a root
//! ingests with `source=packaged:PATH`.
//!
//! ```text
//! file   = header record*
//! header = "TVMPKG" (6) ‖ version u8 = 1 ‖ name_len u8 (1..=64) ‖ first_seq u64
//!          ‖ channel name (name_len bytes)
//! record = payload_len u16 ‖ flags u8 ‖ key_id u8 ‖ seq u64 ‖ time_ms u32 ‖ payload
//! ```
//!
//! All integers are big-endian. A record is one chunk exactly as the root's ingest would have
//! made it ([`crate::chunker`]): `payload_len` is a whole number of 188-byte packets, 188..=
//! [`CHUNK_MAX`]; `flags` are [`ChunkFlags`] (RAP, DISCONTINUITY, ENCRYPTED); `key_id` names the
//! key in the packager's key file ([`super::keyfile`]) whose ChaCha20 keystream scrambled the
//! payload under nonce [`super::chunk_nonce`]`(channel_tag(name), seq)` ([`super::cipher`]);
//! `time_ms` is stream time from the first packet (PCR-paced), at which the root releases it.
//! `first_seq` is the sequence number the packager started from: a root reading the header numbers
//! the channel from there before any record arrives, so boxes that join early wait for the right
//! chunk.
//!
//! Invariants: parsing checks every length before reading and never panics; records of one file
//! have strictly increasing `seq` and non-decreasing `time_ms` ([`RecordCheck`]); a reader needs
//! at most [`RECORD_MAX`] bytes of buffer per record; encrypted records carry a non-zero key id and
//! clear ones key id 0.

use super::{Bytes, Out};
use crate::chunk::{ChunkFlags, CHUNK_MAX};
use crate::ts::PACKET_LEN;

/// The file's first six bytes.
pub const MAGIC: [u8; 6] = *b"TVMPKG";
/// The container version this module reads and writes.
pub const VERSION: u8 = 1;
/// Longest channel name (as [`crate::wire::MAX_NAME`]).
pub const NAME_MAX: usize = crate::wire::MAX_NAME;
/// Bytes of a header before the name.
pub const HEADER_FIXED: usize = 16;
/// Longest header.
pub const HEADER_MAX: usize = HEADER_FIXED + NAME_MAX;
/// Bytes of a record before its payload.
pub const RECORD_HEADER_LEN: usize = 16;
/// Longest record.
pub const RECORD_MAX: usize = RECORD_HEADER_LEN + CHUNK_MAX;

/// Flags a record may carry; any other bit is refused.
const KNOWN_FLAGS: u8 = ChunkFlags::RAP.0 | ChunkFlags::DISCONTINUITY.0 | ChunkFlags::ENCRYPTED.0;

/// Why bytes are not a valid header or record.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PackageError {
    /// Fewer bytes than the header or record needs (a truncated file, or read more).
    Short,
    /// The file does not start with [`MAGIC`].
    Magic,
    /// A version this build does not read.
    Version(u8),
    /// Channel name empty, longer than [`NAME_MAX`] or not UTF-8.
    Name,
    /// Payload length not a whole number of packets in 188..=[`CHUNK_MAX`].
    Length(u16),
    /// Unknown flag bits.
    Flags(u8),
    /// An encrypted record with key id 0, or a clear one with a key id.
    KeyId(u8),
    /// `seq` not above the previous record's.
    SeqBackwards,
    /// `time_ms` below the previous record's.
    TimeBackwards,
}

impl core::fmt::Display for PackageError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PackageError::Short => f.write_str("truncated"),
            PackageError::Magic => f.write_str("not a tvmesh packaged stream (bad magic)"),
            PackageError::Version(v) => write!(f, "container version {v} (this build reads 1)"),
            PackageError::Name => f.write_str("bad channel name in the header"),
            PackageError::Length(n) => write!(f, "payload length {n} is not 1-7 TS packets"),
            PackageError::Flags(b) => write!(f, "unknown flags {b:#04x}"),
            PackageError::KeyId(k) => write!(f, "key id {k} does not match the encrypted flag"),
            PackageError::SeqBackwards => f.write_str("sequence number does not increase"),
            PackageError::TimeBackwards => f.write_str("time goes backwards"),
        }
    }
}

/// The file header.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    /// Channel name the stream was packaged for (its tag is in every chunk's nonce).
    pub channel: &'a str,
    /// Sequence number the packager numbered from (records start at or after it).
    pub first_seq: u64,
}

impl<'a> Header<'a> {
    /// Parses a header from the start of `b`; returns it and its length.
    pub fn parse(b: &'a [u8]) -> Result<(Header<'a>, usize), PackageError> {
        let mut r = Bytes::new(b);
        let magic: [u8; 6] = r.array().ok_or(PackageError::Short)?;
        if magic != MAGIC {
            return Err(PackageError::Magic);
        }
        let version = r.u8().ok_or(PackageError::Short)?;
        if version != VERSION {
            return Err(PackageError::Version(version));
        }
        let n = usize::from(r.u8().ok_or(PackageError::Short)?);
        if n == 0 || n > NAME_MAX {
            return Err(PackageError::Name);
        }
        let first_seq = r.u64().ok_or(PackageError::Short)?;
        let name = r.take(n).ok_or(PackageError::Short)?;
        let channel = core::str::from_utf8(name).map_err(|_| PackageError::Name)?;
        Ok((Header { channel, first_seq }, HEADER_FIXED + n))
    }

    /// Writes the header into `out`; returns its length (`None`: name bad or `out` too small).
    pub fn emit(&self, out: &mut [u8]) -> Option<usize> {
        let name = self.channel.as_bytes();
        if name.is_empty() || name.len() > NAME_MAX {
            return None;
        }
        let mut o = Out::new(out);
        o.put(&MAGIC)?;
        o.put(&[VERSION, name.len() as u8])?; // ≤ 64, checked above
        o.put(&self.first_seq.to_be_bytes())?;
        o.put(name)?;
        Some(o.len())
    }
}

/// A record's fixed part.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RecordHeader {
    /// Payload bytes that follow.
    pub len: u16,
    /// Chunk flags.
    pub flags: ChunkFlags,
    /// Key id (0: clear).
    pub key_id: u8,
    /// Chunk sequence number (also in the scrambling nonce).
    pub seq: u64,
    /// Stream time, ms from the first packet.
    pub time_ms: u32,
}

impl RecordHeader {
    /// Parses and checks a record header from the start of `b` (the payload is not needed).
    pub fn parse(b: &[u8]) -> Result<RecordHeader, PackageError> {
        let mut r = Bytes::new(b);
        let len = u16::from_be_bytes(r.array().ok_or(PackageError::Short)?);
        let flags = r.u8().ok_or(PackageError::Short)?;
        let key_id = r.u8().ok_or(PackageError::Short)?;
        let seq = r.u64().ok_or(PackageError::Short)?;
        let time_ms = r.u32().ok_or(PackageError::Short)?;
        let n = usize::from(len);
        if n == 0 || n > CHUNK_MAX || n % PACKET_LEN != 0 {
            return Err(PackageError::Length(len));
        }
        if flags & !KNOWN_FLAGS != 0 {
            return Err(PackageError::Flags(flags));
        }
        let flags = ChunkFlags(flags);
        if flags.contains(ChunkFlags::ENCRYPTED) != (key_id != 0) {
            return Err(PackageError::KeyId(key_id));
        }
        Ok(RecordHeader {
            len,
            flags,
            key_id,
            seq,
            time_ms,
        })
    }

    /// Writes the header into `out[..RECORD_HEADER_LEN]` (`None`: `out` too small).
    pub fn emit(&self, out: &mut [u8]) -> Option<usize> {
        let mut o = Out::new(out);
        o.put(&self.len.to_be_bytes())?;
        o.put(&[self.flags.0, self.key_id])?;
        o.put(&self.seq.to_be_bytes())?;
        o.put(&self.time_ms.to_be_bytes())?;
        Some(o.len())
    }

    /// Record length: header plus payload.
    pub fn record_len(&self) -> usize {
        RECORD_HEADER_LEN + usize::from(self.len)
    }
}

/// Parses one whole record from the start of `b`: its header, payload and length.
pub fn parse_record(b: &[u8]) -> Result<(RecordHeader, &[u8], usize), PackageError> {
    let h = RecordHeader::parse(b)?;
    let payload = b
        .get(RECORD_HEADER_LEN..h.record_len())
        .ok_or(PackageError::Short)?;
    Ok((h, payload, h.record_len()))
}

/// Writes a whole record (header and `payload`) into `out`; returns its length.
pub fn emit_record(
    flags: ChunkFlags,
    key_id: u8,
    seq: u64,
    time_ms: u32,
    payload: &[u8],
    out: &mut [u8],
) -> Option<usize> {
    let len = u16::try_from(payload.len()).ok()?;
    let h = RecordHeader {
        len,
        flags,
        key_id,
        seq,
        time_ms,
    };
    let n = h.emit(out)?;
    let mut o = Out::new(out.get_mut(n..)?);
    o.put(payload)?;
    Some(n + o.len())
}

/// Checks the order of a file's records: strictly increasing `seq`, non-decreasing `time_ms`.
#[derive(Copy, Clone, Debug, Default)]
pub struct RecordCheck {
    last: Option<(u64, u32)>,
}

impl RecordCheck {
    /// Accepts `h` if it follows the previous record.
    pub fn next(&mut self, h: &RecordHeader) -> Result<(), PackageError> {
        if let Some((seq, t)) = self.last {
            if h.seq <= seq {
                return Err(PackageError::SeqBackwards);
            }
            if h.time_ms < t {
                return Err(PackageError::TimeBackwards);
            }
        }
        self.last = Some((h.seq, h.time_ms));
        Ok(())
    }
}

#[cfg(test)]
mod tests;
