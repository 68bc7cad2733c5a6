//! tvmesh's per-chunk crypto kernels, in a crate of their own so they can be built at
//! `opt-level = 3` while the rest of the daemon is built for size (see the workspace
//! `Cargo.toml` and docs/BENCHMARKS.md, DRM cost section).
//!
//! Why a separate crate: Rust compiles a generic function in the crate that instantiates it, at
//! that crate's opt-level. `chacha20`'s SIMD backends are generic over the caller's closure, so
//! with `tvmesh-core` at `opt-level = "s"` their AVX2 helpers were left as out-of-line calls
//! (≈ 18 instructions/byte instead of ≈ 4, measured). The wrappers here instantiate them in
//! this crate, at the opt-level its profile override gives, with closure types no other crate has
//! (see `chacha.rs` for why that matters under LTO). Every ChaCha20 keystream of tvmesh's own
//! code goes through [`ChaCha20`] for that reason.
//!
//! - [`ChaCha20`]: RFC 8439 ChaCha20 (96-bit nonce, 32-bit block counter from 0), a continuous
//!   keystream over successive [`ChaCha20::apply`] calls. On 32-bit ARM with the `std` feature,
//!   a CPU with NEON (AT_HWCAP, checked once) runs our own `asm!` keystream (`chacha/neon.rs`,
//!   3 blocks at a time; descrambling a stream-second 20.1 M → 8.1 M instructions), otherwise
//!   `chacha20`'s portable code. On x86-64 with the `std` feature, a CPU with AVX2 (checked once
//!   per [`ChaCha20::new`]) runs our own 8-block word-sliced AVX2 keystream for whole groups of 8
//!   blocks (`chacha/avx2.rs`, intrinsics: ≈ 190 instructions per block against ≈ 247 through
//!   `chacha20`; descrambling a stream-second 5.0 M → 4.4 M instructions), `chacha20`'s AVX2 code
//!   for the last 1–7 blocks of a call.
//! - [`keystreams`]: the keystreams of 8 nonces under one key side by side (one nonce per AVX2
//!   lane on x86-64, ≈ 1 610 instructions per pass of 8 blocks; 4 per NEON pass on aarch64), for
//!   the box's descrambler, which
//!   makes 8 chunks' keystreams ahead of their data and XORs them in later with [`xor_into`]
//!   (where [`keystreams_in_lanes`] says the CPU has the lanes).
//! - [`blake2s_256`]: BLAKE2s-256 (RFC 7693, unkeyed) of a short head followed by a body (not
//!   copied). With the `std` feature, x86 picks `blake2s_simd`'s SSE4.1/AVX2 code at run time; on
//!   aarch64 our own one-message NEON code runs (`one.rs`, `one/neon.rs`: the state's rows as
//!   vectors, ≈ 2.4× fewer instructions than `blake2s_simd`'s portable code there), on a 32-bit
//!   ARM CPU with NEON (`std` feature) the same rows with the compression in `asm!` (`one/arm.rs`:
//!   760 chunks one at a time 22.3 M → 9.4 M instructions); otherwise portable code.
//! - [`Blake2sMany`]: the same for up to [`MANY`] messages at a time, side by side: on an x86-64
//!   CPU with AVX2 (`std` feature) through our own 8 lanes (`lanes.rs`, `lanes/avx2.rs`: ≈ 1 800
//!   instructions per compression of 8 blocks against ≈ 2 150 through `blake2s_simd`'s AVX2
//!   code; 760 chunks 4.3 M → 3.6 M), on other x86 through `blake2s_simd` (SSE4.1), on aarch64
//!   through our own NEON code, 4 lanes (`lanes.rs`, `lanes/neon.rs`: ≈ 3.3× fewer than
//!   `blake2s_simd`'s portable code there), on a 32-bit ARM CPU with NEON (`std` feature) through
//!   the same 4-lane loop with the compression in `asm!` (`lanes/arm.rs`: 760 chunks 22.8 M →
//!   9.1 M instructions), one message after another elsewhere.
//! - [`RsaPublicKey`], [`RsaSecretKey`]: RSA-2048 with e = 3, PKCS#1 v1.5 SHA-256 signatures
//!   (`rsa.rs`): a check is two 2048-bit Montgomery multiplications and a squaring (≈ 74 k
//!   instructions on x86-64 with SHA-256 of 256 bytes); deterministic keys from a seed, CRT
//!   signing checked against the public key before it is returned.
//!
//! Invariants: nothing here allocates, reads a clock, or panics on any input length (a keystream
//! longer than 256 GiB per nonce is the only limit, far above a chunk); outputs are bit-for-bit
//! the RFC algorithms (byte-literal tests in `tests.rs`; the lane code is also checked against
//! `blake2s_simd` for every length it takes, the one-message code for every length 0..=2048 and
//! head split; the 32-bit ARM NEON and x86-64 AVX2 keystreams against `chacha20` for every length
//! 0..=2048 and split). `unsafe` is denied everywhere but sixteen functions.
//! `lanes::neon::hash4_neon` and `one::neon::blake2s_256` each call a
//! `#[target_feature(enable = "neon")]` function from code without that attribute, sound because
//! every aarch64 target has NEON (asserted at compile time); no intrinsic that takes a pointer is
//! used. On 32-bit ARM (where NEON intrinsics and that attribute are unstable),
//! `chacha::neon::Keystream::xor_blocks`, `lanes::arm::compress` and `one::arm::compress` are one
//! `asm!` block each, run only once AT_HWCAP has said NEON (`xor_blocks` through a value that
//! exists only then, each `compress` behind the check in its caller), reading and writing only
//! their borrowed arguments (and `one::arm`'s constant table) and restoring the registers the
//! compiler cannot see (d16–d31); `chacha::neon::hwcap` calls `libc::getauxval`. On x86-64,
//! `chacha::avx2::Keystream::xor_groups` calls the `#[target_feature(enable = "avx2")]` kernel
//! through a value that exists only once `std::is_x86_feature_detected!("avx2")` has said yes, and
//! `chacha::avx2::xor32` loads and stores (unaligned) the one `[u8; 32]` it borrows;
//! `lanes::avx2::hash8_avx2` calls the `#[target_feature(enable = "avx2")]` lane loop and is
//! handed out only by `lanes::avx2::hash8` after the same run-time check, and `lanes::avx2::load32`
//! loads (unaligned) the one `[u8; 32]` it borrows. `chacha::avx2::keystream_lanes` calls its
//! AVX2 kernel right after the same check, `chacha::avx2::store32` stores 32 bytes into a slice
//! it has checked is that long, and `chacha::xor16` loads and stores (SSE2, baseline on x86-64)
//! the 16 bytes it borrows. On aarch64, `chacha::aarch64::keystream_lanes` calls its
//! `#[target_feature(enable = "neon")]` kernel (NEON is baseline there), `chacha::aarch64::store16`
//! stores into 16 bytes of a slice it has checked is that long, and `chacha::xor16` (NEON) loads
//! and stores the 16 bytes it borrows.

