//! DRM and chunk integrity: the sans-IO building blocks of issue 6.
//!
//! - [`cipher`]: scramble / descramble a chunk's TS payloads in place with ChaCha20.
//! - [`descrambler`]: the box's descrambler, which makes keystreams 8 chunks ahead and keeps them.
//! - [`keys`]: the root's rotating channel-key schedule and the box's table of received keys.
//! - [`manifest`]: the signed segment manifest (truncated BLAKE2s per chunk, one RSA-2048 e = 3
//!   signature per segment), parse and emit.
//! - [`sign`]: the root's [`sign::Signer`], which closes a segment every `segment_ms` or
//!   [`manifest::MANIFEST_MAX`] chunks and signs its manifest.
//! - [`verify`]: the box's [`verify::Verifier`]: one signature check per manifest, a hash compare
//!   per chunk, against a fixed window of verified hashes.
//! - [`licence`]: licence request and reply (device identity, keys wrapped under the device secret
//!   with ChaCha20-Poly1305).
//! - [`entitlements`]: the operator's entitlements file.
//! - [`package`], [`keyfile`], [`packager`]: the ahead-of-time packager's container, key file and
//!   state machine (a stream scrambled before it reaches the root, ingested with
//!   `source=packaged:PATH`).
//!
//! Invariants shared by all of them: nothing here reads a clock or a random source (time comes in
//! as [`crate::time::Instant`] or unix seconds, randomness as seeds and nonces); no input from the
//! network or a file can make them panic; the per-chunk paths ([`cipher`], [`sign::Signer::push`],
//! [`verify::Verifier::check`]) never allocate — every table is sized once at creation.
//!
//! Order of work on a box (cheap checks before expensive ones): a chunk's hash is checked against
//! its signed manifest *before* it is stored, forwarded or descrambled; a manifest's channel tag
//! and window are checked before its signature.

pub mod cipher;
pub mod descrambler;
pub mod entitlements;
pub mod keyfile;
pub mod keys;
pub mod licence;
pub mod manifest;
pub mod package;
pub mod packager;
pub mod sign;
pub mod store;
#[cfg(test)]
pub(crate) mod test_keys;
pub mod verify;

/// A 256-bit symmetric key (channel key or device secret).
pub type Key = [u8; 32];

/// The 96-bit ChaCha20 nonce that scrambles chunk `seq` of channel `channel_tag`:
/// `channel_tag` (u32 BE) ‖ `seq` (u64 BE). Unique per chunk and channel, so a key may be shared by
/// every chunk of one channel without keystream reuse.
pub fn chunk_nonce(channel_tag: u32, seq: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..4].copy_from_slice(&channel_tag.to_be_bytes());
    n[4..].copy_from_slice(&seq.to_be_bytes());
    n
}

/// Bounds-checked big-endian reading for the DRM message formats: every read checks length first
/// and reports `None` when the input is short.
pub(crate) struct Bytes<'a> {
    b: &'a [u8],
}

impl<'a> Bytes<'a> {
    pub(crate) fn new(b: &'a [u8]) -> Self {
        Bytes { b }
    }
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.b.len() < n {
            return None;
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Some(h)
    }
    pub(crate) fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
    pub(crate) fn u8(&mut self) -> Option<u8> {
        Some(self.array::<1>()?[0])
    }
    pub(crate) fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.array()?))
    }
    pub(crate) fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.array()?))
    }
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.b
    }
}

/// Appends to a caller's buffer, checking room first; `None` when it does not fit.
pub(crate) struct Out<'a> {
    b: &'a mut [u8],
    n: usize,
}

impl<'a> Out<'a> {
    pub(crate) fn new(b: &'a mut [u8]) -> Self {
        Out { b, n: 0 }
    }
    pub(crate) fn len(&self) -> usize {
        self.n
    }
    pub(crate) fn put(&mut self, s: &[u8]) -> Option<()> {
        let end = self.n.checked_add(s.len())?;
        self.b.get_mut(self.n..end)?.copy_from_slice(s);
        self.n = end;
        Some(())
    }
    pub(crate) fn written(&self) -> &[u8] {
        &self.b[..self.n]
    }
}

/// A channel's 32-bit tag, used in manifests and nonces: the first 4 bytes of SHA-256 of its name,
/// so the root and every box derive the same tag without sending it.
pub fn channel_tag(name: &[u8]) -> u32 {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(name);
    u32::from_be_bytes([h[0], h[1], h[2], h[3]])
}

/// The seed of channel `name`'s RSA signing key under the root's master seed: SHA-256 of a
/// domain label, the master seed and the name (`tvmesh_crypto::RsaSecretKey::from_seed` makes
/// the key from it). A root restarted with the same master seed keeps the same channel keys, so
/// boxes that pinned them keep working.
pub fn channel_signing_seed(master: &Key, name: &[u8]) -> Key {
    derive_seed(
        b"tvmesh channel signing key v2 (RSA-2048, e = 3)",
        master,
        name,
    )
}

/// A channel public key's fingerprint: SHA-256 of its 256-byte big-endian modulus. Boxes pin it,
/// board profiles name it (`channel_key`), and the status page shows it
/// (`openssl rsa -pubin -modulus` prints the modulus, whose bytes hash to the same value).
pub fn key_fingerprint(modulus: &[u8]) -> Key {
    use sha2::{Digest, Sha256};
    Sha256::digest(modulus).into()
}

/// SHA-256 of a domain label, the master seed and a channel name.
fn derive_seed(label: &[u8], master: &Key, name: &[u8]) -> Key {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(label);
    h.update(master);
    h.update(name);
    h.finalize().into()
}

/// The key-schedule seed of a protected channel `name` under the root's master seed, for
/// channels configured `protect=yes` (a label distinct from [`channel_signing_seed`]'s, so the two
/// keys are unrelated).
pub fn channel_scrambling_seed(master: &Key, name: &[u8]) -> Key {
    derive_seed(b"tvmesh channel scrambling seed v1", master, name)
}
