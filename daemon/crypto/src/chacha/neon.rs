//! RFC 8439 ChaCha20 keystream for 32-bit ARM with NEON, in `asm!` (NEON intrinsics and
//! `#[target_feature(enable = "neon")]` are unstable on 32-bit ARM; `asm!` is stable there).
//!
//! Layout: one block's state is 4 q registers, one row of 4 words each (a, b, c, d; row d holds
//! the counter in lane 0 and the nonce). A column round is 4 lane-wise quarter-round steps on the
//! rows: add, eor, and a rotation (`vrev32.16` for 16; `vshl` + `vsri` through a temporary for
//! 12, 8 and 7); the diagonal round turns rows b, c, d by 1, 2, 3 lanes (`vext`) before and back
//! after. 15 instructions per column round, 36 per double round, the same per block however
//! many blocks are in flight; the main loop keeps 3 blocks (q0–q11, temporaries q12–q14) so the
//! in-order NEON pipelines of the boxes' Cortex-A7/A9 have 3 independent chains; 1–2 leftover
//! blocks go through a one-block loop. q15 holds the counter increment {1, 0, 0, 0}.
//!
//! Registers: the armv7 targets' baseline FPU is VFPv3-D16, so the compiler knows only d0–d15
//! (q0–q7): those are declared clobbered; d16–d31 (q8–q15), which exist on every CPU with
//! NEON, are saved on the stack (`vpush`) and restored (`vpop`) inside the asm block, so every
//! register the compiler cannot see leaves the block as it entered.
//!
//! Invariants: bit-for-bit RFC 8439 (the tests compare with the `chacha20` crate for every length
//! 0..=2048 and split points, and the RFC vectors); the 32-bit block counter wraps like
//! `vadd.i32` (after 256 GiB per nonce, as the portable path's does); data is read and written
//! with `vld1.8` / `vst1.8` (no alignment needed), the state with `vld1.32` (4-byte aligned
//! `[u32; 16]`). The one `unsafe` is the `asm!` block in [`Keystream::xor_blocks`]: it runs only
//! through a [`Keystream`], which [`Keystream::new`] builds only when the CPU has NEON (AT_HWCAP,
//! read once, with the `std` feature; never without it), and it
//! touches exactly `data`'s whole 64-byte blocks and the state's counter word.

#[cfg(all(feature = "std", target_os = "linux"))]
use core::sync::atomic::{AtomicU8, Ordering};

/// Bytes per ChaCha20 block.
const BLOCK: usize = 64;

/// One (key, nonce)'s state, RFC 8439 §2.3 word order, word 12 the next block's counter. Only
/// built when the CPU has NEON.
pub(crate) struct Keystream {
    state: [u32; 16],
}

/// Whether the CPU running us has NEON: AT_HWCAP's HWCAP_NEON bit (bit 12 on 32-bit ARM Linux),
/// read once and cached (0 = not read yet, 1 = no, 2 = yes).
#[cfg(all(feature = "std", target_os = "linux"))]
pub(crate) fn detected() -> bool {
    static NEON: AtomicU8 = AtomicU8::new(0);
    match NEON.load(Ordering::Relaxed) {
        0 => {
            const HWCAP_NEON: libc::c_ulong = 1 << 12;
            let yes = hwcap() & HWCAP_NEON != 0;
            NEON.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
            yes
        }
        n => n == 2,
    }
}

/// AT_HWCAP of the auxiliary vector (0 if the kernel gave none).
#[cfg(all(feature = "std", target_os = "linux"))]
#[allow(unsafe_code)]
fn hwcap() -> libc::c_ulong {
    // SAFETY: getauxval reads the process's auxiliary vector; it takes any type value (0 for an
    // unknown one) and has no other precondition.
    unsafe { libc::getauxval(libc::AT_HWCAP) }
}

/// Without std (no auxiliary vector reader): the portable path.
#[cfg(not(all(feature = "std", target_os = "linux")))]
pub(crate) fn detected() -> bool {
    false
}