#![no_std]
#![deny(unsafe_code)]

#[cfg(feature = "std")]
extern crate std;

mod chacha;
#[cfg(any(
    all(target_arch = "aarch64", target_endian = "little"),
    all(target_arch = "arm", target_endian = "little"),
    all(target_arch = "x86_64", feature = "std"),
    test
))]
mod lanes;
#[cfg(any(
    all(target_arch = "aarch64", target_endian = "little"),
    all(target_arch = "arm", target_endian = "little"),
    test
))]
mod one;
mod rsa;
pub use chacha::{keystreams, keystreams_in_lanes, xor_into, ChaCha20, KEYSTREAM_LANES};
pub use rsa::{RsaPublicKey, RsaSecretKey, RSA_LEN};

/// BLAKE2s-256 of `head ‖ body` (one message, two slices so callers need no copy).
#[inline(never)]
pub fn blake2s_256(head: &[u8], body: &[u8]) -> [u8; 32] {
    #[cfg(all(target_arch = "aarch64", target_endian = "little"))]
    {
        one::neon::blake2s_256(head, body)
    }
    #[cfg(not(all(target_arch = "aarch64", target_endian = "little")))]
    {
        #[cfg(all(target_arch = "arm", target_endian = "little"))]
        if chacha::neon::detected() {
            return one::arm::blake2s_256(head, body);
        }
        blake2s_simd_256(head, body)
    }
}

