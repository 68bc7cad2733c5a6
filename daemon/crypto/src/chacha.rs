//! RFC 8439 ChaCha20 (96-bit nonce, 32-bit block counter from 0) over `chacha20`'s SIMD backends,
//! through closures of our own.
//!
//! Why not `chacha20::ChaCha20::apply_keystream`: its backends are generic over the caller's
//! closure, and that closure type is the same for every crate that calls `apply_keystream`
//! (e.g. `chacha20poly1305` in the licence code, built at opt-level "s"). Fat LTO keeps one copy
//! of identical instantiations, and kept the size-optimised one: 10 instructions/byte instead of
//! 4 (measured, docs/BENCHMARKS.md). [`XorBlocks`], [`OneBlock`] (and `XorRest` on x86-64) exist
//! only in this crate, so their instantiations are this crate's, at its opt-level 3.
//!
//! On 32-bit ARM (little-endian) a CPU with NEON gets our own `asm!` keystream instead
//! (`neon.rs`: `chacha20` has no 32-bit ARM NEON backend, and its portable code cost ≈ 20
//! instructions per byte there); the choice is made once per [`ChaCha20::new`] from a cached
//! run-time check, and both paths give the same keystream.
//!
//! On x86-64 with the `std` feature, a CPU with AVX2 (checked once per [`ChaCha20::new`]) gets our
//! own 8-block word-sliced keystream for whole groups of 8 blocks (`avx2.rs`: ≈ 190 instructions
//! per block under callgrind, against ≈ 247 through `chacha20`'s AVX2 backend, 4 blocks per
//! call); the last 1–7 blocks of a call (a partial one included) still go through `chacha20`
//! (`XorRest`: 2–4 blocks cost it one 4-block call, less than a group of 8), with `core`'s block
//! position set from ours before and ours advanced past them after. Without `std` or AVX2, the
//! `chacha20` path alone, as before.
//!
//! Invariants: the keystream is continuous over successive [`ChaCha20::apply`] calls (a partly
//! used block is kept in `ks`); nothing allocates or panics; the 32-bit block counter wraps after
//! 256 GiB for one nonce (far above a chunk; RFC 8439 forbids using that much anyway).

use chacha20::cipher::consts::U64;
use chacha20::cipher::typenum::Unsigned;
use chacha20::cipher::{
    Block, BlockSizeUser, KeyIvInit, ParBlocks, StreamCipherBackend, StreamCipherClosure,
    StreamCipherCore,
};
use chacha20::variants::Ietf;
use chacha20::{ChaChaCore, R20};

#[cfg(all(target_arch = "arm", target_endian = "little"))]
pub(crate) mod neon;

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;

#[cfg(all(target_arch = "aarch64", target_endian = "little"))]
mod aarch64;

const BLOCK: usize = 64;

/// RFC 8439 §2.3 initial state for `key` and `nonce`, block counter 0: where our own SIMD
/// keystreams start.
#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "aarch64", target_endian = "little"),
    all(target_arch = "arm", target_endian = "little")
))]
fn initial_state(key: &[u8; 32], nonce: &[u8; 12]) -> [u32; 16] {
    let word = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let mut state = [0u32; 16];
    state[..4].copy_from_slice(&[0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574]);
    for (w, k) in state[4..12].iter_mut().zip(key.chunks_exact(4)) {
        *w = word(k);
    }
    for (w, n) in state[13..].iter_mut().zip(nonce.chunks_exact(4)) {
        *w = word(n);
    }
    state
}

/// RFC 8439 ChaCha20 keystream state for one (key, nonce).
pub struct ChaCha20 {
    core: ChaChaCore<R20, Ietf>,
    /// The NEON keystream, when the CPU has NEON (whole blocks and the kept block come from it
    /// then, and `core` is unused).
    #[cfg(all(target_arch = "arm", target_endian = "little"))]
    neon: Option<neon::Keystream>,
    /// The AVX2 keystream, when the CPU has AVX2: it holds the block position then, and `core`
    /// is moved to it before each use.
    #[cfg(target_arch = "x86_64")]
    avx2: Option<avx2::Keystream>,
    /// The current keystream block; bytes `used..` are not yet spent.
    ks: [u8; BLOCK],
    used: usize,
}

