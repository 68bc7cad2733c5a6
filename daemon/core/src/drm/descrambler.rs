//! The box's descrambler: ChaCha20 keystreams made for 8 chunks at once, ahead of their data, and
//! kept until those chunks are descrambled.
//!
//! Why: a chunk's scrambled bytes (at most 7 payloads of 184 bytes, 20.1 keystream blocks) do not
//! fill whole groups of 8 blocks, so [`super::cipher::descramble`] runs 16 blocks through the
//! 8-block AVX2 kernel and the last 5 through `chacha20`'s 4-block code (8 blocks' work for 5),
//! and gathers and scatters the payloads around the one call. A chunk's keystream depends only
//! on (key, channel tag, seq), so it can be made before the chunk arrives: one pass of
//! [`tvmesh_crypto::keystreams`] makes block `b` of 8 consecutive chunks' keystreams (one chunk
//! per AVX2 lane), 21 passes make all of them, and each chunk's payloads are later XORed with its
//! kept keystream in place (aarch64: 4 chunks per NEON pass). Measured (docs/BENCHMARKS.md, DRM
//! section), descrambling a stream-second: x86-64 4.4 M → 3.9 M instructions, aarch64 8.0 M →
//! 6.7 M. Where the CPU has no such lanes ([`tvmesh_crypto::keystreams_in_lanes`] is false:
//! armv7, MIPS, x86 without AVX2)
//! keeping keystreams measured dearer than descrambling directly, so every chunk goes to
//! [`super::cipher::descramble`] there and nothing is kept.
//!
//! Invariants:
//! - the output is byte-for-byte [`super::cipher::descramble`]'s, for every payload (the tests
//!   compare the two on every seq alignment, key change, interleaved outputs and malformed
//!   packets, with and without kept keystreams); a payload longer than [`CHUNK_MAX`] goes to
//!   [`super::cipher::descramble`] itself;
//! - [`SLOTS`] slots each hold the keystreams of 8 consecutive chunks from a multiple of 8 (under
//!   one key and channel tag); a miss refills the least recently used slot. So a sink and one
//!   HTTP viewer at different points each keep their own slot; more outputs far apart cost at
//!   most one refill (8 keystreams) per chunk;
//! - memory: [`SLOTS`] × 8 × [`KEYSTREAM_LEN`] bytes (21 KiB) where keystreams are kept, allocated
//!   once in [`Descrambler::new`]; nothing allocates or panics afterwards. Keystreams are key
//!   material: they stay in memory and are never written anywhere.

use super::cipher::{descramble, take_scrambled};
use super::{chunk_nonce, Key};
use crate::chunk::{CHUNK_MAX, PACKETS_PER_CHUNK};
use crate::ts::PACKET_LEN;
use alloc::boxed::Box;
use tvmesh_crypto::KEYSTREAM_LANES as LANES;

/// Keystream bytes kept per chunk: the payloads of [`PACKETS_PER_CHUNK`] packets (each at most
/// `PACKET_LEN - 4` bytes), in whole 64-byte blocks (1 344).
pub const KEYSTREAM_LEN: usize = (PACKETS_PER_CHUNK * (PACKET_LEN - 4)).div_ceil(64) * 64;

/// Slots of 8 chunks' keystreams.
pub const SLOTS: usize = 2;

/// The keystreams of chunks `base .. base + 8` of one channel under one key.
struct Slot {
    /// (key, channel tag, base), or `None` while empty.
    id: Option<(Key, u32, u64)>,
    /// [`Descrambler::uses`] at its last use (least recently used is refilled).
    last_use: u64,
    ks: [[u8; KEYSTREAM_LEN]; LANES],
}

/// See the module docs.
pub struct Descrambler {
    /// `None` where keystreams are not made side by side ([`tvmesh_crypto::keystreams_in_lanes`]):
    /// each chunk goes to [`super::cipher::descramble`] then.
    slots: Option<Box<[Slot; SLOTS]>>,
    uses: u64,
    fills: u64,
}

impl core::fmt::Debug for Descrambler {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Descrambler")
            .field("fills", &self.fills)
            .finish_non_exhaustive()
    }
}

impl Default for Descrambler {
    fn default() -> Self {
        Self::new()
    }
}

impl Descrambler {
    /// Empty slots (the one allocation), where the CPU makes keystreams side by side.
    pub fn new() -> Self {
        Self::with_lanes(tvmesh_crypto::keystreams_in_lanes())
    }

    /// [`Descrambler::new`], kept keystreams or not (tests run both; kept keystreams are right
    /// on any CPU, only not cheaper without lanes).
    pub(crate) fn with_lanes(lanes: bool) -> Self {
        Descrambler {
            slots: lanes.then(|| {
                Box::new(core::array::from_fn(|_| Slot {
                    id: None,
                    last_use: 0,
                    ks: [[0; KEYSTREAM_LEN]; LANES],
                }))
            }),
            uses: 0,
            fills: 0,
        }
    }

    /// Times a slot was (re)filled with 8 chunks' keystreams.
    pub fn fills(&self) -> u64 {
        self.fills
    }

    /// [`super::cipher::descramble`]: descrambles, in place, the packets of chunk `seq`'s
    /// `payload` marked scrambled, with the kept keystream (made now, with the next 7 chunks', if
    /// it is not kept). Returns how many packets were descrambled.
    pub fn descramble(
        &mut self,
        payload: &mut [u8],
        key: &Key,
        channel_tag: u32,
        seq: u64,
    ) -> usize {
        let Some(slots) = self.slots.as_mut().filter(|_| payload.len() <= CHUNK_MAX) else {
            return descramble(payload, key, channel_tag, seq);
        };
        let base = seq & !(LANES as u64 - 1);
        let id = Some((*key, channel_tag, base));
        self.uses += 1;
        let i = match slots.iter().position(|s| s.id == id) {
            Some(i) => i,
            None => {
                let (i, _) = slots
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, s)| s.last_use)
                    .unwrap_or((0, &slots[0])); // never: SLOTS > 0
                let slot = &mut slots[i];
                // base + 7 ≤ u64::MAX: base is a multiple of 8.
                let nonces = core::array::from_fn(|j| chunk_nonce(channel_tag, base + j as u64));
                tvmesh_crypto::keystreams(key, &nonces, &mut slot.ks);
                slot.id = id;
                self.fills += 1;
                i
            }
        };
        let slot = &mut slots[i];
        slot.last_use = self.uses;
        // seq - base < 8.
        let ks = &slot.ks[(seq - base) as usize];
        let (mut at, mut n) = (0, 0);
        for p in payload.chunks_exact_mut(PACKET_LEN) {
            // At most PACKETS_PER_CHUNK packets of at most PACKET_LEN - 4 payload bytes: the
            // keystream always covers them (KEYSTREAM_LEN), so `get` never fails after the mark
            // is taken.
            let Some(start) = take_scrambled(p) else {
                continue;
            };
            let len = PACKET_LEN - start;
            if let Some(k) = ks.get(at..at + len) {
                tvmesh_crypto::xor_into(&mut p[start..], k);
            }
            at += len;
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests;
