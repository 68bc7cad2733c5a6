//! RFC 8439 ChaCha20 keystream for x86-64 with AVX2, 8 blocks at a time, word-sliced.
//!
//! Layout: 16 ymm values, one per state word; lane `j` of value `i` is word `i` of block
//! `counter + j`. A quarter round is then 4 adds, 4 XORs and 4 lane-wise rotations over whole
//! registers, with no shuffling between column and diagonal rounds (the diagonal round just names
//! other words): rotations by 16 and 8 are one byte shuffle (`vpshufb`) each, by 12 and 7 two
//! shifts and an OR. After the 10 double rounds and the feed-forward, a 4×4 transposition per
//! quarter of the state (`vpunpck{l,h}dq`, `vpunpck{l,h}qdq`) and a 128-bit lane swap
//! (`vperm2i128`) turn the words back into 8 blocks of 64 bytes, which are XORed into the data.
//! `chacha20`'s AVX2 backend keeps rows of 2 blocks per register instead and turns rows b, c, d
//! between column and diagonal rounds; this layout needs no turns, and its fixed cost per call
//! (broadcast, transposition) is spread over 8 blocks.
//!
//! Cost under callgrind (x86-64, release profile): ≈ 1 517 instructions per group of 8 blocks,
//! ≈ 190 per block, against ≈ 247 through `chacha20`'s AVX2 backend. A double round is 136
//! instructions, 128 of them the quarter rounds themselves; the rest are spills, as 16 state
//! words, a temporary and the masks do not fit in 16 ymm registers. Measured alternatives, per
//! double round: the 4 quarter rounds of a round interleaved step by step 153, one double round
//! per loop iteration 145 (two per iteration are kept; five gave the same 136), constant shuffle
//! masks see [`Masks::new`].
//!
//! Invariants: bit-for-bit RFC 8439 (the tests compare with the `chacha20` crate for every length
//! 0..=2048, split points, starting offsets and a counter about to wrap, and the RFC vectors);
//! the 32-bit block counter wraps lane-wise like `vpaddd` (after 256 GiB per nonce), as
//! `chacha20`'s backends do. Data is read and written unaligned, 32 bytes at a time, only through
//! [`xor32`]. `unsafe` is in two functions: [`Keystream::xor_groups`] calls the
//! `#[target_feature(enable = "avx2")]` kernel, sound because a [`Keystream`] is only built once
//! the CPU has said AVX2 (`std::is_x86_feature_detected!`, `std` feature; never without it), and
//! [`xor32`] loads and stores one exclusively borrowed `[u8; 32]`.

use core::arch::x86_64::{
    __m256i, _mm256_add_epi32, _mm256_loadu_si256, _mm256_or_si256, _mm256_permute2x128_si256,
    _mm256_set1_epi32, _mm256_setr_epi32, _mm256_setr_epi8, _mm256_shuffle_epi8, _mm256_slli_epi32,
    _mm256_srli_epi32, _mm256_storeu_si256, _mm256_unpackhi_epi32, _mm256_unpackhi_epi64,
    _mm256_unpacklo_epi32, _mm256_unpacklo_epi64, _mm256_xor_si256,
};

/// Bytes per ChaCha20 block.
const BLOCK: usize = 64;

/// Blocks computed per kernel pass: one per 32-bit lane of a ymm register.
pub(crate) const LANES: usize = 8;

/// Bytes per kernel pass.
pub(crate) const GROUP: usize = BLOCK * LANES;

/// One (key, nonce)'s state, RFC 8439 §2.3 word order, word 12 the next block's counter. Only
/// built when the CPU has AVX2.
pub(crate) struct Keystream {
    state: [u32; 16],
}

/// Whether the CPU (and the OS, for the ymm state) supports AVX2; `std` caches the answer.
#[cfg(feature = "std")]
pub(crate) fn detected() -> bool {
    std::is_x86_feature_detected!("avx2")
}

/// Without std (no detection): the `chacha20` path.
#[cfg(not(feature = "std"))]
pub(crate) fn detected() -> bool {
    false
}

impl Keystream {
    /// The state for `key` and `nonce` at block 0, if the CPU has AVX2.
    pub(crate) fn new(key: &[u8; 32], nonce: &[u8; 12]) -> Option<Self> {
        if !detected() {
            return None;
        }
        Some(Keystream {
            state: super::initial_state(key, nonce),
        })
    }

