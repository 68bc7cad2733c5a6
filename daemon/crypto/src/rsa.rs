//! RSA-2048 signatures with public exponent 3, PKCS#1 v1.5 with SHA-256 (RFC 8017 §8.2, §9.2),
//! for the per-segment manifest signatures: a check is two 2048-bit Montgomery multiplications
//! and a squaring (`s³ mod n`) and one SHA-256, against ≈ 0.4–5.6 M instructions for an Ed25519
//! check on the boxes. Measured (`examples/rsa_cost.rs`, 256-byte message, instructions per
//! check): x86-64 ≈ 74 k (callgrind; ≈ 60 k for an empty message), armv7 ≈ 159 k, mipsel
//! ≈ 295 k (qemu-user); a signature ≈ 12 M on x86-64.
//!
//! - [`RsaPublicKey::verify`]: rejects `s ≥ n`, computes `s³ mod n` and compares all 256 bytes
//!   with the encoding `EM = 00 01 FF…FF 00 ‖ DigestInfo(SHA-256) ‖ SHA-256(message)` it builds
//!   itself. Nothing of the decoded block is parsed, which is what keeps `e = 3` safe from
//!   Bleichenbacher's 2006 forgery (garbage after the hash, or a short padding, never matches).
//! - [`RsaSecretKey::sign`]: CRT with `dp = (2p − 1)/3`, `dq = (2q − 1)/3` (`p ≡ q ≡ 2 mod 3`, so
//!   `3·dp ≡ 1 mod p − 1`), `qinv = q^(p−2) mod p`, `s = sq + q·((sp − sq)·qinv mod p)`; the
//!   exponentiations are fixed-window with masked table reads and masked reductions (no secret
//!   branch or address, `bignum.rs`). The result is checked against the public key (`s³ ≡ EM`)
//!   before it leaves: a fault in the CRT halves would otherwise hand out a factor of `n`
//!   (Boneh–DeMillo–Lipton, "Bellcore"). On a mismatch the signature is computed once more
//!   without CRT (`m^d mod n`, `d = (2φ + 1)/3`) and checked again; if that fails too, the
//!   all-zero signature is returned, which verifies under no key and reveals nothing.
//! - [`RsaSecretKey::from_seed`]: deterministic key generation (`keygen.rs`), once per channel on
//!   the root: ≈ 0.1–0.5 s on the x86-64 build machine, depending on how far the prime search
//!   goes for that seed.
//!
//! Limbs are `u64` on 64-bit targets and `u32` elsewhere ([`W`]); everything below the public
//! types is generic over the limb type, and the tests run both widths on every target.
//!
//! Invariants: a [`RsaPublicKey`] modulus is odd, exactly 2048 bits and not divisible by 3; a
//! [`RsaSecretKey`] made by [`RsaSecretKey::from_primes`] has `p ≠ q`, both odd, 1024 bits, ≡ 2
//! mod 3, and `p·q` of 2048 bits (primality is the caller's word, not re-tested). Nothing
//! allocates or panics on any input; the secret key's `Debug` prints no secret. Signing keeps the
//! secrets out of branches and addresses; key setup (`from_primes`, `from_seed`: once per key,
//! on the root) does not try to (a division by 3, the prime search itself).

mod bignum;
mod keygen;

use bignum::{add, div3, from_be, lt, mul_wide, shl1_or1, small, sub, to_be, Limb, Mont};
use keygen::{mod3, PRIME_LEN};
use sha2::{Digest, Sha256};

/// Bytes of a modulus and of a signature.
pub const RSA_LEN: usize = 256;

/// The limb type of the keys' arithmetic: the widest whose products the target multiplies
/// natively.
#[cfg(target_pointer_width = "64")]
type W = u64;
#[cfg(not(target_pointer_width = "64"))]
type W = u32;
/// Limbs of a modulus and of a prime.
const NL: usize = RSA_LEN / core::mem::size_of::<W>();
const HL: usize = NL / 2;

/// RFC 8017 §9.2 note 1: the DER DigestInfo prefix of a SHA-256 hash.
const DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// EMSA-PKCS1-v1_5 encoding of `message` into 256 bytes (RFC 8017 §9.2).
fn encode(message: &[u8]) -> [u8; RSA_LEN] {
    let hash: [u8; 32] = Sha256::digest(message).into();
    let mut em = [0xff; RSA_LEN];
    em[0] = 0x00;
    em[1] = 0x01;
    let t = RSA_LEN - DIGEST_INFO.len() - hash.len();
    em[t - 1] = 0x00;
    em[t..t + DIGEST_INFO.len()].copy_from_slice(&DIGEST_INFO);
    em[RSA_LEN - hash.len()..].copy_from_slice(&hash);
    em
}

/// A public key over `N` limbs of `L` (`N·w = 2048`).
#[derive(Clone, Debug)]
pub(crate) struct Public<L: Limb, const N: usize> {
    m: Mont<L, N>,
}

