//! BLAKE2s-256 of 4 messages side by side on 32-bit ARM with NEON, the compression in `asm!`
//! (NEON intrinsics and `#[target_feature(enable = "neon")]` are unstable there). Same layout as
//! the parent module's (lane `l` of every vector is message `l`; state word `j` of the 4
//! messages is one vector), and the same outer loop as `lanes_hash4!`'s `hash4`, written here
//! over plain arrays: only [`compress`] is vector code.
//!
//! Registers: the 16 state vectors and the temporaries do not fit in the 16 q registers, so
//! v8 and v9 live in `Work::spill` and pass through q8/q9 for the two G steps that add to
//! them (4 loads/stores per round); q8/q9 are the temporaries otherwise (message words, the
//! shift-and-insert rotations: `vshl` + `vsri` for 12, 8, 7, `vrev32.16` for 16). Message
//! words come from the transposed block in `Work::m` (`vldr` at constant offsets from SIGMA),
//! so the 10 rounds are written out. As in `chacha/neon.rs`, q0–q7 are declared clobbered and
//! q8–q15 (d16–d31, not known to the compiler on the VFPv3-D16 baseline) are pushed and popped
//! inside the asm block.
//!
//! Invariants: the parent module's (bit-for-bit BLAKE2s-256, padding zeroed by the caller,
//! lanes of different lengths share the block loop with a per-lane "taken at its last block",
//! no allocation, no panic); tests compare [`HASH4`] with `blake2s_simd` for every length
//! 0..=[`MANY_COPY_MAX`](crate::MANY_COPY_MAX) and mixed lengths under qemu-arm. [`HASH4`] checks
//! for NEON itself (cached, `chacha::neon::detected`) and hashes one message at a time with
//! `blake2s_simd` on a CPU without it, so it is sound to call anywhere. The one `unsafe` is the
//! `asm!` block of [`compress`]: it reads the 4 borrowed blocks and reads/writes only the
//! borrowed [`Work`].

use super::{block, blocks_of, BLOCK, IV, LANES};
use crate::MANY_COPY_MAX;

/// Everything [`compress`] reads and writes, at fixed offsets (the asm's addressing).
#[repr(C, align(16))]
struct Work {
    /// Offset 0: the chaining value, word `j` of the 4 lanes per vector.
    h: [[u32; LANES]; 8],
    /// Offset 128: the IV, each word in all 4 lanes.
    iv: [[u32; LANES]; 8],
    /// Offset 256: bytes compressed through this block (t), last-block flags (f, all ones).
    tf: [[u32; LANES]; 2],
    /// Offset 288: the 4 blocks, transposed (written by `compress`).
    m: [[u32; LANES]; 16],
    /// Offset 544: state vectors v8, v9 during the rounds.
    spill: [[u32; LANES]; 2],
}

const _: () = assert!(core::mem::size_of::<Work>() == 576);

/// The armv7 NEON lanes as a [`super::Hash4`].
pub(crate) const HASH4: super::Hash4 = hash4;

/// BLAKE2s-256 of `bufs[l][..lens[l]]` for each lane `l` (the parent module's invariants).
fn hash4(bufs: [&[u8; MANY_COPY_MAX]; LANES], lens: [usize; LANES]) -> [[u8; 32]; LANES] {
    if !crate::chacha::neon::detected() {
        return core::array::from_fn(|l| {
            crate::blake2s_simd_256(&bufs[l][..lens[l].min(MANY_COPY_MAX)], &[])
        });
    }
    let blocks = lens.map(blocks_of);
    let rounds = blocks.iter().copied().max().unwrap_or(1);
    let mut w = Work {
        h: IV.map(|x| [x; LANES]),
        iv: IV.map(|x| [x; LANES]),
        tf: [[0; LANES]; 2],
        m: [[0; LANES]; 16],
        spill: [[0; LANES]; 2],
    };
    // Parameter block word 0: digest length 32, no key, fanout 1, depth 1; rest zero.
    w.h[0] = [IV[0] ^ 0x0101_0020; LANES];
    let mut out = w.h;
    for k in 0..rounds {
        for l in 0..LANES {
            // Both ≤ MANY_COPY_MAX: exact as u32. The length itself at the last block.
            w.tf[0][l] = lens[l].min((k + 1) * BLOCK).min(MANY_COPY_MAX) as u32;
            w.tf[1][l] = if blocks[l] == k + 1 { u32::MAX } else { 0 };
        }
        compress(&mut w, bufs.map(|b| block(b, k)));
        for l in 0..LANES {
            if blocks[l] == k + 1 {
                for (o, h) in out.iter_mut().zip(&w.h) {
                    o[l] = h[l];
                }
            }
        }
    }
    core::array::from_fn(|l| {
        let mut d = [0u8; 32];
        for (c, w) in d.chunks_exact_mut(4).zip(&out) {
            c.copy_from_slice(&w[l].to_le_bytes());
        }
        d
    })
}

