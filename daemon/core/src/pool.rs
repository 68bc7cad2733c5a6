//! The chunk pool: fixed-size storage for the live window of one channel.
//!
//! All memory is allocated once, in [`ChunkPool::with_budget`], from a byte budget that comes from
//! config or the board profile. A chunk with sequence number `seq` lives in slot `seq % slots`, so
//! storing a new chunk reuses the slot of the chunk `slots` places older: the pool always holds the
//! newest window and never grows. Lookups check the stored sequence number, so a stale slot is never
//! mistaken for the chunk asked for. Nothing after construction allocates.

use crate::chunk::{ChunkFlags, ChunkInfo, CHUNK_MAX};
use alloc::boxed::Box;
use alloc::vec;

/// Bytes one slot costs: payload plus its metadata.
pub const SLOT_COST: usize = CHUNK_MAX + core::mem::size_of::<Slot>();
/// The smallest pool accepted: enough for about a second of an 8 Mbit/s stream.
pub const MIN_SLOTS: usize = 64;

#[derive(Copy, Clone, Debug)]
struct Slot {
    seq: u64,
    stamp_ms: u32,
    len: u16,
    flags: ChunkFlags,
    key_id: u8,
    used: bool,
}

/// What payloads read as in metadata-only mode.
static ZEROS: [u8; CHUNK_MAX] = [0; CHUNK_MAX];

const EMPTY: Slot = Slot {
    seq: 0,
    stamp_ms: 0,
    len: 0,
    flags: ChunkFlags::NONE,
    key_id: 0,
    used: false,
};

/// Why a pool could not be built.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PoolError {
    /// The budget holds fewer than [`MIN_SLOTS`] slots.
    BudgetTooSmall {
        /// Smallest budget in bytes that would do.
        min_bytes: usize,
    },
}

/// A chunk as stored: metadata and payload.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ChunkRef<'a> {
    /// Metadata.
    pub info: ChunkInfo,
    /// TS packets (a multiple of 188 bytes, at most [`CHUNK_MAX`]).
    pub payload: &'a [u8],
}

/// Fixed-size ring of chunks indexed by sequence number.
pub struct ChunkPool {
    /// Payload storage; empty in metadata-only mode.
    data: Box<[u8]>,
    slots: Box<[Slot]>,
    used: usize,
    newest: Option<u64>,
}

impl ChunkPool {
    /// A pool using at most `budget` bytes.
    pub fn with_budget(budget: usize) -> Result<Self, PoolError> {
        let n = budget / SLOT_COST;
        if n < MIN_SLOTS {
            return Err(PoolError::BudgetTooSmall {
                min_bytes: MIN_SLOTS * SLOT_COST,
            });
        }
        Ok(ChunkPool {
            data: vec![0u8; n * CHUNK_MAX].into_boxed_slice(),
            slots: vec![EMPTY; n].into_boxed_slice(),
            used: 0,
            newest: None,
        })
    }

    /// A pool with as many slots as `budget` would buy, keeping metadata only: payloads read back
    /// as zeros. For simulating very many boxes with the same code; never for real output.
    pub fn metadata_only(budget: usize) -> Result<Self, PoolError> {
        let n = budget / SLOT_COST;
        if n < MIN_SLOTS {
            return Err(PoolError::BudgetTooSmall {
                min_bytes: MIN_SLOTS * SLOT_COST,
            });
        }
        Ok(ChunkPool {
            data: Box::new([]),
            slots: vec![EMPTY; n].into_boxed_slice(),
            used: 0,
            newest: None,
        })
    }

    /// Number of slots.
    pub fn slots(&self) -> usize {
        self.slots.len()
    }

    /// Slots holding a chunk.
    pub fn used(&self) -> usize {
        self.used
    }

    /// Highest sequence number ever stored.
    pub fn newest(&self) -> Option<u64> {
        self.newest
    }

    /// Lowest sequence number that can still be in the pool.
    pub fn window_start(&self) -> Option<u64> {
        self.newest
            .map(|n| n.saturating_sub(self.slots.len() as u64 - 1))
    }

