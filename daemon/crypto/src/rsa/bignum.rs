//! Fixed-size unsigned integers and Montgomery arithmetic for RSA ([`super`]).
//!
//! A number is `[L; N]`: `N` limbs of a [`Limb`] type, least significant limb first. The code is
//! written once, generic over the limb (`u64` with `u128` products on 64-bit targets, `u32` with
//! `u64` products on 32-bit ones; the tests run both on every target and compare them) and over
//! `N` (2048-bit moduli for the public key, 1024-bit for the primes).
//!
//! [`Mont`] is a modulus with its Montgomery constants, `R = 2^(N·w)` (`w` the limb width).
//! Multiplication is CIOS (coarsely integrated operand scanning, Koç–Acar–Kaliski 1996), squaring
//! is SOS (the full square with each cross product once, then the reduction: ≈ 25 % fewer
//! products), both with the final subtraction done by mask; [`Mont::pow_mont`] is a fixed 4-bit
//! window over every bit of the exponent with the table read by scanning all 16 entries under
//! masks, so an exponent's bits choose neither a branch nor an address.
//!
//! Invariants:
//! - a [`Mont`] modulus `n` is odd and has its top bit set (`R/2 ≤ n < R`), checked by
//!   [`Mont::new`]; then `R mod n = R − n` and every `x < R` is below `2n`;
//! - [`Mont::mul`] and [`Mont::sqr`] take any operands below `R` and return a value below `R`
//!   congruent to `a·b·R⁻¹`; it is fully reduced (`< n`) whenever `a·b < n·R` (e.g. `a, b < n`,
//!   or `a < R` and `b < n`): the sum is then below `2n`, one subtraction is enough;
//! - nothing allocates or panics: sums carry into explicit limbs, the only division is by the
//!   constant 3 ([`div3`]), and the sizes are const parameters whose relations (`N2 = 2·N`, `N` a
//!   power of two, at most [`MAX_LIMBS`]) are compile-time assertions.

use core::ops::{BitAnd, BitOr, BitXor, Not, Shl, Shr};

/// Most limbs of a number here: a 2048-bit one in `u32` limbs.
const MAX_LIMBS: usize = 64;

/// A machine word of a multi-precision number.
pub(crate) trait Limb:
    Copy
    + Eq
    + Ord
    + Default
    + core::fmt::Debug
    + BitAnd<Output = Self>
    + BitOr<Output = Self>
    + BitXor<Output = Self>
    + Not<Output = Self>
    + Shl<u32, Output = Self>
    + Shr<u32, Output = Self>
{
    const BITS: u32;
    const BYTES: usize;
    const ZERO: Self;
    const ONE: Self;
    /// `a + b·c + carry` as (low, high): at most `(2^w − 1)² + 2·(2^w − 1) < 2^2w`, no overflow.
    fn mac(a: Self, b: Self, c: Self, carry: Self) -> (Self, Self);
    /// `a + b + carry` (`carry` 0 or 1) as (sum, carry out 0 or 1).
    fn adc(a: Self, b: Self, carry: Self) -> (Self, Self);
    /// `a − b − borrow` (`borrow` 0 or 1) as (difference, borrow out 0 or 1).
    fn sbb(a: Self, b: Self, borrow: Self) -> (Self, Self);
    fn wrapping_mul(self, other: Self) -> Self;
    fn wrapping_neg(self) -> Self;
    /// `(rem·2^w + self) / d` and its remainder, for `rem < d`, `0 < d < 2^16`.
    fn div_rem_small(self, rem: u32, d: u32) -> (Self, u32);
    fn from_u32(x: u32) -> Self;
    /// The big-endian bytes `b` (at most [`Limb::BYTES`] of them) as a limb.
    fn from_be_slice(b: &[u8]) -> Self;
    /// The limb's low `out.len()` bytes (all of them if `out` is longer), big-endian, at the end
    /// of `out`.
    fn write_be(self, out: &mut [u8]);
}