impl core::fmt::Debug for ChaCha20 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ChaCha20 { .. }")
    }
}

impl ChaCha20 {
    /// Keystream for `key` and `nonce`, starting at block 0.
    pub fn new(key: &[u8; 32], nonce: &[u8; 12]) -> Self {
        ChaCha20 {
            core: ChaChaCore::new(key.into(), nonce.into()),
            #[cfg(all(target_arch = "arm", target_endian = "little"))]
            neon: neon::Keystream::new(key, nonce),
            #[cfg(target_arch = "x86_64")]
            avx2: avx2::Keystream::new(key, nonce),
            ks: [0; BLOCK],
            used: BLOCK,
        }
    }

    /// [`ChaCha20::new`] that never takes the NEON or AVX2 path (tests compare the two).
    #[cfg(test)]
    pub(crate) fn new_portable(key: &[u8; 32], nonce: &[u8; 12]) -> Self {
        ChaCha20 {
            core: ChaChaCore::new(key.into(), nonce.into()),
            #[cfg(all(target_arch = "arm", target_endian = "little"))]
            neon: None,
            #[cfg(target_arch = "x86_64")]
            avx2: None,
            ks: [0; BLOCK],
            used: BLOCK,
        }
    }

    /// Whether this keystream runs the NEON code (32-bit ARM only).
    #[cfg(test)]
    pub(crate) fn is_neon(&self) -> bool {
        #[cfg(all(target_arch = "arm", target_endian = "little"))]
        {
            self.neon.is_some()
        }
        #[cfg(not(all(target_arch = "arm", target_endian = "little")))]
        {
            false
        }
    }

