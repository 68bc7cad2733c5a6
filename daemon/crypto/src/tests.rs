use super::*;

/// RFC 7693 appendix B: BLAKE2s-256("abc"), split anywhere.
#[test]
fn blake2s_rfc7693_abc() {
    let want = [
        0x50, 0x8c, 0x5e, 0x8c, 0x32, 0x7c, 0x14, 0xe2, 0xe1, 0xa7, 0x2b, 0xa3, 0x4e, 0xeb, 0x45,
        0x2f, 0x37, 0x45, 0x8b, 0x20, 0x9e, 0xd6, 0x3a, 0x29, 0x4d, 0x99, 0x9b, 0x4c, 0x86, 0x67,
        0x59, 0x82,
    ];
    assert_eq!(blake2s_256(b"abc", b""), want);
    assert_eq!(blake2s_256(b"a", b"bc"), want);
    assert_eq!(blake2s_256(b"", b"abc"), want);
}

/// Long inputs (several 64-byte blocks, a ragged tail) agree however they are split: the SIMD
/// and portable paths buffer the same way.
#[test]
fn blake2s_split_does_not_matter() {
    let mut msg = [0u8; 1326];
    for (i, b) in msg.iter_mut().enumerate() {
        *b = (i * 7 + 3) as u8;
    }
    let whole = blake2s_256(&msg, b"");
    for cut in [0, 1, 10, 63, 64, 65, 1000, 1326] {
        assert_eq!(blake2s_256(&msg[..cut], &msg[cut..]), whole, "cut {cut}");
    }
}

/// RFC 8439 A.1 test vector #2 (all-zero key and nonce, block counter 1): keystream bytes
/// 64..96, in one call and split across calls at odd offsets (the keystream is continuous).
#[test]
fn chacha20_rfc8439_a1_2() {
    let expect: [u8; 32] = [
        0x9f, 0x07, 0xe7, 0xbe, 0x55, 0x51, 0x38, 0x7a, 0x98, 0xba, 0x97, 0x7c, 0x73, 0x2d, 0x08,
        0x0d, 0xcb, 0x0f, 0x29, 0xa0, 0x48, 0xe3, 0x65, 0x69, 0x12, 0xc6, 0x53, 0x3e, 0x32, 0xee,
        0x7a, 0xed,
    ];
    for cut in [0, 1, 63, 64, 65, 95, 96] {
        let mut buf = [0u8; 96];
        let (a, b) = buf.split_at_mut(cut);
        let mut c = ChaCha20::new(&[0; 32], &[0; 12]);
        c.apply(a);
        c.apply(b);
        assert_eq!(buf[64..], expect, "cut {cut}");
    }
}

/// A chunk-sized keystream (many 4-block groups, a ragged tail) equals the `chacha20` crate's,
/// however the calls split it: groups, single blocks, the kept partial block.
#[test]
fn chacha20_long_and_split_match_reference() {
    use chacha20::cipher::{KeyIvInit, StreamCipher};
    let key: [u8; 32] = core::array::from_fn(|i| (i * 3 + 1) as u8);
    let nonce: [u8; 12] = core::array::from_fn(|i| (i * 5 + 2) as u8);
    let mut want = [0u8; 1316];
    chacha20::ChaCha20::new(&key.into(), &nonce.into()).apply_keystream(&mut want);
    for cuts in [
        [0, 0],
        [1, 2],
        [63, 64],
        [64, 320],
        [100, 700],
        [255, 1315],
        [1316, 1316],
    ] {
        let mut got = [0u8; 1316];
        let mut c = ChaCha20::new(&key, &nonce);
        let (a, rest) = got.split_at_mut(cuts[0]);
        let (b, d) = rest.split_at_mut(cuts[1] - cuts[0]);
        c.apply(a);
        c.apply(b);
        c.apply(d);
        assert_eq!(got, want, "cuts {cuts:?}");
    }
}

