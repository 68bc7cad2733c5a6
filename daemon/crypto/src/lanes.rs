//! BLAKE2s-256 (RFC 7693, unkeyed, 32-byte digest) of 4 or 8 messages side by side, where
//! `blake2s_simd` is slower or has no SIMD: [`Blake2sMany::hash`](crate::Blake2sMany::hash) runs
//! the AVX2 instantiation (`avx2`, 8 lanes) on an x86-64 CPU with AVX2 (`std` feature), the NEON
//! one (`neon::HASH4`) on aarch64, and `arm::HASH4` (the same loop, the compression in `asm!`) on
//! a 32-bit ARM CPU with NEON.
//!
//! Layout: lane `l` of every vector belongs to message `l`. State word `j` of the messages is
//! one vector, so each step of G is one vector operation and the diagonal rounds need no
//! shuffles; the only shuffle is the transpose that gathers message word `j` of the messages into
//! one vector, per block.
//!
//! The algorithm is written once, in `lanes_hash!`, over a lane type with inherent methods
//! (`add`, `xor`, the four rotations, …) and a lane count, and instantiated three times: for
//! `portable::Portable` (plain arrays, 4 lanes, the reference, tested on every target), for
//! `neon::U32x4` (NEON intrinsics, 4 lanes) and for `avx2::U32x8` (AVX2 intrinsics, 8 lanes).
//! Plain code is not enough on the box: built as the daemon is (fat LTO, workspace
//! `opt-level = "s"`) the portable lanes came out as scalar code (seen in the disassembly; the
//! auto-vectorisers are not run for a size-optimised link) and were 1.9× slower on aarch64 than
//! `blake2s_simd`'s one-at-a-time code (measured), so the vector operations are explicit.
//!
//! Invariants:
//! - digests are bit-for-bit BLAKE2s-256 of `bufs[l][..lens[l]]` (tests compare every
//!   instantiation against `blake2s_simd` for every length 0..=[`MANY_COPY_MAX`], mixed lengths
//!   in a group, 1..=8 messages, and RFC 7693's "abc");
//! - the caller has zeroed each used buffer from its message's end to the next 64-byte boundary
//!   (the first 64 bytes for an empty message): the last block is read in place, padding included;
//! - lanes of different lengths share the block loop: a lane past its last block goes on
//!   compressing whatever its buffer holds, but its digest was taken at its last block (a
//!   per-lane mask, no branch);
//! - no allocation, no panic: a buffer is [`MANY_COPY_MAX`] bytes, a multiple of 64, and every
//!   block index is below `MANY_COPY_MAX / 64`; a length over [`MANY_COPY_MAX`] is clamped (the
//!   caller never passes one).

use crate::MANY_COPY_MAX;

#[cfg(any(
    all(target_arch = "aarch64", target_endian = "little"),
    all(target_arch = "arm", target_endian = "little"),
    test
))]
/// Messages hashed side by side by the 4-lane instantiations: the 4 × 32-bit lanes of a NEON
/// register.
pub(crate) const LANES: usize = 4;

/// A BLAKE2s block, in bytes.
pub(crate) const BLOCK: usize = 64;
const BLOCKS_MAX: usize = MANY_COPY_MAX / BLOCK;
const _: () = assert!(MANY_COPY_MAX.is_multiple_of(BLOCK));

/// The signature of an `N`-lane instantiation's `hash_lanes`: BLAKE2s-256 of `bufs[l][..lens[l]]`
/// into `[l]`.
pub(crate) type HashLanes<const N: usize> =
    fn([&[u8; MANY_COPY_MAX]; N], [usize; N]) -> [[u8; 32]; N];

#[cfg(any(
    all(target_arch = "aarch64", target_endian = "little"),
    all(target_arch = "arm", target_endian = "little"),
    test
))]
/// A 4-lane instantiation's `hash_lanes`.
pub(crate) type Hash4 = HashLanes<LANES>;

/// The rotation constants of a lane type that needs none (portable, NEON): `lanes_hash!` makes
/// one per call and hands it to `ror16_k` and `ror8_k`.
#[cfg(any(all(target_arch = "aarch64", target_endian = "little"), test))]
#[derive(Clone, Copy)]
pub(crate) struct NoMasks;

#[cfg(any(all(target_arch = "aarch64", target_endian = "little"), test))]
impl NoMasks {
    #[inline(always)]
    pub(crate) fn new() -> Self {
        NoMasks
    }
}

pub(crate) const IV: [u32; 8] = [
    0x6A09_E667,
    0xBB67_AE85,
    0x3C6E_F372,
    0xA54F_F53A,
    0x510E_527F,
    0x9B05_688C,
    0x1F83_D9AB,
    0x5BE0_CD19,
];

