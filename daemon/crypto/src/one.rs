//! BLAKE2s-256 (RFC 7693, unkeyed, 32-byte digest) of one message `head ‖ body`, for aarch64 and
//! 32-bit ARM, where `blake2s_simd` has no SIMD: there [`blake2s_256`](crate::blake2s_256) runs
//! the NEON instantiation (`neon::hash`) on aarch64, and `arm::blake2s_256` (the same rows and
//! [`stream`], the compression in `asm!`) on a 32-bit ARM CPU with NEON. This is the path of a
//! chunk hashed alone on arrival (a box that has its manifest already: `box-mf` in
//! docs/BENCHMARKS.md).
//!
//! Layout: the 16 state words are 4 rows of 4 (`a`, `b`, `c`, `d`), one vector each, so G runs
//! on the 4 columns at once; the diagonal step rotates rows `b`, `c`, `d` by 1, 2, 3 lanes first
//! and back after. Each round gathers its message words into 4 vectors (the SIGMA permutation):
//! that gathering is the lane type's `msg`.
//!
//! The algorithm is written once, in `one_hash!`, over a row type with inherent methods, and
//! instantiated for `portable::Portable` (plain arrays, the reference, tested on every target)
//! and for `neon::Row` (NEON intrinsics; see `lanes.rs` for why plain code is not enough in the
//! daemon's size-optimised build).
//!
//! Invariants:
//! - digests are bit-for-bit BLAKE2s-256 of `head ‖ body` (tests compare both instantiations, and
//!   the armv7 asm under qemu-arm, with `blake2s_simd` for every length 0..=2048 with heads of 0..=16 bytes and other splits, and
//!   RFC 7693's "abc");
//! - the body is not copied: full blocks are read in place, whichever slice they are in; only a
//!   block that straddles head and body and the last block go through a 64-byte stack buffer;
//! - the last block (possibly partial, zero-padded; a zero block for the empty message) is
//!   compressed with the counter at the total length and the last-block flag, every other block
//!   is full and not flagged;
//! - no allocation, no panic on any lengths: the byte counter is 64-bit (never wraps for slices).

use crate::lanes::{BLOCK, SIGMA};

/// The blocks of `head ‖ body` in order, to `compress(block, bytes so far, last)`: every block but
/// the last is full; the last is zero-padded, with the total length (a zero block if empty).
#[inline(always)]
pub(crate) fn stream(head: &[u8], body: &[u8], mut compress: impl FnMut(&[u8; BLOCK], u64, bool)) {
    // Two slices' lengths: no overflow.
    let total = head.len() + body.len();
    // Start of the last block: everything before it is whole blocks.
    let last = total.saturating_sub(1) / BLOCK * BLOCK;
    let (head_mid, head_last) = head.split_at(last.min(head.len()));
    let (body_mid, body_last) = body.split_at(last.saturating_sub(head.len()).min(body.len()));
    let mut t = 0u64;
    let mut blocks = head_mid.chunks_exact(BLOCK);
    for b in &mut blocks {
        t += BLOCK as u64;
        compress(b.try_into().unwrap_or(&[0; BLOCK]), t, false);
    }
    let rest = blocks.remainder();
    let mut body_mid = body_mid;
    if !rest.is_empty() {
        // The block that straddles head and body (it ends at or before `last`, so the body has
        // the bytes that complete it).
        let mut buf = [0u8; BLOCK];
        let n = fill(&mut buf, 0, rest);
        let (fst, snd) = body_mid.split_at((BLOCK - n).min(body_mid.len()));
        fill(&mut buf, n, fst);
        body_mid = snd;
        t += BLOCK as u64;
        compress(&buf, t, false);
    }
    for b in body_mid.chunks_exact(BLOCK) {
        t += BLOCK as u64;
        compress(b.try_into().unwrap_or(&[0; BLOCK]), t, false);
    }
    let mut buf = [0u8; BLOCK];
    let n = fill(&mut buf, 0, head_last);
    fill(&mut buf, n, body_last);
    compress(&buf, total as u64, true);
}