/// Both ChaCha20 paths: the default one (NEON on a 32-bit ARM CPU that has it, our AVX2 code on
/// an x86-64 CPU that has it, with the `std` feature) and `chacha20`'s.
const CHACHA_PATHS: [ChaChaNew; 2] = [ChaCha20::new, ChaCha20::new_portable];

/// A ChaCha20 constructor.
type ChaChaNew = fn(&[u8; 32], &[u8; 12]) -> ChaCha20;

/// RFC 8439 §2.4.2 (key 00..1f, nonce 00 00 00 00 00 00 00 4a 00 00 00 00, the plaintext
/// encrypted from block 1 on: here after 64 bytes of block 0), on both paths, split anywhere.
#[test]
fn chacha20_rfc8439_2_4_2() {
    let pt = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for \
the future, sunscreen would be it.";
    let ct: [u8; 114] = [
        0x6e, 0x2e, 0x35, 0x9a, 0x25, 0x68, 0xf9, 0x80, 0x41, 0xba, 0x07, 0x28, 0xdd, 0x0d, 0x69,
        0x81, 0xe9, 0x7e, 0x7a, 0xec, 0x1d, 0x43, 0x60, 0xc2, 0x0a, 0x27, 0xaf, 0xcc, 0xfd, 0x9f,
        0xae, 0x0b, 0xf9, 0x1b, 0x65, 0xc5, 0x52, 0x47, 0x33, 0xab, 0x8f, 0x59, 0x3d, 0xab, 0xcd,
        0x62, 0xb3, 0x57, 0x16, 0x39, 0xd6, 0x24, 0xe6, 0x51, 0x52, 0xab, 0x8f, 0x53, 0x0c, 0x35,
        0x9f, 0x08, 0x61, 0xd8, 0x07, 0xca, 0x0d, 0xbf, 0x50, 0x0d, 0x6a, 0x61, 0x56, 0xa3, 0x8e,
        0x08, 0x8a, 0x22, 0xb6, 0x5e, 0x52, 0xbc, 0x51, 0x4d, 0x16, 0xcc, 0xf8, 0x06, 0x81, 0x8c,
        0xe9, 0x1a, 0xb7, 0x79, 0x37, 0x36, 0x5a, 0xf9, 0x0b, 0xbf, 0x74, 0xa3, 0x5b, 0xe6, 0xb4,
        0x0b, 0x8e, 0xed, 0xf2, 0x78, 0x5e, 0x42, 0x87, 0x4d,
    ];
    let key: [u8; 32] = core::array::from_fn(|i| i as u8);
    let nonce = [0, 0, 0, 0, 0, 0, 0, 0x4a, 0, 0, 0, 0];
    for new in CHACHA_PATHS {
        for cut in [0, 1, 63, 64, 65, 100, 127, 128, 129, 178] {
            let mut buf = [0u8; 178];
            buf[64..].copy_from_slice(pt);
            let (a, b) = buf.split_at_mut(cut);
            let mut c = new(&key, &nonce);
            c.apply(a);
            c.apply(b);
            assert_eq!(buf[64..], ct, "cut {cut}");
        }
    }
}

/// Every length 0..=2048, in one call and cut into pieces of odd sizes, equals the `chacha20`
/// crate's keystream, on both paths (NEON: 3-block groups, 1–2 leftover blocks, the kept block;
/// AVX2: 8-block groups in place, 1–7 leftover blocks through a copy, the kept block).
#[test]
fn chacha20_every_length_and_split() {
    use chacha20::cipher::{KeyIvInit, StreamCipher};
    let key: [u8; 32] = core::array::from_fn(|i| (i * 11 + 5) as u8);
    let nonce: [u8; 12] = core::array::from_fn(|i| (i * 13 + 7) as u8);
    let mut want = [0u8; 2048];
    for (i, b) in want.iter_mut().enumerate() {
        *b = (i * 7 + 1) as u8;
    }
    let data = want;
    chacha20::ChaCha20::new(&key.into(), &nonce.into()).apply_keystream(&mut want);
    let pieces = [
        1, 63, 65, 7, 129, 200, 3, 191, 64, 128, 192, 0, 255, 320, 17,
    ];
    assert!(!ChaCha20::new_portable(&key, &nonce).is_neon());
    assert!(!ChaCha20::new_portable(&key, &nonce).is_avx2());
    for new in CHACHA_PATHS {
        for len in 0..=2048 {
            let mut got = data;
            new(&key, &nonce).apply(&mut got[..len]);
            assert_eq!(got[..len], want[..len], "len {len}");
            let mut got = data;
            let mut c = new(&key, &nonce);
            let (mut at, mut p) = (0, len % pieces.len());
            while at < len {
                let end = (at + pieces[p]).min(len);
                c.apply(&mut got[at..end]);
                at = end;
                p = (p + 1) % pieces.len();
            }
            assert_eq!(got[..len], want[..len], "len {len} in pieces");
        }
    }
}