    /// XORs the next `data.len() / GROUP * LANES` keystream blocks into `data`'s whole
    /// [`GROUP`]s (a shorter rest is left alone) and advances the counter past them.
    #[allow(unsafe_code)]
    pub(crate) fn xor_groups(&mut self, data: &mut [u8]) {
        // SAFETY: a `Keystream` exists only when the CPU has AVX2 (`new`), the one target
        // feature `groups` is compiled with. `groups` itself is safe code apart from `xor32`.
        unsafe { groups(&mut self.state, data) }
    }

    /// The next block's counter.
    pub(crate) fn block_pos(&self) -> u32 {
        self.state[12]
    }

    /// Sets the next block's counter.
    pub(crate) fn set_block_pos(&mut self, block: u32) {
        self.state[12] = block;
    }
}

/// The byte shuffles that rotate every 32-bit lane by 16 and by 8 (left for ChaCha20, right for
/// BLAKE2s: `lanes::avx2` uses them too).
#[derive(Clone, Copy)]
pub(crate) struct Masks {
    pub(crate) rot16: __m256i,
    rot8: __m256i,
    /// Only BLAKE2s's lanes read it, and they need the `std` feature (run-time detection).
    #[cfg_attr(not(feature = "std"), allow(dead_code))]
    pub(crate) rotr8: __m256i,
}

impl Masks {
    /// Opaque to the optimiser (`black_box`): with constant masks LLVM turns a rotation by 16
    /// into two shuffles (`vpshuflw` + `vpshufhw`) and moves the rotation by 8 over the XOR
    /// before it (two `vpshufb`), both one instruction more than the single `vpshufb`.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(crate) fn new() -> Self {
        core::hint::black_box(Masks {
            rot16: _mm256_setr_epi8(
                2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13, //
                2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13,
            ),
            rot8: _mm256_setr_epi8(
                3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14, //
                3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14,
            ),
            rotr8: _mm256_setr_epi8(
                1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12, //
                1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12,
            ),
        })
    }
}

/// `x` rotated left by 12 in every 32-bit lane.
#[target_feature(enable = "avx2")]
#[inline]
fn rot12(x: __m256i) -> __m256i {
    _mm256_or_si256(_mm256_slli_epi32::<12>(x), _mm256_srli_epi32::<20>(x))
}

/// `x` rotated left by 7 in every 32-bit lane.
#[target_feature(enable = "avx2")]
#[inline]
fn rot7(x: __m256i) -> __m256i {
    _mm256_or_si256(_mm256_slli_epi32::<7>(x), _mm256_srli_epi32::<25>(x))
}

/// Quarter rounds on the words of `$x` named by each `[a b c d]`, one after another.
macro_rules! round {
    ($x:ident, $m:ident; $([$a:literal $b:literal $c:literal $d:literal])+) => {
        $(
            $x[$a] = _mm256_add_epi32($x[$a], $x[$b]);
            $x[$d] = _mm256_shuffle_epi8(_mm256_xor_si256($x[$d], $x[$a]), $m.rot16);
            $x[$c] = _mm256_add_epi32($x[$c], $x[$d]);
            $x[$b] = rot12(_mm256_xor_si256($x[$b], $x[$c]));
            $x[$a] = _mm256_add_epi32($x[$a], $x[$b]);
            $x[$d] = _mm256_shuffle_epi8(_mm256_xor_si256($x[$d], $x[$a]), $m.rot8);
            $x[$c] = _mm256_add_epi32($x[$c], $x[$d]);
            $x[$b] = rot7(_mm256_xor_si256($x[$b], $x[$c]));
        )+
    };
}

/// `$x[i] += $input[i]` for each `i` listed (written out: as a loop it stayed a loop of 6
/// instructions per word in one of the two kernels).
macro_rules! feed_forward {
    ($x:ident, $input:ident; $($i:literal)+) => {
        $( $x[$i] = _mm256_add_epi32($x[$i], $input[$i]); )+
    };
}

