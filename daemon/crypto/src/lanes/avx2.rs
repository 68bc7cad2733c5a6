//! The AVX2 instantiation of `lanes_hash!` (see the parent module): 8 messages side by side,
//! `U32x8` wraps one `__m256i`, lane `l` of every value is message `l`'s word.
//!
//! Each operation is one AVX2 instruction, but for the rotations by 12 and 7 (two shifts and an
//! OR; AVX2 has no rotate). Rotations by 16 and 8 are one byte shuffle (`vpshufb`) each, with the
//! shuffle masks made opaque to the optimiser (`chacha::avx2::Masks`, shared with the ChaCha20
//! kernels, for the same reason). The message transpose is an 8 × 8 word transposition per half block
//! (`vpunpck{l,h}dq`, `vpunpck{l,h}qdq`, `vperm2i128`: 24 instructions).
//!
//! Why not `blake2s_simd`'s own 8-lane AVX2 code, which [`crate::Blake2sMany`] used before:
//! under callgrind it took ≈ 2 150 instructions per compression of 8 blocks; this loop takes
//! ≈ 1 790 (760 chunks of 1 326 bytes: 4.30 M → 3.58 M; docs/BENCHMARKS.md, DRM section). The
//! G steps themselves are 1 440 of them (18 instructions per G, 80 G per compression, the message
//! words as memory operands); the rest is the transpose, the feed-forward and spills (16 state
//! words, a temporary and the masks do not fit in 16 ymm registers).
//!
//! Invariants: the parent module's (bit-for-bit BLAKE2s-256, padding zeroed by the caller, no
//! allocation, no panic); every operation is lane-wise on 8 × u32, exactly the portable
//! reference's (the tests run both against `blake2s_simd` on every length and mix). `unsafe` is
//! in two functions: [`load32`] loads (unaligned) the one `[u8; 32]` it borrows, and
//! `hash8_avx2` calls the `#[target_feature(enable = "avx2")]` loop, reachable only through
//! [`hash8`], which hands it out once `std::is_x86_feature_detected!("avx2")` has said yes.

use super::{HashLanes, BLOCK};
use crate::chacha::avx2::Masks;
use core::arch::x86_64::{
    __m256i, _mm256_add_epi32, _mm256_blendv_epi8, _mm256_cmpeq_epi32, _mm256_extract_epi32,
    _mm256_loadu_si256, _mm256_min_epu32, _mm256_or_si256, _mm256_permute2x128_si256,
    _mm256_set1_epi32, _mm256_setr_epi32, _mm256_shuffle_epi8, _mm256_slli_epi32,
    _mm256_srli_epi32, _mm256_unpackhi_epi32, _mm256_unpackhi_epi64, _mm256_unpacklo_epi32,
    _mm256_unpacklo_epi64, _mm256_xor_si256,
};

/// Messages hashed side by side: the 8 × 32-bit lanes of a ymm register.
pub(crate) const LANES: usize = 8;

/// One `__m256i`: lane `l` is message `l`'s word.
#[derive(Clone, Copy)]
pub(crate) struct U32x8(__m256i);

/// Bytes `b` as a vector (unaligned load).
#[target_feature(enable = "avx2")]
#[inline]
#[allow(unsafe_code)]
fn load32(b: &[u8; 32]) -> __m256i {
    // SAFETY: the pointer covers the 32 borrowed bytes; `loadu` needs no alignment, and AVX2 is
    // enabled in this function.
    unsafe { _mm256_loadu_si256(b.as_ptr().cast::<__m256i>()) }
}

/// Rows `r[l]` (8 words of message `l`) to columns (word `j` of the 8 messages): 24 permutes.
#[target_feature(enable = "avx2")]
#[inline]
fn transpose(r: [__m256i; LANES]) -> [U32x8; 8] {
    // Words 0 1 | 4 5 of two rows interleaved, and words 2 3 | 6 7.
    let lo = |a, b| _mm256_unpacklo_epi32(a, b);
    let hi = |a, b| _mm256_unpackhi_epi32(a, b);
    let (t0, t1, t2, t3) = (
        lo(r[0], r[1]),
        hi(r[0], r[1]),
        lo(r[2], r[3]),
        hi(r[2], r[3]),
    );
    let (t4, t5, t6, t7) = (
        lo(r[4], r[5]),
        hi(r[4], r[5]),
        lo(r[6], r[7]),
        hi(r[6], r[7]),
    );
    // Word j of rows 0..4 in the low half, word j + 4 in the high half (u) ; rows 4..8 (w).
    let u = [
        _mm256_unpacklo_epi64(t0, t2),
        _mm256_unpackhi_epi64(t0, t2),
        _mm256_unpacklo_epi64(t1, t3),
        _mm256_unpackhi_epi64(t1, t3),
    ];
    let w = [
        _mm256_unpacklo_epi64(t4, t6),
        _mm256_unpackhi_epi64(t4, t6),
        _mm256_unpacklo_epi64(t5, t7),
        _mm256_unpackhi_epi64(t5, t7),
    ];
    [
        U32x8(_mm256_permute2x128_si256::<0x20>(u[0], w[0])),
        U32x8(_mm256_permute2x128_si256::<0x20>(u[1], w[1])),
        U32x8(_mm256_permute2x128_si256::<0x20>(u[2], w[2])),
        U32x8(_mm256_permute2x128_si256::<0x20>(u[3], w[3])),
        U32x8(_mm256_permute2x128_si256::<0x31>(u[0], w[0])),
        U32x8(_mm256_permute2x128_si256::<0x31>(u[1], w[1])),
        U32x8(_mm256_permute2x128_si256::<0x31>(u[2], w[2])),
        U32x8(_mm256_permute2x128_si256::<0x31>(u[3], w[3])),
    ]
}

