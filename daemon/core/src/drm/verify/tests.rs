//! Signer and verifier together: the root signs, the box checks.

use super::*;
use crate::chunk::ChunkFlags;
use crate::drm::manifest::{MANIFEST_MAX_LEN, SIGNATURE_LEN};
use crate::drm::sign::{Signer, READY_SLOTS};
use crate::drm::test_keys::{key_a, key_b};
use crate::time::Instant;
use std::vec::Vec;

const TAG: u32 = 0x0D0E_0F10;

fn modulus() -> [u8; RSA_LEN] {
    key_a().public_key().modulus()
}

fn info(seq: u64) -> ChunkInfo {
    ChunkInfo {
        seq,
        flags: ChunkFlags::ENCRYPTED,
        key_id: 1,
        stamp_ms: 0,
    }
}

fn payload(seq: u64) -> [u8; 64] {
    [seq as u8; 64]
}

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

/// Pushes chunks `seqs` at 1 ms apart from `t0`; returns the manifests the signer emits.
fn sign(s: &mut Signer, t0: u64, seqs: core::ops::Range<u64>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; MANIFEST_MAX_LEN];
    for (i, seq) in seqs.enumerate() {
        s.push(ms(t0 + i as u64), &info(seq), &payload(seq));
        while let Some(n) = s.poll_manifest(&mut buf) {
            out.push(buf[..n].to_vec());
        }
    }
    out
}

fn verifier(window: usize) -> Verifier {
    Verifier::new(&modulus(), TAG, window).unwrap()
}

#[test]
fn full_segment_closes_on_count_and_verifies() {
    let mut s = Signer::new(key_a(), TAG, 100);
    let m = sign(&mut s, 0, 1000..1000 + 64);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].len(), MANIFEST_MAX_LEN);
    assert_eq!(s.poll_timeout(), None);
    let mut v = verifier(256);
    assert_eq!(v.check(&info(1000), &payload(1000)), Verdict::Unknown);
    assert_eq!(v.handle_manifest(&m[0]), Ok((1000, 64)));
    for seq in 1000..1064 {
        assert_eq!(v.check(&info(seq), &payload(seq)), Verdict::Valid);
    }
    assert_eq!(v.check(&info(1064), &payload(1064)), Verdict::Unknown);
    let st = v.stats();
    assert_eq!((st.manifests, st.valid, st.forged), (1, 64, 0));
}

#[test]
fn segment_closes_on_time_and_on_gap() {
    let mut s = Signer::new(key_a(), TAG, 100);
    assert_eq!(s.poll_timeout(), None);
    assert!(sign(&mut s, 5, 0..3).is_empty());
    assert_eq!(s.poll_timeout(), Some(ms(105)));
    s.handle_timeout(ms(104));
    let mut buf = [0u8; MANIFEST_MAX_LEN];
    assert_eq!(s.poll_manifest(&mut buf), None);
    s.handle_timeout(ms(105));
    let n = s.poll_manifest(&mut buf).unwrap();
    assert_eq!(
        &buf[..14],
        &[2, 0x0D, 0x0E, 0x0F, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 3]
    );
    assert_eq!(n, 14 + 3 * 16 + SIGNATURE_LEN);
    // A gap (seq 10 after 3..5) closes the segment before the new chunk.
    let m = sign(&mut s, 200, 3..6);
    assert!(m.is_empty());
    s.push(ms(203), &info(10), &payload(10));
    let n = s.poll_manifest(&mut buf).unwrap();
    assert_eq!(&buf[5..14], &[0, 0, 0, 0, 0, 0, 0, 3, 3]);
    assert_eq!(n, 14 + 3 * 16 + SIGNATURE_LEN);
    // A chunk pushed after the deadline also closes the old segment first.
    s.push(ms(400), &info(11), &payload(11));
    assert_eq!(s.poll_manifest(&mut buf), Some(14 + 16 + SIGNATURE_LEN));
    assert_eq!(&buf[5..14], &[0, 0, 0, 0, 0, 0, 0, 10, 1]);
    assert_eq!(s.signed(), 3);
}

