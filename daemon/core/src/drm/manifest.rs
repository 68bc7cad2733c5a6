//! The signed segment manifest: which chunks a segment holds, by hash, under one signature.
//!
//! Wire format (big-endian), [`MANIFEST_MAX_LEN`] = 1294 bytes at most, so it fits one datagram:
//!
//! | field       | size            | meaning |
//! |-------------|-----------------|---------|
//! | version     | 1               | [`VERSION`] |
//! | channel_tag | 4               | the channel this manifest belongs to |
//! | first_seq   | 8               | sequence number of the first chunk |
//! | count       | 1               | chunks in the segment, 1..=[`MANIFEST_MAX`] |
//! | hashes      | count × 16      | [`chunk_hash`] of chunk first_seq + i |
//! | signature   | 256             | RSA-2048 (e = 3) PKCS#1 v1.5 SHA-256 of the signed message |
//!
//! The signature covers the 14 header bytes followed by BLAKE2s-256 of the hash list (46 bytes,
//! one SHA-256 block), not the ≈ 1 KB list itself: SHA-256 over the list was half of a check's
//! instructions on x86 (docs/BENCHMARKS.md), and BLAKE2s is the hash the box runs fast anyway.
//!
//! A chunk's hash covers `seq (u64 BE) ‖ flags ‖ key_id ‖ payload as carried` — after scrambling,
//! so a box checks a chunk before it spends anything on descrambling it, and a box without the
//! key can still verify what it relays. `stamp_ms` is not covered: it is advisory timing only.
//! Hashes are BLAKE2s-256 truncated to 128 bits (BLAKE2s: half the instructions per byte of
//! portable SHA-256, and SSE4.1/AVX2 code on x86 through `tvmesh-crypto`, see docs/BENCHMARKS.md):
//! forging a chunk needs a second preimage (2^128 work), and collisions help no one but the root,
//! which signs anyway.
//!
//! Why RSA with e = 3 and not Ed25519 (version 1 of this format): a box checks one signature per
//! segment, 12 a second at 8 Mbit/s, and an RSA e = 3 check is a SHA-256 and two modular
//! multiplications. Measured per check (docs/BENCHMARKS.md): Ed25519 ≈ 0.4 M instructions on
//! x86-64, 1.7 M on armv7 and 5.6 M on mipsel (no SIMD, 32-bit multiplies); signing, the costly
//! side of RSA, happens once per segment on the root. The check compares the whole encoded block
//! (`tvmesh_crypto::RsaPublicKey::verify`), which is what keeps e = 3 safe.
//!
//! Invariants: [`Manifest::parse`] checks every length before reading and rejects trailing bytes,
//! so no input can make it panic; a parsed manifest's `first_seq + count` does not overflow.

use crate::chunk::ChunkInfo;
use tvmesh_crypto::{RsaPublicKey, RsaSecretKey};

/// Format version this code writes and reads (1 was signed with Ed25519).
pub const VERSION: u8 = 2;
/// Most chunks in one segment.
pub const MANIFEST_MAX: usize = 64;
/// Bytes of a truncated chunk hash.
pub const HASH_LEN: usize = 16;
/// Bytes of an RSA-2048 signature.
pub const SIGNATURE_LEN: usize = tvmesh_crypto::RSA_LEN;
/// Bytes before the hashes.
pub const HEADER_LEN: usize = 14;
/// Largest manifest.
pub const MANIFEST_MAX_LEN: usize = HEADER_LEN + MANIFEST_MAX * HASH_LEN + SIGNATURE_LEN;

/// A truncated chunk hash.
pub type ChunkHash = [u8; HASH_LEN];

/// Why bytes are not a manifest, or a manifest is not accepted.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ManifestError {
    /// Shorter than its fields require.
    Truncated,
    /// Unknown version byte.
    Version,
    /// Count is 0 or above [`MANIFEST_MAX`], or `first_seq + count` overflows.
    Count,
    /// Bytes after the signature.
    Trailing,
    /// The output buffer is too small.
    Buffer,
    /// The signature does not verify under the channel's key.
    BadSignature,
    /// The manifest names another channel.
    WrongChannel,
    /// The manifest's chunks are older than the verifier's window.
    OutsideWindow,
}

/// The hash a manifest carries for a chunk.
pub fn chunk_hash(info: &ChunkInfo, payload: &[u8]) -> ChunkHash {
    truncate(&tvmesh_crypto::blake2s_256(&chunk_head(info), payload))
}

/// What the hash covers before the payload: `seq (u64 BE) ‖ flags ‖ key_id`.
pub(crate) fn chunk_head(info: &ChunkInfo) -> [u8; 10] {
    let mut head = [0u8; 10];
    head[..8].copy_from_slice(&info.seq.to_be_bytes());
    head[8] = info.flags.0;
    head[9] = info.key_id;
    head
}