/// Message vector `$i` into q8 (`ld!(8, i)`) or q9 (`ld!(9, i)`).
macro_rules! ld {
    (8, $i:literal) => {
        concat!(
            "vldr d16, [{m}, #16*",
            $i,
            "]\n",
            "vldr d17, [{m}, #16*",
            $i,
            "+8]\n",
        )
    };
    (9, $i:literal) => {
        concat!(
            "vldr d18, [{m}, #16*",
            $i,
            "]\n",
            "vldr d19, [{m}, #16*",
            $i,
            "+8]\n",
        )
    };
}

/// The column half of a round: G on (v0, v4, v8, v12), (v1, v5, v9, v13), (v2, v6, v10, v14),
/// (v3, v7, v11, v15) with message words (x0, y0) … (x3, y3); v8, v9 in the spill slot.
macro_rules! col {
    ($x0:literal $y0:literal $x1:literal $y1:literal $x2:literal $y2:literal $x3:literal $y3:literal) => {
        concat!(
            // a += b + x
            ld!(8, $x0),
            "vadd.i32 q0, q0, q8\n",
            "vadd.i32 q0, q0, q4\n",
            ld!(9, $x1),
            "vadd.i32 q1, q1, q9\n",
            "vadd.i32 q1, q1, q5\n",
            ld!(8, $x2),
            "vadd.i32 q2, q2, q8\n",
            "vadd.i32 q2, q2, q6\n",
            ld!(9, $x3),
            "vadd.i32 q3, q3, q9\n",
            "vadd.i32 q3, q3, q7\n",
            // d = (d ^ a) >>> 16
            "veor q12, q12, q0\n",
            "veor q13, q13, q1\n",
            "veor q14, q14, q2\n",
            "veor q15, q15, q3\n",
            "vrev32.16 q12, q12\n",
            "vrev32.16 q13, q13\n",
            "vrev32.16 q14, q14\n",
            "vrev32.16 q15, q15\n",
            // c += d
            "vld1.32 {{d16-d19}}, [{s}]\n",
            "vadd.i32 q8, q8, q12\n",
            "vadd.i32 q9, q9, q13\n",
            "vst1.32 {{d16-d19}}, [{s}]\n",
            "vadd.i32 q10, q10, q14\n",
            "vadd.i32 q11, q11, q15\n",
            // b = (b ^ c) >>> 12
            "veor q8, q4, q8\n",
            "vshl.i32 q4, q8, #20\n",
            "vsri.32 q4, q8, #12\n",
            "veor q9, q5, q9\n",
            "vshl.i32 q5, q9, #20\n",
            "vsri.32 q5, q9, #12\n",
            "veor q8, q6, q10\n",
            "vshl.i32 q6, q8, #20\n",
            "vsri.32 q6, q8, #12\n",
            "veor q9, q7, q11\n",
            "vshl.i32 q7, q9, #20\n",
            "vsri.32 q7, q9, #12\n",
            // a += b + y
            ld!(8, $y0),
            "vadd.i32 q0, q0, q8\n",
            "vadd.i32 q0, q0, q4\n",
            ld!(9, $y1),
            "vadd.i32 q1, q1, q9\n",
            "vadd.i32 q1, q1, q5\n",
            ld!(8, $y2),
            "vadd.i32 q2, q2, q8\n",
            "vadd.i32 q2, q2, q6\n",
            ld!(9, $y3),
            "vadd.i32 q3, q3, q9\n",
            "vadd.i32 q3, q3, q7\n",
            // d = (d ^ a) >>> 8
            "veor q8, q12, q0\n",
            "vshl.i32 q12, q8, #24\n",
            "vsri.32 q12, q8, #8\n",
            "veor q9, q13, q1\n",
            "vshl.i32 q13, q9, #24\n",
            "vsri.32 q13, q9, #8\n",
            "veor q8, q14, q2\n",
            "vshl.i32 q14, q8, #24\n",
            "vsri.32 q14, q8, #8\n",
            "veor q9, q15, q3\n",
            "vshl.i32 q15, q9, #24\n",
            "vsri.32 q15, q9, #8\n",
            // c += d
            "vld1.32 {{d16-d19}}, [{s}]\n",
            "vadd.i32 q8, q8, q12\n",
            "vadd.i32 q9, q9, q13\n",
            "vst1.32 {{d16-d19}}, [{s}]\n",
            "vadd.i32 q10, q10, q14\n",
            "vadd.i32 q11, q11, q15\n",
            // b = (b ^ c) >>> 7
            "veor q8, q4, q8\n",
            "vshl.i32 q4, q8, #25\n",
            "vsri.32 q4, q8, #7\n",
            "veor q9, q5, q9\n",
            "vshl.i32 q5, q9, #25\n",
            "vsri.32 q5, q9, #7\n",
            "veor q8, q6, q10\n",
            "vshl.i32 q6, q8, #25\n",
            "vsri.32 q6, q8, #7\n",
            "veor q9, q7, q11\n",
            "vshl.i32 q7, q9, #25\n",
            "vsri.32 q7, q9, #7\n",
        )
    };
}