impl<L: Limb, const N: usize> Public<L, N> {
    fn new(n: [L; N]) -> Option<Self> {
        let mut b = [0u8; RSA_LEN];
        to_be(&n, &mut b);
        if mod3(&b) == 0 {
            return None;
        }
        // Odd and top bit set are Mont's own conditions.
        Mont::new(n).map(|m| Public { m })
    }

    fn from_bytes(n: &[u8; RSA_LEN]) -> Option<Self> {
        Self::new(from_be(n))
    }

    fn modulus(&self) -> [u8; RSA_LEN] {
        let mut b = [0; RSA_LEN];
        to_be(&self.m.n, &mut b);
        b
    }

    /// `s³ mod n` for `s < n`: `sR`, `s²R`, `s³` (Montgomery multiplication, squaring,
    /// multiplication).
    #[inline(always)]
    fn cube(&self, s: &[L; N]) -> [L; N] {
        let t = self.m.to_mont(s);
        let u = self.m.sqr(&t);
        self.m.mul(&u, s)
    }

    /// Whether `s³ mod n` is `em` (both big-endian).
    fn check(&self, em: &[u8; RSA_LEN], signature: &[u8; RSA_LEN]) -> bool {
        let s = from_be(signature);
        lt(&s, &self.m.n) && self.cube(&s) == from_be::<L, N>(em)
    }
}

/// A secret key: `N`-limb modulus, `H`-limb primes (`N = 2H`, asserted at compile time).
#[derive(Clone)]
pub(crate) struct Secret<L: Limb, const N: usize, const H: usize> {
    public: Public<L, N>,
    p: Mont<L, H>,
    q: Mont<L, H>,
    dp: [L; H],
    dq: [L; H],
    /// `q⁻¹ mod p` in Montgomery form (`q⁻¹·R mod p`).
    qinv: [L; H],
}

/// `(2x − 1)/3` for `x ≡ 2 mod 3`: `x = 3j + 2`, so it is `2j + 1`.
fn crt_exponent<L: Limb, const H: usize>(x: &[L; H]) -> [L; H] {
    let (x2, _) = sub(x, &small(2));
    shl1_or1(&div3(&x2).0)
}

impl<L: Limb, const N: usize, const H: usize> Secret<L, N, H> {
    /// See [`RsaSecretKey::from_primes`].
    fn from_primes(p: &[u8; PRIME_LEN], q: &[u8; PRIME_LEN]) -> Option<Self> {
        let ok =
            |x: &[u8; PRIME_LEN]| x[0] & 0x80 != 0 && x[PRIME_LEN - 1] & 1 == 1 && mod3(x) == 2;
        if !ok(p) || !ok(q) || p == q {
            return None;
        }
        Self::build(p, q)
    }

    /// The key of `p` and `q`; `None` unless both are odd with their top bit set and `p·q` is a
    /// valid public modulus (top bit set, not divisible by 3). `p ≠ q` and primality are the
    /// caller's.
    fn build(p: &[u8; PRIME_LEN], q: &[u8; PRIME_LEN]) -> Option<Self> {
        const { assert!(N == 2 * H) };
        let mp = Mont::<L, H>::new(from_be(p))?;
        let mq = Mont::<L, H>::new(from_be(q))?;
        let public = Public::new(mul_wide::<L, H, N>(&mp.n, &mq.n))?;
        // q < 2^1024 ≤ 2p: one conditional subtraction is q mod p.
        let q_mod_p = mp.reduce(&mq.n, L::ZERO);
        let (p2, _) = sub(&mp.n, &small(2));
        let qinv = mp.pow_mont(&mp.to_mont(&q_mod_p), &p2);
        Some(Secret {
            public,
            dp: crt_exponent(&mp.n),
            dq: crt_exponent(&mq.n),
            p: mp,
            q: mq,
            qinv,
        })
    }

    /// `m mod p` for `p` of `H` limbs and `m` of `N = 2H`: `hi·R + lo`, `hi·R` being one
    /// Montgomery multiplication by `R² mod p` and `lo < R ≤ 2p` one conditional subtraction.
    fn reduce_wide(p: &Mont<L, H>, m: &[L; N]) -> [L; H] {
        let lo: [L; H] = core::array::from_fn(|i| m[i]);
        let hi: [L; H] = core::array::from_fn(|i| m[H + i]);
        p.add_mod(&p.mul(&hi, &p.rr), &p.reduce(&lo, L::ZERO))
    }

    /// The CRT signature of `m < n` (not checked).
    fn sign_crt(&self, m: &[L; N]) -> [L; N] {
        let sp = self.p.pow(&Self::reduce_wide(&self.p, m), &self.dp);
        let sq = self.q.pow(&Self::reduce_wide(&self.q, m), &self.dq);
        // sq < q < 2p: one conditional subtraction is sq mod p.
        let diff = self.p.sub_mod(&sp, &self.p.reduce(&sq, L::ZERO));
        let h = self.p.mul(&diff, &self.qinv);
        // s = sq + q·h ≤ (q − 1) + q·(p − 1) < n: no carry out.
        let qh = mul_wide::<L, H, N>(&self.q.n, &h);
        let sq_wide: [L; N] = core::array::from_fn(|i| if i < H { sq[i] } else { L::ZERO });
        add(&qh, &sq_wide).0
    }