macro_rules! limb {
    ($t:ty, $wide:ty) => {
        impl Limb for $t {
            const BITS: u32 = <$t>::BITS;
            const BYTES: usize = core::mem::size_of::<$t>();
            const ZERO: Self = 0;
            const ONE: Self = 1;
            #[inline(always)]
            fn mac(a: Self, b: Self, c: Self, carry: Self) -> (Self, Self) {
                let t = (b as $wide) * (c as $wide) + (a as $wide + carry as $wide);
                (t as $t, (t >> <$t>::BITS) as $t)
            }
            #[inline(always)]
            fn adc(a: Self, b: Self, carry: Self) -> (Self, Self) {
                let t = a as $wide + b as $wide + carry as $wide;
                (t as $t, (t >> <$t>::BITS) as $t)
            }
            #[inline(always)]
            fn sbb(a: Self, b: Self, borrow: Self) -> (Self, Self) {
                let t = (a as $wide).wrapping_sub(b as $wide + borrow as $wide);
                (t as $t, ((t >> <$t>::BITS) as $t) & 1)
            }
            #[inline(always)]
            fn wrapping_mul(self, other: Self) -> Self {
                <$t>::wrapping_mul(self, other)
            }
            #[inline(always)]
            fn wrapping_neg(self) -> Self {
                <$t>::wrapping_neg(self)
            }
            #[inline(always)]
            fn div_rem_small(self, rem: u32, d: u32) -> (Self, u32) {
                // rem < d: the quotient fits a limb. `max(1)`: never a division by zero.
                let d = d.max(1) as $wide;
                let t = ((rem as $wide) << <$t>::BITS) | self as $wide;
                ((t / d) as $t, (t % d) as u32)
            }
            #[inline(always)]
            fn from_u32(x: u32) -> Self {
                x as $t
            }
            #[inline(always)]
            fn from_be_slice(b: &[u8]) -> Self {
                b.iter().fold(0, |acc, &x| (acc << 8) | x as $t)
            }
            #[inline(always)]
            fn write_be(self, out: &mut [u8]) {
                for (o, b) in out.iter_mut().rev().zip(self.to_le_bytes()) {
                    *o = b;
                }
            }
        }
    };
}
limb!(u32, u64);
limb!(u64, u128);

/// All ones if `bit` is 1, zero if it is 0.
#[inline(always)]
pub(crate) fn mask<L: Limb>(bit: L) -> L {
    bit.wrapping_neg()
}

/// All ones if `a == b`, else zero, without a branch.
#[inline(always)]
fn eq_mask<L: Limb>(a: L, b: L) -> L {
    let x = a ^ b;
    // Top bit of `x | −x` is set iff x ≠ 0.
    mask(((x | x.wrapping_neg()) >> (L::BITS - 1)) ^ L::ONE)
}

/// `a` where `m` is all ones, `b` where it is zero (limb by limb).
#[inline(always)]
pub(crate) fn select<L: Limb, const N: usize>(m: L, a: &[L; N], b: &[L; N]) -> [L; N] {
    core::array::from_fn(|i| (a[i] & m) | (b[i] & !m))
}

/// The big-endian bytes `b` (`N·BYTES` of them; a shorter slice is zero-extended at the top, a
/// longer one keeps its low bytes) as a number.
pub(crate) fn from_be<L: Limb, const N: usize>(b: &[u8]) -> [L; N] {
    let mut x = [L::ZERO; N];
    for (limb, chunk) in x.iter_mut().zip(b.rchunks(L::BYTES)) {
        *limb = L::from_be_slice(chunk);
    }
    x
}

/// `x` as big-endian bytes into `out` (`N·BYTES` long; the number's low bytes if shorter).
pub(crate) fn to_be<L: Limb, const N: usize>(x: &[L; N], out: &mut [u8]) {
    for (chunk, limb) in out.rchunks_mut(L::BYTES).zip(x) {
        limb.write_be(chunk);
    }
}

/// The number `v` (a small constant).
pub(crate) fn small<L: Limb, const N: usize>(v: u32) -> [L; N] {
    core::array::from_fn(|i| if i == 0 { L::from_u32(v) } else { L::ZERO })
}

/// `a + b` and the carry out (0 or 1).
pub(crate) fn add<L: Limb, const N: usize>(a: &[L; N], b: &[L; N]) -> ([L; N], L) {
    let mut c = L::ZERO;
    let s = core::array::from_fn(|i| {
        let (s, c2) = L::adc(a[i], b[i], c);
        c = c2;
        s
    });
    (s, c)
}