/// Under qemu-arm (which has NEON) and on NEON boxes the default path is the NEON one, so the
/// tests above check it; the portable constructor never is.
#[cfg(all(target_arch = "arm", target_endian = "little", feature = "std"))]
#[test]
fn chacha20_neon_detected_on_arm() {
    assert!(crate::chacha::neon::detected());
    assert!(ChaCha20::new(&[0; 32], &[0; 12]).is_neon());
    assert!(!ChaCha20::new_portable(&[0; 32], &[0; 12]).is_neon());
}

/// On an x86-64 CPU with AVX2 (this one, and valgrind's) the default path is our AVX2 code, so the
/// tests above check it; the portable constructor never is.
#[cfg(all(target_arch = "x86_64", feature = "std"))]
#[test]
fn chacha20_avx2_detected_on_x86_64() {
    let avx2 = std::is_x86_feature_detected!("avx2");
    assert_eq!(ChaCha20::new(&[0; 32], &[0; 12]).is_avx2(), avx2);
    assert!(!ChaCha20::new_portable(&[0; 32], &[0; 12]).is_avx2());
}

/// The 8 keystreams of [`keystreams`] (AVX2 lanes here) and of `keystreams_each` are the
/// `chacha20` crate's, byte for byte, for each nonce: one block, a chunk's 21 blocks, and nonces
/// that differ in each of their three words.
#[test]
fn keystreams_match_reference() {
    use chacha20::cipher::{KeyIvInit, StreamCipher};
    let key: [u8; 32] = core::array::from_fn(|i| (i * 13 + 1) as u8);
    let nonces: [[u8; 12]; KEYSTREAM_LANES] =
        core::array::from_fn(|j| core::array::from_fn(|i| (i * 7 + j * 31 + (j << (i % 4))) as u8));
    fn want<const L: usize>(key: &[u8; 32], nonce: &[u8; 12]) -> [u8; L] {
        let mut w = [0u8; L];
        chacha20::ChaCha20::new(key.into(), nonce.into()).apply_keystream(&mut w);
        w
    }
    let mut one = [[0xA5u8; 64]; KEYSTREAM_LANES];
    keystreams(&key, &nonces, &mut one);
    let mut chunk = [[0x5Au8; 1344]; KEYSTREAM_LANES];
    keystreams(&key, &nonces, &mut chunk);
    let mut each = [[0x3Cu8; 1344]; KEYSTREAM_LANES];
    chacha::keystreams_each(&key, &nonces, &mut each);
    for (j, n) in nonces.iter().enumerate() {
        assert_eq!(one[j], want::<64>(&key, n), "lane {j}, one block");
        assert_eq!(chunk[j], want::<1344>(&key, n), "lane {j}, 21 blocks");
        assert_eq!(each[j], chunk[j], "lane {j}, one at a time");
    }
}