/// The 20 rounds (two double rounds per loop iteration) and the feed-forward of `$input` on
/// the state `$x`.
macro_rules! block_function {
    ($x:ident, $input:ident, $m:ident) => {
        for _ in 0..5 {
            round!($x, $m; [0 4 8 12] [1 5 9 13] [2 6 10 14] [3 7 11 15]);
            round!($x, $m; [0 5 10 15] [1 6 11 12] [2 7 8 13] [3 4 9 14]);
            round!($x, $m; [0 4 8 12] [1 5 9 13] [2 6 10 14] [3 7 11 15]);
            round!($x, $m; [0 5 10 15] [1 6 11 12] [2 7 8 13] [3 4 9 14]);
        }
        feed_forward!($x, $input; 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
    };
}

/// Words `a`, `b`, `c`, `d` of 8 blocks (lane `j`: block `j`) as 4 values holding those words'
/// bytes of blocks `j` (low 128 bits) and `j + 4` (high 128 bits), `j` = 0..4.
#[target_feature(enable = "avx2")]
#[inline]
fn transpose4(a: __m256i, b: __m256i, c: __m256i, d: __m256i) -> [__m256i; 4] {
    // a0 b0 a1 b1 | a4 b4 a5 b5, and blocks 2 3 | 6 7.
    let ab01 = _mm256_unpacklo_epi32(a, b);
    let ab23 = _mm256_unpackhi_epi32(a, b);
    let cd01 = _mm256_unpacklo_epi32(c, d);
    let cd23 = _mm256_unpackhi_epi32(c, d);
    [
        _mm256_unpacklo_epi64(ab01, cd01),
        _mm256_unpackhi_epi64(ab01, cd01),
        _mm256_unpacklo_epi64(ab23, cd23),
        _mm256_unpackhi_epi64(ab23, cd23),
    ]
}

/// XORs into bytes `at..at + 32` of each block of `group` the low (blocks 0..4) and high
/// (blocks 4..8) 128-bit halves of `lo[j]` and `hi[j]`, `j` = block % 4.
#[target_feature(enable = "avx2")]
#[inline]
fn halves(group: &mut [u8; GROUP], at: usize, lo: [__m256i; 4], hi: [__m256i; 4]) {
    for (j, (l, h)) in lo.into_iter().zip(hi).enumerate() {
        let a = j * BLOCK + at;
        let b = a + 4 * BLOCK;
        if let Ok(d) = <&mut [u8; 32]>::try_from(&mut group[a..a + 32]) {
            xor32(d, _mm256_permute2x128_si256::<0x20>(l, h));
        }
        if let Ok(d) = <&mut [u8; 32]>::try_from(&mut group[b..b + 32]) {
            xor32(d, _mm256_permute2x128_si256::<0x31>(l, h));
        }
    }
}

/// `out ^= v` (32 bytes, unaligned).
#[target_feature(enable = "avx2")]
#[inline]
#[allow(unsafe_code)]
fn xor32(out: &mut [u8; 32], v: __m256i) {
    let p = out.as_mut_ptr().cast::<__m256i>();
    // SAFETY: `p` points to the 32 bytes of `out`, exclusively borrowed for this call;
    // `loadu`/`storeu` need no alignment, and AVX2 is enabled in this function.
    unsafe { _mm256_storeu_si256(p, _mm256_xor_si256(_mm256_loadu_si256(p), v)) }
}

/// The kernel: XORs 8 keystream blocks into each whole [`GROUP`] of `data` (a shorter rest is
/// left alone), block counter `state[12]` for the first, and advances `state[12]` by 8 per group.
#[target_feature(enable = "avx2")]
fn groups(state: &mut [u32; 16], data: &mut [u8]) {
    let m = Masks::new();
    let mut input = [_mm256_set1_epi32(0); 16];
    for (v, &w) in input.iter_mut().zip(state.iter()) {
        *v = _mm256_set1_epi32(w as i32);
    }
    input[12] = _mm256_add_epi32(input[12], _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    for group in data.chunks_exact_mut(GROUP) {
        let mut x = input;
        block_function!(x, input, m);
        // (Converted here rather than first: LLVM then spills less in the rounds, 136 instructions
        // per double round instead of 141.)
        let Ok(group) = <&mut [u8; GROUP]>::try_from(group) else {
            continue; // never: `chunks_exact_mut`
        };
        // Block j: bytes 0..32 are words 0..8 (w0[j], w4[j] low halves), bytes 32..64 words
        // 8..16; block j + 4 the same from the high halves.
        let w0 = transpose4(x[0], x[1], x[2], x[3]);
        let w4 = transpose4(x[4], x[5], x[6], x[7]);
        halves(group, 0, w0, w4);
        let w8 = transpose4(x[8], x[9], x[10], x[11]);
        let w12 = transpose4(x[12], x[13], x[14], x[15]);
        halves(group, 32, w8, w12);
        input[12] = _mm256_add_epi32(input[12], _mm256_set1_epi32(LANES as i32));
        state[12] = state[12].wrapping_add(LANES as u32);
    }
}

/// Keystream bytes `0..L` of `key` under each of the 8 `nonces` into the matching `out`, if the
/// CPU has AVX2 (`false`, `out` untouched, otherwise). `L` is a multiple of 64.
#[allow(unsafe_code)]
pub(crate) fn keystream_lanes<const L: usize>(
    key: &[u8; 32],
    nonces: &[[u8; 12]; LANES],
    out: &mut [[u8; L]; LANES],
) -> bool {
    if !detected() {
        return false;
    }
    // SAFETY: the CPU has AVX2 (checked just above), the one target feature `lanes_kernel` is
    // compiled with; it is safe code apart from `store32`.
    unsafe { lanes_kernel(key, nonces, out) };
    true
}

/// The lane kernel: lane `j` of every value is (key, `nonces[j]`), so one pass makes block `b` of
/// 8 keystreams, and the transposition writes each to its own `out[j]`. Words 13–15 (the nonce)
/// differ by lane, word 12 (the block counter) is the same in all lanes.
#[target_feature(enable = "avx2")]
fn lanes_kernel<const L: usize>(
    key: &[u8; 32],
    nonces: &[[u8; 12]; LANES],
    out: &mut [[u8; L]; LANES],
) {
    let m = Masks::new();
    let state = super::initial_state(key, &[0; 12]);
    let mut input = [_mm256_set1_epi32(0); 16];
    for (v, &w) in input.iter_mut().zip(state.iter()) {
        *v = _mm256_set1_epi32(w as i32);
    }
    // Nonce word i of each lane (constant indices, so `input` can stay in registers).
    let nonce = |i: usize| {
        let w = nonces
            .map(|n| i32::from_le_bytes([n[4 * i], n[4 * i + 1], n[4 * i + 2], n[4 * i + 3]]));
        _mm256_setr_epi32(w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7])
    };
    input[13] = nonce(0);
    input[14] = nonce(1);
    input[15] = nonce(2);
    for b in 0..L / BLOCK {
        let mut x = input;
        block_function!(x, input, m);
        // Lane j's block: bytes 0..32 from w0[j % 4] and w4[j % 4], 32..64 from w8 and w12, the
        // low 128-bit halves for lanes 0..4 and the high ones for lanes 4..8 (as in `halves`).
        let w0 = transpose4(x[0], x[1], x[2], x[3]);
        let w4 = transpose4(x[4], x[5], x[6], x[7]);
        let w8 = transpose4(x[8], x[9], x[10], x[11]);
        let w12 = transpose4(x[12], x[13], x[14], x[15]);
        let (first, second) = out.split_at_mut(4);
        for j in 0..4 {
            let (lo, hi) = (&mut first[j], &mut second[j]);
            let (Some(lo), Some(hi)) = (
                lo.get_mut(b * BLOCK..)
                    .and_then(|d| d.first_chunk_mut::<BLOCK>()),
                hi.get_mut(b * BLOCK..)
                    .and_then(|d| d.first_chunk_mut::<BLOCK>()),
            ) else {
                continue; // never: b < L / BLOCK
            };
            let (lo0, lo1) = lo.split_at_mut(32);
            let (hi0, hi1) = hi.split_at_mut(32);
            store32(lo0, _mm256_permute2x128_si256::<0x20>(w0[j], w4[j]));
            store32(hi0, _mm256_permute2x128_si256::<0x31>(w0[j], w4[j]));
            store32(lo1, _mm256_permute2x128_si256::<0x20>(w8[j], w12[j]));
            store32(hi1, _mm256_permute2x128_si256::<0x31>(w8[j], w12[j]));
        }
        input[12] = _mm256_add_epi32(input[12], _mm256_set1_epi32(1));
    }
}

/// `out = v` (32 bytes, unaligned).
#[target_feature(enable = "avx2")]
#[inline]
#[allow(unsafe_code)]
fn store32(out: &mut [u8], v: __m256i) {
    if out.len() < 32 {
        return; // never: callers pass 32 bytes
    }
    // SAFETY: the pointer covers 32 bytes of `out` (checked above), exclusively borrowed;
    // `storeu` needs no alignment, and AVX2 is enabled in this function.
    unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast::<__m256i>(), v) }
}