/// `a − b` and the borrow out (0 or 1).
pub(crate) fn sub<L: Limb, const N: usize>(a: &[L; N], b: &[L; N]) -> ([L; N], L) {
    let mut c = L::ZERO;
    let d = core::array::from_fn(|i| {
        let (d, c2) = L::sbb(a[i], b[i], c);
        c = c2;
        d
    });
    (d, c)
}

/// Whether `a < b` (variable time: for public values only).
pub(crate) fn lt<L: Limb, const N: usize>(a: &[L; N], b: &[L; N]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
}

/// `x / 3` and `x mod 3`.
pub(crate) fn div3<L: Limb, const N: usize>(x: &[L; N]) -> ([L; N], u32) {
    let mut q = [L::ZERO; N];
    let mut r = 0;
    for (qi, xi) in q.iter_mut().zip(x).rev() {
        (*qi, r) = xi.div_rem_small(r, 3);
    }
    (q, r)
}

/// `2x + 1` (the top bit of `x` is dropped).
pub(crate) fn shl1_or1<L: Limb, const N: usize>(x: &[L; N]) -> [L; N] {
    core::array::from_fn(|i| {
        let below = if i == 0 {
            L::ONE
        } else {
            x[i - 1] >> (L::BITS - 1)
        };
        (x[i] << 1) | below
    })
}

/// `x >> s` for `s < w·N` (variable time in `s`, which is public where this is used).
pub(crate) fn shr<L: Limb, const N: usize>(x: &[L; N], s: u32) -> [L; N] {
    let (limbs, bits) = ((s / L::BITS) as usize, s % L::BITS);
    core::array::from_fn(|i| {
        let lo = x.get(i + limbs).copied().unwrap_or(L::ZERO);
        let hi = x.get(i + limbs + 1).copied().unwrap_or(L::ZERO);
        if bits == 0 {
            lo
        } else {
            (lo >> bits) | (hi << (L::BITS - bits))
        }
    })
}

/// Trailing zero bits of `x` (`w·N` for zero).
pub(crate) fn trailing_zeros<L: Limb, const N: usize>(x: &[L; N]) -> u32 {
    let mut n = 0;
    for &limb in x {
        let mut l = limb;
        for _ in 0..L::BITS {
            if l & L::ONE == L::ONE {
                return n;
            }
            l = l >> 1;
            n += 1;
        }
    }
    n
}

/// Whether the top bit of `x` is set.
pub(crate) fn top_bit<L: Limb, const N: usize>(x: &[L; N]) -> bool {
    x.last().is_some_and(|&t| t >> (L::BITS - 1) == L::ONE)
}

/// The full product `a·b` of two `N`-limb numbers, `N2 = 2·N` limbs (asserted at compile time).
pub(crate) fn mul_wide<L: Limb, const N: usize, const N2: usize>(
    a: &[L; N],
    b: &[L; N],
) -> [L; N2] {
    const { assert!(N2 == 2 * N) };
    let mut out = [L::ZERO; N2];
    for (i, &ai) in a.iter().enumerate() {
        let mut c = L::ZERO;
        for (j, &bj) in b.iter().enumerate() {
            (out[i + j], c) = L::mac(out[i + j], ai, bj, c);
        }
        out[i + N] = c;
    }
    out
}

/// A modulus `n` (odd, top bit set) and its Montgomery constants for `R = 2^(N·w)`.
#[derive(Clone, Debug)]
pub(crate) struct Mont<L: Limb, const N: usize> {
    pub(crate) n: [L; N],
    /// `−n⁻¹ mod 2^w`.
    n0inv: L,
    /// `R mod n`: 1 in Montgomery form.
    pub(crate) one: [L; N],
    /// `R² mod n`: turns `x` into Montgomery form (`x·R mod n`) in one [`Mont::mul`].
    pub(crate) rr: [L; N],
}