    /// The stream rate from the root's stamps on the oldest and newest chunks held (full chunks
    /// assumed, so it errs high), kbit/s; `None` while they span under `min_ms`. Unlike a
    /// receive rate it does not depend on how many substreams arrive or on catch-up bursts.
    /// Scans for the oldest held chunk: call it per second, not per packet.
    pub fn rate_kbps(&self, min_ms: u32) -> Option<u32> {
        let (start, b) = (self.window_start()?, self.newest?);
        let a = (start..=b).find(|&s| self.contains(s))?;
        self.rate_kbps_between(a, b, min_ms)
    }

    /// [`Self::rate_kbps`] between chunks `a` < `b` (`None` unless both are held).
    pub fn rate_kbps_between(&self, a: u64, b: u64, min_ms: u32) -> Option<u32> {
        let (ca, cb) = (self.get(a)?, self.get(b)?);
        let ms = cb.info.stamp_ms.wrapping_sub(ca.info.stamp_ms);
        if !(min_ms.max(1)..=60_000).contains(&ms) {
            return None;
        }
        let bits = (b - a) * CHUNK_MAX as u64 * 8;
        u32::try_from(bits / u64::from(ms)).ok()
    }

    fn index(&self, seq: u64) -> usize {
        (seq % self.slots.len() as u64) as usize
    }

    /// Whether chunk `seq` is held.
    pub fn contains(&self, seq: u64) -> bool {
        let s = &self.slots[self.index(seq)];
        s.used && s.seq == seq
    }

