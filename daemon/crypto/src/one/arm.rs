//! BLAKE2s-256 of one message on 32-bit ARM with NEON, the compression in `asm!` (NEON intrinsics
//! and `#[target_feature(enable = "neon")]` are unstable there). The parent module's row layout
//! (`one_hash!` and `neon.rs` on aarch64), written as one asm block per compression; the blocks
//! come from the parent's [`stream`](super::stream) (full blocks read in place, the straddling and
//! last blocks through a stack buffer).
//!
//! Registers: rows a, b, c, d of the state in q0–q3; the 64-byte block in q8–q11 (d16–d23),
//! loaded with two `vld2.32`, so that q8–q11 are words 0, 2, 4, 6 / 1, 3, 5, 7 / 8 … 14 / 9 … 15:
//! round 0's message vectors as they are; then a `vswp` puts the even words in d16–d19 and the
//! odd ones in d20–d23. Rounds 1–9 gather each half-round's x and y into q12, q13, 8 bytes (a d
//! register, 2 words) at a time: both words even, one `vtbl.8` over d16–d19; both odd, one
//! `vtbl.8` over d20–d23; one of each, `vtbl.8` over d16–d19 then `vtbx.8` over d20–d23 with the
//! index minus 32 (out of range for the even words' bytes, which `vtbx` leaves alone): 102
//! lookups for the 9 rounds (144 without the split by class, 110 with the block in its own
//! order). The 32 index bytes of x and y come from one `vldmia` of d8–d15 per half-round, from
//! [`TABLE`] (written from the parent's `MSG_BYTES`, so the same SIGMA order as aarch64's); the
//! class of each d register is written out per round in [`compress`]. q14 is the rotation
//! temporary (`vrev32.16` for 16, `vshl` + `vsri` for 12, 8, 7); `vext` turns rows b, c, d onto
//! the diagonals and back. As in `chacha/neon.rs`, q0–q7 are declared clobbered and d16–d31 (not
//! known to the compiler on the VFPv3-D16 baseline) are pushed and popped inside the asm block.
//! 540 instructions per compression.
//!
//! Measured (guest instructions of BLAKE2s for 760 chunks of 1326 bytes under qemu-arm, 9.4 M
//! with this code; docs/BENCHMARKS.md): every d register by `vtbl` + `vtbx`, +0.7 M; the message
//! words by scalar loads instead (4 `ldr` and 2 `vmov d, r, r` per vector), +1.5 M; the split by
//! class with the block in its own order (halves 0..32 and 32..64), +0.15 M.
//!
//! Invariants: the parent module's (bit-for-bit BLAKE2s-256 of `head ‖ body`, the body not
//! copied, the last block flagged with the total length, no allocation, no panic); tests compare
//! [`blake2s_256`] with `blake2s_simd` for every length 0..=2048 with heads of 0..=16 bytes and
//! other splits, and RFC 7693's "abc", under qemu-arm (NEON detected there). [`blake2s_256`]
//! checks for NEON itself (cached, `chacha::neon::detected`) and runs `blake2s_simd`'s portable
//! code on a CPU without it, so it is sound to call anywhere. The one `unsafe` is the `asm!`
//! block of [`compress`]: it reads the borrowed block and [`TABLE`], and reads/writes only the
//! borrowed [`Work`].

use super::MSG_BYTES;
use crate::lanes::{BLOCK, IV};

/// What [`compress`] reads and writes, at fixed offsets (the asm's addressing).
#[repr(C, align(16))]
struct Work {
    /// Offset 0: the chaining value, words 0..8 (rows a, b of the state at the start).
    h: [u32; 8],
    /// Offset 32: the counter row XORed into IV words 4..8: `[t` low, `t` high, the last-block
    /// flag (all ones), `0]`.
    t: [u32; 4],
}

const _: () = assert!(core::mem::size_of::<Work>() == 48);

/// The constants [`compress`] reads, in order: the IV (rows c and d before the counter), then for
/// each of rounds 1–9 and each half (columns, diagonals) 64 index bytes: x's `vtbl` indices,
/// x's `vtbx` indices (the same minus 32), then y's two.
#[repr(C, align(16))]
struct Table {
    iv: [u32; 8],
    idx: [[[u8; 64]; 2]; 9],
}

const _: () = assert!(core::mem::size_of::<Table>() == 32 + 9 * 2 * 64);

static TABLE: Table = Table {
    iv: IV,
    idx: {
        let mut t = [[[0u8; 64]; 2]; 9];
        let mut r = 1;
        while r < 10 {
            let mut half = 0;
            while half < 2 {
                let mut v = 0;
                while v < 2 {
                    // Vector 2 half + v of round r (x0, y0, x1, y1: `MSG_BYTES`' order).
                    let bytes = &MSG_BYTES[r][2 * half + v];
                    let mut k = 0;
                    while k < 16 {
                        // Byte 4 w + i of the block is at 4 p + i in d16–d23, p = w / 2 for an
                        // even word w, 8 + w / 2 for an odd one.
                        let (w, i) = (bytes[k] / 4, bytes[k] % 4);
                        let at = 4 * (w / 2 + 8 * (w % 2)) + i;
                        t[r - 1][half][32 * v + k] = at;
                        t[r - 1][half][32 * v + 16 + k] = at.wrapping_sub(32);
                        k += 1;
                    }
                    v += 1;
                }
                half += 1;
            }
            r += 1;
        }
        t
    },
};