/// Copies as much of `src` as fits into `buf[at..]`; returns the new fill level.
#[inline(always)]
fn fill(buf: &mut [u8; BLOCK], at: usize, src: &[u8]) -> usize {
    let dst = buf.get_mut(at..).unwrap_or(&mut []);
    let n = src.len().min(dst.len());
    if let (Some(d), Some(s)) = (dst.get_mut(..n), src.get(..n)) {
        d.copy_from_slice(s);
    }
    at + n
}

/// The byte indices of each round's 4 message vectors in the block, for NEON's 4-register table
/// lookup: vector `j` of round `r` holds words `SIGMA[r][2 i + j % 2 + 8 (j / 2)]`, `i` = 0..4
/// (first `x` of the columns, `y` of the columns, `x` of the diagonals, `y` of the diagonals).
#[cfg_attr(
    not(any(
        all(target_arch = "aarch64", target_endian = "little"),
        all(target_arch = "arm", target_endian = "little")
    )),
    allow(dead_code)
)]
pub(crate) const MSG_BYTES: [[[u8; 16]; 4]; 10] = {
    let mut t = [[[0u8; 16]; 4]; 10];
    let mut r = 0;
    while r < 10 {
        let mut j = 0;
        while j < 4 {
            let mut i = 0;
            while i < 4 {
                let w = SIGMA[r][2 * i + j % 2 + 8 * (j / 2)];
                let mut k = 0;
                while k < 4 {
                    t[r][j][4 * i + k] = (4 * w + k) as u8;
                    k += 1;
                }
                i += 1;
            }
            j += 1;
        }
        r += 1;
    }
    t
};