    /// Whether this keystream runs our AVX2 code (x86-64 only).
    #[cfg(test)]
    pub(crate) fn is_avx2(&self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            self.avx2.is_some()
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    /// Moves the keystream to the start of block `block` (tests: the counter wrap). Not on the
    /// NEON path.
    #[cfg(test)]
    pub(crate) fn seek_block(&mut self, block: u32) {
        assert!(!self.is_neon(), "no NEON seek");
        self.core.set_block_pos(block);
        #[cfg(target_arch = "x86_64")]
        if let Some(k) = &mut self.avx2 {
            k.set_block_pos(block);
        }
        self.used = BLOCK;
    }

    /// XORs the next `data.len()` keystream bytes into `data`. Whole blocks go to the backend in
    /// one call, so it works 8 (our AVX2 code), 4 (`chacha20`'s AVX2) or 2–4 (SSE2, NEON) blocks
    /// at a time.
    #[inline(never)]
    pub fn apply(&mut self, data: &mut [u8]) {
        // Rest of a block a previous call started.
        let n = data.len().min(BLOCK - self.used);
        xor(&mut data[..n], &self.ks[self.used..self.used + n]);
        self.used += n;
        let rest = &mut data[n..];
        #[cfg(target_arch = "x86_64")]
        if let Some(k) = &mut self.avx2 {
            if !rest.is_empty() {
                self.used = apply_avx2(k, &mut self.core, rest, &mut self.ks);
            }
            return;
        }
        let whole = rest.len() / BLOCK * BLOCK;
        let (blocks, tail) = rest.split_at_mut(whole);
        if !blocks.is_empty() {
            self.xor_blocks(blocks);
        }
        if !tail.is_empty() {
            self.next_block();
            xor(tail, &self.ks[..tail.len()]);
            self.used = tail.len();
        }
    }

    /// XORs keystream into `blocks`, whose length is a multiple of [`BLOCK`].
    #[inline(always)]
    fn xor_blocks(&mut self, blocks: &mut [u8]) {
        #[cfg(all(target_arch = "arm", target_endian = "little"))]
        if let Some(n) = &mut self.neon {
            n.xor_blocks(blocks);
            return;
        }
        self.core.process_with_backend(XorBlocks { data: blocks });
    }

    /// The next keystream block into `ks`.
    #[inline(always)]
    fn next_block(&mut self) {
        #[cfg(all(target_arch = "arm", target_endian = "little"))]
        if let Some(n) = &mut self.neon {
            self.ks = [0; BLOCK];
            n.xor_blocks(&mut self.ks);
            return;
        }
        self.core
            .process_with_backend(OneBlock { out: &mut self.ks });
    }
}

/// XORs the keystream into `rest` (non-empty; the kept block is spent): whole groups of 8 blocks
/// with our AVX2 code, the last 1–7 blocks (a partial one included) through `core`, whose last
/// block goes to `ks` if partial. Returns the bytes of `ks` spent.
#[cfg(target_arch = "x86_64")]
fn apply_avx2(
    k: &mut avx2::Keystream,
    core: &mut ChaChaCore<R20, Ietf>,
    rest: &mut [u8],
    ks: &mut [u8; BLOCK],
) -> usize {
    let whole = rest.len() / avx2::GROUP * avx2::GROUP;
    let (groups, last) = rest.split_at_mut(whole);
    if !groups.is_empty() {
        k.xor_groups(groups);
    }
    if last.is_empty() {
        return BLOCK;
    }
    // `core` may have computed blocks past those it handed out: its position is ours.
    let pos = k.block_pos();
    core.set_block_pos(pos);
    core.process_with_backend(XorRest { data: last, ks });
    let blocks = last.len().div_ceil(BLOCK);
    k.set_block_pos(pos.wrapping_add(blocks as u32));
    last.len() - (blocks - 1) * BLOCK
}

/// Keystreams [`keystreams`] makes at a time: the 8 lanes of our AVX2 code.
pub const KEYSTREAM_LANES: usize = 8;

/// Keystream bytes `0..L` (blocks 0 onward) of ChaCha20 under `key` and each of `nonces` into the
/// matching `out`: the keystreams of 8 chunks ahead of their data, which `tvmesh-core`'s
/// descrambler keeps and XORs in later (`drm/descrambler.rs`). On an x86-64 CPU with AVX2 one
/// pass of the AVX2 kernel makes block `b` of all 8 at once (one nonce per lane, ≈ 200
/// instructions per block, no partial groups); on aarch64 a NEON kernel makes 4 at a time the
/// same way (`aarch64.rs`); elsewhere each is [`ChaCha20::apply`] over zeroes.
/// `L` must be a multiple of 64 (checked at compile time).
#[inline(never)]
pub fn keystreams<const L: usize>(
    key: &[u8; 32],
    nonces: &[[u8; 12]; KEYSTREAM_LANES],
    out: &mut [[u8; L]; KEYSTREAM_LANES],
) {
    const { assert!(L.is_multiple_of(BLOCK), "whole blocks") };
    #[cfg(target_arch = "x86_64")]
    if avx2::keystream_lanes(key, nonces, out) {
        return;
    }
    #[cfg(all(target_arch = "aarch64", target_endian = "little"))]
    {
        aarch64::keystream_lanes(key, nonces, out);
    }
    #[cfg(not(all(target_arch = "aarch64", target_endian = "little")))]
    keystreams_each(key, nonces, out);
}

/// Whether [`keystreams`] makes them side by side on this CPU (x86-64 with AVX2 and the `std`
/// feature; aarch64). Elsewhere it is no cheaper than [`ChaCha20::apply`] chunk by chunk (measured: the
/// zeroing and the later XOR pass cost 0.3–0.8 M instructions per stream-second more than the
/// gather and scatter around one `apply` on armv7 and mipsel), and callers go on
/// applying the cipher directly.
pub fn keystreams_in_lanes() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        avx2::detected()
    }
    #[cfg(all(target_arch = "aarch64", target_endian = "little"))]
    {
        true
    }
    #[cfg(not(any(
        target_arch = "x86_64",
        all(target_arch = "aarch64", target_endian = "little")
    )))]
    {
        false
    }
}