/// Half `i` (bytes `32 i .. 32 i + 32`) of a block.
#[inline(always)]
fn half(b: &[u8; BLOCK], i: usize) -> &[u8; 32] {
    match b.get(32 * i..).and_then(|h| h.first_chunk::<32>()) {
        Some(h) => h,
        None => &[0; 32], // never: i is 0 or 1
    }
}

impl U32x8 {
    #[target_feature(enable = "avx2")]
    #[inline]
    fn splat(x: u32) -> Self {
        U32x8(_mm256_set1_epi32(x as i32))
    }
    #[target_feature(enable = "avx2")]
    #[inline]
    fn from_array(x: [u32; LANES]) -> Self {
        let x = x.map(|w| w as i32);
        U32x8(_mm256_setr_epi32(
            x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7],
        ))
    }
    #[target_feature(enable = "avx2")]
    #[inline]
    fn to_array(self) -> [u32; LANES] {
        let v = self.0;
        [
            _mm256_extract_epi32::<0>(v),
            _mm256_extract_epi32::<1>(v),
            _mm256_extract_epi32::<2>(v),
            _mm256_extract_epi32::<3>(v),
            _mm256_extract_epi32::<4>(v),
            _mm256_extract_epi32::<5>(v),
            _mm256_extract_epi32::<6>(v),
            _mm256_extract_epi32::<7>(v),
        ]
        .map(|w| w as u32)
    }
    #[target_feature(enable = "avx2")]
    #[inline]
    fn add(self, o: Self) -> Self {
        U32x8(_mm256_add_epi32(self.0, o.0))
    }
    #[target_feature(enable = "avx2")]
    #[inline]
    fn xor(self, o: Self) -> Self {
        U32x8(_mm256_xor_si256(self.0, o.0))
    }
    #[target_feature(enable = "avx2")]
    #[inline]
    fn ror16_k(self, k: &Masks) -> Self {
        U32x8(_mm256_shuffle_epi8(self.0, k.rot16))
    }
    #[target_feature(enable = "avx2")]
    #[inline]
    fn ror12(self) -> Self {
        U32x8(_mm256_or_si256(
            _mm256_srli_epi32::<12>(self.0),
            _mm256_slli_epi32::<20>(self.0),
        ))
    }
    #[target_feature(enable = "avx2")]
    #[inline]
    fn ror8_k(self, k: &Masks) -> Self {
        U32x8(_mm256_shuffle_epi8(self.0, k.rotr8))
    }
    #[target_feature(enable = "avx2")]
    #[inline]
    fn ror7(self) -> Self {
        U32x8(_mm256_or_si256(
            _mm256_srli_epi32::<7>(self.0),
            _mm256_slli_epi32::<25>(self.0),
        ))
    }
    #[target_feature(enable = "avx2")]
    #[inline]
    fn min(self, o: Self) -> Self {
        U32x8(_mm256_min_epu32(self.0, o.0))
    }
    #[target_feature(enable = "avx2")]
    #[inline]
    fn eq_mask(self, o: Self) -> Self {
        U32x8(_mm256_cmpeq_epi32(self.0, o.0))
    }
    #[target_feature(enable = "avx2")]
    #[inline]
    fn select(self, other: Self, mask: Self) -> Self {
        U32x8(_mm256_blendv_epi8(other.0, self.0, mask.0))
    }
    #[target_feature(enable = "avx2")]
    #[inline]
    fn load(blocks: [&[u8; BLOCK]; LANES]) -> [Self; 16] {
        let lo = transpose(blocks.map(|b| load32(half(b, 0))));
        let hi = transpose(blocks.map(|b| load32(half(b, 1))));
        let mut m = [lo[0]; 16];
        m[..8].copy_from_slice(&lo);
        m[8..].copy_from_slice(&hi);
        m
    }
}

lanes_hash!(U32x8, Masks, LANES, #[target_feature(enable = "avx2")]);

/// The AVX2 instantiation, if this CPU (and its OS) has AVX2; `std` caches the answer.
pub(crate) fn hash8() -> Option<HashLanes<LANES>> {
    std::is_x86_feature_detected!("avx2").then_some(hash8_avx2 as HashLanes<LANES>)
}

/// Only reachable through [`hash8`], that is once the CPU has said AVX2.
#[allow(unsafe_code)]
fn hash8_avx2(
    bufs: [&[u8; crate::MANY_COPY_MAX]; LANES],
    lens: [usize; LANES],
) -> [[u8; 32]; LANES] {
    // SAFETY: `hash_lanes`'s only precondition is the `avx2` target feature, which the CPU has:
    // this function is private and handed out only by `hash8` after the run-time check.
    unsafe { hash_lanes(bufs, lens) }
}