/// `round`, `compress` and `hash` (BLAKE2s-256 of `head ‖ body`) over the row type `$v` and its
/// block type `$m`, each function with the attributes given (NEON:
/// `#[target_feature(enable = "neon")]`). `$v` has the inherent methods `from_array`,
/// `to_array`, `counter(t, last)` (`[t` low, `t` high, the flag, `0]`), `add`, `xor`, `ror16`, `ror12`, `ror8`, `ror7`, `lanes1`/`lanes2`/`lanes3` (lane
/// `i` takes lane `i + k` mod 4), `load_block` (a block as `$m`) and `msg(&$m, r)` (round `r`'s 4
/// message vectors, see [`MSG_BYTES`] for their order).
#[cfg(any(all(target_arch = "aarch64", target_endian = "little"), test))]
macro_rules! one_hash {
    ($v:ty, $m:ty, $(#[$attr:meta])*) => {
        /// Round `r` (a constant after inlining) on the rows `s`.
        $(#[$attr])*
        #[inline]
        fn round(s: &mut [$v; 4], m: &$m, r: usize) {
            let [x0, y0, x1, y1] = <$v>::msg(m, r);
            let [mut a, mut b, mut c, mut d] = *s;
            a = a.add(b).add(x0);
            d = d.xor(a).ror16();
            c = c.add(d);
            b = b.xor(c).ror12();
            a = a.add(b).add(y0);
            d = d.xor(a).ror8();
            c = c.add(d);
            b = b.xor(c).ror7();
            // Diagonals into columns: lane i holds (a[i], b[i + 1], c[i + 2], d[i + 3]).
            b = b.lanes1();
            c = c.lanes2();
            d = d.lanes3();
            a = a.add(b).add(x1);
            d = d.xor(a).ror16();
            c = c.add(d);
            b = b.xor(c).ror12();
            a = a.add(b).add(y1);
            d = d.xor(a).ror8();
            c = c.add(d);
            b = b.xor(c).ror7();
            *s = [a, b.lanes3(), c.lanes2(), d.lanes1()];
        }

        /// One compression of `block` into the rows `h` (`h[0]`: words 0..4, `h[1]`: 4..8);
        /// `t`: bytes so far, `last`: the last-block flag.
        $(#[$attr])*
        #[inline]
        fn compress(h: &mut [$v; 2], block: &[u8; $crate::lanes::BLOCK], t: u64, last: bool) {
            use $crate::lanes::IV;
            let m = <$v>::load_block(block);
            let mut s = [
                h[0],
                h[1],
                <$v>::from_array([IV[0], IV[1], IV[2], IV[3]]),
                <$v>::from_array([IV[4], IV[5], IV[6], IV[7]]).xor(<$v>::counter(t, last)),
            ];
            // Written out, so each round's message indices are constants.
            round(&mut s, &m, 0);
            round(&mut s, &m, 1);
            round(&mut s, &m, 2);
            round(&mut s, &m, 3);
            round(&mut s, &m, 4);
            round(&mut s, &m, 5);
            round(&mut s, &m, 6);
            round(&mut s, &m, 7);
            round(&mut s, &m, 8);
            round(&mut s, &m, 9);
            h[0] = h[0].xor(s[0]).xor(s[2]);
            h[1] = h[1].xor(s[1]).xor(s[3]);
        }

        /// BLAKE2s-256 of `head ‖ body`.
        $(#[$attr])*
        fn hash(head: &[u8], body: &[u8]) -> [u8; 32] {
            use $crate::lanes::IV;
            // Parameter block word 0: digest length 32, no key, fanout 1, depth 1; rest zero.
            let mut h = [
                <$v>::from_array([IV[0] ^ 0x0101_0020, IV[1], IV[2], IV[3]]),
                <$v>::from_array([IV[4], IV[5], IV[6], IV[7]]),
            ];
            $crate::one::stream(head, body, |b, t, last| compress(&mut h, b, t, last));
            let mut d = [0u8; 32];
            let words = [h[0].to_array(), h[1].to_array()];
            for (c, w) in d.chunks_exact_mut(4).zip(words.iter().flatten()) {
                c.copy_from_slice(&w.to_le_bytes());
            }
            d
        }
    };
}

#[cfg(all(target_arch = "aarch64", target_endian = "little"))]
pub(crate) mod neon;

#[cfg(all(target_arch = "arm", target_endian = "little"))]
pub(crate) mod arm;

/// The reference instantiation, in plain Rust (tests only).
#[cfg(test)]
pub(crate) mod portable {
    use super::{BLOCK, SIGMA};

    /// One row of the state, as an array.
    #[derive(Clone, Copy)]
    pub(crate) struct Portable([u32; 4]);

    impl Portable {
        fn map2(self, o: Self, f: impl Fn(u32, u32) -> u32) -> Self {
            Portable(core::array::from_fn(|l| f(self.0[l], o.0[l])))
        }
        fn from_array(x: [u32; 4]) -> Self {
            Portable(x)
        }
        fn to_array(self) -> [u32; 4] {
            self.0
        }
        fn add(self, o: Self) -> Self {
            self.map2(o, u32::wrapping_add)
        }
        fn xor(self, o: Self) -> Self {
            self.map2(o, |a, b| a ^ b)
        }
        fn ror16(self) -> Self {
            Portable(self.0.map(|x| x.rotate_right(16)))
        }
        fn ror12(self) -> Self {
            Portable(self.0.map(|x| x.rotate_right(12)))
        }
        fn ror8(self) -> Self {
            Portable(self.0.map(|x| x.rotate_right(8)))
        }
        fn ror7(self) -> Self {
            Portable(self.0.map(|x| x.rotate_right(7)))
        }
        fn counter(t: u64, last: bool) -> Self {
            Portable([
                t as u32,
                (t >> 32) as u32,
                if last { u32::MAX } else { 0 },
                0,
            ])
        }
        fn lanes(self, k: usize) -> Self {
            Portable(core::array::from_fn(|i| self.0[(i + k) % 4]))
        }
        fn lanes1(self) -> Self {
            self.lanes(1)
        }
        fn lanes2(self) -> Self {
            self.lanes(2)
        }
        fn lanes3(self) -> Self {
            self.lanes(3)
        }
        fn load_block(b: &[u8; BLOCK]) -> [u32; 16] {
            core::array::from_fn(|i| {
                u32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]])
            })
        }
        fn msg(m: &[u32; 16], r: usize) -> [Self; 4] {
            let s = &SIGMA[r];
            core::array::from_fn(|j| {
                Portable(core::array::from_fn(|i| m[s[2 * i + j % 2 + 8 * (j / 2)]]))
            })
        }
    }

    one_hash!(Portable, [u32; 16],);

    /// BLAKE2s-256 of `head ‖ body` with the portable rows.
    pub(crate) fn blake2s_256(head: &[u8], body: &[u8]) -> [u8; 32] {
        hash(head, body)
    }
}