/// [`keystreams`] one nonce after another (the path without lanes; tests compare the two).
#[cfg(any(not(all(target_arch = "aarch64", target_endian = "little")), test))]
pub(crate) fn keystreams_each<const L: usize>(
    key: &[u8; 32],
    nonces: &[[u8; 12]; KEYSTREAM_LANES],
    out: &mut [[u8; L]; KEYSTREAM_LANES],
) {
    for (o, n) in out.iter_mut().zip(nonces) {
        o.fill(0);
        ChaCha20::new(key, n).apply(o);
    }
}

/// `data[i] ^= ks[i]` for `i` below both lengths: how the descrambler applies a kept keystream
/// to a packet's payload. On x86-64 and aarch64 16 bytes at a time (SSE2 / NEON, baseline on
/// both), elsewhere 8 (see [`xor_block`]); the rest byte by byte.
#[inline(never)]
pub fn xor_into(data: &mut [u8], ks: &[u8]) {
    let n = data.len().min(ks.len());
    let (data, ks) = (&mut data[..n], &ks[..n]);
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    let (data, ks) = {
        let whole = n / 16 * 16;
        let (head, tail) = data.split_at_mut(whole);
        for (d, k) in head.chunks_exact_mut(16).zip(ks.chunks_exact(16)) {
            if let (Some(d), Some(k)) = (d.first_chunk_mut::<16>(), k.first_chunk::<16>()) {
                xor16(d, k);
            }
        }
        (tail, &ks[whole..])
    };
    let whole = data.len() / 8 * 8;
    let (head, tail) = data.split_at_mut(whole);
    xor_block(head, &ks[..whole]);
    xor(tail, &ks[whole..]);
}

/// `data ^= ks`, 16 bytes (NEON, unaligned).
#[cfg(target_arch = "aarch64")]
#[inline(always)]
#[allow(unsafe_code)]
fn xor16(data: &mut [u8; 16], ks: &[u8; 16]) {
    use core::arch::aarch64::{veorq_u8, vld1q_u8, vst1q_u8};
    let p = data.as_mut_ptr();
    // SAFETY: `p` and `ks` each cover 16 borrowed bytes (`data` exclusively); `vld1q`/`vst1q`
    // need no alignment, and NEON is part of every aarch64 target.
    unsafe { vst1q_u8(p, veorq_u8(vld1q_u8(p), vld1q_u8(ks.as_ptr()))) }
}

/// `data ^= ks`, 16 bytes (SSE2, unaligned).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(unsafe_code)]
fn xor16(data: &mut [u8; 16], ks: &[u8; 16]) {
    use core::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_storeu_si128, _mm_xor_si128};
    let p = data.as_mut_ptr().cast::<__m128i>();
    // SAFETY: `p` and `ks` each cover 16 borrowed bytes (`data` exclusively); `loadu`/`storeu`
    // need no alignment, and SSE2 is part of every x86-64 target.
    unsafe {
        let k = _mm_loadu_si128(ks.as_ptr().cast::<__m128i>());
        _mm_storeu_si128(p, _mm_xor_si128(_mm_loadu_si128(p), k));
    }
}

fn xor(data: &mut [u8], ks: &[u8]) {
    for (d, k) in data.iter_mut().zip(ks) {
        *d ^= k;
    }
}

/// XOR of whole 8-byte words (a block, or [`xor_into`]'s head): the size profile turns the loop
/// vectorizer off in the LTO step, so a byte loop stays a byte loop (measured 3
/// instructions/byte).
#[inline(always)]
fn xor_block(data: &mut [u8], ks: &[u8]) {
    for (d, k) in data.chunks_exact_mut(8).zip(ks.chunks_exact(8)) {
        let mut a = [0u8; 8];
        let mut b = [0u8; 8];
        a.copy_from_slice(d);
        b.copy_from_slice(k);
        d.copy_from_slice(&(u64::from_ne_bytes(a) ^ u64::from_ne_bytes(b)).to_ne_bytes());
    }
}

