//! RFC 8439 ChaCha20 keystreams of 4 nonces side by side on aarch64 (NEON intrinsics),
//! word-sliced: for [`super::keystreams`], the box descrambler's keystreams made ahead.
//!
//! Layout: 16 `uint32x4_t` values, one per state word; lane `j` of value `i` is word `i` of
//! nonce `j`'s block. A quarter round is 4 adds, 4 XORs and 4 rotations over whole registers
//! (by 16: `rev32`; by 8: one `tbl`; by 12 and 7: `ushr` + `sli`), with no shuffling between
//! column and diagonal rounds, and the 16 words, the input and the temporaries fit in aarch64's 32
//! vector registers. After the 20 rounds and the feed-forward, a 4 × 4 transpose per quarter of
//! the state (`lanes::neon::transpose`) turns the words back into one 64-byte block per nonce.
//! `chacha20`'s NEON backend keeps rows of one block per register instead and turns them between
//! column and diagonal rounds, and a chunk's 20.1 blocks cost it 24 (measured: descrambling a
//! stream-second 8.0 M instructions under qemu-aarch64; docs/BENCHMARKS.md, DRM section).
//!
//! Invariants: bit-for-bit RFC 8439 (the crate's tests compare [`super::keystreams`] with the
//! `chacha20` crate for each lane, run under qemu-aarch64 by `make test`); no allocation, no
//! panic. `unsafe` is in two functions: [`keystream_lanes`] calls the
//! `#[target_feature(enable = "neon")]` kernel, sound because NEON is a baseline feature of every
//! aarch64 target (asserted at compile time in `lanes::neon`), and [`store16`] stores into 16
//! bytes of a slice it has checked is that long.

use crate::lanes::neon::transpose;
use core::arch::aarch64::*;

/// Nonces per kernel pass: the 4 × 32-bit lanes of a NEON register.
const LANES: usize = 4;

/// Bytes per ChaCha20 block.
const BLOCK: usize = 64;

#[target_feature(enable = "neon")]
#[inline]
fn rot16(x: uint32x4_t) -> uint32x4_t {
    vreinterpretq_u32_u16(vrev32q_u16(vreinterpretq_u16_u32(x)))
}

#[target_feature(enable = "neon")]
#[inline]
fn rot12(x: uint32x4_t) -> uint32x4_t {
    vsliq_n_u32::<12>(vshrq_n_u32::<20>(x), x)
}

#[target_feature(enable = "neon")]
#[inline]
fn rot8(x: uint32x4_t, idx: uint8x16_t) -> uint32x4_t {
    vreinterpretq_u32_u8(vqtbl1q_u8(vreinterpretq_u8_u32(x), idx))
}

#[target_feature(enable = "neon")]
#[inline]
fn rot7(x: uint32x4_t) -> uint32x4_t {
    vsliq_n_u32::<7>(vshrq_n_u32::<25>(x), x)
}

/// Quarter rounds on the words of `$x` named by each `[a b c d]`, one after another.
macro_rules! round {
    ($x:ident, $idx:ident; $([$a:literal $b:literal $c:literal $d:literal])+) => {
        $(
            $x[$a] = vaddq_u32($x[$a], $x[$b]);
            $x[$d] = rot16(veorq_u32($x[$d], $x[$a]));
            $x[$c] = vaddq_u32($x[$c], $x[$d]);
            $x[$b] = rot12(veorq_u32($x[$b], $x[$c]));
            $x[$a] = vaddq_u32($x[$a], $x[$b]);
            $x[$d] = rot8(veorq_u32($x[$d], $x[$a]), $idx);
            $x[$c] = vaddq_u32($x[$c], $x[$d]);
            $x[$b] = rot7(veorq_u32($x[$b], $x[$c]));
        )+
    };
}

/// `$x[i] += $input[i]` for each `i` listed (written out, as in `avx2.rs`).
macro_rules! feed_forward {
    ($x:ident, $input:ident; $($i:literal)+) => {
        $( $x[$i] = vaddq_u32($x[$i], $input[$i]); )+
    };
}