    /// The signature of `m < n` without CRT: `m^d mod n`, `d = (2φ + 1)/3`.
    fn sign_plain(&self, m: &[L; N]) -> [L; N] {
        let widen =
            |x: &[L; H]| -> [L; N] { core::array::from_fn(|i| if i < H { x[i] } else { L::ZERO }) };
        // φ − 1 = n − p − q; φ ≡ 1 mod 3 (p − 1 ≡ q − 1 ≡ 1), so φ = 3k + 1 and d = 2k + 1.
        let (t, _) = sub(&self.public.m.n, &widen(&self.p.n));
        let (phi1, _) = sub(&t, &widen(&self.q.n));
        let d = shl1_or1(&div3(&phi1).0);
        self.public.m.pow(m, &d)
    }

    /// The checked signature of the encoded message `em` (see the module doc).
    fn sign_em(&self, em: &[u8; RSA_LEN]) -> [u8; RSA_LEN] {
        // em starts 00 01: below 2^2041 < n.
        let m = from_be::<L, N>(em);
        let good = |s: &[L; N]| lt(s, &self.public.m.n) && self.public.cube(s) == m;
        let mut s = self.sign_crt(&m);
        if !good(&s) {
            // A fault: once more without CRT (computed only now), then nothing.
            s = self.sign_plain(&m);
            if !good(&s) {
                return [0; RSA_LEN];
            }
        }
        let mut out = [0; RSA_LEN];
        to_be(&s, &mut out);
        out
    }
}

/// A channel's RSA-2048 public key (e = 3), with its Montgomery constants precomputed.
#[derive(Clone, Debug)]
pub struct RsaPublicKey(Public<W, NL>);

impl RsaPublicKey {
    /// None unless n is odd, exactly 2048 bits (top bit set), and not divisible by 3 (sanity).
    pub fn from_modulus(n: &[u8; RSA_LEN]) -> Option<Self> {
        Public::from_bytes(n).map(RsaPublicKey)
    }

    /// The modulus, big-endian, as given.
    pub fn modulus(&self) -> [u8; RSA_LEN] {
        self.0.modulus()
    }

    /// Whether `signature` (big-endian) is the PKCS#1 v1.5 SHA-256 signature of `message`.
    #[inline(never)]
    pub fn verify(&self, message: &[u8], signature: &[u8; RSA_LEN]) -> bool {
        self.0.check(&encode(message), signature)
    }
}

/// A secret key (CRT form). Its `Debug` prints no secret value.
#[derive(Clone)]
pub struct RsaSecretKey(Secret<W, NL, HL>);

impl core::fmt::Debug for RsaSecretKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("RsaSecretKey { .. }")
    }
}

impl RsaSecretKey {
    /// Deterministic key generation from a 32-byte seed: the same seed gives the same key on
    /// every target (ChaCha20 keystream as the DRBG; see `rsa/keygen.rs` for the candidates,
    /// the 50 Miller–Rabin rounds and the bound on the search).
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let (p, q) = keygen::primes::<W, HL>(seed);
        // Cannot fail: every candidate (`keygen::candidate`) is odd with its top two bits set and
        // ≡ 2 mod 3, so both `Mont::new` accept p and q, and p·q is odd, ≥ 2^2047 (≥ 1.5² · 2^2046)
        // and ≡ 1 mod 3, which `Public::new` accepts.
        RsaSecretKey(Secret::build(&p, &q).expect("keygen candidates are valid RSA primes' shape"))
    }

    /// The key with these primes (big-endian, 128 bytes each); None unless both are odd, have
    /// their top bit set, are ≡ 2 mod 3, differ, and p·q has its top bit set (2048 bits).
    /// Primality is not re-tested: non-primes give a key whose signatures fail the check in
    /// [`RsaSecretKey::sign`] (which then returns all zeros), bar exceptional messages.
    pub fn from_primes(p: &[u8; 128], q: &[u8; 128]) -> Option<Self> {
        Secret::from_primes(p, q).map(RsaSecretKey)
    }

    /// The public key.
    pub fn public_key(&self) -> RsaPublicKey {
        RsaPublicKey(self.0.public.clone())
    }

    /// PKCS#1 v1.5 SHA-256 signature (deterministic), checked against the public key before it
    /// is returned (all zero, valid under no key, if both the CRT and the plain computation fail
    /// that check: see the module doc).
    pub fn sign(&self, message: &[u8]) -> [u8; RSA_LEN] {
        self.0.sign_em(&encode(message))
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod vectors;
