//! Ed25519 signature checks (RFC 8032) for the box: one per signed manifest.
//!
//! Built on `ed25519-dalek`, whose `curve25519-dalek` picks an AVX2 backend at run time on x86-64
//! and a 32-bit backend on 32-bit boxes (measured ≈ 0.37 M instructions per check here against
//! ≈ 0.65 M for `ed25519-compact` without `opt_size` and ≈ 0.87 M with it; docs/BENCHMARKS.md).
//! The public key is decompressed once, in [`Ed25519PublicKey::from_bytes`], and reused for every
//! manifest of the channel.
//!
//! Invariants: a key that does not decode, or has small order (a "weak" key, under which
//! signatures can be forged for any message), is refused at construction; [`verify`] rejects a
//! non-canonical `s` and checks the cofactorless equation against the signature's `R` bytes as
//! given, so no malformed input verifies and nothing here panics.
//!
//! [`verify`]: Ed25519PublicKey::verify

use ed25519_dalek::Verifier as _;

/// A channel's Ed25519 public key, decompressed.
#[derive(Clone, Debug)]
pub struct Ed25519PublicKey(ed25519_dalek::VerifyingKey);

impl Ed25519PublicKey {
    /// The key of the 32 compressed bytes; `None` if they are not a point or the point is weak.
    pub fn from_bytes(bytes: &[u8; 32]) -> Option<Self> {
        let key = ed25519_dalek::VerifyingKey::from_bytes(bytes).ok()?;
        (!key.is_weak()).then_some(Ed25519PublicKey(key))
    }

    /// Whether `signature` signs `message` under this key.
    #[inline(never)]
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let sig = ed25519_dalek::Signature::from_bytes(signature);
        self.0.verify(message, &sig).is_ok()
    }
}