#[test]
fn forged_and_replayed_chunks() {
    let mut s = Signer::new(key_a(), TAG, 100);
    let mut v = verifier(128);
    for m in sign(&mut s, 0, 0..128) {
        v.handle_manifest(&m).unwrap();
    }
    let mut bad = payload(70);
    bad[10] ^= 1;
    assert_eq!(v.check(&info(70), &bad), Verdict::Forged);
    // Same payload, header changed (flags or key id are covered).
    let mut i = info(70);
    i.key_id = 2;
    assert_eq!(v.check(&i, &payload(70)), Verdict::Forged);
    // An old chunk replayed under a newer seq.
    assert_eq!(v.check(&info(71), &payload(3)), Verdict::Forged);
    assert_eq!(v.stats().forged, 3);
    // Slide the window: seq 0..64 fall out and are stale, not forged.
    for m in sign(&mut s, 200, 128..192) {
        v.handle_manifest(&m).unwrap();
    }
    assert_eq!(v.end(), 192);
    assert_eq!(v.check(&info(63), &payload(63)), Verdict::Stale);
    assert_eq!(v.check(&info(64), &payload(64)), Verdict::Valid);
}

#[test]
fn manifest_errors_are_distinct() {
    let mut s = Signer::new(key_a(), TAG, 100);
    let ms0 = sign(&mut s, 0, 0..64);
    let later = sign(&mut s, 100, 64..256);
    let mut v = verifier(64);
    // Bad signature: one bit of the signature flipped.
    let mut forged = ms0[0].clone();
    let last = forged.len() - 1;
    forged[last] ^= 0x80;
    assert_eq!(v.handle_manifest(&forged), Err(ManifestError::BadSignature));
    // Bad signature: a hash changed.
    let mut forged = ms0[0].clone();
    forged[20] ^= 1;
    assert_eq!(v.handle_manifest(&forged), Err(ManifestError::BadSignature));
    // Another channel's key and tag.
    let other = Signer::new(key_b(), TAG, 100);
    let mut other = other;
    let om = sign(&mut other, 0, 0..64);
    assert_eq!(v.handle_manifest(&om[0]), Err(ManifestError::BadSignature));
    let mut wrong_tag = Signer::new(key_a(), TAG + 1, 100);
    let wm = sign(&mut wrong_tag, 0, 0..64);
    assert_eq!(v.handle_manifest(&wm[0]), Err(ManifestError::WrongChannel));
    // Move on, then the first segment is outside the window.
    for m in &later {
        v.handle_manifest(m).unwrap();
    }
    assert_eq!(
        v.handle_manifest(&ms0[0]),
        Err(ManifestError::OutsideWindow)
    );
    assert_eq!(v.handle_manifest(&[2, 2, 3]), Err(ManifestError::Truncated));
    assert_eq!(v.handle_manifest(&[1, 2, 3]), Err(ManifestError::Version));
    assert_eq!(v.stats().rejected, 7);
    assert_eq!(v.stats().manifests, 3);
}

#[test]
fn duplicate_manifest_skips_signature_check() {
    let mut s = Signer::new(key_a(), TAG, 100);
    let m = sign(&mut s, 0, 0..64);
    let mut v = verifier(64);
    assert_eq!(v.handle_manifest(&m[0]), Ok((0, 64)));
    assert_eq!(v.handle_manifest(&m[0]), Ok((0, 64)));
    assert_eq!((v.stats().manifests, v.stats().duplicates), (1, 1));
    // Known hashes but a broken signature still counts as known: nothing new is trusted.
    let mut resigned = m[0].clone();
    let last = resigned.len() - 1;
    resigned[last] ^= 1;
    assert_eq!(v.handle_manifest(&resigned), Ok((0, 64)));
}

