//! The box's chunk verifier: signed manifests in, a verdict per chunk out.
//!
//! A [`Verifier`] holds the channel's pinned RSA public key and a window of `window` verified
//! chunk hashes, indexed by `seq % window`. [`Verifier::handle_manifest`] checks, cheapest first,
//! the manifest's format, its channel tag, that it is not wholly older than the window, and then
//! its signature — one RSA e = 3 check per manifest, under the key whose Montgomery constants
//! [`Verifier::new`] computes once — and stores its hashes.
//! [`Verifier::check`] hashes a chunk (BLAKE2s over ≈ 1.3 KB) and compares;
//! [`Verifier::check_many`] does the same for the chunks a box held until their manifest came,
//! hashing [`tvmesh_crypto::MANY`] side by side (AVX2 on x86: ≈ 4× fewer instructions).
//!
//! Verdicts: [`Verdict::Valid`] — store, forward, output; [`Verdict::Forged`] — drop the chunk,
//! drop and ban the peer that sent it, fetch the chunk elsewhere; [`Verdict::Unknown`] — no
//! manifest covers that seq yet: hold the chunk pending and check again when
//! [`Verifier::handle_manifest`] returns a range that covers it; [`Verdict::Stale`] — older than
//! the window, so it can no longer be checked: drop it (the box has played past it anyway; not
//! proof of malice, so no ban).
//!
//! Invariants: the window and the hashing buffers are allocated once in [`Verifier::new`]; no
//! other call allocates. A manifest already wholly known (same seqs, same hashes — a box hears
//! one from several parents) is accepted without a second signature check. A newer validly signed manifest replaces the
//! hash stored for a seq (the root's word is final). Sequence numbers only move the window
//! forwards.

use super::manifest::{
    chunk_hash, chunk_head, truncate, ChunkHash, Manifest, ManifestError, MANIFEST_MAX,
};
use crate::chunk::ChunkInfo;
use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;
use tvmesh_crypto::{RsaPublicKey, RSA_LEN};

/// Largest verification window, in chunks (≈ 86 s at 8 Mbps; 24 bytes each).
pub const WINDOW_MAX: usize = 1 << 16;

/// What a chunk is, as far as the signed manifests say.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Its hash matches the signed manifest.
    Valid,
    /// A signed manifest covers it and the hash differs.
    Forged,
    /// No manifest for it yet: hold it.
    Unknown,
    /// Older than the window: it can no longer be checked.
    Stale,
}

/// Why a verifier could not be made.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum VerifierError {
    /// `window` is below [`MANIFEST_MAX`] or above [`WINDOW_MAX`].
    Window,
    /// The public key is not an odd 2048-bit modulus.
    PublicKey,
}

/// Counters for the status page.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyStats {
    /// Manifests whose signature verified.
    pub manifests: u64,
    /// Manifests accepted as already known, without a signature check.
    pub duplicates: u64,
    /// Manifests rejected, any reason.
    pub rejected: u64,
    /// Chunks found valid.
    pub valid: u64,
    /// Chunks found forged.
    pub forged: u64,
}

#[derive(Copy, Clone)]
struct Slot {
    /// `u64::MAX` when empty (no chunk has that seq: segments end before u64::MAX).
    seq: u64,
    hash: ChunkHash,
}

const EMPTY: Slot = Slot {
    seq: u64::MAX,
    hash: [0; 16],
};

/// Verifies one channel's chunks against its signed manifests. See the module docs.
pub struct Verifier {
    key: RsaPublicKey,
    /// Copy buffers for [`Verifier::check_many`]'s side-by-side hashing (11 KiB).
    many: Box<tvmesh_crypto::Blake2sMany>,
    channel_tag: u32,
    slots: Vec<Slot>,
    /// One past the highest seq any accepted manifest covers; 0 before the first.
    end: u64,
    stats: VerifyStats,
}

