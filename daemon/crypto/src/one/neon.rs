//! The NEON instantiation of `one_hash!` (see the parent module): a row of the state is the
//! 4-lane `U32x4` of `lanes::neon` (add, eor, rev32 / tbl / ushr + sli rotations), plus the lane
//! rotations of the diagonal step (ext) and the message gathering.
//!
//! Message gathering: the block stays in 4 registers; each of a round's 4 message vectors is one
//! 4-register table lookup (`tbl`, bytes from `MSG_BYTES`), round 0 (the identity permutation)
//! is 4 unzips. Measured (guest instructions for 760 chunks of 1326 bytes, 8.5 M with this
//! code): gathering the words from a `[u32; 16]` into vectors lane by lane, +0.7 M; the index
//! table read through an opaque address instead of 36 literals (one `adrp` fewer per vector, but
//! LLVM splits each 16-byte load in two), +0.3 M.
//!
//! Invariants: as `lanes::neon`: lane-wise operations identical to the portable reference's
//! (`super::portable`; the tests run both against `blake2s_simd`), little-endian aarch64 only,
//! one `unsafe` (the call of the `neon` function from [`blake2s_256`], sound because NEON is a
//! baseline feature of every aarch64 target, asserted at compile time), no intrinsic that takes
//! a pointer.

use super::MSG_BYTES;
use crate::lanes::neon::{row, U32x4};
use crate::lanes::BLOCK;
use core::arch::aarch64::*;

/// 16 constant bytes as a vector (LLVM loads it from a literal).
#[target_feature(enable = "neon")]
#[inline]
fn bytes16(b: &[u8; 16]) -> uint8x16_t {
    let half = |h: usize| u64::from_le_bytes(core::array::from_fn(|j| b[8 * h + j]));
    vreinterpretq_u8_u64(vcombine_u64(vcreate_u64(half(0)), vcreate_u64(half(1))))
}

impl U32x4 {
    #[target_feature(enable = "neon")]
    #[inline]
    fn counter(t: u64, last: bool) -> Self {
        let f = vcreate_u64(if last { u32::MAX.into() } else { 0 });
        U32x4(vreinterpretq_u32_u64(vcombine_u64(vcreate_u64(t), f)))
    }
    #[target_feature(enable = "neon")]
    #[inline]
    fn lanes1(self) -> Self {
        U32x4(vextq_u32::<1>(self.0, self.0))
    }
    #[target_feature(enable = "neon")]
    #[inline]
    fn lanes2(self) -> Self {
        U32x4(vextq_u32::<2>(self.0, self.0))
    }
    #[target_feature(enable = "neon")]
    #[inline]
    fn lanes3(self) -> Self {
        U32x4(vextq_u32::<3>(self.0, self.0))
    }
    /// The block as 4 rows of 4 little-endian words (4 loads).
    #[target_feature(enable = "neon")]
    #[inline]
    fn load_block(b: &[u8; BLOCK]) -> uint8x16x4_t {
        let r = |i| vreinterpretq_u8_u32(row(b, i));
        uint8x16x4_t(r(0), r(1), r(2), r(3))
    }
    /// Round `r`'s message vectors (see `MSG_BYTES`).
    #[target_feature(enable = "neon")]
    #[inline]
    fn msg(m: &uint8x16x4_t, r: usize) -> [Self; 4] {
        if r == 0 {
            let w = |i| vreinterpretq_u32_u8(i);
            let (r0, r1, r2, r3) = (w(m.0), w(m.1), w(m.2), w(m.3));
            return [
                U32x4(vuzp1q_u32(r0, r1)),
                U32x4(vuzp2q_u32(r0, r1)),
                U32x4(vuzp1q_u32(r2, r3)),
                U32x4(vuzp2q_u32(r2, r3)),
            ];
        }
        let t = &MSG_BYTES[r % 10];
        core::array::from_fn(|j| U32x4(vreinterpretq_u32_u8(vqtbl4q_u8(*m, bytes16(&t[j])))))
    }
}

one_hash!(U32x4, uint8x16x4_t, #[target_feature(enable = "neon")]);

const _: () = assert!(
    cfg!(target_feature = "neon"),
    "every aarch64 target has NEON"
);

/// BLAKE2s-256 of `head ‖ body` with NEON.
#[allow(unsafe_code)]
pub(crate) fn blake2s_256(head: &[u8], body: &[u8]) -> [u8; 32] {
    // SAFETY: `hash`'s only precondition is the `neon` target feature, which every aarch64
    // target enables (the assertion above fails the build otherwise).
    unsafe { hash(head, body) }
}