#[test]
fn undrained_ring_drops_oldest() {
    let mut s = Signer::new(key_a(), TAG, 100);
    for seq in 0..(READY_SLOTS as u64 + 2) * 64 {
        s.push(ms(seq), &info(seq), &payload(seq));
    }
    assert_eq!((s.signed(), s.dropped()), (READY_SLOTS as u64 + 2, 2));
    let mut buf = [0u8; MANIFEST_MAX_LEN];
    let mut firsts = Vec::new();
    while let Some(n) = s.poll_manifest(&mut buf) {
        firsts.push(Manifest::parse(&buf[..n]).unwrap().first_seq);
    }
    assert_eq!(firsts, [128, 192, 256, 320]);
    // A too-small buffer drops rather than sticks.
    s.push(ms(999), &info(1000), &payload(0));
    s.handle_timeout(ms(2000));
    assert_eq!(s.poll_manifest(&mut buf[..10]), None);
    assert_eq!(s.dropped(), 3);
}

#[test]
fn bad_config_refused() {
    let pk = modulus();
    assert_eq!(
        Verifier::new(&pk, TAG, 63).unwrap_err(),
        VerifierError::Window
    );
    assert_eq!(
        Verifier::new(&pk, TAG, WINDOW_MAX + 1).unwrap_err(),
        VerifierError::Window
    );
    assert_eq!(
        Verifier::new(&[0; RSA_LEN], TAG, 64).unwrap_err(),
        VerifierError::PublicKey
    );
    let mut even = pk;
    even[RSA_LEN - 1] &= !1;
    assert_eq!(
        Verifier::new(&even, TAG, 64).unwrap_err(),
        VerifierError::PublicKey
    );
}

/// `check_many` over a mix — valid chunks across two hash groups, a forged one, one no manifest
/// covers, a stale one and an empty slot — gives what `check` gives one by one, and the same
/// counters; items past the verdict slice are left alone.
#[test]
fn check_many_equals_check_one_by_one() {
    let mut s = Signer::new(key_a(), TAG, 100);
    let mut one = verifier(64);
    let mut many = verifier(64);
    for m in sign(&mut s, 0, 0..64)
        .iter()
        .chain(&sign(&mut s, 100, 64..128))
    {
        one.handle_manifest(m).unwrap();
        many.handle_manifest(m).unwrap();
    }
    let mut forged = payload(70);
    forged[3] ^= 1;
    let mut items: Vec<Option<(ChunkInfo, &[u8])>> = Vec::new();
    let bodies: Vec<[u8; 64]> = (64..84).map(payload).collect();
    for (k, b) in bodies.iter().enumerate() {
        items.push(Some((info(64 + k as u64), &b[..])));
    }
    items[6] = Some((info(70), &forged[..]));
    items.push(Some((info(128), &bodies[0][..]))); // no manifest: Unknown
    items.push(Some((info(3), &bodies[0][..]))); // below the window: Stale
    items.push(None);
    let mut want = Vec::new();
    for it in &items {
        want.push(match it {
            Some((i, p)) => one.check(i, p),
            None => Verdict::Unknown,
        });
    }
    let mut got = [Verdict::Stale; 23];
    many.check_many(items.iter().copied(), &mut got);
    assert_eq!(got[..], want[..]);
    assert_eq!(got[6], Verdict::Forged);
    assert_eq!(got[0], Verdict::Valid);
    assert_eq!(got[19], Verdict::Valid);
    assert_eq!(
        &got[20..],
        &[Verdict::Unknown, Verdict::Stale, Verdict::Unknown]
    );
    assert_eq!(many.stats(), one.stats());
    assert_eq!((many.stats().valid, many.stats().forged), (19, 1));

    let mut short = [Verdict::Stale; 2];
    many.check_many(items.iter().copied(), &mut short);
    assert_eq!(short, [Verdict::Valid, Verdict::Valid]);
    assert_eq!(many.stats().valid, 21);
}