impl core::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Verifier")
            .field("channel_tag", &self.channel_tag)
            .field("window", &self.slots.len())
            .field("end", &self.end)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier for channel `channel_tag`, trusting the RSA key of `modulus` (e = 3),
    /// remembering `window` chunks.
    pub fn new(
        modulus: &[u8; RSA_LEN],
        channel_tag: u32,
        window: usize,
    ) -> Result<Self, VerifierError> {
        if !(MANIFEST_MAX..=WINDOW_MAX).contains(&window) {
            return Err(VerifierError::Window);
        }
        let key = RsaPublicKey::from_modulus(modulus).ok_or(VerifierError::PublicKey)?;
        Ok(Verifier {
            key,
            many: Box::new(tvmesh_crypto::Blake2sMany::new()),
            channel_tag,
            slots: vec![EMPTY; window],
            end: 0,
            stats: VerifyStats::default(),
        })
    }

    /// Lowest seq still in the window.
    fn low(&self) -> u64 {
        self.end.saturating_sub(self.slots.len() as u64)
    }

    fn slot(&self, seq: u64) -> usize {
        (seq % self.slots.len() as u64) as usize // < window, which is a usize
    }

    /// Checks and stores a manifest; returns the `(first_seq, count)` it covers, so the caller can
    /// re-check chunks it holds pending in that range.
    pub fn handle_manifest(&mut self, bytes: &[u8]) -> Result<(u64, usize), ManifestError> {
        let r = self.accept(bytes);
        if r.is_err() {
            self.stats.rejected += 1;
        }
        r
    }

    fn accept(&mut self, bytes: &[u8]) -> Result<(u64, usize), ManifestError> {
        let m = Manifest::parse(bytes)?;
        if m.channel_tag != self.channel_tag {
            return Err(ManifestError::WrongChannel);
        }
        let (first, count) = (m.first_seq, m.count());
        let last_end = first + count as u64; // no overflow: checked by parse
        if last_end <= self.low() {
            return Err(ManifestError::OutsideWindow);
        }
        if m.entries().all(|(seq, h)| {
            let s = &self.slots[self.slot(seq)];
            s.seq == seq && s.hash == h && seq >= self.low()
        }) {
            self.stats.duplicates += 1;
            return Ok((first, count));
        }
        m.verify(&self.key)?;
        self.stats.manifests += 1;
        self.end = self.end.max(last_end);
        let low = self.low();
        for (seq, hash) in m.entries() {
            if seq >= low {
                let i = self.slot(seq);
                self.slots[i] = Slot { seq, hash };
            }
        }
        Ok((first, count))
    }

    /// Whether a verified manifest names chunk `seq` (so [`Verifier::check`] would hash it).
    pub fn covers(&self, seq: u64) -> bool {
        seq >= self.low() && self.slots[self.slot(seq)].seq == seq
    }

    /// Checks a chunk (`payload` as received, before descrambling).
    pub fn check(&mut self, info: &ChunkInfo, payload: &[u8]) -> Verdict {
        if info.seq < self.low() {
            return Verdict::Stale;
        }
        let s = self.slots[self.slot(info.seq)];
        if s.seq != info.seq {
            return Verdict::Unknown;
        }
        if chunk_hash(info, payload) == s.hash {
            self.stats.valid += 1;
            Verdict::Valid
        } else {
            self.stats.forged += 1;
            Verdict::Forged
        }
    }

    /// [`Verifier::check`] for many chunks: `verdicts[i]` gets the verdict of the i-th item (a
    /// `None` item gets [`Verdict::Unknown`]); items past `verdicts.len()` are not looked at.
    /// Same verdicts and counters as one `check` per item; the hashing runs in groups of
    /// [`tvmesh_crypto::MANY`], side by side where the CPU allows.
    pub fn check_many<'p>(
        &mut self,
        chunks: impl IntoIterator<Item = Option<(ChunkInfo, &'p [u8])>>,
        verdicts: &mut [Verdict],
    ) {
        const N: usize = tvmesh_crypto::MANY;
        // A group waiting to be hashed: (verdict index, head, payload, stored hash).
        let mut group: [(usize, [u8; 10], &[u8], ChunkHash); N] = [(0, [0; 10], &[], [0; 16]); N];
        let mut n = 0;
        for (i, item) in chunks.into_iter().take(verdicts.len()).enumerate() {
            verdicts[i] = Verdict::Unknown;
            let Some((info, payload)) = item else {
                continue;
            };
            if info.seq < self.low() {
                verdicts[i] = Verdict::Stale;
                continue;
            }
            let s = self.slots[self.slot(info.seq)];
            if s.seq != info.seq {
                continue;
            }
            group[n] = (i, chunk_head(&info), payload, s.hash);
            n += 1;
            if n == N {
                self.hash_group(&group, verdicts);
                n = 0;
            }
        }
        self.hash_group(&group[..n], verdicts);
    }

    fn hash_group(
        &mut self,
        group: &[(usize, [u8; 10], &[u8], ChunkHash)],
        verdicts: &mut [Verdict],
    ) {
        const N: usize = tvmesh_crypto::MANY;
        let mut msgs: [(&[u8], &[u8]); N] = [(&[], &[]); N];
        for (m, g) in msgs.iter_mut().zip(group) {
            *m = (&g.1, g.2);
        }
        let mut out = [[0u8; 32]; N];
        self.many.hash(&msgs[..group.len()], &mut out);
        for (g, full) in group.iter().zip(&out) {
            verdicts[g.0] = if truncate(full) == g.3 {
                self.stats.valid += 1;
                Verdict::Valid
            } else {
                self.stats.forged += 1;
                Verdict::Forged
            };
        }
    }

    /// One past the highest seq a verified manifest covers (0 before the first).
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Counters.
    pub fn stats(&self) -> VerifyStats {
        self.stats
    }
}

#[cfg(test)]
mod tests;
