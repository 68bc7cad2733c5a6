//! The root's segment signer: hashes each chunk as it is made and signs one manifest per segment.
//!
//! Driving contract (the crate's usual one):
//! 1. [`Signer::push`] every chunk of the channel, in order, as it leaves the chunker (after
//!    scrambling: the hash covers the payload as carried);
//! 2. drain [`Signer::poll_manifest`] until `None`, sending each manifest to the boxes;
//! 3. wake at [`Signer::poll_timeout`] and call [`Signer::handle_timeout`], then go to 2.
//!
//! A segment closes when it holds [`MANIFEST_MAX`] chunks, when `segment_ms` has passed since its
//! first chunk, or when a chunk does not follow the previous one (a gap or a restart). So a chunk's
//! manifest leaves the root at most `segment_ms` after the chunk: that bounds the latency a box
//! adds by holding chunks until their manifest arrives. At 8 Mbps (≈ 760 chunks/s) 64 chunks fill
//! in ≈ 84 ms, so segments close on count, below the default 100 ms.
//!
//! Invariants: [`Signer::push`] does not allocate (the open segment's hashes and a small ring of
//! [`READY_SLOTS`] signed manifests are allocated once in [`Signer::new`]); if the caller does not
//! drain the ring, the oldest manifest is dropped and counted ([`Signer::dropped`]), never a panic.

use super::manifest::{self, chunk_hash, ChunkHash, MANIFEST_MAX, MANIFEST_MAX_LEN};
use crate::chunk::ChunkInfo;
use crate::time::Instant;
use alloc::boxed::Box;
use alloc::vec;
use core::time::Duration;
use tvmesh_crypto::RsaSecretKey;

/// Signed manifests held until polled.
pub const READY_SLOTS: usize = 4;
/// Default segment duration: bounds the latency verification adds on boxes.
pub const DEFAULT_SEGMENT_MS: u32 = 100;

/// Hashes a channel's chunks and signs a manifest per segment. See the module docs.
pub struct Signer {
    key: RsaSecretKey,
    channel_tag: u32,
    segment: Duration,
    first_seq: u64,
    opened: Instant,
    count: usize,
    hashes: Box<[ChunkHash; MANIFEST_MAX]>,
    ready: Box<[([u8; MANIFEST_MAX_LEN], usize)]>,
    ready_head: usize,
    ready_len: usize,
    dropped: u64,
    signed: u64,
}

impl core::fmt::Debug for Signer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Signer")
            .field("channel_tag", &self.channel_tag)
            .field("first_seq", &self.first_seq)
            .field("count", &self.count)
            .field("ready", &self.ready_len)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer for channel `channel_tag` with the channel's signing key; segments last at most
    /// `segment_ms` (at least 1 ms is used).
    pub fn new(key: RsaSecretKey, channel_tag: u32, segment_ms: u32) -> Self {
        Signer {
            key,
            channel_tag,
            segment: Duration::from_millis(u64::from(segment_ms.max(1))),
            first_seq: 0,
            opened: Instant::ZERO,
            count: 0,
            hashes: Box::new([[0; manifest::HASH_LEN]; MANIFEST_MAX]),
            ready: vec![([0; MANIFEST_MAX_LEN], 0); READY_SLOTS].into_boxed_slice(),
            ready_head: 0,
            ready_len: 0,
            dropped: 0,
            signed: 0,
        }
    }

    /// Adds a chunk (`payload` as carried, after scrambling) to the open segment.
    pub fn push(&mut self, now: Instant, info: &ChunkInfo, payload: &[u8]) {
        if self.count > 0
            && (Some(info.seq) != self.first_seq.checked_add(self.count as u64)
                || now >= self.opened + self.segment)
        {
            self.close();
        }
        if self.count == 0 {
            self.first_seq = info.seq;
            self.opened = now;
        }
        self.hashes[self.count] = chunk_hash(info, payload);
        self.count += 1;
        if self.count == MANIFEST_MAX {
            self.close();
        }
    }

    /// When the open segment must close, if one is open.
    pub fn poll_timeout(&self) -> Option<Instant> {
        (self.count > 0).then(|| self.opened + self.segment)
    }

    /// Closes the open segment if its time is up.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.count > 0 && now >= self.opened + self.segment {
            self.close();
        }
    }

    /// Copies the oldest signed manifest into `buf` (give it [`MANIFEST_MAX_LEN`] bytes) and returns
    /// its length. A manifest that does not fit `buf` is dropped and counted.
    pub fn poll_manifest(&mut self, buf: &mut [u8]) -> Option<usize> {
        while self.ready_len > 0 {
            let (bytes, len) = &self.ready[self.ready_head];
            self.ready_head = (self.ready_head + 1) % READY_SLOTS;
            self.ready_len -= 1;
            if let Some(dst) = buf.get_mut(..*len) {
                dst.copy_from_slice(&bytes[..*len]);
                return Some(*len);
            }
            self.dropped += 1;
        }
        None
    }

    /// Manifests signed so far.
    pub fn signed(&self) -> u64 {
        self.signed
    }

    /// Manifests lost because the ring was not drained in time or a buffer was too small.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    fn close(&mut self) {
        let count = core::mem::take(&mut self.count);
        if self.ready_len == READY_SLOTS {
            self.ready_head = (self.ready_head + 1) % READY_SLOTS;
            self.ready_len -= 1;
            self.dropped += 1;
        }
        let slot = (self.ready_head + self.ready_len) % READY_SLOTS;
        let (bytes, len) = &mut self.ready[slot];
        match manifest::emit(
            self.channel_tag,
            self.first_seq,
            &self.hashes[..count],
            &self.key,
            bytes,
        ) {
            Ok(n) => {
                *len = n;
                self.ready_len += 1;
                self.signed += 1;
            }
            // Only a segment ending past u64::MAX can fail here (the buffer is MANIFEST_MAX_LEN).
            Err(_) => self.dropped += 1,
        }
    }
}