/// `out[..16] = v` (unaligned).
#[target_feature(enable = "neon")]
#[inline]
#[allow(unsafe_code)]
fn store16(out: &mut [u8], v: uint32x4_t) {
    if out.len() < 16 {
        return; // never: callers pass 16 bytes
    }
    // SAFETY: the pointer covers 16 bytes of `out` (checked above), exclusively borrowed;
    // `vst1q_u8` needs no alignment, and NEON is enabled in this function.
    unsafe { vst1q_u8(out.as_mut_ptr(), vreinterpretq_u8_u32(v)) }
}

/// Keystream bytes `0..L` of `key` under each of the 8 `nonces` into the matching `out`, 4 at a
/// time. `L` is a multiple of 64.
#[allow(unsafe_code)]
pub(crate) fn keystream_lanes<const L: usize>(
    key: &[u8; 32],
    nonces: &[[u8; 12]; 8],
    out: &mut [[u8; L]; 8],
) {
    let state = super::initial_state(key, &[0; 12]);
    let (n0, n1) = nonces.split_at(LANES);
    let (o0, o1) = out.split_at_mut(LANES);
    for (n, o) in [(n0, o0), (n1, o1)] {
        // SAFETY: `lanes_kernel`'s only precondition is the `neon` target feature, which every
        // aarch64 target enables (asserted at compile time in `lanes::neon`).
        unsafe { lanes_kernel(&state, n, o) };
    }
}

/// Block `b` of 4 keystreams per pass: lane `j` is (key, `nonces[j]`); words 13–15 (the nonce)
/// differ by lane, word 12 (the block counter) is the same in all. `nonces` and `out` are 4 long.
#[target_feature(enable = "neon")]
fn lanes_kernel<const L: usize>(state: &[u32; 16], nonces: &[[u8; 12]], out: &mut [[u8; L]]) {
    // Byte shuffle: each word's bytes [3, 0, 1, 2] (rotate left by 8, little-endian).
    const IDX: u64 = 0x0605_0407_0201_0003;
    let idx = vreinterpretq_u8_u64(vcombine_u64(
        vcreate_u64(IDX),
        vcreate_u64(IDX + 0x0808_0808_0808_0808),
    ));
    let mut input = [vdupq_n_u32(0); 16];
    for (v, &w) in input.iter_mut().zip(state.iter()) {
        *v = vdupq_n_u32(w);
    }
    // Nonce word i of each lane (lanes past `nonces.len()` get zero: never, it is 4 long).
    let nonce = |i: usize| {
        let w: [u32; LANES] = core::array::from_fn(|j| {
            nonces.get(j).map_or(0, |n| {
                u32::from_le_bytes([n[4 * i], n[4 * i + 1], n[4 * i + 2], n[4 * i + 3]])
            })
        });
        let lo = u64::from(w[0]) | u64::from(w[1]) << 32;
        let hi = u64::from(w[2]) | u64::from(w[3]) << 32;
        vreinterpretq_u32_u64(vcombine_u64(vcreate_u64(lo), vcreate_u64(hi)))
    };
    input[12] = vdupq_n_u32(0);
    input[13] = nonce(0);
    input[14] = nonce(1);
    input[15] = nonce(2);
    for b in 0..L / BLOCK {
        let mut x = input;
        for _ in 0..10 {
            round!(x, idx; [0 4 8 12] [1 5 9 13] [2 6 10 14] [3 7 11 15]);
            round!(x, idx; [0 5 10 15] [1 6 11 12] [2 7 8 13] [3 4 9 14]);
        }
        feed_forward!(x, input; 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
        // Quarter q of the state (words 4q..4q + 4) of lane j is bytes 16 q..16 q + 16 of its
        // block.
        for q in 0..4 {
            let rows = transpose([x[4 * q], x[4 * q + 1], x[4 * q + 2], x[4 * q + 3]]);
            for (o, r) in out.iter_mut().zip(rows) {
                if let Some(d) = o.get_mut(b * BLOCK + 16 * q..) {
                    store16(d, r.0);
                }
            }
        }
        input[12] = vaddq_u32(input[12], vdupq_n_u32(1));
    }
}
