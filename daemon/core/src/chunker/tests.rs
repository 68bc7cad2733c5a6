//! Chunker tests on the committed sample channel and on synthetic streams.

#![allow(clippy::disallowed_methods)] // tests may read the sample file; the core itself may not

use super::*;
use crate::pool::SLOT_COST;
use crate::ts::sync::Framer;
use std::vec::Vec;

/// Byte offsets of the sample's key-frame PES starts, from
/// `ffprobe -select_streams v -show_entries packet=pos,flags tests/data/sample.ts` (flag K).
const SAMPLE_KEYFRAMES: [usize; 20] = [
    564, 137804, 275044, 412660, 550088, 687516, 825132, 962560, 1100176, 1237792, 1377852,
    1512648, 1650076, 1787504, 1925120, 2062548, 2200164, 2337592, 2475020, 2612636,
];

fn sample() -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/sample.ts");
    std::fs::read(path).expect("tests/data/sample.ts is committed")
}

/// Runs `input`, cut at `cuts` (cycled), through framer and chunker; returns chunks in order.
fn chunk_all(input: &[u8], cuts: &[usize]) -> Vec<(ChunkInfo, Vec<u8>)> {
    let mut pool = ChunkPool::with_budget(4096 * SLOT_COST).unwrap();
    let mut ch = Chunker::new(1000, Instant::ZERO);
    let mut framer = Framer::new();
    let mut out = Vec::new();
    let mut next = 1000;
    let mut pos = 0;
    let mut i = 0;
    let mut now = Instant::ZERO;
    while pos < input.len() {
        let n = cuts[i % cuts.len()].max(1).min(input.len() - pos);
        framer.push(&input[pos..pos + n], |p| ch.push_packet(now, p, &mut pool));
        pos += n;
        i += 1;
        now = now + Duration::from_micros(100);
        while next < ch.next_seq() {
            let c = pool.get(next).expect("pool is larger than the sample");
            out.push((c.info, c.payload.to_vec()));
            next += 1;
        }
    }
    // Flush the tail: the framer holds the last packet until confirmed; feed a sync byte.
    framer.push(&[0x47], |p| ch.push_packet(now, p, &mut pool));
    ch.handle_timeout(now + FLUSH_AFTER * 4, &mut pool);
    ch.handle_timeout(now + FLUSH_AFTER * 8, &mut pool);
    while next < ch.next_seq() {
        let c = pool.get(next).unwrap();
        out.push((c.info, c.payload.to_vec()));
        next += 1;
    }
    out
}

/// Checks the chunker's invariants against the input; returns input offsets of RAP key packets.
fn check(input: &[u8], chunks: &[(ChunkInfo, Vec<u8>)]) -> Vec<usize> {
    // Input packets without nulls, with their offsets.
    let expected: Vec<(usize, &[u8])> = input
        .chunks_exact(PACKET_LEN)
        .enumerate()
        .filter(|(_, p)| Packet::new(p).map(|p| p.pid() != NULL_PID).unwrap_or(false))
        .map(|(i, p)| (i * PACKET_LEN, p))
        .collect();
    let mut k = 0;
    let mut raps = Vec::new();
    for (info, payload) in chunks {
        assert!(
            !payload.is_empty() && payload.len() % PACKET_LEN == 0,
            "whole packets"
        );
        assert!(payload.len() <= crate::chunk::CHUNK_MAX);
        let pkts: Vec<&[u8]> = payload.chunks_exact(PACKET_LEN).collect();
        for p in &pkts {
            assert_eq!(p[0], 0x47, "every packet starts with sync");
        }
        let body = if info.flags.contains(ChunkFlags::RAP) {
            assert!(pkts.len() >= 3);
            assert_eq!(
                Packet::new(pkts[0]).unwrap().pid(),
                PAT_PID,
                "RAP chunk starts with PAT"
            );
            assert!(Packet::new(pkts[1]).unwrap().pid() != PAT_PID, "then PMT");
            raps.push(expected[k].0);
            &pkts[2..]
        } else {
            &pkts[..]
        };
        for p in body {
            assert_eq!(*p, expected[k].1, "stream order and content kept");
            k += 1;
        }
    }
    assert_eq!(k, expected.len(), "every packet delivered");
    raps
}

#[test]
fn sample_keyframes_found_whole_stream_kept() {
    let input = sample();
    let chunks = chunk_all(&input, &[1316]);
    let raps = check(&input, &chunks);
    assert_eq!(raps, SAMPLE_KEYFRAMES);
}

#[test]
fn psi_then_keyframe_first() {
    let input = sample();
    let chunks = chunk_all(&input, &[4096]);
    let (info, payload) = chunks
        .iter()
        .find(|(i, _)| i.flags.contains(ChunkFlags::RAP))
        .unwrap();
    assert!(info.seq >= 1000);
    let p2 = Packet::new(&payload[2 * PACKET_LEN..3 * PACKET_LEN]).unwrap();
    assert!(p2.payload_start());
    assert_eq!(p2.pid(), 0x100, "third packet starts the video PES");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(12))]
    #[test]
    fn any_slicing_keeps_packets_whole_and_finds_every_keyframe(
        cuts in proptest::collection::vec(1usize..5000, 1..16)
    ) {
        let input = sample();
        let chunks = chunk_all(&input, &cuts);
        let raps = check(&input, &chunks);
        proptest::prop_assert_eq!(raps, SAMPLE_KEYFRAMES.to_vec());
    }
}

#[test]
fn garbage_between_packets_is_skipped() {
    let input = sample();
    let mut dirty = Vec::new();
    for (i, p) in input.chunks_exact(PACKET_LEN * 50).enumerate() {
        dirty.extend_from_slice(p);
        dirty.extend_from_slice(&[0x47, 0x00, (i % 250) as u8, 0x47, 1, 2, 3][..(i % 7)]);
    }
    let chunks = chunk_all(&dirty, &[1000]);
    // Every chunk is still whole packets, and key frames are still found.
    let raps = chunks
        .iter()
        .filter(|(i, _)| i.flags.contains(ChunkFlags::RAP))
        .count();
    assert!(raps >= 19, "{raps} key frames");
    for (_, p) in &chunks {
        assert_eq!(p.len() % PACKET_LEN, 0);
        assert!(p.chunks_exact(PACKET_LEN).all(|q| q[0] == 0x47));
    }
}

#[test]
fn low_rate_partial_chunk_flushes() {
    let mut pool = ChunkPool::with_budget(64 * SLOT_COST).unwrap();
    let mut ch = Chunker::new(0, Instant::ZERO);
    let p = crate::ts::packet::tests::make(0x200, false, None, 0, 0xAB);
    ch.push_packet(Instant::ZERO, &p, &mut pool);
    assert_eq!(ch.poll_timeout(), Some(Instant::ZERO + FLUSH_AFTER));
    ch.handle_timeout(Instant::from_millis(10), &mut pool);
    assert!(pool.get(0).is_none());
    ch.handle_timeout(Instant::from_millis(40), &mut pool);
    assert_eq!(pool.get(0).unwrap().payload, &p[..]);
    assert_eq!(ch.poll_timeout(), None);
}