/// BLAKE2s-256 of `head ‖ body`: with NEON when the CPU has it, `blake2s_simd` otherwise.
pub(crate) fn blake2s_256(head: &[u8], body: &[u8]) -> [u8; 32] {
    if !crate::chacha::neon::detected() {
        return crate::blake2s_simd_256(head, body);
    }
    let mut w = Work { h: IV, t: [0; 4] };
    // Parameter block word 0: digest length 32, no key, fanout 1, depth 1; rest zero.
    w.h[0] ^= 0x0101_0020;
    super::stream(head, body, |block, t, last| {
        let f = if last { u32::MAX } else { 0 };
        w.t = [t as u32, (t >> 32) as u32, f, 0];
        compress(&mut w, block);
    });
    let mut d = [0u8; 32];
    for (c, x) in d.chunks_exact_mut(4).zip(&w.h) {
        c.copy_from_slice(&x.to_le_bytes());
    }
    d
}

/// One G step on the rows q0–q3 with message vectors q`$x` and q`$y`: on the columns, or on the
/// diagonals once rows b, c, d are turned.
macro_rules! g {
    ($x:literal $y:literal) => {
        concat!(
            // a += b + x; d = (d ^ a) >>> 16
            "vadd.i32 q0, q0, q1\n",
            "vadd.i32 q0, q0, q",
            $x,
            "\n",
            "veor q3, q3, q0\n",
            "vrev32.16 q3, q3\n",
            // c += d; b = (b ^ c) >>> 12
            "vadd.i32 q2, q2, q3\n",
            "veor q14, q1, q2\n",
            "vshl.i32 q1, q14, #20\n",
            "vsri.32 q1, q14, #12\n",
            // a += b + y; d = (d ^ a) >>> 8
            "vadd.i32 q0, q0, q1\n",
            "vadd.i32 q0, q0, q",
            $y,
            "\n",
            "veor q14, q3, q0\n",
            "vshl.i32 q3, q14, #24\n",
            "vsri.32 q3, q14, #8\n",
            // c += d; b = (b ^ c) >>> 7
            "vadd.i32 q2, q2, q3\n",
            "veor q14, q1, q2\n",
            "vshl.i32 q1, q14, #25\n",
            "vsri.32 q1, q14, #7\n",
        )
    };
}

/// Rows b, c, d turned by 1, 2, 3 lanes (onto the diagonals) or 3, 2, 1 (back).
macro_rules! turn {
    ($nb:literal $nc:literal $nd:literal) => {
        concat!(
            "vext.32 q1, q1, q1, #",
            $nb,
            "\n",
            "vext.32 q2, q2, q2, #",
            $nc,
            "\n",
            "vext.32 q3, q3, q3, #",
            $nd,
            "\n",
        )
    };
}

/// One 8-byte half `d$d` of a message vector, from its index bytes `d$lo` (`vtbl` indices) and
/// `d$hi` (`vtbx` indices, the same minus 32): `L` both words even (one `vtbl` over d16–d19), `H`
/// both odd (one `vtbl` over d20–d23 with the `vtbx` indices), `M` one of each (both).
macro_rules! half {
    (L $d:literal $lo:literal $hi:literal) => {
        concat!("vtbl.8 d", $d, ", {{d16-d19}}, d", $lo, "\n")
    };
    (H $d:literal $lo:literal $hi:literal) => {
        concat!("vtbl.8 d", $d, ", {{d20-d23}}, d", $hi, "\n")
    };
    (M $d:literal $lo:literal $hi:literal) => {
        concat!(
            "vtbl.8 d",
            $d,
            ", {{d16-d19}}, d",
            $lo,
            "\n",
            "vtbx.8 d",
            $d,
            ", {{d20-d23}}, d",
            $hi,
            "\n",
        )
    };
}

/// The next half-round's x and y into q12, q13: their index bytes from `{t}` (advanced by 64)
/// into d8–d15, looked up in the block (d16–d23) as [`half!`] says for d24, d25 (x), d26, d27 (y).
macro_rules! gather {
    ($x0:ident $x1:ident $y0:ident $y1:ident) => {
        concat!(
            "vldmia {t}!, {{d8-d15}}\n",
            half!($x0 24 8 10),
            half!($x1 25 9 11),
            half!($y0 26 12 14),
            half!($y1 27 13 15),
        )
    };
}

