//! A root fed a packaged stream: chunks stored as packaged, signed, keys followed; bad records
//! refused and counted.

#![allow(clippy::disallowed_methods)] // tests may read the sample file; the core itself may not

use super::*;
use crate::drm::package::{Header, RECORD_HEADER_LEN};
use crate::drm::packager::Packager;
use crate::root::{ChannelSpec, RootConfig};
use core::time::Duration;
use std::vec::Vec;

fn packaged(rotate_s: u32) -> (Vec<u8>, KeyFile) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/sample.ts");
    let ts = std::fs::read(path).expect("tests/data/sample.ts is committed");
    let mut p = Packager::new(KeyFile::new("demo", rotate_s).unwrap(), [3; 32], 777);
    p.push(&ts[..188 * 8000]).unwrap();
    p.finish().unwrap();
    let out = core::mem::take(p.take_output());
    (out, p.keys().clone())
}

fn records(b: &[u8]) -> Vec<&[u8]> {
    let (_, mut at) = Header::parse(b).unwrap();
    let mut v = Vec::new();
    while at < b.len() {
        let (_, _, n) = parse_record(&b[at..]).unwrap();
        v.push(&b[at..at + n]);
        at += n;
    }
    v
}

fn root() -> Root {
    let rc = RootConfig {
        first_seq: 1 << 50,
        ..RootConfig::default()
    };
    let specs = [ChannelSpec {
        name: "demo",
        bitrate_kbps: 0,
    }];
    Root::new(rc, &specs, Instant::ZERO).unwrap()
}

#[test]
fn records_are_stored_as_packaged_and_keys_follow_the_stream() {
    let (bytes, keys) = packaged(2);
    let recs = records(&bytes);
    let mut r = root();
    assert_eq!(
        r.handle_packaged(Instant::ZERO, 0, recs[0]),
        Err(PackagedError::NotPackaged)
    );
    r.handle_unix_time(1_000_000);
    assert!(r.ingest_packaged(0, &keys));
    // Before the first record, licences carry the first keys.
    assert_eq!(r.current_key_id(0), Some(keys.keys()[0].id));
    let p = r.drm.packaged[0].as_ref().unwrap();
    assert_eq!(p.entries().len(), 2);
    assert_eq!(p.entries()[0].valid_until, 1_000_000 + 2 + 2);
    let mut ids = Vec::new();
    for (i, rec) in recs.iter().enumerate() {
        let (h, payload, _) = parse_record(rec).unwrap();
        let now = Instant::ZERO + Duration::from_millis(u64::from(h.time_ms));
        r.handle_unix_time(1_000_000 + u64::from(h.time_ms / 1000));
        r.handle_packaged(now, 0, rec).unwrap();
        if i == 0 {
            // The signer follows the rebased numbering: a segment is open, due within segment_ms.
            let due = Duration::from_millis(crate::drm::sign::DEFAULT_SEGMENT_MS.into());
            assert!(r.poll_timeout().unwrap() <= now + due);
        }
        // Stored untouched, under the packaged sequence number (the first record set it).
        let c = r.pool(0).unwrap().get(h.seq).unwrap();
        assert_eq!(c.payload, payload, "record {i}");
        assert_eq!((c.info.flags, c.info.key_id), (h.flags, h.key_id));
        let id = r.current_key_id(0).unwrap();
        assert_eq!(id, h.key_id);
        if ids.last() != Some(&id) {
            ids.push(id);
            // The licence entries: previous (if any), current, next, valid past the key's window.
            let p = r.drm.packaged[0].as_ref().unwrap();
            let cur = p.entries().iter().find(|e| e.id == id).unwrap();
            let k = keys.keys().iter().find(|k| k.id == id).unwrap();
            assert_eq!(cur.key, k.key);
            assert_eq!(cur.valid_until, 1_000_000 + k.until_s + 2);
            assert!(
                p.entries().iter().any(|e| e.id == id % 255 + 1)
                    || id as usize == keys.keys().len()
            );
        }
    }
    assert!(ids.len() >= 3, "{ids:?}");
    let s = r.packaged_stats(0).unwrap();
    assert_eq!((s.records, s.refused), (recs.len() as u64, 0));
    assert_eq!(r.channel_stats(0).unwrap().chunks_in, recs.len() as u64);
    assert_eq!(r.drm_stats().scrambled, 0, "nothing re-encrypted");
}

#[test]
fn bad_records_are_refused_and_counted() {
    let (bytes, keys) = packaged(2);
    let recs = records(&bytes);
    let mut r = root();
    assert!(r.ingest_packaged(0, &keys));
    r.handle_packaged(Instant::ZERO, 0, recs[1]).unwrap();
    // Backwards.
    assert_eq!(
        r.handle_packaged(Instant::ZERO, 0, recs[0]),
        Err(PackagedError::SeqBackwards)
    );
    // Truncated, garbage.
    let short = &recs[2][..RECORD_HEADER_LEN + 10];
    assert_eq!(
        r.handle_packaged(Instant::ZERO, 0, short),
        Err(PackagedError::Record(PackageError::Short))
    );
    assert!(matches!(
        r.handle_packaged(Instant::ZERO, 0, &[0xFF; 300]),
        Err(PackagedError::Record(_))
    ));
    // A key id the file does not hold at that time.
    let mut wrong = recs[2].to_vec();
    wrong[3] = 200;
    assert_eq!(
        r.handle_packaged(Instant::ZERO, 0, &wrong),
        Err(PackagedError::UnknownKey(200))
    );
    assert_eq!(r.handle_packaged(Instant::ZERO, 0, recs[2]), Ok(()));
    let s = r.packaged_stats(0).unwrap();
    assert_eq!((s.records, s.refused), (2, 4));
    assert!(!r.pool(0).unwrap().contains(0));
}

#[test]
fn a_header_for_another_channel_blocks_the_stream() {
    let (bytes, keys) = packaged(2);
    let (_, hlen) = Header::parse(&bytes).unwrap();
    let recs = records(&bytes);
    let mut r = root();
    assert!(r.ingest_packaged(0, &keys));
    assert_eq!(r.handle_packaged(Instant::ZERO, 0, &bytes[..hlen]), Ok(()));
    // The header numbers the channel: a box joining now is told the packaged position.
    assert_eq!(r.channels[0].chunker.next_seq(), 777);
    let news = Header {
        channel: "news",
        first_seq: 1,
    };
    let mut other = [0u8; 32];
    let n = news.emit(&mut other).unwrap();
    assert_eq!(
        r.handle_packaged(Instant::ZERO, 0, &other[..n]),
        Err(PackagedError::WrongChannel)
    );
    assert_eq!(
        r.handle_packaged(Instant::ZERO, 0, recs[0]),
        Err(PackagedError::WrongChannel)
    );
    let s = r.packaged_stats(0).unwrap();
    assert_eq!((s.records, s.refused), (0, 2));
}