/// The diagonal half of a round: G on (v0, v5, v10, v15), (v1, v6, v11, v12), (v2, v7, v8, v13),
/// (v3, v4, v9, v14) with message words (x0, y0) … (x3, y3); v8, v9 in the spill slot.
macro_rules! diag {
    ($x0:literal $y0:literal $x1:literal $y1:literal $x2:literal $y2:literal $x3:literal $y3:literal) => {
        concat!(
            // a += b + x
            ld!(8, $x0),
            "vadd.i32 q0, q0, q8\n",
            "vadd.i32 q0, q0, q5\n",
            ld!(9, $x1),
            "vadd.i32 q1, q1, q9\n",
            "vadd.i32 q1, q1, q6\n",
            ld!(8, $x2),
            "vadd.i32 q2, q2, q8\n",
            "vadd.i32 q2, q2, q7\n",
            ld!(9, $x3),
            "vadd.i32 q3, q3, q9\n",
            "vadd.i32 q3, q3, q4\n",
            // d = (d ^ a) >>> 16
            "veor q15, q15, q0\n",
            "veor q12, q12, q1\n",
            "veor q13, q13, q2\n",
            "veor q14, q14, q3\n",
            "vrev32.16 q15, q15\n",
            "vrev32.16 q12, q12\n",
            "vrev32.16 q13, q13\n",
            "vrev32.16 q14, q14\n",
            // c += d
            "vld1.32 {{d16-d19}}, [{s}]\n",
            "vadd.i32 q8, q8, q13\n",
            "vadd.i32 q9, q9, q14\n",
            "vst1.32 {{d16-d19}}, [{s}]\n",
            "vadd.i32 q10, q10, q15\n",
            "vadd.i32 q11, q11, q12\n",
            // b = (b ^ c) >>> 12 (the spilled c's first, while q8/q9 hold them)
            "veor q8, q7, q8\n",
            "vshl.i32 q7, q8, #20\n",
            "vsri.32 q7, q8, #12\n",
            "veor q9, q4, q9\n",
            "vshl.i32 q4, q9, #20\n",
            "vsri.32 q4, q9, #12\n",
            "veor q8, q5, q10\n",
            "vshl.i32 q5, q8, #20\n",
            "vsri.32 q5, q8, #12\n",
            "veor q9, q6, q11\n",
            "vshl.i32 q6, q9, #20\n",
            "vsri.32 q6, q9, #12\n",
            // a += b + y
            ld!(8, $y0),
            "vadd.i32 q0, q0, q8\n",
            "vadd.i32 q0, q0, q5\n",
            ld!(9, $y1),
            "vadd.i32 q1, q1, q9\n",
            "vadd.i32 q1, q1, q6\n",
            ld!(8, $y2),
            "vadd.i32 q2, q2, q8\n",
            "vadd.i32 q2, q2, q7\n",
            ld!(9, $y3),
            "vadd.i32 q3, q3, q9\n",
            "vadd.i32 q3, q3, q4\n",
            // d = (d ^ a) >>> 8
            "veor q8, q15, q0\n",
            "vshl.i32 q15, q8, #24\n",
            "vsri.32 q15, q8, #8\n",
            "veor q9, q12, q1\n",
            "vshl.i32 q12, q9, #24\n",
            "vsri.32 q12, q9, #8\n",
            "veor q8, q13, q2\n",
            "vshl.i32 q13, q8, #24\n",
            "vsri.32 q13, q8, #8\n",
            "veor q9, q14, q3\n",
            "vshl.i32 q14, q9, #24\n",
            "vsri.32 q14, q9, #8\n",
            // c += d
            "vld1.32 {{d16-d19}}, [{s}]\n",
            "vadd.i32 q8, q8, q13\n",
            "vadd.i32 q9, q9, q14\n",
            "vst1.32 {{d16-d19}}, [{s}]\n",
            "vadd.i32 q10, q10, q15\n",
            "vadd.i32 q11, q11, q12\n",
            // b = (b ^ c) >>> 7
            "veor q8, q7, q8\n",
            "vshl.i32 q7, q8, #25\n",
            "vsri.32 q7, q8, #7\n",
            "veor q9, q4, q9\n",
            "vshl.i32 q4, q9, #25\n",
            "vsri.32 q4, q9, #7\n",
            "veor q8, q5, q10\n",
            "vshl.i32 q5, q8, #25\n",
            "vsri.32 q5, q8, #7\n",
            "veor q9, q6, q11\n",
            "vshl.i32 q6, q9, #25\n",
            "vsri.32 q6, q9, #7\n",
        )
    };
}