/// XORs keystream into `data`, whose length is a multiple of [`BLOCK`].
struct XorBlocks<'a> {
    data: &'a mut [u8],
}

impl BlockSizeUser for XorBlocks<'_> {
    type BlockSize = U64;
}

impl StreamCipherClosure for XorBlocks<'_> {
    #[inline(always)]
    fn call<B: StreamCipherBackend<BlockSize = U64>>(self, backend: &mut B) {
        let mut par = ParBlocks::<B>::default();
        let mut groups = self.data.chunks_exact_mut(BLOCK * B::ParBlocksSize::USIZE);
        for group in &mut groups {
            backend.gen_par_ks_blocks(&mut par);
            for (d, k) in group.chunks_exact_mut(BLOCK).zip(par.iter()) {
                xor_block(d, k);
            }
        }
        let mut one = Block::<B>::default();
        for d in groups.into_remainder().chunks_exact_mut(BLOCK) {
            backend.gen_ks_block(&mut one);
            xor_block(d, &one);
        }
    }
}

/// XORs keystream into `data` (any length), the backend's parallel blocks at a time (one block
/// alone when that is all a run needs), and writes the keystream of a partial last block into
/// `ks`. Blocks a run computes beyond `data` are dropped: the caller sets the block position after.
#[cfg(target_arch = "x86_64")]
struct XorRest<'a> {
    data: &'a mut [u8],
    ks: &'a mut [u8; BLOCK],
}

#[cfg(target_arch = "x86_64")]
impl BlockSizeUser for XorRest<'_> {
    type BlockSize = U64;
}

#[cfg(target_arch = "x86_64")]
impl StreamCipherClosure for XorRest<'_> {
    #[inline(always)]
    fn call<B: StreamCipherBackend<BlockSize = U64>>(self, backend: &mut B) {
        let XorRest { data, ks } = self;
        let mut par = ParBlocks::<B>::default();
        let mut runs = data.chunks_exact_mut(BLOCK * B::ParBlocksSize::USIZE);
        for run in &mut runs {
            backend.gen_par_ks_blocks(&mut par);
            for (d, k) in run.chunks_exact_mut(BLOCK).zip(par.iter()) {
                xor_block(d, k);
            }
        }
        // Fewer than the parallel blocks: all of them at once, or one alone.
        let rest = runs.into_remainder();
        if rest.len() > BLOCK {
            backend.gen_par_ks_blocks(&mut par);
            xor_keys(rest, &par, ks);
        } else if !rest.is_empty() {
            let mut one = Block::<B>::default();
            backend.gen_ks_block(&mut one);
            xor_keys(rest, core::slice::from_ref(&one), ks);
        }
    }
}

/// XORs `keys` into `data` block by block (`data` no longer than `keys`); the key of a partial
/// last block goes to `ks`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn xor_keys<K: core::ops::Deref<Target = [u8]>>(data: &mut [u8], keys: &[K], ks: &mut [u8; BLOCK]) {
    let mut blocks = data.chunks_exact_mut(BLOCK);
    let mut keys = keys.iter();
    for (d, k) in (&mut blocks).zip(&mut keys) {
        xor_block(d, k);
    }
    let tail = blocks.into_remainder();
    if let (false, Some(k)) = (tail.is_empty(), keys.next()) {
        xor(tail, k);
        ks.copy_from_slice(k);
    }
}

/// Writes the next keystream block into `out`.
struct OneBlock<'a> {
    out: &'a mut [u8; BLOCK],
}

impl BlockSizeUser for OneBlock<'_> {
    type BlockSize = U64;
}

impl StreamCipherClosure for OneBlock<'_> {
    #[inline(always)]
    fn call<B: StreamCipherBackend<BlockSize = U64>>(self, backend: &mut B) {
        let mut one = Block::<B>::default();
        backend.gen_ks_block(&mut one);
        self.out.copy_from_slice(&one);
    }
}
