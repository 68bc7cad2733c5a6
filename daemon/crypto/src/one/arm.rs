//! BLAKE2s-256 of one message on 32-bit ARM with NEON, the compression in `asm!` (NEON intrinsics
//! and `#[target_feature(enable = "neon")]` are unstable there). The parent module's row layout
//! (`one_hash!` and `neon.rs` on aarch64), written as one asm block per compression; the blocks
//! come from the parent's [`stream`](super::stream) (full blocks read in place, the straddling and
//! last blocks through a stack buffer).
//!
//! Registers: rows a, b, c, d of the state in q0–q3; the 64-byte block in q8–q11 (d16–d23); a
//! round's message vectors x, y in q12, q13; q14 the rotation temporary (`vrev32.16` for 16,
//! `vshl` + `vsri` for 12, 8, 7; `vext` turns rows b, c, d onto the diagonals and back). Round
//! 0's message vectors (words 0, 2, 4, 6 / 1, 3, 5, 7 and 8 … 15) are two `vld2.32` from the
//! block; rounds 1–9 gather each half-round's x and y with 2 `vtbl.8` (bytes 0..32 of the block)
//! and 2 `vtbx.8` (bytes 32..64, the index minus 32: out of range for the low bytes, which
//! `vtbx` leaves alone) per vector, their 32 index bytes loaded by one `vldmia` of d8–d15 from
//! [`TABLE`] (written from the parent's `MSG_BYTES`, so the same SIGMA order as aarch64's). As in
//! `chacha/neon.rs`, q0–q7 are declared clobbered and d16–d31 (not known to the compiler on the
//! VFPv3-D16 baseline) are pushed and popped inside the asm block.
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
                        t[r - 1][half][32 * v + k] = bytes[k];
                        t[r - 1][half][32 * v + 16 + k] = bytes[k].wrapping_sub(32);
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
    // Parameter block word 0: digest length 32, no key, fanout 1, depth 1; rest zero.
    let mut w = Work {
        h: [IV[0] ^ 0x0101_0020, IV[1], IV[2], IV[3], IV[4], IV[5], IV[6], IV[7]],
        t: [0; 4],
    };
    super::stream(head, body, |block, t, last| {
        w.t = [t as u32, (t >> 32) as u32, if last { u32::MAX } else { 0 }, 0];
        compress(&mut w, block);
    });
    let mut d = [0u8; 32];
    for (c, x) in d.chunks_exact_mut(4).zip(&w.h) {
        c.copy_from_slice(&x.to_le_bytes());
    }
    d
}

/// One G step on the rows q0–q3 with message vectors q12 (x) and q13 (y): on the columns, or on
/// the diagonals once rows b, c, d are turned.
macro_rules! g {
    () => {
        concat!(
            // a += b + x; d = (d ^ a) >>> 16
            "vadd.i32 q0, q0, q1\n",
            "vadd.i32 q0, q0, q12\n",
            "veor q3, q3, q0\n",
            "vrev32.16 q3, q3\n",
            // c += d; b = (b ^ c) >>> 12
            "vadd.i32 q2, q2, q3\n",
            "veor q14, q1, q2\n",
            "vshl.i32 q1, q14, #20\n",
            "vsri.32 q1, q14, #12\n",
            // a += b + y; d = (d ^ a) >>> 8
            "vadd.i32 q0, q0, q1\n",
            "vadd.i32 q0, q0, q13\n",
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

/// The next half-round's x and y into q12, q13: their index bytes from `{t}` (advanced by 64)
/// into d8–d15, looked up in the block (d16–d23).
macro_rules! gather {
    () => {
        concat!(
            "vldmia {t}!, {{d8-d15}}\n",
            "vtbl.8 d24, {{d16-d19}}, d8\n",
            "vtbl.8 d25, {{d16-d19}}, d9\n",
            "vtbx.8 d24, {{d20-d23}}, d10\n",
            "vtbx.8 d25, {{d20-d23}}, d11\n",
            "vtbl.8 d26, {{d16-d19}}, d12\n",
            "vtbl.8 d27, {{d16-d19}}, d13\n",
            "vtbx.8 d26, {{d20-d23}}, d14\n",
            "vtbx.8 d27, {{d20-d23}}, d15\n",
        )
    };
}

/// One of rounds 1–9: columns, diagonals, each with its gathered message.
macro_rules! round {
    () => {
        concat!(gather!(), g!(), turn!(1 2 3), gather!(), g!(), turn!(3 2 1))
    };
}

/// One compression of `block` into `w.h`, with `w.t` as the counter row.
#[inline(never)]
#[allow(unsafe_code)]
fn compress(w: &mut Work, block: &[u8; BLOCK]) {
    // SAFETY: `compress` runs only after `detected()` said the CPU has NEON (`blake2s_256`), so
    // every instruction is implemented. Memory: it reads `block` (64 bytes; `vld1.8`/`vld2.32`
    // without an alignment qualifier: any alignment), `TABLE` (a static, 16-byte aligned, read in
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
            // Round 0: x0, y0 = words 0, 2, 4, 6 / 1, 3, 5, 7 (q12, q13); the block to q8–q11;
            // then x1, y1 = words 8 … 15 the same way.
            "vld2.32 {{d24-d27}}, [{b}]",
            "vld1.8 {{d16-d19}}, [{b}]!",
            "vld1.8 {{d20-d23}}, [{b}]",
            g!(),
            turn!(1 2 3),
            "vld2.32 {{d24-d27}}, [{b}]",
            g!(),
            turn!(3 2 1),
            round!(),
            round!(),
            round!(),
            round!(),
            round!(),
            round!(),
            round!(),
            round!(),
            round!(),
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