impl<L: Limb, const N: usize> Mont<L, N> {
    /// The constants of `n`; `None` unless `n` is odd and has its top bit set.
    pub(crate) fn new(n: [L; N]) -> Option<Self> {
        // A power of two (for R², below) and even (for the pairs in `mul`): 16, 32 or 64 here.
        const { assert!(N.is_power_of_two() && N >= 2) };
        if n[0] & L::ONE != L::ONE || !top_bit(&n) {
            return None;
        }
        // n·n ≡ 1 mod 8 for odd n: `inv` starts right to 3 bits, and each Newton step
        // inv·(2 − n·inv) doubles that: 3 → 6 → 12 → 24 → 48 → 96 ≥ 64 bits.
        let n0 = n[0];
        let mut inv = n0;
        for _ in 0..5 {
            let two = L::from_u32(2);
            let (t, _) = L::sbb(two, n0.wrapping_mul(inv), L::ZERO);
            inv = inv.wrapping_mul(t);
        }
        // R/2 ≤ n < R: R mod n = R − n, which is −n in N limbs.
        let (one, _) = sub(&[L::ZERO; N], &n);
        let mut m = Mont {
            n,
            n0inv: inv.wrapping_neg(),
            one,
            rr: one,
        };
        // R² mod n: double R mod n w times (2^w·R mod n, 2^w in Montgomery form), then square
        // log2(N) times in Montgomery form: 2^(w·2^k)·R, up to 2^(w·N)·R = R².
        for _ in 0..L::BITS {
            let (d, c) = add(&m.rr, &m.rr);
            m.rr = m.reduce(&d, c);
        }
        for _ in 0..N.trailing_zeros() {
            m.rr = m.sqr(&m.rr);
        }
        Some(m)
    }

    /// `top·R + t` minus `n` if that is at least `n`: `t mod n` for `top·R + t < 2n`. The
    /// subtraction is always computed and chosen by mask.
    #[inline(always)]
    pub(crate) fn reduce(&self, t: &[L; N], top: L) -> [L; N] {
        let (d, borrow) = sub(t, &self.n);
        // Keep `t` iff top = 0 and t < n (the subtraction borrowed): top − borrow borrows.
        let (_, keep) = L::sbb(top, L::ZERO, borrow);
        select(mask(keep), t, &d)
    }

    /// `a + b mod n`, for `a, b < n`.
    pub(crate) fn add_mod(&self, a: &[L; N], b: &[L; N]) -> [L; N] {
        let (s, c) = add(a, b);
        self.reduce(&s, c)
    }

    /// `a − b mod n`, for `a, b < n`: `n` added back by mask.
    pub(crate) fn sub_mod(&self, a: &[L; N], b: &[L; N]) -> [L; N] {
        let (d, borrow) = sub(a, b);
        let m = mask(borrow);
        let (s, _) = add(&d, &core::array::from_fn(|i| self.n[i] & m));
        s
    }

    /// `a·b·R⁻¹ mod n` (CIOS, both halves of a round in one pass over `t`), for `a, b < R`;
    /// the result is fully reduced (`< n`) when `a·b < n·R`, and congruent and below `R` always.
    #[inline(always)]
    pub(crate) fn mul(&self, a: &[L; N], b: &[L; N]) -> [L; N] {
        // t = t[0..N] + hi·R stays below R + n < 2R between rounds (so hi ≤ 1), and below 2n at
        // the end when a·b < n·R.
        let mut t = [L::ZERO; N];
        let mut hi = L::ZERO;
        for &ai in a {
            // t = (t + ai·b + m·n) / 2^w, m making the low limb vanish; `c1` carries the
            // ai·b row, `c2` the m·n row.
            let (t0, mut c1) = L::mac(t[0], ai, b[0], L::ZERO);
            let m = t0.wrapping_mul(self.n0inv);
            let (_, mut c2) = L::mac(t0, m, self.n[0], L::ZERO);
            let mut x;
            (x, c1) = L::mac(t[1], ai, b[1], c1);
            (t[0], c2) = L::mac(x, m, self.n[1], c2);
            let mut j = 2;
            while j + 1 < N {
                (x, c1) = L::mac(t[j], ai, b[j], c1);
                (t[j - 1], c2) = L::mac(x, m, self.n[j], c2);
                (x, c1) = L::mac(t[j + 1], ai, b[j + 1], c1);
                (t[j], c2) = L::mac(x, m, self.n[j + 1], c2);
                j += 2;
            }
            let (x, top1) = L::adc(hi, c1, L::ZERO);
            let (x, top2) = L::adc(x, c2, L::ZERO);
            t[N - 1] = x;
            // top1 + top2 ≤ 1 by the bound above.
            hi = top1 | top2;
        }
        self.reduce(&t, hi)
    }