/// One of rounds 1–9: columns, diagonals, each with its gathered message: [`half!`]'s classes of
/// the 4 column d registers, then of the 4 diagonal ones (SIGMA's words `s0 s2`, `s4 s6`, `s1 s3`,
/// `s5 s7`, then `s8 s10` … `s13 s15`). A wrong class gives a wrong digest for every message,
/// which the tests would see (checked: one `L` made `H` failed them).
macro_rules! round {
    ($c0:ident $c1:ident $c2:ident $c3:ident, $d0:ident $d1:ident $d2:ident $d3:ident) => {
        concat!(
            gather!($c0 $c1 $c2 $c3),
            g!(12 13),
            turn!(1 2 3),
            gather!($d0 $d1 $d2 $d3),
            g!(12 13),
            turn!(3 2 1),
        )
    };
}

/// One compression of `block` into `w.h`, with `w.t` as the counter row.
#[inline(never)]
#[allow(unsafe_code)]
fn compress(w: &mut Work, block: &[u8; BLOCK]) {
    // SAFETY: `compress` runs only after `detected()` said the CPU has NEON (`blake2s_256`), so
    // every instruction is implemented. Memory: it reads `block` (64 bytes; `vld2.32` without an
    // alignment qualifier: any alignment), `TABLE` (a static, 16-byte aligned, read in
    // order from its start: 32 + 9 × 128 bytes, the size asserted; `vldmia` needs 4-byte
    // alignment) and reads and writes `*w` (48 bytes, 16-byte aligned, exclusively borrowed) at
    // the offsets `Work`'s layout gives (asserted size; `repr(C)`), nothing else. Registers:
    // q0–q7 (d0–d15) are declared clobbered; d16–d31, which the compiler does not allocate on
    // this VFPv3-D16 baseline, are pushed on entry and popped before leaving, so the stack
    // pointer and those registers are as on entry. No loops, no branches.
    unsafe {
        core::arch::asm!(
            ".fpu neon",
            "vpush {{d16-d31}}",
            // Rows: a, b = h; c = IV[0..4]; d = IV[4..8] ^ counter row.
            "vld1.32 {{d0-d3}}, [{w}]!",
            "vld1.32 {{d4-d7}}, [{t}]!",
            "vld1.32 {{d8-d9}}, [{w}]",
            "veor q3, q3, q4",
            // The block deinterleaved: q8 = words 0, 2, 4, 6, q9 = 1, 3, 5, 7, q10 = 8, 10, 12,
            // 14, q11 = 9, 11, 13, 15: round 0's x0, y0, x1, y1.
            "vld2.32 {{d16-d19}}, [{b}]!",
            "vld2.32 {{d20-d23}}, [{b}]",
            g!(8 9),
            turn!(1 2 3),
            g!(10 11),
            turn!(3 2 1),
            // The even words to d16–d19, the odd ones to d20–d23 (`TABLE`'s byte positions).
            "vswp q9, q10",
            // Round 1: SIGMA 14 10 4 8 9 15 13 6 1 12 0 2 11 7 5 3
            round!(L H L M, M H L H),
            // Round 2: SIGMA 11 8 12 0 5 2 15 13 10 14 3 6 7 1 9 4
            round!(M H L M, M H L M),
            // Round 3: SIGMA 7 9 3 1 13 12 11 14 2 6 5 10 4 0 15 8
            round!(H H H L, M M L L),
            // Round 4: SIGMA 9 0 5 7 2 4 10 15 14 1 11 12 6 8 3 13
            round!(H L M M, M M M M),
            // Round 5: SIGMA 2 12 6 10 0 11 8 3 4 13 7 5 15 14 1 9
            round!(L L L H, M H H M),
            // Round 6: SIGMA 12 5 1 15 14 13 4 10 0 7 6 3 9 2 8 11
            round!(M L H M, L M H M),
            // Round 7: SIGMA 13 11 7 14 12 1 3 9 5 0 15 4 8 6 2 10
            round!(H M M H, H L L L),
            // Round 8: SIGMA 6 15 14 9 11 3 0 8 12 2 13 7 1 4 10 5
            round!(L M H M, M M M M),
            // Round 9: SIGMA 10 2 8 4 7 6 1 5 15 11 9 14 3 12 13 0
            round!(L H L M, H H M L),
            // h ^= a ^ c, b ^ d.
            "sub {w}, {w}, #32",
            "veor q0, q0, q2",
            "veor q1, q1, q3",
            "vld1.32 {{d4-d7}}, [{w}]",
            "veor q0, q0, q2",
            "veor q1, q1, q3",
            "vst1.32 {{d0-d3}}, [{w}]",
            "vpop {{d16-d31}}",
            w = inout(reg) core::ptr::from_mut(w) => _,
            b = inout(reg) block.as_ptr() => _,
            t = inout(reg) core::ptr::from_ref(&TABLE) => _,
            out("d0") _, out("d1") _, out("d2") _, out("d3") _,
            out("d4") _, out("d5") _, out("d6") _, out("d7") _,
            out("d8") _, out("d9") _, out("d10") _, out("d11") _,
            out("d12") _, out("d13") _, out("d14") _, out("d15") _,
        );
    }
}
