//! The NEON instantiation of `lanes_hash!` (see the parent module): `U32x4` wraps one
//! `uint32x4_t`, and each of its operations is one or two NEON instructions (add, eor, rev32 for
//! the 16-bit rotation, tbl for the 8-bit one, ushr + sli for 12 and 7; the message transpose is
//! trn1/trn2/zip1/zip2). The vectors are explicit, so they survive the daemon's size-optimised
//! fat-LTO build, where portable lane code stayed scalar.
//!
//! Invariants: every operation is lane-wise on 4 × u32, exactly the portable reference's
//! (`super::portable`; the tests run both against `blake2s_simd`); blocks are read as
//! little-endian words, so the module is built for little-endian aarch64 only. The intrinsics are
//! safe to call inside `#[target_feature(enable = "neon")]` functions; the one `unsafe` is the
//! call of such a function from [`HASH4`], sound because NEON is a baseline feature of every
//! aarch64 target (asserted at compile time), and no intrinsic that takes a pointer is used.
//! Calling the intrinsics without `unsafe` inside such functions needs Rust 1.87 (the crate's
//! `rust-version`).

use super::{NoMasks, BLOCK, LANES};
use core::arch::aarch64::*;

/// One `uint32x4_t`: lane `l` is message `l`'s word (here; in `one::neon`, one row of a single
/// message's state, with the operations marked `pub(crate)`).
#[derive(Clone, Copy)]
pub(crate) struct U32x4(pub(crate) uint32x4_t);

/// Bytes `16 i .. 16 i + 16` of a block as 4 little-endian words, without `unsafe` loads (LLVM
/// folds the two halves into one 128-bit load; `i` is a constant after inlining).
#[target_feature(enable = "neon")]
#[inline]
pub(crate) fn row(b: &[u8; BLOCK], i: usize) -> uint32x4_t {
    let half = |h: usize| u64::from_le_bytes(core::array::from_fn(|j| b[16 * i + 8 * h + j]));
    vreinterpretq_u32_u64(vcombine_u64(vcreate_u64(half(0)), vcreate_u64(half(1))))
}

/// Rows `r[l]` (4 words of message `l`) to columns (word `j` of the 4 messages): 8 permutes (a 4 × 4
/// transpose, its own inverse: `chacha/aarch64.rs` turns word-sliced keystreams back into blocks
/// with it).
#[target_feature(enable = "neon")]
#[inline]
pub(crate) fn transpose(r: [uint32x4_t; 4]) -> [U32x4; 4] {
    let t0 = vreinterpretq_u64_u32(vtrn1q_u32(r[0], r[1])); // r0[0] r1[0] r0[2] r1[2]
    let t1 = vreinterpretq_u64_u32(vtrn2q_u32(r[0], r[1])); // r0[1] r1[1] r0[3] r1[3]
    let t2 = vreinterpretq_u64_u32(vtrn1q_u32(r[2], r[3]));
    let t3 = vreinterpretq_u64_u32(vtrn2q_u32(r[2], r[3]));
    [
        U32x4(vreinterpretq_u32_u64(vzip1q_u64(t0, t2))),
        U32x4(vreinterpretq_u32_u64(vzip1q_u64(t1, t3))),
        U32x4(vreinterpretq_u32_u64(vzip2q_u64(t0, t2))),
        U32x4(vreinterpretq_u32_u64(vzip2q_u64(t1, t3))),
    ]
}

