use super::*;
use crate::drm::cipher::{scramble, ClearPids};
use crate::ts::{PAT_PID, SYNC_BYTE};
use std::vec::Vec;

/// A chunk of `n` packets for `seq`: payload bytes vary with seq and position, every third packet
/// has an adaptation field of a different length, one packet is on the PAT PID (kept clear).
fn clear_chunk(seq: u64, n: usize) -> Vec<u8> {
    let mut c = Vec::new();
    for i in 0..n {
        let mut p = [0u8; PACKET_LEN];
        for (j, b) in p.iter_mut().enumerate() {
            *b = (j as u64 * 7 + (seq % 251) * 13 + i as u64 * 29) as u8;
        }
        let pid: u16 = if i == 2 { PAT_PID } else { 0x100 + i as u16 };
        p[0] = SYNC_BYTE;
        p[1] = (pid >> 8) as u8 & 0x1F;
        p[2] = pid as u8;
        p[3] = 0x10;
        if i % 3 == 0 {
            p[3] |= 0x20;
            p[4] = (i * 11 + (seq as usize % 5)) as u8;
        }
        c.extend_from_slice(&p);
    }
    c
}

fn scrambled(key: &Key, tag: u32, seq: u64, n: usize) -> (Vec<u8>, Vec<u8>) {
    let clear = clear_chunk(seq, n);
    let mut s = clear.clone();
    scramble(&mut s, key, seq as u8 & 1, tag, seq, ClearPids::default()).unwrap();
    assert_ne!(s, clear);
    (clear, s)
}

/// Chunk after chunk, from every alignment within a group of 8 and across group boundaries, the
/// descrambler gives back the clear chunk, exactly as `cipher::descramble` does (same count).
#[test]
fn matches_cipher_descramble() {
    let key: Key = core::array::from_fn(|i| (i * 3 + 1) as u8);
    for (start, lanes) in [0u64, 1, 5, 7, 8, 1_000_003]
        .into_iter()
        .flat_map(|s| [(s, true), (s, false)])
    {
        let mut d = Descrambler::with_lanes(lanes);
        for seq in start..start + 20 {
            let n = 1 + (seq as usize % PACKETS_PER_CHUNK);
            let (clear, s) = scrambled(&key, 0x7476_0001, seq, n);
            let mut a = s.clone();
            let mut b = s.clone();
            let na = d.descramble(&mut a, &key, 0x7476_0001, seq);
            let nb = descramble(&mut b, &key, 0x7476_0001, seq);
            assert_eq!(a, clear, "seq {seq}, lanes {lanes}");
            assert_eq!(a, b, "seq {seq}, lanes {lanes}");
            assert_eq!(na, nb, "seq {seq}, lanes {lanes}");
        }
    }
}

/// Keystreams are made 8 chunks at a time: 16 consecutive chunks from a multiple of 8 cost two
/// fills; asking again for a kept chunk costs none.
#[test]
fn eight_chunks_per_fill() {
    let key = [9u8; 32];
    let mut d = Descrambler::with_lanes(true);
    for seq in 16..32 {
        let (clear, mut s) = scrambled(&key, 5, seq, PACKETS_PER_CHUNK);
        d.descramble(&mut s, &key, 5, seq);
        assert_eq!(s, clear);
    }
    assert_eq!(d.fills(), 2);
    let (clear, mut s) = scrambled(&key, 5, 30, PACKETS_PER_CHUNK);
    d.descramble(&mut s, &key, 5, 30);
    assert_eq!(s, clear);
    assert_eq!(d.fills(), 2);
}

