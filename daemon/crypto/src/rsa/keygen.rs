//! Deterministic RSA prime generation from a 32-byte seed, for
//! [`RsaSecretKey::from_seed`](super::RsaSecretKey::from_seed).
//!
//! The DRBG is ChaCha20 (RFC 8439, [`crate::ChaCha20`]) keyed with the seed, nonce [`NONCE`],
//! block counter from 0; candidates and Miller–Rabin bases are taken from that one keystream in
//! order, 128 bytes at a time, so the key depends on the seed alone — not on the limb width
//! (the tests compare the `u32` and `u64` paths) nor on the target.
//!
//! A candidate is 128 keystream bytes, big-endian, with its top two bits set (so `p·q` has
//! exactly 2048 bits), odd, and moved to ≡ 2 mod 3 (which `e = 3` requires) by adding or
//! subtracting 2 or 4 within its low byte (no carry; the bias this puts on the low byte is of no
//! consequence). It must have no prime factor below [`TRIAL_LIMIT`] (trial division, on bytes,
//! width-independent) and pass [`MR_ROUNDS`] Miller–Rabin rounds with bases from the keystream.
//! FIPS 186-5 Table B.1 asks for 4 rounds (error ≤ 2⁻¹⁰⁰) or 5 (≤ 2⁻¹¹²) for random 1024-bit
//! `p`, `q`; [`MR_ROUNDS`] = 50 keeps even the worst-case bound 4⁻⁵⁰ = 2⁻¹⁰⁰, whatever the
//! candidate.
//!
//! Invariants: every function is total and bounded. [`prime`] gives up after [`MAX_DRAWS`]
//! candidates and returns the last one untested (it has the form above, nothing more): about one
//! candidate in 237 is prime, so this happens with probability < (1 − 1/237)^100000 < 2⁻⁶⁰⁰ for a
//! working ChaCha20 — never; the key would then not be an RSA key, a documented impossibility
//! rather than an unbounded loop or a panic. Nothing here is constant time: key generation runs
//! once per channel, on the root, and rejected candidates are independent of the key.

use super::bignum::{from_be, shr, small, sub, trailing_zeros, Limb, Mont};
use crate::ChaCha20;

/// Bytes of a prime (1024 bits).
pub(crate) const PRIME_LEN: usize = 128;

/// ChaCha20 nonce of the key-generation keystream ("tvmesh RSA-2048 primes", truncated).
const NONCE: [u8; 12] = *b"tvmesh-rsa-p";

/// Miller–Rabin rounds for a candidate that passed trial division.
pub(crate) const MR_ROUNDS: usize = 50;

/// Candidates tried for one prime before giving up (see the module doc).
const MAX_DRAWS: u32 = 100_000;

/// Trial division by every prime from 5 below this.
const TRIAL_LIMIT: usize = 2000;

/// The sieve of Eratosthenes below [`TRIAL_LIMIT`].
const fn sieve() -> [bool; TRIAL_LIMIT] {
    let mut composite = [false; TRIAL_LIMIT];
    let mut i = 2;
    while i * i < TRIAL_LIMIT {
        if !composite[i] {
            let mut j = i * i;
            while j < TRIAL_LIMIT {
                composite[j] = true;
                j += i;
            }
        }
        i += 1;
    }
    composite
}

/// Primes `5 ≤ p < TRIAL_LIMIT` (2 and 3 hold by construction).
pub(super) const SMALL_COUNT: usize = {
    let c = sieve();
    let mut n = 0;
    let mut i = 5;
    while i < TRIAL_LIMIT {
        if !c[i] {
            n += 1;
        }
        i += 1;
    }
    n
};

pub(super) const SMALL: [u32; SMALL_COUNT] = {
    let c = sieve();
    let mut out = [0u32; SMALL_COUNT];
    let (mut n, mut i) = (0, 5);
    while i < TRIAL_LIMIT {
        if !c[i] {
            out[n] = i as u32;
            n += 1;
        }
        i += 1;
    }
    out
};

/// Runs of consecutive [`SMALL`] primes whose product fits a `u32`, as (product, end index):
/// one 32-word long division per run instead of per prime.
const GROUP_COUNT: usize = {
    let (mut g, mut i, mut prod) = (0, 0, 1u64);
    while i < SMALL_COUNT {
        if prod * SMALL[i] as u64 > u32::MAX as u64 {
            g += 1;
            prod = 1;
        }
        prod *= SMALL[i] as u64;
        i += 1;
    }
    g + 1
};

pub(super) const GROUPS: [(u32, usize); GROUP_COUNT] = {
    let mut out = [(0u32, 0usize); GROUP_COUNT];
    let (mut g, mut i, mut prod) = (0, 0, 1u64);
    while i < SMALL_COUNT {
        if prod * SMALL[i] as u64 > u32::MAX as u64 {
            out[g] = (prod as u32, i);
            g += 1;
            prod = 1;
        }
        prod *= SMALL[i] as u64;
        i += 1;
    }
    out[g] = (prod as u32, SMALL_COUNT);
    out
};