/// [`xor_into`] XORs exactly the common length, for every length around the 8-byte steps.
#[test]
fn xor_into_every_length() {
    for n in 0..=70 {
        for m in [0, n / 2, n, n + 5] {
            let mut data: [u8; 80] = core::array::from_fn(|i| (i * 5 + 1) as u8);
            let ks: [u8; 80] = core::array::from_fn(|i| (i * 11 + 7) as u8);
            let orig = data;
            xor_into(&mut data[..n], &ks[..m]);
            for i in 0..80 {
                let x = if i < n.min(m) {
                    orig[i] ^ ks[i]
                } else {
                    orig[i]
                };
                assert_eq!(data[i], x, "len {n} / {m}, byte {i}");
            }
        }
    }
}

/// After a first call of `start` bytes (inside a block, at a block or 8-block boundary, past it),
/// a second call of every length 0..=1100 continues the `chacha20` crate's keystream, on both
/// paths.
#[test]
fn chacha20_from_offset_matches_reference() {
    use chacha20::cipher::{KeyIvInit, StreamCipher};
    let key: [u8; 32] = core::array::from_fn(|i| (i * 29 + 3) as u8);
    let nonce: [u8; 12] = core::array::from_fn(|i| (i * 17 + 9) as u8);
    let mut want = [0u8; 2700];
    for (i, b) in want.iter_mut().enumerate() {
        *b = (i * 5 + 11) as u8;
    }
    let data = want;
    chacha20::ChaCha20::new(&key.into(), &nonce.into()).apply_keystream(&mut want);
    for new in CHACHA_PATHS {
        for start in [1, 8, 63, 64, 65, 448, 511, 512, 513, 1000, 1024, 1535, 1600] {
            for len in 0..=1100 {
                let mut got = data;
                let mut c = new(&key, &nonce);
                c.apply(&mut got[..start]);
                c.apply(&mut got[start..start + len]);
                assert_eq!(
                    got[..start + len],
                    want[..start + len],
                    "start {start} len {len}"
                );
            }
        }
    }
}

/// The 32-bit block counter wraps to 0 (the nonce words unchanged) the same way on both paths,
/// whichever lane of an 8-block group it wraps in, from a block boundary and from inside a block.
#[test]
fn chacha20_counter_wrap_matches_reference() {
    let key: [u8; 32] = core::array::from_fn(|i| (i * 7 + 2) as u8);
    let nonce: [u8; 12] = core::array::from_fn(|i| (i * 3 + 1) as u8);
    for back in 1..=17u32 {
        for (first, len) in [(0, 64 * 20), (5, 64 * 20), (64 * 8 + 3, 700)] {
            let mut want = [0u8; 64 * 20 + 600];
            let mut c = ChaCha20::new_portable(&key, &nonce);
            c.seek_block(0u32.wrapping_sub(back));
            c.apply(&mut want[..first]);
            c.apply(&mut want[first..first + len]);
            let mut got = [0u8; 64 * 20 + 600];
            let mut c = ChaCha20::new(&key, &nonce);
            if c.is_neon() {
                return;
            }
            c.seek_block(0u32.wrapping_sub(back));
            c.apply(&mut got[..first]);
            c.apply(&mut got[first..first + len]);
            assert_eq!(got, want, "{back} blocks before the wrap, {first} + {len}");
        }
    }
    // Block 0 after the wrap is block 0 of the stream (nothing carries into the nonce).
    let mut want = [0u8; 64];
    ChaCha20::new_portable(&key, &nonce).apply(&mut want);
    for new in CHACHA_PATHS {
        let mut c = new(&key, &nonce);
        if c.is_neon() {
            continue;
        }
        c.seek_block(u32::MAX);
        let mut got = [0u8; 128];
        c.apply(&mut got);
        assert_eq!(got[64..], want);
    }
}