/// Two outputs far apart (a sink and an HTTP viewer) each keep a slot: interleaved, they refill
/// once per 8 chunks each, not once per chunk. A key change (rotation) refills, and the old key's
/// chunks still come out right after it.
#[test]
fn two_outputs_and_a_key_change() {
    let (k1, k2) = ([1u8; 32], [2u8; 32]);
    let mut d = Descrambler::with_lanes(true);
    for i in 0..16u64 {
        for seq in [100 + i, 500 + i] {
            let (clear, mut s) = scrambled(&k1, 7, seq, PACKETS_PER_CHUNK);
            d.descramble(&mut s, &k1, 7, seq);
            assert_eq!(s, clear, "seq {seq}");
        }
    }
    // 100..116 spans groups 96, 104, 112; 500..516 spans 496, 504, 512.
    assert_eq!(d.fills(), 6);
    let (clear, mut s) = scrambled(&k2, 7, 515, PACKETS_PER_CHUNK);
    d.descramble(&mut s, &k2, 7, 515);
    assert_eq!(s, clear);
    assert_eq!(d.fills(), 7);
    let (clear, mut s) = scrambled(&k1, 7, 514, PACKETS_PER_CHUNK);
    d.descramble(&mut s, &k1, 7, 514);
    assert_eq!(s, clear);
    // Another channel's tag with the same key and seq is another keystream.
    let (clear, mut s) = scrambled(&k1, 8, 514, PACKETS_PER_CHUNK);
    d.descramble(&mut s, &k1, 8, 514);
    assert_eq!(s, clear);
}

/// The last group of the seq space (base + 7 = u64::MAX) and malformed input: packets without
/// sync or with an adaptation field past the packet, trailing bytes, an empty payload, and a
/// payload longer than a chunk (handed to `cipher::descramble`) all come out as
/// `cipher::descramble` leaves them.
#[test]
fn edges_and_malformed_input() {
    let key = [4u8; 32];
    let mut d = Descrambler::with_lanes(true);
    let seq = u64::MAX;
    let (clear, mut s) = scrambled(&key, 1, seq, PACKETS_PER_CHUNK);
    assert_eq!(d.descramble(&mut s, &key, 1, seq), PACKETS_PER_CHUNK - 1);
    assert_eq!(s, clear);
    let (_, mut s) = scrambled(&key, 1, 40, 4);
    s[PACKET_LEN] = 0x00; // second packet: no sync byte
    s[2 * PACKET_LEN + 3] |= 0xA0; // third (PAT, clear) marked scrambled with an adaptation field
    s[2 * PACKET_LEN + 4] = 200; // longer than the packet
    s.extend_from_slice(&[0x47, 0xAA, 0xBB]); // trailing bytes
    let mut want = s.clone();
    let nw = descramble(&mut want, &key, 1, 40);
    assert_eq!(d.descramble(&mut s, &key, 1, 40), nw);
    assert_eq!(s, want);
    assert_eq!(d.descramble(&mut [], &key, 1, 40), 0);
    let mut long = scrambled(&key, 1, 41, PACKETS_PER_CHUNK).1;
    long.extend_from_slice(&scrambled(&key, 1, 42, 2).1);
    let mut want = long.clone();
    let nw = descramble(&mut want, &key, 1, 41);
    assert_eq!(d.descramble(&mut long, &key, 1, 41), nw);
    assert_eq!(long, want);
}

/// On an x86-64 CPU with AVX2 (this one, valgrind's, CI's) and on aarch64 the box keeps
/// keystreams; elsewhere it descrambles directly and keeps none.
#[test]
fn keeps_keystreams_only_with_lanes() {
    let key = [3u8; 32];
    let mut d = Descrambler::new();
    let (clear, mut s) = scrambled(&key, 2, 9, PACKETS_PER_CHUNK);
    d.descramble(&mut s, &key, 2, 9);
    assert_eq!(s, clear);
    assert_eq!(d.fills(), u64::from(tvmesh_crypto::keystreams_in_lanes()));
    #[cfg(target_arch = "x86_64")]
    assert_eq!(
        tvmesh_crypto::keystreams_in_lanes(),
        std::is_x86_feature_detected!("avx2")
    );
}
