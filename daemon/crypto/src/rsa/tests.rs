//! RSA tests: OpenSSL byte-literal vectors (`vectors.rs`), rejections, key generation, and the
//! `u32` and `u64` limb paths against each other (both run on every target).

use super::bignum::{from_be, to_be, Mont};
use super::keygen::{self as kt, mod3};
use super::vectors as v;
use super::*;
use crate::ChaCha20;

extern crate std;

/// 2048-bit public key and 1024-bit primes in each limb width.
type Pub32 = Public<u32, 64>;
type Pub64 = Public<u64, 32>;
type Sec32 = Secret<u32, 64, 32>;
type Sec64 = Secret<u64, 32, 16>;

fn messages() -> [(&'static [u8], [u8; RSA_LEN]); 3] {
    [
        (b"", v::SIG_EMPTY),
        (b"abc", v::SIG_ABC),
        (&v::LONG_MESSAGE, v::SIG_LONG),
    ]
}

#[test]
fn openssl_signatures_verify() {
    let key = RsaPublicKey::from_modulus(&v::N).unwrap();
    assert_eq!(key.modulus(), v::N);
    for (msg, sig) in messages() {
        assert!(key.verify(msg, &sig), "{} bytes", msg.len());
    }
}

/// PKCS#1 v1.5 is deterministic: our signatures are OpenSSL's, byte for byte, whichever prime
/// comes first.
#[test]
fn signatures_equal_openssl() {
    for (p, q) in [(&v::P, &v::Q), (&v::Q, &v::P)] {
        let key = RsaSecretKey::from_primes(p, q).unwrap();
        assert_eq!(key.public_key().modulus(), v::N);
        for (msg, sig) in messages() {
            assert_eq!(key.sign(msg), sig, "{} bytes", msg.len());
        }
    }
}

/// RFC 8017 §9.2 layout, with FIPS 180-2's SHA-256("abc").
#[test]
fn encoding_layout() {
    let em = encode(b"abc");
    assert_eq!(em[..2], [0x00, 0x01]);
    assert!(em[2..204].iter().all(|&b| b == 0xff));
    assert_eq!(em[204], 0x00);
    assert_eq!(em[205..224], DIGEST_INFO);
    assert_eq!(
        em[224..],
        [
            0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae,
            0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61,
            0xf2, 0x00, 0x15, 0xad
        ]
    );
}

#[test]
fn rejects_altered_signature_message_or_key() {
    let key = RsaPublicKey::from_modulus(&v::N).unwrap();
    for bit in [0, 1, 7, 8, 1000, 2039, 2040, 2047] {
        let mut sig = v::SIG_ABC;
        sig[RSA_LEN - 1 - bit / 8] ^= 1 << (bit % 8);
        assert!(!key.verify(b"abc", &sig), "signature bit {bit}");
    }
    assert!(!key.verify(b"abd", &v::SIG_ABC));
    assert!(!key.verify(b"ab", &v::SIG_ABC));
    assert!(!key.verify(b"", &v::SIG_ABC));
    assert!(!key.verify(b"abc", &v::SIG_EMPTY));
    let mut long = v::LONG_MESSAGE;
    long[555] ^= 0x10;
    assert!(!key.verify(&long, &v::SIG_LONG));
    // Another modulus: bits 1.. keep it odd and (mostly) acceptable; bit 0 makes it even.
    for bit in [1, 2, 100, 1500, 2046] {
        let mut n = v::N;
        n[RSA_LEN - 1 - bit / 8] ^= 1 << (bit % 8);
        if let Some(other) = RsaPublicKey::from_modulus(&n) {
            assert!(!other.verify(b"abc", &v::SIG_ABC), "modulus bit {bit}");
        }
    }
}

/// Values at and around the edges of `[0, n)`: `s ≥ n` is refused before any arithmetic (so
/// `n + 1`, which is `1 mod n`, and `n + s` for a valid `s` fail too).
#[test]
fn rejects_edge_values() {
    let key = RsaPublicKey::from_modulus(&v::N).unwrap();
    let n = from_be::<u64, 32>(&v::N);
    let plus = |k: &[u64; 32]| {
        let mut b = [0; RSA_LEN];
        to_be(&bignum::add(&n, k).0, &mut b);
        b
    };
    let minus_one = {
        let mut b = [0; RSA_LEN];
        to_be(&bignum::sub(&n, &bignum::small(1)).0, &mut b);
        b
    };
    let mut one = [0; RSA_LEN];
    one[RSA_LEN - 1] = 1;
    // A valid signature plus n: congruent, but not the canonical value.
    let sig_plus_n = plus(&from_be(&v::SIG_ABC));
    let cases = [
        [0; RSA_LEN],
        one,
        minus_one,
        v::N,
        plus(&bignum::small(1)),
        [0xff; RSA_LEN],
        sig_plus_n,
    ];
    for (i, s) in cases.iter().enumerate() {
        for msg in [&b""[..], b"abc"] {
            assert!(!key.verify(msg, s), "case {i}");
        }
    }
    // The generic check agrees for both widths (and s + n really is ≥ n, not wrapped).
    assert!(!Pub32::from_bytes(&v::N)
        .unwrap()
        .check(&encode(b"abc"), &sig_plus_n));
    assert!(Pub32::from_bytes(&v::N)
        .unwrap()
        .check(&encode(b"abc"), &v::SIG_ABC));
}

/// The classic e = 3 forgery passes a verifier that parses the block and stops after the hash;
/// the full comparison refuses it.
#[test]
fn rejects_bleichenbacher_forgery() {
    let key = Pub64::from_bytes(&v::N).unwrap();
    let cube = key.cube(&from_be(&v::FORGED_ABC));
    let mut block = [0; RSA_LEN];
    to_be(&cube, &mut block);
    // A lax parser would accept: 00 01, padding ended by 00, DigestInfo, the right hash.
    let em = encode(b"abc");
    assert_eq!(block[..4], [0x00, 0x01, 0xff, 0x00]);
    assert_eq!(block[4..55], em[205..]);
    assert!(block[55..].iter().any(|&b| b != 0));
    assert!(!RsaPublicKey::from_modulus(&v::N)
        .unwrap()
        .verify(b"abc", &v::FORGED_ABC));
}

#[test]
fn from_modulus_rejects_bad_moduli() {
    let mut even = v::N;
    even[RSA_LEN - 1] &= 0xfe;
    assert!(RsaPublicKey::from_modulus(&even).is_none());
    let mut short = v::N;
    short[0] &= 0x7f;
    assert!(RsaPublicKey::from_modulus(&short).is_none());
    // n + 2 or n + 4 (both odd, top bit kept) is divisible by 3: n ≡ 1 mod 3.
    assert_eq!(mod3(&v::N), 1);
    let mut by3 = v::N;
    by3[RSA_LEN - 1] += 2; // the low byte of N is below 0xfe
    assert_eq!(mod3(&by3), 0);
    assert!(RsaPublicKey::from_modulus(&by3).is_none());
    assert!(RsaPublicKey::from_modulus(&[0; RSA_LEN]).is_none());
    assert!(RsaPublicKey::from_modulus(&[0xff; RSA_LEN]).is_none()); // ≡ 0 mod 3
}

/// Arbitrary moduli and signatures: no panic, and nothing verifies by accident.
#[test]
fn arbitrary_bytes_do_not_panic() {
    let mut ks = ChaCha20::new(&[7; 32], &[0; 12]);
    for _ in 0..200 {
        let (mut n, mut s) = ([0; RSA_LEN], [0; RSA_LEN]);
        ks.apply(&mut n);
        ks.apply(&mut s);
        n[0] |= 0x80;
        n[RSA_LEN - 1] |= 1;
        if let Some(k) = RsaPublicKey::from_modulus(&n) {
            assert!(!k.verify(b"abc", &s));
            assert!(!k.verify(b"abc", &[0xff; RSA_LEN]));
        }
    }
}

#[test]
fn from_primes_rejects_bad_primes() {
    let ok = RsaSecretKey::from_primes(&v::P, &v::Q);
    assert!(ok.is_some());
    assert!(RsaSecretKey::from_primes(&v::P, &v::P).is_none());
    let mut even = v::P;
    even[127] &= 0xfe;
    assert!(RsaSecretKey::from_primes(&even, &v::Q).is_none());
    let mut short = v::Q;
    short[0] &= 0x7f;
    assert!(RsaSecretKey::from_primes(&v::P, &short).is_none());
    // P + 2 is odd and ≡ 1 mod 3.
    let mut one_mod3 = v::P;
    one_mod3[127] += 2; // the low byte of P is below 0xfe
    assert_eq!(mod3(&one_mod3), 1);
    assert!(RsaSecretKey::from_primes(&one_mod3, &v::Q).is_none());
    // Top bits 10…: each is ≥ 2^1023, but the product is below 2^2047.
    let (mut a, mut b) = ([0u8; 128], [0u8; 128]);
    a[0] = 0x80;
    a[127] = 0x05;
    b[0] = 0x80;
    b[127] = 0x0b;
    while mod3(&a) != 2 {
        a[127] += 2;
    }
    while mod3(&b) != 2 || a == b {
        b[127] += 2;
    }
    assert!(RsaSecretKey::from_primes(&a, &b).is_none());
}

/// The `u32` and `u64` paths give the same signatures, CRT and plain, and the same checks.
#[test]
fn limb_widths_agree() {
    let (s32, s64) = (
        Sec32::from_primes(&v::P, &v::Q).unwrap(),
        Sec64::from_primes(&v::P, &v::Q).unwrap(),
    );
    assert_eq!(s32.public.modulus(), v::N);
    assert_eq!(s64.public.modulus(), v::N);
    for (msg, sig) in messages() {
        let em = encode(msg);
        assert_eq!(s32.sign_em(&em), sig);
        assert_eq!(s64.sign_em(&em), sig);
        let (m32, m64) = (from_be::<u32, 64>(&em), from_be::<u64, 32>(&em));
        let (mut a, mut b, mut c, mut d) = ([0; RSA_LEN], [0; RSA_LEN], [0; RSA_LEN], [0; RSA_LEN]);
        to_be(&s32.sign_crt(&m32), &mut a);
        to_be(&s32.sign_plain(&m32), &mut b);
        to_be(&s64.sign_crt(&m64), &mut c);
        to_be(&s64.sign_plain(&m64), &mut d);
        assert_eq!([a, b, c, d], [sig; 4]);
        assert!(s32.public.check(&em, &sig) && s64.public.check(&em, &sig));
        let mut bad = sig;
        bad[100] ^= 4;
        assert!(!s32.public.check(&em, &bad) && !s64.public.check(&em, &bad));
    }
}

/// Modular exponentiation in both widths against Fermat (`a^(p−1) = 1`) and small exponents.
#[test]
fn pow_both_widths() {
    let m32 = Mont::<u32, 32>::new(from_be(&v::P)).unwrap();
    let m64 = Mont::<u64, 16>::new(from_be(&v::P)).unwrap();
    let mut a = [0u8; 128];
    ChaCha20::new(&[1; 32], &[0; 12]).apply(&mut a);
    a[0] &= 0x7f; // below p
    let pm1 = {
        let mut e = v::P;
        e[127] -= 1;
        e
    };
    let one = {
        let mut b = [0u8; 128];
        b[127] = 1;
        b
    };
    let (mut r32, mut r64) = ([0u8; 128], [0u8; 128]);
    to_be(&m32.pow(&from_be(&a), &from_be(&pm1)), &mut r32);
    to_be(&m64.pow(&from_be(&a), &from_be(&pm1)), &mut r64);
    assert_eq!((r32, r64), (one, one));
    // a^0 = 1, a^1 = a, a^3 = a·a·a (Montgomery products).
    let mut e = [0u8; 128];
    to_be(&m64.pow(&from_be(&a), &from_be(&e)), &mut r64);
    assert_eq!(r64, one);
    e[127] = 1;
    to_be(&m32.pow(&from_be(&a), &from_be(&e)), &mut r32);
    assert_eq!(r32, a);
    e[127] = 3;
    let am = m64.to_mont(&from_be(&a));
    let cube = m64.out_of_mont(&m64.mul(&m64.mul(&am, &am), &am));
    assert_eq!(m64.pow(&from_be(&a), &from_be(&e)), cube);
    to_be(&m32.pow(&from_be(&a), &from_be(&e)), &mut r32);
    to_be(&cube, &mut r64);
    assert_eq!(r32, r64);
}

/// A fault in the CRT halves is caught: the plain path gives the right signature; a fault that
/// spoils both gives the all-zero signature, never a wrong one.
#[test]
fn faults_are_caught() {
    let good = RsaSecretKey::from_primes(&v::P, &v::Q).unwrap();
    let mut faulty = good.clone();
    faulty.0.dp[3] ^= 1 << 20;
    assert_eq!(faulty.sign(b"abc"), v::SIG_ABC);
    let mut faulty = good.clone();
    faulty.0.qinv[0] ^= 1;
    assert_eq!(faulty.sign(b""), v::SIG_EMPTY);
    // p itself wrong: the CRT and the plain exponent (from φ) are both wrong.
    let mut broken = good;
    broken.0.p.n[5] ^= 1 << 9;
    assert_eq!(broken.sign(b"abc"), [0; RSA_LEN]);
    assert!(!broken.public_key().verify(b"abc", &[0; RSA_LEN]));
}

/// `from_primes` does not test primality: a composite "prime" (P + 6, which passes its shape
/// checks and fails Fermat to base 2) gives a key whose signatures fail the check in `sign`.
#[test]
fn composite_prime_signs_nothing() {
    let mut p6 = v::P;
    p6[127] += 6; // the low byte of P is below 0xfa
    let key = RsaSecretKey::from_primes(&p6, &v::Q).unwrap();
    for (msg, _) in messages() {
        assert_eq!(key.sign(msg), [0; RSA_LEN]);
    }
}

#[test]
fn secret_debug_prints_no_secret() {
    let key = RsaSecretKey::from_primes(&v::P, &v::Q).unwrap();
    assert_eq!(std::format!("{key:?}"), "RsaSecretKey { .. }");
}

#[test]
fn trial_division_tables() {
    // 303 primes below 2000, without 2 and 3.
    assert_eq!(kt::SMALL_COUNT, 301);
    assert_eq!((kt::SMALL[0], kt::SMALL[300]), (5, 1999));
    let mut start = 0;
    for &(prod, end) in &kt::GROUPS {
        let p: u64 = kt::SMALL[start..end].iter().map(|&p| p as u64).product();
        assert_eq!(p, prod as u64);
        start = end;
    }
    assert_eq!(start, 301);
    assert!(kt::passes_trial_division(&v::P) && kt::passes_trial_division(&v::Q));
    assert!(kt::passes_trial_division(&v::COMPOSITE));
    // 1999·k for some k < 2^1012: not prime, and only 1999 reveals it.
    let mut k = [0u8; 128];
    k[1..].copy_from_slice(&v::P[..127]);
    k[1] &= 0x0f;
    let kl = from_be::<u64, 16>(&k);
    let mut prod = [0u64; 16];
    let mut carry = 0u128;
    for (o, &x) in prod.iter_mut().zip(&kl) {
        let t = x as u128 * 1999 + carry;
        *o = t as u64;
        carry = t >> 64;
    }
    let mut b = [0u8; 128];
    to_be(&prod, &mut b);
    assert!(!kt::passes_trial_division(&b));
}

#[test]
fn miller_rabin() {
    let mut drbg = kt::Drbg::new(&[3; 32]);
    assert!(kt::passes_miller_rabin::<u64, 16>(&v::P, &mut drbg));
    assert!(kt::passes_miller_rabin::<u32, 32>(&v::Q, &mut drbg));
    assert!(!kt::passes_miller_rabin::<u64, 16>(
        &v::COMPOSITE,
        &mut drbg
    ));
    assert!(!kt::passes_miller_rabin::<u32, 32>(
        &v::COMPOSITE,
        &mut drbg
    ));
    // P + 2 is odd and composite (≡ 1 mod 3 is no obstacle to the test itself).
    let mut p2 = v::P;
    p2[127] += 2;
    assert!(!kt::passes_miller_rabin::<u64, 16>(&p2, &mut drbg));
}

#[test]
fn candidates_have_the_shape() {
    let mut drbg = kt::Drbg::new(&[9; 32]);
    for _ in 0..2000 {
        let c = kt::candidate(&mut drbg);
        assert_eq!(c[0] & 0xc0, 0xc0);
        assert_eq!(c[127] & 1, 1);
        assert_eq!(mod3(&c), 2);
    }
}

/// The first 16 bytes of the modulus of the seed 00 01 02 … 1f, pinned: a change to the DRBG,
/// the candidates or the tests would change every channel's key. The same value came out of an
/// independent Python re-implementation (`cryptography`'s ChaCha20, Python integers).
const SEED0_MODULUS_HEAD: [u8; 16] = [
    0xd7, 0xe1, 0xa6, 0xcb, 0x48, 0xdb, 0xdf, 0x46, 0x6d, 0x39, 0x84, 0x27, 0xb9, 0x6b, 0xdc, 0x12,
];

#[test]
fn from_seed_is_deterministic_and_works() {
    let seed: [u8; 32] = core::array::from_fn(|i| i as u8);
    let a = RsaSecretKey::from_seed(&seed);
    let b = RsaSecretKey::from_seed(&seed);
    let n = a.public_key().modulus();
    assert_eq!(n, b.public_key().modulus());
    assert_eq!(n[..16], SEED0_MODULUS_HEAD);
    let sig = a.sign(b"segment 1");
    assert_eq!(sig, b.sign(b"segment 1"));
    let pk = RsaPublicKey::from_modulus(&n).unwrap();
    assert!(pk.verify(b"segment 1", &sig));
    assert!(!pk.verify(b"segment 2", &sig));
    // Another seed: another key, which refuses the first key's signature.
    let mut other = seed;
    other[31] ^= 1;
    let c = RsaSecretKey::from_seed(&other);
    assert_ne!(c.public_key().modulus(), n);
    assert!(!c.public_key().verify(b"segment 1", &sig));
    assert!(c.public_key().verify(b"segment 1", &c.sign(b"segment 1")));
}

/// Key generation gives the same primes with either limb width.
#[test]
fn from_seed_same_for_both_widths() {
    for s in 0..2u8 {
        let seed = [s; 32];
        let (p32, q32) = kt::primes::<u32, 32>(&seed);
        let (p64, q64) = kt::primes::<u64, 16>(&seed);
        assert_eq!((p32, q32), (p64, q64));
        let a = RsaSecretKey::from_seed(&seed);
        let b = RsaSecretKey::from_primes(&p64, &q64).unwrap();
        assert_eq!(a.public_key().modulus(), b.public_key().modulus());
    }
}