/// The batch digests equal one-at-a-time digests, for mixed lengths (empty, under a block, a
/// chunk), more messages than one group, and `out` shorter than `msgs`.
#[test]
fn blake2s_many_matches_single() {
    let mut body = [0u8; 1316];
    for (i, b) in body.iter_mut().enumerate() {
        *b = (i * 13 + 5) as u8;
    }
    let heads: [[u8; 10]; 19] = core::array::from_fn(|i| [i as u8; 10]);
    let lens = [
        1316, 1316, 0, 1, 54, 55, 64, 1316, 1000, 1316, 1316, 1316, 7, 1316, 1316, 1316, 1316, 200,
        1316,
    ];
    let msgs: [(&[u8], &[u8]); 19] = core::array::from_fn(|i| (&heads[i][..], &body[..lens[i]]));
    let mut out = [[0u8; 32]; 19];
    let mut many = Blake2sMany::new();
    many.hash(&msgs, &mut out);
    for (i, (h, b)) in msgs.iter().enumerate() {
        assert_eq!(out[i], blake2s_256(h, b), "message {i}");
    }
    // Over MANY_COPY_MAX: the in-place path, same digests.
    let long = [0x5Au8; MANY_COPY_MAX + 1];
    let mixed: [(&[u8], &[u8]); 3] = [(b"h", &long[..]), (b"", &body[..]), (b"x", b"y")];
    let mut out3 = [[0u8; 32]; 3];
    many.hash(&mixed, &mut out3);
    for (i, (h, b)) in mixed.iter().enumerate() {
        assert_eq!(out3[i], blake2s_256(h, b), "mixed {i}");
    }
    // `out` longer than `msgs`: the extra entries stay as they were (in both paths).
    let mut long_out = [[0xBBu8; 32]; 12];
    many.hash(&msgs[..5], &mut long_out);
    assert_eq!(long_out[..5], out[..5]);
    assert!(long_out[5..].iter().all(|o| *o == [0xBB; 32]));
    let mut long_out = [[0xBBu8; 32]; 12];
    many.hash(&mixed, &mut long_out);
    assert_eq!(long_out[..3], out3);
    assert!(long_out[3..].iter().all(|o| *o == [0xBB; 32]));
    let mut short = [[0xAAu8; 32]; 3];
    many.hash(&msgs, &mut short[..2]);
    assert_eq!(short[..2], out[..2]);
    assert_eq!(short[2], [0xAA; 32]);
}

/// Byte `i` of the test message of length `len` (different for every length, so lanes differ).
fn lane_msg(len: usize) -> impl Fn(usize) -> u8 {
    move |i| (i.wrapping_mul(31) ^ len.wrapping_mul(7) ^ (i >> 8)) as u8
}

/// The lane path ([`hash_copied_lanes`]) with the portable lanes (every target), the NEON lanes
/// (aarch64 and 32-bit ARM) and the AVX2 lanes (x86-64 with AVX2): the code `Blake2sMany::hash`
/// runs there, on `lens.len()` ≤ [`MANY`] messages of those lengths, each digest checked against
/// `blake2s_simd` one at a time.
fn check_lanes(many: &mut Blake2sMany, lens: &[usize]) {
    check_lanes_with(many, lens, lanes::portable::HASH4);
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    if let Some(hash8) = lanes::avx2::hash8() {
        check_lanes_with(many, lens, hash8);
    }
    #[cfg(all(target_arch = "aarch64", target_endian = "little"))]
    check_lanes_with(many, lens, lanes::neon::HASH4);
    #[cfg(all(target_arch = "arm", target_endian = "little"))]
    check_lanes_with(many, lens, lanes::arm::HASH4);
}

/// [`check_lanes`] for one lane type; the buffers are first filled with junk (the path zeroes
/// the padding itself).
fn check_lanes_with<const N: usize>(
    many: &mut Blake2sMany,
    lens: &[usize],
    hash: lanes::HashLanes<N>,
) {
    let n = lens.len();
    let mut all_lens = [0usize; MANY];
    for (i, (buf, &len)) in many.bufs.iter_mut().zip(lens).enumerate() {
        let msg = lane_msg(len);
        buf.fill(0xE0 | i as u8);
        for (j, b) in buf[..len].iter_mut().enumerate() {
            *b = msg(j);
        }
        all_lens[i] = len;
    }
    let mut want = [[0u8; 32]; MANY];
    for (w, (buf, &len)) in want.iter_mut().zip(many.bufs.iter().zip(lens)) {
        *w = *blake2s_simd::blake2s(&buf[..len]).as_array();
    }
    let mut got = [[0x5Au8; 32]; MANY];
    hash_copied_lanes(&mut many.bufs, &all_lens, n, &mut got[..n], hash);
    assert_eq!(got[..n], want[..n], "lengths {lens:?}");
}