/// One round on the rows of each listed block (`[a b c d t]`: its 4 row registers and its
/// temporary), instruction by instruction across the blocks, so neighbouring instructions are
/// independent.
macro_rules! round {
    ($([$a:literal $b:literal $c:literal $d:literal $t:literal])+) => {
        concat!(
            // a += b; d ^= a; d <<<= 16
            $("vadd.i32 q", $a, ", q", $a, ", q", $b, "\n",)+
            $("veor q", $d, ", q", $d, ", q", $a, "\n",)+
            $("vrev32.16 q", $d, ", q", $d, "\n",)+
            // c += d; b ^= c; b <<<= 12
            $("vadd.i32 q", $c, ", q", $c, ", q", $d, "\n",)+
            $("veor q", $t, ", q", $b, ", q", $c, "\n",)+
            $("vshl.i32 q", $b, ", q", $t, ", #12\n",)+
            $("vsri.32 q", $b, ", q", $t, ", #20\n",)+
            // a += b; d ^= a; d <<<= 8
            $("vadd.i32 q", $a, ", q", $a, ", q", $b, "\n",)+
            $("veor q", $t, ", q", $d, ", q", $a, "\n",)+
            $("vshl.i32 q", $d, ", q", $t, ", #8\n",)+
            $("vsri.32 q", $d, ", q", $t, ", #24\n",)+
            // c += d; b ^= c; b <<<= 7
            $("vadd.i32 q", $c, ", q", $c, ", q", $d, "\n",)+
            $("veor q", $t, ", q", $b, ", q", $c, "\n",)+
            $("vshl.i32 q", $b, ", q", $t, ", #7\n",)+
            $("vsri.32 q", $b, ", q", $t, ", #25\n",)+
        )
    };
}

/// Rows b, c, d turned by `$nb`, `$nc`, `$nd` lanes (1, 2, 3 onto the diagonals; 3, 2, 1 back).
macro_rules! turn {
    ($nb:literal $nc:literal $nd:literal; $([$a:literal $b:literal $c:literal $d:literal $t:literal])+) => {
        concat!(
            $("vext.32 q", $b, ", q", $b, ", q", $b, ", #", $nb, "\n",)+
            $("vext.32 q", $c, ", q", $c, ", q", $c, ", #", $nc, "\n",)+
            $("vext.32 q", $d, ", q", $d, ", q", $d, ", #", $nd, "\n",)+
        )
    };
}

/// One double round (column round, diagonal round) for the listed blocks.
macro_rules! double_round {
    ($($blk:tt)+) => {
        concat!(
            round!($($blk)+),
            turn!(1 2 3; $($blk)+),
            round!($($blk)+),
            turn!(3 2 1; $($blk)+),
        )
    };
}

/// The block in rows `$a..$d`: adds the input state (rows a, b from `{s}`, c, d from `{s2}`;
/// row d is this block's counter), stores the next counter at `{s3}`, XORs the 64 bytes at
/// `{data}` and advances `{data}`. Uses q12, q13.
macro_rules! finish {
    ($a:literal $b:literal $c:literal $d:literal) => {
        concat!(
            "vld1.32 {{d24-d27}}, [{s}]\n",
            "vadd.i32 q",
            $a,
            ", q",
            $a,
            ", q12\n",
            "vadd.i32 q",
            $b,
            ", q",
            $b,
            ", q13\n",
            "vld1.32 {{d24-d27}}, [{s2}]\n",
            "vadd.i32 q",
            $c,
            ", q",
            $c,
            ", q12\n",
            "vadd.i32 q",
            $d,
            ", q",
            $d,
            ", q13\n",
            "vadd.i32 q13, q13, q15\n",
            "vst1.32 {{d26-d27}}, [{s3}]\n",
            "vld1.8 {{d24-d27}}, [{data}]\n",
            "veor q12, q12, q",
            $a,
            "\n",
            "veor q13, q13, q",
            $b,
            "\n",
            "vst1.8 {{d24-d27}}, [{data}]!\n",
            "vld1.8 {{d24-d27}}, [{data}]\n",
            "veor q12, q12, q",
            $c,
            "\n",
            "veor q13, q13, q",
            $d,
            "\n",
            "vst1.8 {{d24-d27}}, [{data}]!\n",
        )
    };
}