/// The key-generation keystream.
pub(crate) struct Drbg(ChaCha20);

impl Drbg {
    pub(crate) fn new(seed: &[u8; 32]) -> Self {
        Drbg(ChaCha20::new(seed, &NONCE))
    }

    /// The next `N` keystream bytes.
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0; N];
        self.0.apply(&mut b);
        b
    }
}

/// `b mod 3`, `b` big-endian (256 ≡ 1 mod 3: the sum of the bytes).
pub(crate) fn mod3(b: &[u8]) -> u32 {
    b.iter().map(|&x| x as u32).sum::<u32>() % 3
}

/// 128 keystream bytes as a candidate: top two bits set, odd, ≡ 2 mod 3.
pub(super) fn candidate(drbg: &mut Drbg) -> [u8; PRIME_LEN] {
    let mut c: [u8; PRIME_LEN] = drbg.bytes();
    c[0] |= 0xc0;
    c[PRIME_LEN - 1] |= 1;
    // Adding 2 changes the residue by 2, adding 4 by 1 (and subtracting the other way round);
    // the low byte is odd and stays in 1..=255, so nothing carries.
    let low = c[PRIME_LEN - 1];
    c[PRIME_LEN - 1] = match (mod3(&c), low <= 0xf0) {
        (2, _) => low,
        (1, true) => low + 4,
        (1, false) => low - 2,
        (_, true) => low + 2,
        (_, false) => low - 4,
    };
    c
}

/// Whether `c` has no prime factor in [`SMALL`] (it is far larger than all of them).
pub(super) fn passes_trial_division(c: &[u8; PRIME_LEN]) -> bool {
    let mut start = 0;
    for &(prod, end) in &GROUPS {
        let r = c.chunks_exact(4).fold(0u64, |r, w| {
            let w = u32::from_be_bytes([w[0], w[1], w[2], w[3]]);
            // r < prod < 2^32: (r·2^32 + w) fits a u64. `prod` is at least 5.
            ((r << 32) | w as u64) % prod as u64
        });
        if SMALL[start..end].iter().any(|&p| r % p as u64 == 0) {
            return false;
        }
        start = end;
    }
    true
}

/// Miller–Rabin with [`MR_ROUNDS`] bases from `drbg`, for an odd `c` with its top two bits set
/// (`N` limbs of `L`, `N·w = 1024`).
pub(super) fn passes_miller_rabin<L: Limb, const N: usize>(
    c: &[u8; PRIME_LEN],
    drbg: &mut Drbg,
) -> bool {
    let Some(m) = Mont::<L, N>::new(from_be(c)) else {
        return false;
    };
    // c − 1 = d·2^s with d odd; c is odd, so c − 1 ≥ 2 is even, s ≥ 1.
    let (c1, _) = sub(&m.n, &small(1));
    let s = trailing_zeros(&c1);
    let d = shr(&c1, s);
    // −1 in Montgomery form: n − R mod n.
    let (minus_one, _) = sub(&m.n, &m.one);
    for _ in 0..MR_ROUNDS {
        // A base below 2^1022 < c − 1; 0 and 1 become 2 (never seen, but total).
        let mut b: [u8; PRIME_LEN] = drbg.bytes();
        b[0] &= 0x3f;
        if b[..PRIME_LEN - 1].iter().all(|&x| x == 0) && b[PRIME_LEN - 1] < 2 {
            b[PRIME_LEN - 1] = 2;
        }
        let mut y = m.pow_mont(&m.to_mont(&from_be(&b)), &d);
        if y == m.one || y == minus_one {
            continue;
        }
        let mut witness = true;
        for _ in 1..s {
            y = m.mul(&y, &y);
            if y == minus_one {
                witness = false;
                break;
            }
            if y == m.one {
                break;
            }
        }
        if witness {
            return false;
        }
    }
    true
}

/// A probable prime of the form in the module doc, not equal to `other`; after [`MAX_DRAWS`]
/// candidates, the last one, untested (see the module doc).
pub(crate) fn prime<L: Limb, const N: usize>(
    drbg: &mut Drbg,
    other: Option<&[u8; PRIME_LEN]>,
) -> [u8; PRIME_LEN] {
    let mut c = candidate(drbg);
    for _ in 1..MAX_DRAWS {
        if Some(&c) != other && passes_trial_division(&c) && passes_miller_rabin::<L, N>(&c, drbg) {
            return c;
        }
        c = candidate(drbg);
    }
    c
}

/// The primes `(p, q)` of `seed`'s key: `p` first in the keystream, then `q ≠ p`.
pub(crate) fn primes<L: Limb, const N: usize>(
    seed: &[u8; 32],
) -> ([u8; PRIME_LEN], [u8; PRIME_LEN]) {
    let mut drbg = Drbg::new(seed);
    let p = prime::<L, N>(&mut drbg, None);
    let q = prime::<L, N>(&mut drbg, Some(&p));
    (p, q)
}
