//! Packager tests: the sample channel packaged, decrypted with its key file and compared byte for
//! byte with the root's plain chunking of the same stream; key rotation; key-file reuse.

#![allow(clippy::disallowed_methods)] // tests may read the sample file; the core itself may not

use super::*;
use crate::chunk::ChunkInfo;
use crate::drm::keyfile::KeyFileErrorKind;
use crate::drm::package::{parse_record, RecordCheck, RecordHeader};
use std::vec::Vec;

fn sample() -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/sample.ts");
    std::fs::read(path).expect("tests/data/sample.ts is committed")
}

/// The root's plain chunking of `ts` as a paced file source gives it: each packet at its PCR time,
/// flush timers at theirs (written here independently of the packager).
fn plain_chunks(ts: &[u8], first_seq: u64) -> Vec<(ChunkInfo, Vec<u8>)> {
    let mut pool = ChunkPool::with_budget(8192 * SLOT_COST).unwrap();
    let mut ch = Chunker::new(first_seq, Instant::ZERO);
    let mut pacer = PcrPacer::new();
    let mut now = Instant::ZERO;
    let mut packets = Vec::new();
    Framer::new().push(ts, |p| packets.push(*p));
    for p in &packets {
        let due = pacer.due(now, &Packet::new(p).unwrap()).max(now);
        while let Some(t) = ch.poll_timeout().filter(|&t| t <= due) {
            now = t.max(now);
            ch.handle_timeout(now, &mut pool);
        }
        now = due;
        ch.push_packet(now, p, &mut pool);
    }
    while let Some(t) = ch.poll_timeout() {
        now = t.max(now);
        ch.handle_timeout(now, &mut pool);
    }
    (first_seq..ch.next_seq())
        .map(|s| {
            let c = pool.get(s).expect("pool holds the whole sample");
            (c.info, c.payload.to_vec())
        })
        .collect()
}

fn package(ts: &[u8], keys: KeyFile, seed: Key, cuts: usize) -> (Vec<u8>, KeyFile) {
    let mut p = Packager::new(keys, seed, 5000);
    let mut out = Vec::new();
    for part in ts.chunks(cuts) {
        p.push(part).unwrap();
        out.append(p.take_output());
    }
    p.finish().unwrap();
    out.append(p.take_output());
    assert_eq!(p.stats().bytes_out, out.len() as u64);
    assert_eq!(p.stats().bytes_in, ts.len() as u64);
    (out, p.keys().clone())
}

/// Parses a packaged stream into (header channel, records).
fn records(b: &[u8]) -> (std::string::String, Vec<(RecordHeader, Vec<u8>)>) {
    let (h, mut at) = Header::parse(b).unwrap();
    let mut check = RecordCheck::default();
    let mut out = Vec::new();
    while at < b.len() {
        let (r, payload, n) = parse_record(&b[at..]).unwrap();
        check.next(&r).unwrap();
        out.push((r, payload.to_vec()));
        at += n;
    }
    (h.channel.into(), out)
}

#[test]
fn packaged_sample_decrypts_to_the_plain_chunking() {
    let ts = sample();
    let keys = KeyFile::new("demo", 3).unwrap();
    let (bytes, keys) = package(&ts, keys, [9; 32], 1316 * 3 + 17);
    let (channel, recs) = records(&bytes);
    assert_eq!(channel, "demo");
    let plain = plain_chunks(&ts, 5000);
    assert_eq!(recs.len(), plain.len());
    assert!(plain.len() > 1500, "{}", plain.len());
    let tag = crate::drm::channel_tag(b"demo");
    let (mut ids, mut scrambled) = (Vec::new(), 0);
    for ((r, payload), (info, want)) in recs.iter().zip(&plain) {
        assert_eq!(r.seq, info.seq);
        assert_eq!(r.time_ms, info.stamp_ms);
        assert_eq!(r.flags, info.flags.union(ChunkFlags::ENCRYPTED));
        // The key file names the key by stream time; the record by id.
        let k = keys.keys()[keys.index_at(u64::from(r.time_ms / 1000)).unwrap()];
        assert_eq!(r.key_id, k.id);
        let mut p = payload.clone();
        if cipher::descramble(&mut p, &k.key, tag, r.seq) > 0 {
            assert_ne!(payload, want, "chunk {} is scrambled", r.seq);
            scrambled += 1;
        }
        assert_eq!(&p, want, "chunk {} decrypts to the plain chunk", r.seq);
        if ids.last() != Some(&r.key_id) {
            ids.push(r.key_id);
        }
    }
    // Only chunks of PAT/PMT alone stay clear.
    assert!(
        scrambled * 100 > recs.len() * 99,
        "{scrambled} of {}",
        recs.len()
    );
    // A 20 s sample with 3 s keys: seven periods, ids 1..=7 in order.
    assert_eq!(ids, [1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(keys.keys().len(), 7);
    assert_eq!(keys.keys()[1].from_s, 3);
    assert_eq!(keys.keys()[1].until_s, 6);
    let raps = recs
        .iter()
        .filter(|r| r.0.flags.contains(ChunkFlags::RAP))
        .count();
    assert_eq!(raps, 20, "one per key frame of the sample");
    assert!(recs.last().unwrap().0.time_ms > 19_000);
}

#[test]
fn a_key_file_given_again_gives_the_same_bytes() {
    let ts = &sample()[..188 * 6000];
    let (first, keys) = package(ts, KeyFile::new("demo", 2).unwrap(), [1; 32], 4096);
    let again = KeyFile::parse(&keys.emit()).unwrap();
    assert_eq!(again, keys);
    // Another seed, another input split: the keys come from the file, the bytes are the same.
    let (second, keys2) = package(ts, again, [2; 32], 188 * 7);
    assert_eq!(first, second);
    assert_eq!(keys2, keys);
    // A longer input reuses the file's keys and adds new ones after them.
    let (_, longer) = package(&sample(), keys.clone(), [2; 32], 65536);
    assert_eq!(longer.keys()[..keys.keys().len()], keys.keys()[..]);
    assert!(longer.keys().len() > keys.keys().len());
}

#[test]
fn a_key_file_with_a_gap_is_refused() {
    let h = "00".repeat(32);
    let text = std::format!("tvmesh-keys 1\nchannel demo\nrotate_s 2\nkey 1 2 4 {h}\n");
    let mut p = Packager::new(KeyFile::parse(&text).unwrap(), [0; 32], 0);
    let err = p
        .push(&sample()[..188 * 2000])
        .and_then(|()| p.finish())
        .unwrap_err();
    assert_eq!(err.kind, KeyFileErrorKind::Uncovered);
    // Records before the error were written; nothing panicked.
    assert!(!p.take_output().is_empty());
}

#[test]
fn garbage_input_gives_a_header_and_no_records() {
    let mut p = Packager::new(KeyFile::new("x", 5).unwrap(), [0; 32], 0);
    p.push(&[0xAB; 10_000]).unwrap();
    p.finish().unwrap();
    assert_eq!(
        p.take_output().as_slice(),
        b"TVMPKG\x01\x01\0\0\0\0\0\0\0\0x"
    );
    assert_eq!(p.stats().records, 0);
}