/// One compression of the 4 lanes' blocks into `w.h`, with `w.tf` as t and f.
#[inline(never)]
#[allow(unsafe_code)]
fn compress(w: &mut Work, blocks: [&[u8; BLOCK]; LANES]) {
    // SAFETY: `compress` runs only after `detected()` said the CPU has NEON (`hash4`), so every
    // instruction is implemented. Memory: it reads the 4 blocks (64 bytes each, `vld1.8`: any
    // alignment) and reads and writes `*w` (576 bytes, 16-byte aligned, exclusively borrowed)
    // at the offsets `Work`'s layout gives (asserted size; `repr(C)`), nothing else.
    // Registers: q0–q7 (d0–d15) are declared clobbered; q8–q15 (d16–d31), which the compiler
    // does not allocate on this VFPv3-D16 baseline, are pushed on entry and popped before
    // leaving, so the stack pointer and those registers are as on entry. No loops, no branches.
    unsafe {
        core::arch::asm!(
            ".fpu neon",
            "vpush {{d16-d31}}",
            // Lane l's block in q(4l)..q(4l+3), then 4 × 4 transposes: word 4g + k of the 4
            // lanes ends up in q(4k + g).
            "vld1.8 {{d0-d3}}, [{m}]!",
            "vld1.8 {{d4-d7}}, [{m}]",
            "vld1.8 {{d8-d11}}, [{s}]!",
            "vld1.8 {{d12-d15}}, [{s}]",
            "vld1.8 {{d16-d19}}, [{p2}]!",
            "vld1.8 {{d20-d23}}, [{p2}]",
            "vld1.8 {{d24-d27}}, [{p3}]!",
            "vld1.8 {{d28-d31}}, [{p3}]",
            "vtrn.32 q0, q4",
            "vtrn.32 q8, q12",
            "vswp d1, d16",
            "vswp d9, d24",
            "vtrn.32 q1, q5",
            "vtrn.32 q9, q13",
            "vswp d3, d18",
            "vswp d11, d26",
            "vtrn.32 q2, q6",
            "vtrn.32 q10, q14",
            "vswp d5, d20",
            "vswp d13, d28",
            "vtrn.32 q3, q7",
            "vtrn.32 q11, q15",
            "vswp d7, d22",
            "vswp d15, d30",
            // The message, word by word, to w.m.
            "add {p}, {w}, #288",
            "vst1.32 {{d0-d1}}, [{p}]!",
            "vst1.32 {{d8-d9}}, [{p}]!",
            "vst1.32 {{d16-d17}}, [{p}]!",
            "vst1.32 {{d24-d25}}, [{p}]!",
            "vst1.32 {{d2-d3}}, [{p}]!",
            "vst1.32 {{d10-d11}}, [{p}]!",
            "vst1.32 {{d18-d19}}, [{p}]!",
            "vst1.32 {{d26-d27}}, [{p}]!",
            "vst1.32 {{d4-d5}}, [{p}]!",
            "vst1.32 {{d12-d13}}, [{p}]!",
            "vst1.32 {{d20-d21}}, [{p}]!",
            "vst1.32 {{d28-d29}}, [{p}]!",
            "vst1.32 {{d6-d7}}, [{p}]!",
            "vst1.32 {{d14-d15}}, [{p}]!",
            "vst1.32 {{d22-d23}}, [{p}]!",
            "vst1.32 {{d30-d31}}, [{p}]!",
            // v0..v7 = h, v8..v15 = IV with t and f; v8, v9 to the spill slot.
            "add {m}, {w}, #288",
            "add {s}, {w}, #544",
            "mov {p}, {w}",
            "vld1.32 {{d0-d3}}, [{p}]!",
            "vld1.32 {{d4-d7}}, [{p}]!",
            "vld1.32 {{d8-d11}}, [{p}]!",
            "vld1.32 {{d12-d15}}, [{p}]!",
            "vld1.32 {{d16-d19}}, [{p}]!",
            "vst1.32 {{d16-d19}}, [{s}]",
            "vld1.32 {{d20-d23}}, [{p}]!",
            "vld1.32 {{d24-d27}}, [{p}]!",
            "vld1.32 {{d28-d31}}, [{p}]!",
            "vld1.32 {{d16-d19}}, [{p}]",
            "veor q12, q12, q8",
            "veor q14, q14, q9",
            col!(0 1 2 3 4 5 6 7),
            diag!(8 9 10 11 12 13 14 15),
            col!(14 10 4 8 9 15 13 6),
            diag!(1 12 0 2 11 7 5 3),
            col!(11 8 12 0 5 2 15 13),
            diag!(10 14 3 6 7 1 9 4),
            col!(7 9 3 1 13 12 11 14),
            diag!(2 6 5 10 4 0 15 8),
            col!(9 0 5 7 2 4 10 15),
            diag!(14 1 11 12 6 8 3 13),
            col!(2 12 6 10 0 11 8 3),
            diag!(4 13 7 5 15 14 1 9),
            col!(12 5 1 15 14 13 4 10),
            diag!(0 7 6 3 9 2 8 11),
            col!(13 11 7 14 12 1 3 9),
            diag!(5 0 15 4 8 6 2 10),
            col!(6 15 14 9 11 3 0 8),
            diag!(12 2 13 7 1 4 10 5),
            col!(10 2 8 4 7 6 1 5),
            diag!(15 11 9 14 3 12 13 0),
            // h ^= v[0..8] ^ v[8..16].
            "vld1.32 {{d16-d19}}, [{s}]",
            "veor q0, q0, q8",
            "veor q1, q1, q9",
            "veor q2, q2, q10",
            "veor q3, q3, q11",
            "veor q4, q4, q12",
            "veor q5, q5, q13",
            "veor q6, q6, q14",
            "veor q7, q7, q15",
            "mov {p}, {w}",
            "vld1.32 {{d16-d19}}, [{p}]",
            "veor q0, q0, q8",
            "veor q1, q1, q9",
            "vst1.32 {{d0-d3}}, [{p}]!",
            "vld1.32 {{d16-d19}}, [{p}]",
            "veor q2, q2, q8",
            "veor q3, q3, q9",
            "vst1.32 {{d4-d7}}, [{p}]!",
            "vld1.32 {{d16-d19}}, [{p}]",
            "veor q4, q4, q8",
            "veor q5, q5, q9",
            "vst1.32 {{d8-d11}}, [{p}]!",
            "vld1.32 {{d16-d19}}, [{p}]",
            "veor q6, q6, q8",
            "veor q7, q7, q9",
            "vst1.32 {{d12-d15}}, [{p}]",
            "vpop {{d16-d31}}",
            w = in(reg) core::ptr::from_mut(w),
            m = inout(reg) blocks[0].as_ptr() => _,
            s = inout(reg) blocks[1].as_ptr() => _,
            p2 = inout(reg) blocks[2].as_ptr() => _,
            p3 = inout(reg) blocks[3].as_ptr() => _,
            p = out(reg) _,
            out("d0") _, out("d1") _, out("d2") _, out("d3") _,
            out("d4") _, out("d5") _, out("d6") _, out("d7") _,
            out("d8") _, out("d9") _, out("d10") _, out("d11") _,
            out("d12") _, out("d13") _, out("d14") _, out("d15") _,
        );
    }
}