/// [`blake2s_256`] through `blake2s_simd` (SSE4.1/AVX2 on x86 with `std`, portable elsewhere).
#[cfg(not(all(target_arch = "aarch64", target_endian = "little")))]
#[inline(always)]
fn blake2s_simd_256(head: &[u8], body: &[u8]) -> [u8; 32] {
    let mut s = blake2s_simd::State::new();
    s.update(head);
    s.update(body);
    *s.finalize().as_array()
}

/// Messages [`Blake2sMany::hash`] hashes side by side: the 8 lanes of BLAKE2s's AVX2 code (two
/// groups of 4 with NEON).
pub const MANY: usize = 8;

/// Longest `head ‖ body` that [`Blake2sMany::hash`] copies into one contiguous buffer, so all of
/// its blocks, the last included, are compressed side by side: a chunk and its 10-byte head
/// (1326 bytes) fit.
pub const MANY_COPY_MAX: usize = 1408;

/// BLAKE2s-256 of up to [`MANY`] messages side by side, with its copy buffers (11 KiB), which its
/// owner allocates once: zeroing them per call cost as much as hashing a block.
pub struct Blake2sMany {
    bufs: [[u8; MANY_COPY_MAX]; MANY],
}

impl core::fmt::Debug for Blake2sMany {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Blake2sMany { .. }")
    }
}

impl Default for Blake2sMany {
    fn default() -> Self {
        Self::new()
    }
}

impl Blake2sMany {
    /// Zeroed buffers.
    pub const fn new() -> Self {
        Blake2sMany {
            bufs: [[0; MANY_COPY_MAX]; MANY],
        }
    }

    /// BLAKE2s-256 of `head ‖ body` for each `(head, body)` of `msgs`, into `out[i]`; pairs past
    /// `out.len()` are not hashed, and entries of `out` past `msgs.len()` are left as they are.
    /// Groups of [`MANY`] run side by side where the CPU has the lanes (x86 AVX2: 8, SSE4.1: 4,
    /// with the `std` feature; aarch64 NEON: two halves of 4), one after another elsewhere — same
    /// digests as [`blake2s_256`] either way. A group with a message longer than
    /// [`MANY_COPY_MAX`] is hashed without the copy, its first and last blocks one at a time.
    #[inline(never)]
    pub fn hash(&mut self, msgs: &[(&[u8], &[u8])], out: &mut [[u8; 32]]) {
        for (group, outs) in msgs.chunks(MANY).zip(out.chunks_mut(MANY)) {
            // The same length for both: `out` may be shorter or longer than `msgs`.
            let n = group.len().min(outs.len());
            let (group, outs) = (&group[..n], &mut outs[..n]);
            if group
                .iter()
                .all(|(h, b)| h.len() + b.len() <= MANY_COPY_MAX)
            {
                hash_group_copied(&mut self.bufs, group, outs);
            } else {
                hash_group_in_place(group, outs);
            }
        }
    }
}

/// `group`: at most [`MANY`] messages, each at most [`MANY_COPY_MAX`] bytes; `outs` as long.
fn hash_group_copied(
    bufs: &mut [[u8; MANY_COPY_MAX]; MANY],
    group: &[(&[u8], &[u8])],
    outs: &mut [[u8; 32]],
) {
    let mut lens = [0usize; MANY];
    for ((buf, len), (h, b)) in bufs.iter_mut().zip(&mut lens).zip(group) {
        *len = h.len() + b.len(); // ≤ MANY_COPY_MAX: checked by the caller
        buf[..h.len()].copy_from_slice(h);
        buf[h.len()..*len].copy_from_slice(b);
    }
    #[cfg(all(target_arch = "aarch64", target_endian = "little"))]
    {
        hash_copied_lanes(bufs, &lens, group.len(), outs, lanes::neon::HASH4);
    }
    #[cfg(not(all(target_arch = "aarch64", target_endian = "little")))]
    {
        #[cfg(all(target_arch = "arm", target_endian = "little"))]
        if chacha::neon::detected() {
            hash_copied_lanes(bufs, &lens, group.len(), outs, lanes::arm::HASH4);
            return;
        }
        #[cfg(all(target_arch = "x86_64", feature = "std"))]
        if let Some(hash8) = lanes::avx2::hash8() {
            hash_copied_lanes(bufs, &lens, group.len(), outs, hash8);
            return;
        }
        hash_copied_simd(bufs, &lens, group.len(), outs);
    }
}