    /// The chunk `seq`, if held.
    pub fn get(&self, seq: u64) -> Option<ChunkRef<'_>> {
        let i = self.index(seq);
        let s = &self.slots[i];
        if !s.used || s.seq != seq {
            return None;
        }
        let off = i * CHUNK_MAX;
        let len = usize::from(s.len);
        let payload = if self.data.is_empty() {
            &ZEROS[..len]
        } else {
            &self.data[off..off + len]
        };
        Some(ChunkRef {
            info: ChunkInfo {
                seq,
                flags: s.flags,
                key_id: s.key_id,
                stamp_ms: s.stamp_ms,
            },
            payload,
        })
    }

    /// Chunk `seq`'s payload for rewriting in place, with its flags and key id (the root's
    /// scrambler, `root/licence.rs`). `None` if not held, or in metadata-only mode.
    pub fn get_mut(&mut self, seq: u64) -> Option<(&mut ChunkFlags, &mut u8, &mut [u8])> {
        let i = self.index(seq);
        let s = &mut self.slots[i];
        if !s.used || s.seq != seq || self.data.is_empty() {
            return None;
        }
        let off = i * CHUNK_MAX;
        let payload = &mut self.data[off..off + usize::from(s.len)];
        Some((&mut s.flags, &mut s.key_id, payload))
    }

    /// Stores a chunk, replacing whatever held its slot. Returns false (and stores nothing) if the
    /// payload is too long, or if the chunk is older than the window, or already held.
    pub fn insert(&mut self, info: ChunkInfo, payload: &[u8]) -> bool {
        if payload.len() > CHUNK_MAX {
            return false;
        }
        if self.window_start().is_some_and(|w| info.seq < w) || self.contains(info.seq) {
            return false;
        }
        let i = self.index(info.seq);
        let off = i * CHUNK_MAX;
        if !self.data.is_empty() {
            self.data[off..off + payload.len()].copy_from_slice(payload);
        }
        let s = &mut self.slots[i];
        if !s.used {
            self.used += 1;
        }
        // len fits: payload.len() <= CHUNK_MAX < u16::MAX
        *s = Slot {
            seq: info.seq,
            stamp_ms: info.stamp_ms,
            len: payload.len() as u16,
            flags: info.flags,
            key_id: info.key_id,
            used: true,
        };
        if self.newest.is_none_or(|n| info.seq > n) {
            self.newest = Some(info.seq);
        }
        true
    }

    /// The newest held random-access chunk at or before `seq`, searching back to the window start.
    pub fn rap_at_or_before(&self, seq: u64) -> Option<u64> {
        let start = self.window_start()?;
        let mut s = seq.min(self.newest?);
        loop {
            if self
                .get(s)
                .is_some_and(|c| c.info.flags.contains(ChunkFlags::RAP))
            {
                return Some(s);
            }
            if s <= start {
                return None;
            }
            s -= 1;
        }
    }

    /// The first held random-access chunk in `from..=to`.
    pub fn rap_in(&self, from: u64, to: u64) -> Option<u64> {
        (from..=to).find(|&s| {
            self.get(s)
                .is_some_and(|c| c.info.flags.contains(ChunkFlags::RAP))
        })
    }

    /// Forgets every chunk (a new stream epoch: the source restarted or the box rejoined).
    pub fn clear(&mut self) {
        for s in self.slots.iter_mut() {
            s.used = false;
        }
        self.used = 0;
        self.newest = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(seq: u64, flags: ChunkFlags) -> ChunkInfo {
        ChunkInfo {
            seq,
            flags,
            key_id: 0,
            stamp_ms: seq as u32,
        }
    }

    #[test]
    fn budget_sets_slots() {
        assert!(matches!(
            ChunkPool::with_budget(1000),
            Err(PoolError::BudgetTooSmall { .. })
        ));
        let p = ChunkPool::with_budget(100 * SLOT_COST + 5).unwrap();
        assert_eq!(p.slots(), 100);
    }

    #[test]
    fn rate_from_stamps() {
        let mut p = ChunkPool::with_budget(4 * MIN_SLOTS * SLOT_COST).unwrap();
        // 100 chunks 10 ms apart: 1316 B × 8 / 10 ms = 1052 kbit/s.
        for k in 0..100u64 {
            let i = ChunkInfo {
                seq: 1000 + k,
                flags: ChunkFlags::NONE,
                key_id: 0,
                stamp_ms: (k * 10) as u32,
            };
            assert!(p.insert(i, &[0; 188]));
        }
        assert_eq!(p.rate_kbps(100), Some(1052));
        assert_eq!(p.rate_kbps(1000), None, "spans only 990 ms");
        assert_eq!(p.rate_kbps_between(1000, 1050, 100), Some(1052));
        assert_eq!(p.rate_kbps_between(900, 1050, 100), None, "900 is not held");
    }

    #[test]
    fn ring_reuses_oldest() {
        let mut p = ChunkPool::with_budget(MIN_SLOTS * SLOT_COST).unwrap();
        let n = MIN_SLOTS as u64;
        for s in 10..10 + n + 5 {
            assert!(p.insert(info(s, ChunkFlags::NONE), &[s as u8; 188]));
        }
        assert_eq!(p.used(), MIN_SLOTS);
        assert!(p.get(10).is_none());
        assert!(p.get(14).is_none());
        assert_eq!(p.get(15).unwrap().payload[0], 15);
        assert_eq!(p.window_start(), Some(15));
        // Too old, duplicate and oversize inserts are refused.
        assert!(!p.insert(info(3, ChunkFlags::NONE), &[0; 188]));
        assert!(!p.insert(info(20, ChunkFlags::NONE), &[0; 188]));
        assert!(!p.insert(info(200, ChunkFlags::NONE), &[0; CHUNK_MAX + 1]));
    }

    #[test]
    fn finds_random_access_points() {
        let mut p = ChunkPool::with_budget(MIN_SLOTS * SLOT_COST).unwrap();
        for s in 0..20 {
            let f = if s % 5 == 0 {
                ChunkFlags::RAP
            } else {
                ChunkFlags::NONE
            };
            p.insert(info(s, f), &[0; 188]);
        }
        assert_eq!(p.rap_at_or_before(19), Some(15));
        assert_eq!(p.rap_at_or_before(14), Some(10));
        assert_eq!(p.rap_in(11, 19), Some(15));
        assert_eq!(p.rap_in(16, 19), None);
    }
}
