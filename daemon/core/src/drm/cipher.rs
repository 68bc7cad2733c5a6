//! Scrambling a chunk's TS packets in place with ChaCha20 (RFC 8439, 96-bit nonce).
//!
//! The nonce is [`super::chunk_nonce`]`(channel_tag, seq)`; the key is the channel key named by the
//! chunk's key id. Only packet *payloads* are scrambled — the 4-byte header and any adaptation
//! field stay clear, as DVB's TS-level scrambling does — and packets on the PAT PID, the caller's
//! PMT PID(s) and the null PID stay entirely clear, so PSI, PCR and random-access indicators stay
//! readable to a box without a licence (it can still cut, relay and report the stream).
//!
//! A scrambled packet is marked with `transport_scrambling_control` = `0b10 | (key_id & 1)` (DVB's
//! even/odd key convention); [`descramble`] unscrambles exactly the packets marked `0b1x` and sets
//! the field back to `00`.
//!
//! Invariants:
//! - The keystream is continuous over the chunk's scrambled bytes, in packet order: payload bytes
//!   of the n-th scrambled packet follow those of the (n-1)-th. For this to line up, the set of
//!   packets [`descramble`] picks (marked `1x`, well-formed) must equal the set [`scramble`]
//!   scrambled; so [`scramble`] refuses, untouched, a chunk where any packet already has a
//!   non-zero scrambling field ([`CipherError::AlreadyScrambled`]).
//! - Malformed packets (no sync byte, adaptation field longer than the packet) are left alone, as
//!   are trailing bytes that do not make a whole packet. Nothing here panics or allocates.

use super::Key;
use crate::chunk::{CHUNK_MAX, PACKETS_PER_CHUNK};
use crate::ts::{NULL_PID, PACKET_LEN, PAT_PID, SYNC_BYTE};
use tvmesh_crypto::ChaCha20;

/// Why a chunk was not scrambled.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CipherError {
    /// A packet already carries a non-zero `transport_scrambling_control` (the source is
    /// scrambled by something else): the chunk is left untouched.
    AlreadyScrambled,
}

/// What to keep clear: the PMT PID(s) of the programme (PAT and null PIDs are always clear).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct ClearPids<'a> {
    /// PMT PIDs, as learnt from the PAT.
    pub pmt: &'a [u16],
}

impl ClearPids<'_> {
    fn contains(&self, pid: u16) -> bool {
        pid == PAT_PID || pid == NULL_PID || self.pmt.contains(&pid)
    }
}

/// Where a packet's payload starts, if it has one and is well-formed.
fn payload_start(p: &[u8]) -> Option<usize> {
    if p.len() != PACKET_LEN || p[0] != SYNC_BYTE || p[3] & 0x10 == 0 {
        return None;
    }
    let start = if p[3] & 0x20 != 0 {
        5 + usize::from(p[4])
    } else {
        4
    };
    (start < PACKET_LEN).then_some(start)
}

fn pid(p: &[u8]) -> u16 {
    u16::from_be_bytes([p[1] & 0x1F, p[2]])
}

/// The keystream of chunk `seq`, from `tvmesh-crypto` (built at opt-level 3: see its docs).
fn stream(key: &Key, channel_tag: u32, seq: u64) -> ChaCha20 {
    ChaCha20::new(key, &super::chunk_nonce(channel_tag, seq))
}

/// The same keystream from the `chacha20` crate itself, for tests that seek.
#[cfg(test)]
fn cipher(key: &Key, channel_tag: u32, seq: u64) -> chacha20::ChaCha20 {
    use chacha20::cipher::KeyIvInit;
    chacha20::ChaCha20::new(key.into(), &super::chunk_nonce(channel_tag, seq).into())
}

/// Applies the keystream to the payloads of the packets `select` picks (it returns the payload
/// start and marks the packet), in order. The payloads of up to [`PACKETS_PER_CHUNK`] packets are
/// gathered into one buffer so ChaCha20 runs over whole blocks in one call: per-packet calls
/// (184 bytes, not a multiple of 64) made the vectorised backends compute 4 blocks per single
/// block and cost ≈ 3× the instructions (measured, docs/BENCHMARKS.md, DRM section).
fn apply(
    c: &mut ChaCha20,
    payload: &mut [u8],
    mut select: impl FnMut(&mut [u8]) -> Option<usize>,
) -> usize {
    let mut buf = [0u8; CHUNK_MAX];
    let mut total = 0;
    for window in payload.chunks_mut(CHUNK_MAX) {
        // Gather: payloads of the selected packets, each < PACKET_LEN - 4 bytes, so the
        // window's PACKETS_PER_CHUNK packets fit CHUNK_MAX.
        let mut spans = [(0usize, 0usize); PACKETS_PER_CHUNK];
        let (mut n, mut filled) = (0, 0);
        for (i, p) in window.chunks_exact_mut(PACKET_LEN).enumerate() {
            let Some(start) = select(p) else {
                continue;
            };
            let len = PACKET_LEN - start;
            buf[filled..filled + len].copy_from_slice(&p[start..]);
            spans[n] = (i * PACKET_LEN + start, len);
            n += 1;
            filled += len;
        }
        c.apply(&mut buf[..filled]);
        // Scatter back.
        let mut at = 0;
        for &(from, len) in &spans[..n] {
            window[from..from + len].copy_from_slice(&buf[at..at + len]);
            at += len;
        }
        total += n;
    }
    total
}

/// Scrambles `payload` (whole 188-byte packets) in place for chunk `seq` of channel
/// `channel_tag` under `key` (id `key_id`). Returns how many packets were scrambled.
pub fn scramble(
    payload: &mut [u8],
    key: &Key,
    key_id: u8,
    channel_tag: u32,
    seq: u64,
    clear: ClearPids<'_>,
) -> Result<usize, CipherError> {
    if payload
        .chunks_exact(PACKET_LEN)
        .any(|p| p[0] == SYNC_BYTE && p[3] & 0xC0 != 0)
    {
        return Err(CipherError::AlreadyScrambled);
    }
    let mark = 0x80 | ((key_id & 1) << 6);
    let mut c = stream(key, channel_tag, seq);
    Ok(apply(&mut c, payload, |p| {
        let start = payload_start(p).filter(|_| !clear.contains(pid(p)))?;
        p[3] |= mark;
        Some(start)
    }))
}

/// Descrambles, in place, the packets of `payload` marked scrambled (`transport_scrambling_control`
/// = `1x`) and clears their mark. Returns how many packets were descrambled. Unmarked and malformed
/// packets are left alone.
pub fn descramble(payload: &mut [u8], key: &Key, channel_tag: u32, seq: u64) -> usize {
    let mut c = stream(key, channel_tag, seq);
    apply(&mut c, payload, take_scrambled)
}

/// Whether [`descramble`] descrambles packet `p`: if it is marked scrambled and well-formed,
/// clears the mark and returns where its payload starts.
pub(super) fn take_scrambled(p: &mut [u8]) -> Option<usize> {
    if p.len() != PACKET_LEN || p[0] != SYNC_BYTE || p[3] & 0x80 == 0 {
        return None;
    }
    let start = payload_start(p)?;
    p[3] &= 0x3F;
    Some(start)
}

#[cfg(test)]
mod tests;
