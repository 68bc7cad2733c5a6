//! RFC 8439 ChaCha20 (96-bit nonce, 32-bit block counter from 0) over `chacha20`'s SIMD backends,
//! through closures of our own.
//!
//! Why not `chacha20::ChaCha20::apply_keystream`: its backends are generic over the caller's
//! closure, and that closure type is the same for every crate that calls `apply_keystream`
//! (e.g. `chacha20poly1305` in the licence code, built at opt-level "s"). Fat LTO keeps one copy
//! of identical instantiations, and kept the size-optimised one: 10 instructions/byte instead of
//! 4 (measured, docs/BENCHMARKS.md). [`XorBlocks`] and [`OneBlock`] exist only in this crate, so
//! their instantiations are this crate's, at its opt-level 3.
//!
//! On 32-bit ARM (little-endian) a CPU with NEON gets our own `asm!` keystream instead
//! (`neon.rs`: `chacha20` has no 32-bit ARM NEON backend, and its portable code cost ≈ 20
//! instructions per byte there); the choice is made once per [`ChaCha20::new`] from a cached
//! run-time check, and both paths give the same keystream.
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

const BLOCK: usize = 64;

/// RFC 8439 ChaCha20 keystream state for one (key, nonce).
pub struct ChaCha20 {
    core: ChaChaCore<R20, Ietf>,
    /// The NEON keystream, when the CPU has NEON (whole blocks and the kept block come from it
    /// then, and `core` is unused).
    #[cfg(all(target_arch = "arm", target_endian = "little"))]
    neon: Option<neon::Keystream>,
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
            ks: [0; BLOCK],
            used: BLOCK,
        }
    }

    /// [`ChaCha20::new`] that never takes the NEON path (tests compare the two).
    #[cfg(test)]
    pub(crate) fn new_portable(key: &[u8; 32], nonce: &[u8; 12]) -> Self {
        ChaCha20 {
            core: ChaChaCore::new(key.into(), nonce.into()),
            #[cfg(all(target_arch = "arm", target_endian = "little"))]
            neon: None,
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

    /// XORs the next `data.len()` keystream bytes into `data`. Whole blocks go to the backend in
    /// one call, so it works 4 (AVX2) or 2–4 (SSE2, NEON) blocks at a time.
    #[inline(never)]
    pub fn apply(&mut self, data: &mut [u8]) {
        // Rest of a block a previous call started.
        let n = data.len().min(BLOCK - self.used);
        xor(&mut data[..n], &self.ks[self.used..self.used + n]);
        self.used += n;
        let rest = &mut data[n..];
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

fn xor(data: &mut [u8], ks: &[u8]) {
    for (d, k) in data.iter_mut().zip(ks) {
        *d ^= k;
    }
}

/// XOR of one whole block, 8 bytes at a time: the size profile turns the loop vectorizer off in
/// the LTO step, so a byte loop stays a byte loop (measured 3 instructions/byte).
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