/// The message schedule (written out as literals in `arm.rs`'s rounds; `one.rs` makes its
/// per-round gathering indices from it).
#[cfg(any(
    all(target_arch = "aarch64", target_endian = "little"),
    all(target_arch = "arm", target_endian = "little"),
    all(target_arch = "x86_64", feature = "std"),
    test
))]
pub(crate) const SIGMA: [[usize; 16]; 10] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
    [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
    [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
    [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
    [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
    [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
    [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
    [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
    [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
];

/// Block `k` of `buf`: every `k` below `MANY_COPY_MAX / 64` is in it (a zero block otherwise,
/// which the callers never ask for).
#[inline(always)]
fn block(buf: &[u8; MANY_COPY_MAX], k: usize) -> &[u8; BLOCK] {
    match buf.get(k * BLOCK..).and_then(|b| b.first_chunk::<BLOCK>()) {
        Some(b) => b,
        None => &[0; BLOCK],
    }
}

/// Blocks of a message of `len` bytes: at least one (the empty message is one zero block), at
/// most `BLOCKS_MAX`.
#[inline(always)]
fn blocks_of(len: usize) -> usize {
    len.div_ceil(BLOCK).clamp(1, BLOCKS_MAX)
}

/// `g`, `round`, `compress` and `hash_lanes` (a [`HashLanes`]`<$n>`) over the lane type `$v` of
/// `$n` lanes, with rotation constants `$k` (made once per call by `<$k>::new()`), each function
/// with the attributes given (`#[target_feature(enable = "neon")]` / `"avx2"`, which makes the
/// intrinsics safe to call inside). `$v` has the inherent methods `splat`, `from_array`,
/// `to_array`, `add`, `xor`, `ror16_k(&$k)`, `ror12`, `ror8_k(&$k)`, `ror7`, `min`, `eq_mask`
/// (all-ones where equal), `select(other, mask)` (self where the mask is set) and `load` (the 16
/// words of `$n` blocks, transposed).
#[cfg(any(
    all(target_arch = "aarch64", target_endian = "little"),
    all(target_arch = "x86_64", feature = "std"),
    test
))]
macro_rules! lanes_hash {
    ($v:ty, $k:ty, $n:expr, $(#[$attr:meta])*) => {
        $(#[$attr])*
        #[inline]
        #[allow(clippy::too_many_arguments)]
        fn g(v: &mut [$v; 16], a: usize, b: usize, c: usize, d: usize, x: $v, y: $v, k: &$k) {
            v[a] = v[a].add(v[b]).add(x);
            v[d] = v[d].xor(v[a]).ror16_k(k);
            v[c] = v[c].add(v[d]);
            v[b] = v[b].xor(v[c]).ror12();
            v[a] = v[a].add(v[b]).add(y);
            v[d] = v[d].xor(v[a]).ror8_k(k);
            v[c] = v[c].add(v[d]);
            v[b] = v[b].xor(v[c]).ror7();
        }

        /// Round `r` (a constant after inlining) of the compression.
        $(#[$attr])*
        #[inline]
        fn round(v: &mut [$v; 16], m: &[$v; 16], r: usize, k: &$k) {
            let s = &$crate::lanes::SIGMA[r];
            g(v, 0, 4, 8, 12, m[s[0]], m[s[1]], k);
            g(v, 1, 5, 9, 13, m[s[2]], m[s[3]], k);
            g(v, 2, 6, 10, 14, m[s[4]], m[s[5]], k);
            g(v, 3, 7, 11, 15, m[s[6]], m[s[7]], k);
            g(v, 0, 5, 10, 15, m[s[8]], m[s[9]], k);
            g(v, 1, 6, 11, 12, m[s[10]], m[s[11]], k);
            g(v, 2, 7, 8, 13, m[s[12]], m[s[13]], k);
            g(v, 3, 4, 9, 14, m[s[14]], m[s[15]], k);
        }

        /// One compression of the lanes' blocks `m` into `h`; `t`: bytes so far (the high
        /// counter word is zero: messages are far shorter than 4 GiB), `f`: last-block flags.
        $(#[$attr])*
        #[inline]
        fn compress(h: &mut [$v; 8], m: &[$v; 16], t: $v, f: $v, k: &$k) {
            use $crate::lanes::IV;
            let iv = |i: usize| <$v>::splat(IV[i]);
            let mut v = [
                h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7],
                iv(0), iv(1), iv(2), iv(3), iv(4).xor(t), iv(5), iv(6).xor(f), iv(7),
            ];
            // The 10 rounds written out, so each message index is a constant (a loop over SIGMA
            // loaded and bounds-checked 16 indices per round: +40 % instructions, measured).
            round(&mut v, m, 0, k);
            round(&mut v, m, 1, k);
            round(&mut v, m, 2, k);
            round(&mut v, m, 3, k);
            round(&mut v, m, 4, k);
            round(&mut v, m, 5, k);
            round(&mut v, m, 6, k);
            round(&mut v, m, 7, k);
            round(&mut v, m, 8, k);
            round(&mut v, m, 9, k);
            for i in 0..8 {
                h[i] = h[i].xor(v[i]).xor(v[i + 8]);
            }
        }

        /// BLAKE2s-256 of `bufs[l][..lens[l]]` for each lane `l`, into `[l]` of the result (module
        /// invariants: lengths ≤ `MANY_COPY_MAX`, padding zeroed). Unused lanes can be given any
        /// buffer and length 0.
        $(#[$attr])*
        fn hash_lanes(
            bufs: [&[u8; $crate::MANY_COPY_MAX]; $n],
            lens: [usize; $n],
        ) -> [[u8; 32]; $n] {
            use $crate::lanes::{block, blocks_of, BLOCK, IV};
            let masks = <$k>::new();
            let blocks = lens.map(blocks_of);
            let rounds = blocks.iter().copied().max().unwrap_or(1);
            // Both ≤ MANY_COPY_MAX after the clamp: exact as u32.
            let lens_v = <$v>::from_array(lens.map(|n| n.min($crate::MANY_COPY_MAX) as u32));
            let blocks_v = <$v>::from_array(blocks.map(|n| n as u32));
            // Parameter block word 0: digest length 32, no key, fanout 1, depth 1; rest zero.
            let mut h = [IV[0] ^ 0x0101_0020, IV[1], IV[2], IV[3], IV[4], IV[5], IV[6], IV[7]]
                .map(|x| <$v>::splat(x));
            let mut out = h;
            for i in 0..rounds {
                let m = <$v>::load(bufs.map(|b| block(b, i)));
                // Bytes compressed through this block: the length itself at the last block.
                let t = lens_v.min(<$v>::splat(((i + 1) * BLOCK) as u32));
                let last = blocks_v.eq_mask(<$v>::splat(i as u32 + 1));
                compress(&mut h, &m, t, last, &masks);
                for (o, x) in out.iter_mut().zip(&h) {
                    *o = x.select(*o, last);
                }
            }
            let words = out.map(|w| w.to_array());
            core::array::from_fn(|l| {
                let mut d = [0u8; 32];
                for (c, w) in d.chunks_exact_mut(4).zip(&words) {
                    c.copy_from_slice(&w[l].to_le_bytes());
                }
                d
            })
        }
    };
}

#[cfg(all(target_arch = "aarch64", target_endian = "little"))]
pub(crate) mod neon;

#[cfg(all(target_arch = "arm", target_endian = "little"))]
pub(crate) mod arm;

#[cfg(all(target_arch = "x86_64", feature = "std"))]
pub(crate) mod avx2;

/// The reference instantiation, in plain Rust (tests only: see the module doc).
#[cfg(test)]
pub(crate) mod portable {
    use super::{NoMasks, BLOCK, LANES};

    /// One word of each of the 4 messages, as an array.
    #[derive(Clone, Copy)]
    pub(crate) struct Portable([u32; LANES]);

    impl Portable {
        fn map2(self, o: Self, f: impl Fn(u32, u32) -> u32) -> Self {
            Portable(core::array::from_fn(|l| f(self.0[l], o.0[l])))
        }
        fn splat(x: u32) -> Self {
            Portable([x; LANES])
        }
        fn from_array(x: [u32; LANES]) -> Self {
            Portable(x)
        }
        fn to_array(self) -> [u32; LANES] {
            self.0
        }
        fn add(self, o: Self) -> Self {
            self.map2(o, u32::wrapping_add)
        }
        fn xor(self, o: Self) -> Self {
            self.map2(o, |a, b| a ^ b)
        }
        fn ror16_k(self, _: &NoMasks) -> Self {
            Portable(self.0.map(|x| x.rotate_right(16)))
        }
        fn ror12(self) -> Self {
            Portable(self.0.map(|x| x.rotate_right(12)))
        }
        fn ror8_k(self, _: &NoMasks) -> Self {
            Portable(self.0.map(|x| x.rotate_right(8)))
        }
        fn ror7(self) -> Self {
            Portable(self.0.map(|x| x.rotate_right(7)))
        }
        fn min(self, o: Self) -> Self {
            self.map2(o, u32::min)
        }
        fn eq_mask(self, o: Self) -> Self {
            self.map2(o, |a, b| if a == b { u32::MAX } else { 0 })
        }
        fn select(self, other: Self, mask: Self) -> Self {
            let (a, b, m) = (self.0, other.0, mask.0);
            Portable(core::array::from_fn(|l| (a[l] & m[l]) | (b[l] & !m[l])))
        }
        fn load(blocks: [&[u8; BLOCK]; LANES]) -> [Self; 16] {
            let mut m = [Portable([0; LANES]); 16];
            for (l, block) in blocks.iter().enumerate() {
                for (w, b) in m.iter_mut().zip(block.chunks_exact(4)) {
                    w.0[l] = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                }
            }
            m
        }
    }

    lanes_hash!(Portable, NoMasks, LANES,);

    /// The portable instantiation as a [`super::Hash4`].
    pub(crate) const HASH4: super::Hash4 = hash_lanes;
}