/// Every length 0..=MANY_COPY_MAX once, in groups of 1, 2, … 8 messages in turn (one or two
/// 4-lane halves, unused lanes), against one-at-a-time `blake2s_simd`.
#[test]
fn blake2s_lanes_every_length() {
    let mut many = Blake2sMany::new();
    let (mut len, mut size) = (0, 1);
    while len <= MANY_COPY_MAX {
        let end = (len + size).min(MANY_COPY_MAX + 1);
        let lens: [usize; MANY] = core::array::from_fn(|i| len + i);
        check_lanes(&mut many, &lens[..end - len]);
        len = end;
        size = size % MANY + 1;
    }
}

/// Lengths with different block counts inside one group (lanes finish at different blocks, the
/// longest runs alone at the end), in every rotation, for each group size.
#[test]
fn blake2s_lanes_mixed_lengths() {
    let mut many = Blake2sMany::new();
    // 1408 = MANY_COPY_MAX; 1326 a chunk with its head.
    let mix = [0, 1408, 64, 65, 1326, 1, 63, 128, 1344, 55, 1407, 640];
    for size in 1..=MANY {
        for r in 0..mix.len() {
            let lens: [usize; MANY] = core::array::from_fn(|i| mix[(r + i) % mix.len()]);
            check_lanes(&mut many, &lens[..size]);
        }
    }
}

/// RFC 7693 appendix B, BLAKE2s-256("abc"), through the lane path alone and amid longer lanes,
/// and through [`Blake2sMany::hash`] (the lane path on aarch64, AVX2/SSE4.1/portable elsewhere).
#[test]
fn blake2s_lanes_rfc7693_abc() {
    let want = [
        0x50, 0x8c, 0x5e, 0x8c, 0x32, 0x7c, 0x14, 0xe2, 0xe1, 0xa7, 0x2b, 0xa3, 0x4e, 0xeb, 0x45,
        0x2f, 0x37, 0x45, 0x8b, 0x20, 0x9e, 0xd6, 0x3a, 0x29, 0x4d, 0x99, 0x9b, 0x4c, 0x86, 0x67,
        0x59, 0x82,
    ];
    let mut many = Blake2sMany::new();
    for (lane, n) in [(0, 1), (2, 3), (4, 5), (7, 8)] {
        let mut lens = [1326; MANY];
        for (i, buf) in many.bufs.iter_mut().enumerate() {
            buf.fill(0xEE);
            buf[..3].copy_from_slice(if i == lane { b"abc" } else { b"xyz" });
        }
        lens[lane] = 3;
        let mut out = [[0u8; 32]; MANY];
        hash_copied_lanes(
            &mut many.bufs,
            &lens,
            n,
            &mut out[..n],
            lanes::portable::HASH4,
        );
        assert_eq!(out[lane], want, "lane {lane} of {n}");
        #[cfg(all(target_arch = "aarch64", target_endian = "little"))]
        {
            let mut out = [[0u8; 32]; MANY];
            hash_copied_lanes(&mut many.bufs, &lens, n, &mut out[..n], lanes::neon::HASH4);
            assert_eq!(out[lane], want, "NEON lane {lane} of {n}");
        }
        #[cfg(all(target_arch = "x86_64", feature = "std"))]
        if let Some(hash8) = lanes::avx2::hash8() {
            let mut out = [[0u8; 32]; MANY];
            hash_copied_lanes(&mut many.bufs, &lens, n, &mut out[..n], hash8);
            assert_eq!(out[lane], want, "AVX2 lane {lane} of {n}");
        }
    }
    let body = [0x77u8; 1316];
    let msgs: [(&[u8], &[u8]); 6] = [
        (b"0123456789", &body),
        (b"ab", b"c"),
        (b"", b""),
        (b"abc", b""),
        (b"0123456789", &body[..1]),
        (b"", b"abc"),
    ];
    let mut out = [[0u8; 32]; 6];
    many.hash(&msgs, &mut out);
    for i in [1, 3, 5] {
        assert_eq!(out[i], want, "message {i}");
    }
    for i in [0, 2, 4] {
        assert_eq!(out[i], blake2s_256(msgs[i].0, msgs[i].1), "message {i}");
    }
}