    /// `a·a·R⁻¹ mod n` for `a < n` (below `n`): the full square first, each cross product once
    /// and doubled (`N(N−1)/2 + N` products instead of `N²`), then `N` reduction rounds
    /// (separated operand scanning).
    #[inline(always)]
    pub(crate) fn sqr(&self, a: &[L; N]) -> [L; N] {
        const { assert!(N <= MAX_LIMBS) };
        let mut buf = [L::ZERO; 2 * MAX_LIMBS];
        let t = &mut buf[..2 * N];
        // Cross products a[i]·a[j], i < j.
        for i in 0..N {
            let mut c = L::ZERO;
            for j in i + 1..N {
                (t[i + j], c) = L::mac(t[i + j], a[i], a[j], c);
            }
            t[i + N] = c;
        }
        // Doubled (a² < R², so nothing leaves the top), plus the squares a[i]².
        let mut top = L::ZERO;
        for x in t.iter_mut() {
            let y = *x;
            *x = (y << 1) | top;
            top = y >> (L::BITS - 1);
        }
        let mut c = L::ZERO;
        for i in 0..N {
            let (lo, hi) = L::mac(t[2 * i], a[i], a[i], c);
            t[2 * i] = lo;
            (t[2 * i + 1], c) = L::adc(t[2 * i + 1], hi, L::ZERO);
        }
        // Montgomery reduction: row i clears limb i; `extra` is the carry into limb i + N + 1.
        let mut extra = L::ZERO;
        for i in 0..N {
            let m = t[i].wrapping_mul(self.n0inv);
            let mut c = L::ZERO;
            for j in 0..N {
                (t[i + j], c) = L::mac(t[i + j], m, self.n[j], c);
            }
            (t[i + N], extra) = L::adc(t[i + N], c, extra);
        }
        // (a² + M·n)/R < (n² + R·n)/R < 2n.
        let r: [L; N] = core::array::from_fn(|i| t[N + i]);
        self.reduce(&r, extra)
    }

    /// `x·R mod n` (Montgomery form) for `x < R`.
    #[inline(always)]
    pub(crate) fn to_mont(&self, x: &[L; N]) -> [L; N] {
        self.mul(x, &self.rr)
    }

    /// `x·R⁻¹ mod n`: a number out of Montgomery form.
    #[inline(always)]
    pub(crate) fn out_of_mont(&self, x: &[L; N]) -> [L; N] {
        self.mul(x, &small(1))
    }

    /// `base^exp` in Montgomery form, for `base` in Montgomery form (`< n`): fixed 4-bit
    /// windows over all `N·w` bits of `exp`, every table entry read for each window (masks), so
    /// neither the branches nor the addresses depend on `exp`.
    pub(crate) fn pow_mont(&self, base: &[L; N], exp: &[L; N]) -> [L; N] {
        let mut table = [self.one; 16];
        table[1] = *base;
        for i in 2..16 {
            table[i] = self.mul(&table[i - 1], base);
        }
        let mut acc = self.one;
        // w is 32 or 64: windows never straddle limbs.
        for limb in exp.iter().rev() {
            for k in (0..L::BITS / 4).rev() {
                for _ in 0..4 {
                    acc = self.sqr(&acc);
                }
                let idx = (*limb >> (4 * k)) & L::from_u32(15);
                let mut entry = [L::ZERO; N];
                for (i, e) in table.iter().enumerate() {
                    let m = eq_mask(idx, L::from_u32(i as u32));
                    for (x, y) in entry.iter_mut().zip(e) {
                        *x = *x | (*y & m);
                    }
                }
                acc = self.mul(&acc, &entry);
            }
        }
        acc
    }

    /// `base^exp mod n`, for `base < n` (plain numbers in and out; see [`Mont::pow_mont`]).
    pub(crate) fn pow(&self, base: &[L; N], exp: &[L; N]) -> [L; N] {
        self.out_of_mont(&self.pow_mont(&self.to_mont(base), exp))
    }
}