impl Keystream {
    /// The state for `key` and `nonce` at block 0, if the CPU has NEON.
    pub(crate) fn new(key: &[u8; 32], nonce: &[u8; 12]) -> Option<Self> {
        if !detected() {
            return None;
        }
        Some(Keystream {
            state: super::initial_state(key, nonce),
        })
    }

    /// XORs the next `data.len() / 64` keystream blocks into `data`'s whole blocks (a shorter
    /// rest is left alone) and advances the counter past them. Not inlined: `apply` calls it from
    /// two places (whole blocks, the kept block), and one copy of the loop is enough.
    #[inline(never)]
    #[allow(unsafe_code)]
    pub(crate) fn xor_blocks(&mut self, data: &mut [u8]) {
        let blocks = data.len() / BLOCK;
        if blocks == 0 {
            return;
        }
        // SAFETY: a `Keystream` exists only when the CPU has NEON (`new`), so every instruction
        // here is implemented. Memory: the block reads and writes `data[..blocks * 64]` (64 bytes
        // per block, `blocks` blocks, `vld1.8`/`vst1.8`: no alignment needed) and reads
        // `self.state` (64 bytes, `vld1.32` of an aligned `[u32; 16]`), writing only its row d
        // (words 12..16: the counter, the nonce words unchanged); both are exclusively borrowed.
        // Registers: q0–q7 (d0–d15) are declared clobbered; q8–q15 (d16–d31), which the
        // compiler does not allocate on this VFPv3-D16 baseline, are pushed on entry and popped
        // before leaving, so the stack pointer and those registers are as on entry. The loop
        // counts are bounded by `blocks` and the constant 10 double rounds.
        unsafe {
            core::arch::asm!(
                ".fpu neon",
                "vpush {{d16-d31}}",
                "add {s2}, {s}, #32",
                "add {s3}, {s}, #48",
                "vmov.i32 q15, #0",
                "mov {k}, #1",
                "vmov.32 d30[0], {k}",
                "cmp {n}, #3",
                "blo 3f",
                // Three blocks at a time: counters d, d + 1, d + 2.
                "2:",
                "vld1.32 {{d0-d3}}, [{s}]",
                "vld1.32 {{d4-d7}}, [{s2}]",
                "vmov q4, q0",
                "vmov q5, q1",
                "vmov q6, q2",
                "vadd.i32 q7, q3, q15",
                "vmov q8, q0",
                "vmov q9, q1",
                "vmov q10, q2",
                "vadd.i32 q11, q7, q15",
                "mov {k}, #10",
                "6:",
                double_round!([0 1 2 3 12] [4 5 6 7 13] [8 9 10 11 14]),
                "subs {k}, {k}, #1",
                "bne 6b",
                finish!(0 1 2 3),
                finish!(4 5 6 7),
                finish!(8 9 10 11),
                "sub {n}, {n}, #3",
                "cmp {n}, #3",
                "bhs 2b",
                // The last one or two blocks, one at a time.
                "3:",
                "cmp {n}, #0",
                "beq 5f",
                "4:",
                "vld1.32 {{d0-d3}}, [{s}]",
                "vld1.32 {{d4-d7}}, [{s2}]",
                "mov {k}, #10",
                "7:",
                double_round!([0 1 2 3 12]),
                "subs {k}, {k}, #1",
                "bne 7b",
                finish!(0 1 2 3),
                "subs {n}, {n}, #1",
                "bne 4b",
                "5:",
                "vpop {{d16-d31}}",
                s = in(reg) self.state.as_mut_ptr(),
                data = inout(reg) data.as_mut_ptr() => _,
                n = inout(reg) blocks => _,
                s2 = out(reg) _,
                s3 = out(reg) _,
                k = out(reg) _,
                out("d0") _, out("d1") _, out("d2") _, out("d3") _,
                out("d4") _, out("d5") _, out("d6") _, out("d7") _,
                out("d8") _, out("d9") _, out("d10") _, out("d11") _,
                out("d12") _, out("d13") _, out("d14") _, out("d15") _,
            );
        }
    }
}