/// `bufs[i][..lens[i]]` for `i < n` (`n ≤ MANY`) through `blake2s_simd` (AVX2/SSE4.1 lanes on x86).
#[cfg(not(all(target_arch = "aarch64", target_endian = "little")))]
fn hash_copied_simd(
    bufs: &[[u8; MANY_COPY_MAX]; MANY],
    lens: &[usize; MANY],
    n: usize,
    outs: &mut [[u8; 32]],
) {
    let params = blake2s_simd::Params::new();
    let mut jobs: [blake2s_simd::many::HashManyJob<'_>; MANY] = core::array::from_fn(|i| {
        blake2s_simd::many::HashManyJob::new(&params, &bufs[i][..lens[i]])
    });
    blake2s_simd::many::hash_many(jobs[..n].iter_mut());
    for (j, o) in jobs.iter().zip(outs.iter_mut()) {
        *o = *j.to_hash().as_array();
    }
}

/// `bufs[i][..lens[i]]` for `i < n` (`n ≤ MANY`, `outs` `n` long) through `hash` (a `lanes`
/// instantiation of `N` lanes), `N` at a time. Zeroes each used buffer from its message's end to
/// the block boundary first (the lane code reads the last block in place).
#[cfg(any(
    all(target_arch = "aarch64", target_endian = "little"),
    all(target_arch = "arm", target_endian = "little"),
    all(target_arch = "x86_64", feature = "std"),
    test
))]
fn hash_copied_lanes<const N: usize>(
    bufs: &mut [[u8; MANY_COPY_MAX]; MANY],
    lens: &[usize; MANY],
    n: usize,
    outs: &mut [[u8; 32]],
    hash: lanes::HashLanes<N>,
) {
    for (buf, &len) in bufs.iter_mut().zip(lens).take(n) {
        // len ≤ MANY_COPY_MAX, a multiple of 64: the padded end is in the buffer.
        let end = len.div_ceil(64).max(1) * 64;
        if let Some(pad) = buf.get_mut(len..end) {
            pad.fill(0);
        }
    }
    // `outs` is `n` long: one chunk per N messages.
    for (part, outs) in outs.chunks_mut(N).enumerate() {
        let base = part * N;
        // Lanes past `n` hash buffer 0 as empty: their digests are dropped.
        let used = |l: usize| base + l < n;
        let lane_bufs = core::array::from_fn(|l| if used(l) { &bufs[base + l] } else { &bufs[0] });
        let lane_lens = core::array::from_fn(|l| if used(l) { lens[base + l] } else { 0 });
        let digests = hash(lane_bufs, lane_lens);
        for (o, d) in outs.iter_mut().zip(&digests) {
            *o = *d;
        }
    }
}

/// `group`: at most [`MANY`] messages of any length; `outs` as long.
fn hash_group_in_place(group: &[(&[u8], &[u8])], outs: &mut [[u8; 32]]) {
    let mut states: [blake2s_simd::State; MANY] =
        core::array::from_fn(|_| blake2s_simd::State::new());
    for (s, (head, _)) in states.iter_mut().zip(group) {
        s.update(head);
    }
    blake2s_simd::many::update_many(states.iter_mut().zip(group.iter().map(|m| m.1)));
    for (s, o) in states.iter_mut().zip(outs.iter_mut()) {
        *o = *s.finalize().as_array();
    }
}

#[cfg(test)]
mod tests;
