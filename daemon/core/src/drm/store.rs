//! A small ring of recent signed manifests, raw, for forwarding and for answering MANIFEST_REQ.
//!
//! Invariants: holds at most the capacity given at creation (each slot
//! [`MANIFEST_MAX_LEN`](super::manifest::MANIFEST_MAX_LEN) bytes, allocated once); inserting
//! overwrites the oldest slot; only bytes that parse as a manifest are stored (their signature is
//! the caller's business: the root stores what it signed, a box what its verifier accepted).

use super::manifest::{Manifest, MANIFEST_MAX_LEN};
use alloc::vec;
use alloc::vec::Vec;

#[derive(Clone)]
struct Slot {
    first: u64,
    count: u64,
    len: usize,
    bytes: [u8; MANIFEST_MAX_LEN],
}

/// Recent manifests, newest overwriting oldest.
pub struct ManifestStore {
    slots: Vec<Slot>,
    next: usize,
}

impl core::fmt::Debug for ManifestStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ManifestStore")
            .field("slots", &self.slots.len())
            .finish_non_exhaustive()
    }
}

impl ManifestStore {
    /// A store of `cap` manifests (at least 1).
    pub fn new(cap: usize) -> Self {
        let empty = Slot {
            first: 0,
            count: 0,
            len: 0,
            bytes: [0; MANIFEST_MAX_LEN],
        };
        ManifestStore {
            slots: vec![empty; cap.max(1)],
            next: 0,
        }
    }

    /// Stores `bytes` if they parse as a manifest; returns its slot.
    pub fn insert(&mut self, bytes: &[u8]) -> Option<usize> {
        let m = Manifest::parse(bytes).ok()?;
        let i = self.next;
        let s = &mut self.slots[i];
        s.first = m.first_seq;
        s.count = m.count() as u64;
        s.len = bytes.len(); // ≤ MANIFEST_MAX_LEN: parse checked the count
        s.bytes[..bytes.len()].copy_from_slice(bytes);
        self.next = (i + 1) % self.slots.len();
        Some(i)
    }

    /// The manifest in `slot` (empty if never filled).
    pub fn slot(&self, slot: usize) -> &[u8] {
        self.slots.get(slot).map_or(&[], |s| &s.bytes[..s.len])
    }

    /// The newest stored manifest covering `seq`, by slot.
    pub fn find(&self, seq: u64) -> Option<usize> {
        let n = self.slots.len();
        (1..=n).map(|k| (self.next + n - k) % n).find(|&i| {
            let s = &self.slots[i];
            s.len > 0 && seq >= s.first && seq - s.first < s.count
        })
    }
}