/// One-message BLAKE2s ([`blake2s_256`]: NEON rows on aarch64 and on a 32-bit ARM CPU with NEON,
/// `blake2s_simd` elsewhere), the armv7 asm rows called directly (`one::arm`, 32-bit ARM) and the
/// plain-Rust rows (`one::portable`, every target) against `blake2s_simd` of the whole message:
/// every length 0..=2048, split after 0..=16 bytes of head and at a few other points (block
/// boundaries, the middle, the end).
#[test]
fn blake2s_one_every_length_and_split() {
    let mut msg = [0u8; 2048];
    for (i, b) in msg.iter_mut().enumerate() {
        *b = (i.wrapping_mul(167) ^ (i >> 7)) as u8;
    }
    for len in 0..=msg.len() {
        let m = &msg[..len];
        let want = *blake2s_simd::blake2s(m).as_array();
        let others = [
            63,
            64,
            65,
            128,
            len / 2,
            len.saturating_sub(64),
            len.saturating_sub(1),
            len,
        ];
        for cut in (0..=16).chain(others).filter(|&c| c <= len) {
            let (head, body) = m.split_at(cut);
            assert_eq!(blake2s_256(head, body), want, "length {len}, head {cut}");
            #[cfg(all(target_arch = "arm", target_endian = "little"))]
            assert_eq!(one::arm::blake2s_256(head, body), want, "armv7 {len}/{cut}");
            if cut % 5 == 0 || cut > 16 {
                assert_eq!(
                    one::portable::blake2s_256(head, body),
                    want,
                    "portable {len}/{cut}"
                );
            }
        }
    }
}

/// RFC 7693 appendix B, BLAKE2s-256("abc"), through the plain-Rust rows and the armv7 asm rows,
/// split anywhere (the NEON rows are [`blake2s_256`] on aarch64: `blake2s_rfc7693_abc`).
#[test]
fn blake2s_one_rfc7693_abc() {
    let want = [
        0x50, 0x8c, 0x5e, 0x8c, 0x32, 0x7c, 0x14, 0xe2, 0xe1, 0xa7, 0x2b, 0xa3, 0x4e, 0xeb, 0x45,
        0x2f, 0x37, 0x45, 0x8b, 0x20, 0x9e, 0xd6, 0x3a, 0x29, 0x4d, 0x99, 0x9b, 0x4c, 0x86, 0x67,
        0x59, 0x82,
    ];
    for cut in 0..=3 {
        let (head, body) = b"abc".split_at(cut);
        assert_eq!(one::portable::blake2s_256(head, body), want, "cut {cut}");
        assert_eq!(blake2s_256(head, body), want, "cut {cut}");
        #[cfg(all(target_arch = "arm", target_endian = "little"))]
        assert_eq!(one::arm::blake2s_256(head, body), want, "armv7 cut {cut}");
    }
}

/// Under qemu-arm (which has NEON) the one-message tests above run the armv7 asm rows:
/// `one::arm::blake2s_256` and [`blake2s_256`] take them exactly when NEON is detected.
#[cfg(all(target_arch = "arm", target_endian = "little", feature = "std"))]
#[test]
fn blake2s_one_neon_detected_on_arm() {
    assert!(crate::chacha::neon::detected());
}