/// What a manifest's signature covers: its header, then BLAKE2s-256 of its hash list.
fn signed_message(head: &[u8; HEADER_LEN], hashes: &[u8]) -> [u8; HEADER_LEN + 32] {
    let mut m = [0u8; HEADER_LEN + 32];
    m[..HEADER_LEN].copy_from_slice(head);
    m[HEADER_LEN..].copy_from_slice(&tvmesh_crypto::blake2s_256(&[], hashes));
    m
}

/// A full BLAKE2s-256 digest cut to [`HASH_LEN`].
pub(crate) fn truncate(full: &[u8; 32]) -> ChunkHash {
    let mut out = [0u8; HASH_LEN];
    out.copy_from_slice(&full[..HASH_LEN]);
    out
}

/// A parsed manifest, borrowing the datagram. The signature is not yet checked.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Manifest<'a> {
    /// Channel tag.
    pub channel_tag: u32,
    /// First chunk's sequence number.
    pub first_seq: u64,
    head: &'a [u8; HEADER_LEN],
    hashes: &'a [u8],
    signature: &'a [u8],
}

impl<'a> Manifest<'a> {
    /// Parses and length-checks `b`; does not check the signature (see [`Manifest::verify`]).
    pub fn parse(b: &'a [u8]) -> Result<Self, ManifestError> {
        let mut r = super::Bytes::new(b);
        let version = r.u8().ok_or(ManifestError::Truncated)?;
        if version != VERSION {
            return Err(ManifestError::Version);
        }
        let channel_tag = r.u32().ok_or(ManifestError::Truncated)?;
        let first_seq = r.u64().ok_or(ManifestError::Truncated)?;
        let count = usize::from(r.u8().ok_or(ManifestError::Truncated)?);
        if count == 0 || count > MANIFEST_MAX || first_seq.checked_add(count as u64).is_none() {
            return Err(ManifestError::Count);
        }
        let head = b
            .get(..HEADER_LEN)
            .and_then(|h| h.try_into().ok())
            .ok_or(ManifestError::Truncated)?;
        let hashes = r.take(count * HASH_LEN).ok_or(ManifestError::Truncated)?;
        let signature = r.take(SIGNATURE_LEN).ok_or(ManifestError::Truncated)?;
        if !r.rest().is_empty() {
            return Err(ManifestError::Trailing);
        }
        Ok(Manifest {
            channel_tag,
            first_seq,
            head,
            hashes,
            signature,
        })
    }

    /// Chunks covered.
    pub fn count(&self) -> usize {
        self.hashes.len() / HASH_LEN
    }

    /// `(seq, hash)` of every chunk covered, in order.
    pub fn entries(&self) -> impl Iterator<Item = (u64, ChunkHash)> + 'a {
        let first = self.first_seq;
        self.hashes
            .chunks_exact(HASH_LEN)
            .zip(0u64..)
            .map(move |(h, i)| {
                let mut a = [0u8; HASH_LEN];
                a.copy_from_slice(h);
                (first + i, a)
            })
    }

    /// Checks the signature under `key`.
    pub fn verify(&self, key: &RsaPublicKey) -> Result<(), ManifestError> {
        let sig: &[u8; SIGNATURE_LEN] = self
            .signature
            .try_into()
            .map_err(|_| ManifestError::BadSignature)?;
        if key.verify(&signed_message(self.head, self.hashes), sig) {
            Ok(())
        } else {
            Err(ManifestError::BadSignature)
        }
    }
}

/// Writes and signs the manifest of `hashes` (chunks `first_seq..`) into `out`; returns its length.
pub fn emit(
    channel_tag: u32,
    first_seq: u64,
    hashes: &[ChunkHash],
    key: &RsaSecretKey,
    out: &mut [u8],
) -> Result<usize, ManifestError> {
    if hashes.is_empty()
        || hashes.len() > MANIFEST_MAX
        || first_seq.checked_add(hashes.len() as u64).is_none()
    {
        return Err(ManifestError::Count);
    }
    let mut w = super::Out::new(out);
    let mut head = [0u8; HEADER_LEN];
    head[0] = VERSION;
    head[1..5].copy_from_slice(&channel_tag.to_be_bytes());
    head[5..13].copy_from_slice(&first_seq.to_be_bytes());
    head[13] = hashes.len() as u8; // ≤ MANIFEST_MAX (64), checked above
    w.put(&head).ok_or(ManifestError::Buffer)?;
    for h in hashes {
        w.put(h).ok_or(ManifestError::Buffer)?;
    }
    let sig = key.sign(&signed_message(&head, &w.written()[HEADER_LEN..]));
    w.put(&sig).ok_or(ManifestError::Buffer)?;
    Ok(w.len())
}

#[cfg(test)]
mod tests;