impl U32x4 {
    #[target_feature(enable = "neon")]
    #[inline]
    fn splat(x: u32) -> Self {
        U32x4(vdupq_n_u32(x))
    }
    #[target_feature(enable = "neon")]
    #[inline]
    pub(crate) fn from_array(x: [u32; LANES]) -> Self {
        let v = vdupq_n_u32(x[0]);
        let v = vsetq_lane_u32::<1>(x[1], v);
        let v = vsetq_lane_u32::<2>(x[2], v);
        U32x4(vsetq_lane_u32::<3>(x[3], v))
    }
    #[target_feature(enable = "neon")]
    #[inline]
    pub(crate) fn to_array(self) -> [u32; LANES] {
        let v = self.0;
        [
            vgetq_lane_u32::<0>(v),
            vgetq_lane_u32::<1>(v),
            vgetq_lane_u32::<2>(v),
            vgetq_lane_u32::<3>(v),
        ]
    }
    #[target_feature(enable = "neon")]
    #[inline]
    pub(crate) fn add(self, o: Self) -> Self {
        U32x4(vaddq_u32(self.0, o.0))
    }
    #[target_feature(enable = "neon")]
    #[inline]
    pub(crate) fn xor(self, o: Self) -> Self {
        U32x4(veorq_u32(self.0, o.0))
    }
    #[target_feature(enable = "neon")]
    #[inline]
    pub(crate) fn ror16(self) -> Self {
        // Swap the 16-bit halves of each word.
        U32x4(vreinterpretq_u32_u16(vrev32q_u16(vreinterpretq_u16_u32(
            self.0,
        ))))
    }
    #[target_feature(enable = "neon")]
    #[inline]
    pub(crate) fn ror12(self) -> Self {
        U32x4(vsliq_n_u32::<20>(vshrq_n_u32::<12>(self.0), self.0))
    }
    #[target_feature(enable = "neon")]
    #[inline]
    pub(crate) fn ror8(self) -> Self {
        // Byte shuffle: each word's bytes [1, 2, 3, 0] (little-endian).
        const IDX: u64 = 0x0407_0605_0003_0201;
        const IDX_HI: u64 = IDX + 0x0808_0808_0808_0808;
        let idx = vreinterpretq_u8_u64(vcombine_u64(vcreate_u64(IDX), vcreate_u64(IDX_HI)));
        U32x4(vreinterpretq_u32_u8(vqtbl1q_u8(
            vreinterpretq_u8_u32(self.0),
            idx,
        )))
    }
    #[target_feature(enable = "neon")]
    #[inline]
    pub(crate) fn ror7(self) -> Self {
        U32x4(vsliq_n_u32::<25>(vshrq_n_u32::<7>(self.0), self.0))
    }
    /// `lanes_hash!`'s rotations by 16 and 8 (NEON needs no constants for them).
    #[target_feature(enable = "neon")]
    #[inline]
    fn ror16_k(self, _: &NoMasks) -> Self {
        self.ror16()
    }
    #[target_feature(enable = "neon")]
    #[inline]
    fn ror8_k(self, _: &NoMasks) -> Self {
        self.ror8()
    }
    #[target_feature(enable = "neon")]
    #[inline]
    fn min(self, o: Self) -> Self {
        U32x4(vminq_u32(self.0, o.0))
    }
    #[target_feature(enable = "neon")]
    #[inline]
    fn eq_mask(self, o: Self) -> Self {
        U32x4(vceqq_u32(self.0, o.0))
    }
    #[target_feature(enable = "neon")]
    #[inline]
    fn select(self, other: Self, mask: Self) -> Self {
        U32x4(vbslq_u32(mask.0, self.0, other.0))
    }
    #[target_feature(enable = "neon")]
    #[inline]
    fn load(blocks: [&[u8; BLOCK]; LANES]) -> [Self; 16] {
        let rows = blocks.map(|b| [row(b, 0), row(b, 1), row(b, 2), row(b, 3)]);
        let [a, b, c, d] = [0, 1, 2, 3].map(|g| transpose(rows.map(|r| r[g])));
        let mut m = [a[0]; 16];
        for (dst, src) in m.chunks_exact_mut(4).zip([a, b, c, d]) {
            dst.copy_from_slice(&src);
        }
        m
    }
}

lanes_hash!(U32x4, NoMasks, LANES, #[target_feature(enable = "neon")]);

const _: () = assert!(
    cfg!(target_feature = "neon"),
    "every aarch64 target has NEON"
);

/// The NEON instantiation as a [`super::Hash4`].
pub(crate) const HASH4: super::Hash4 = hash4_neon;

#[allow(unsafe_code)]
fn hash4_neon(
    bufs: [&[u8; crate::MANY_COPY_MAX]; LANES],
    lens: [usize; LANES],
) -> [[u8; 32]; LANES] {
    // SAFETY: `hash4`'s only precondition is the `neon` target feature, which every aarch64
    // target enables (the assertion above fails the build otherwise).
    unsafe { hash_lanes(bufs, lens) }
}
