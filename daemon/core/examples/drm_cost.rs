//! Cost of DRM on a box: verify + descramble one second of an 8 Mbps stream.
//!
//! Builds, in memory, one second of stream the way the root would (760 chunks of 7 TS packets,
//! scrambled under the current channel key, a signed manifest per 64 chunks or 100 ms), then does
//! what a box does: each chunk is checked on arrival (`Unknown`, held), each manifest is verified
//! (one RSA e = 3 check), the held chunks are checked again (BLAKE2s, 8 side by side) and
//! descrambled in place (by a [`Descrambler`], as the box's outputs do: keystreams 8 chunks at a
//! time). The `-mf` modes do the work of a box that gets every manifest before its
//! chunks (each chunk hashed alone).
//!
//! Usage:
//! - `drm_cost root` — build the stream and set up one verifier (the key's one-time setup), the
//!   baseline for callgrind;
//! - `drm_cost box` / `drm_cost box-mf` — build it, then verify + descramble it once;
//! - `drm_cost verify` / `hash` / `descramble` — build it, then do one part of the box's work
//!   alone (for a split under qemu-user, where callgrind cannot run);
//! - `drm_cost time N` / `drm_cost time-mf N` — build it, then verify + descramble it N times and
//!   print the best and median wall time per stream-second.
//!
//! The box's cost in instructions is `Ir(box) − Ir(root)` under
//! `valgrind --tool=callgrind` (see docs/BENCHMARKS.md, DRM section).

use std::hint::black_box;
use std::time::Instant as WallClock;
use tvmesh_core::chunk::{ChunkFlags, ChunkInfo, CHUNK_MAX, PACKETS_PER_CHUNK};
use tvmesh_core::drm::cipher::{scramble, ClearPids};
use tvmesh_core::drm::descrambler::Descrambler;
use tvmesh_core::drm::keys::KeySchedule;
use tvmesh_core::drm::manifest::{Manifest, MANIFEST_MAX_LEN};
use tvmesh_core::drm::sign::{Signer, DEFAULT_SEGMENT_MS};
use tvmesh_core::drm::verify::{Verdict, Verifier};
use tvmesh_core::time::Instant;

const BITRATE: u64 = 8_000_000;
const CHUNKS: u64 = (BITRATE / 8).div_ceil(CHUNK_MAX as u64); // 760
const TAG: u32 = 0x7476_0001;
const PMT_PID: u16 = 0x1000;

/// What arrives at a box, in order.
enum Arrival {
    Chunk(ChunkInfo, Vec<u8>),
    Manifest(Vec<u8>),
}

fn packet(pid: u16, cc: u8, rng: &mut u64, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0x47, (pid >> 8) as u8 & 0x1F, pid as u8, 0x10 | (cc & 0x0F)]);
    while out.len() < start + 188 {
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        out.push(*rng as u8);
    }
}

type Modulus = [u8; tvmesh_crypto::RSA_LEN];

/// The root's signing key's primes (made once by OpenSSL, e = 3): a fixed key instead of
/// `RsaSecretKey::from_seed`, whose prime search would add ≈ 1.4 G instructions to every mode and,
/// through `memset` alignment, ±1.4 M of noise to the differences.
const P: [u8; 128] = [
    0xef, 0x62, 0x58, 0x3c, 0x8c, 0x6d, 0xaa, 0x58, 0xbd, 0x4b, 0xab, 0x47, 0x28, 0x2e, 0x48, 0xc3,
    0x3a, 0xe5, 0xfe, 0x2e, 0xde, 0x6e, 0x7c, 0xf0, 0xa7, 0x5b, 0x44, 0xd3, 0xa6, 0x2f, 0x23, 0x56,
    0x14, 0x19, 0x6a, 0xe4, 0x8c, 0x25, 0x1a, 0xfc, 0xc9, 0xb0, 0x28, 0x64, 0xe5, 0x82, 0x10, 0x9e,
    0xc8, 0xd0, 0x75, 0x40, 0x50, 0x53, 0xfb, 0xa4, 0x77, 0x30, 0x13, 0xec, 0x7b, 0x27, 0x44, 0x11,
    0xfe, 0x54, 0x73, 0xa3, 0x35, 0xef, 0x3f, 0xae, 0x3a, 0xab, 0x45, 0x6b, 0x49, 0xb4, 0xdf, 0x1b,
    0x1a, 0x3e, 0x1e, 0x11, 0x68, 0xae, 0x20, 0x17, 0xf4, 0x24, 0xc8, 0x36, 0x54, 0x4a, 0xce, 0x35,
    0xae, 0x77, 0x06, 0x2f, 0x72, 0xb1, 0x9f, 0x96, 0x42, 0x68, 0x5a, 0xbf, 0xe9, 0xff, 0xda, 0x26,
    0x98, 0xc7, 0xa1, 0xc2, 0x4c, 0x75, 0x43, 0xe3, 0x5d, 0xf5, 0x5e, 0x32, 0x89, 0x59, 0xf2, 0xeb,
];
const Q: [u8; 128] = [
    0xce, 0x75, 0x5e, 0x2a, 0x22, 0x0f, 0xe2, 0xc5, 0xe5, 0xa9, 0x1e, 0xd2, 0xf2, 0xf1, 0x52, 0xb2,
    0x46, 0xfe, 0xbb, 0xf4, 0x7b, 0x9c, 0x31, 0xb6, 0xe1, 0xdf, 0xb2, 0x4d, 0x62, 0xbe, 0xfb, 0x82,
    0x61, 0x1d, 0x1d, 0x4a, 0x1e, 0x6f, 0x16, 0x2b, 0xb1, 0x86, 0x6e, 0x9b, 0xec, 0xc8, 0xfa, 0x85,
    0xb7, 0xbd, 0x64, 0x84, 0x9e, 0x8f, 0x1c, 0xc3, 0xba, 0xa5, 0x84, 0x8d, 0x6b, 0x1e, 0x11, 0x14,
    0xf8, 0x91, 0xba, 0x64, 0xa8, 0xed, 0xf4, 0x31, 0xbc, 0x36, 0x30, 0x6a, 0x0e, 0x4f, 0x6c, 0x00,
    0xc9, 0x44, 0x29, 0xd0, 0x1c, 0xc1, 0xd4, 0x93, 0xc9, 0x5a, 0xf0, 0x6e, 0x37, 0x09, 0xba, 0xe4,
    0x74, 0xee, 0x25, 0x11, 0xa5, 0x9c, 0x56, 0xd5, 0x66, 0x76, 0xa2, 0xec, 0x33, 0x4b, 0x4e, 0x07,
    0x3c, 0xed, 0x53, 0xed, 0xd7, 0x58, 0x63, 0x22, 0x4d, 0x0b, 0x5d, 0x52, 0x74, 0xa0, 0xd3, 0x2d,
];

fn build() -> (Vec<Arrival>, Modulus, [u8; 32]) {
    let sk = tvmesh_crypto::RsaSecretKey::from_primes(&P, &Q).expect("OpenSSL-made e = 3 primes");
    let pk = sk.public_key().modulus();
    let keys = KeySchedule::new([0x5A; 32], 60, 1_780_272_000).expect("rotate_s is 60");
    let key = *keys.current();
    let mut signer = Signer::new(sk, TAG, DEFAULT_SEGMENT_MS);
    let mut rng = 0x1234_5678_9ABC_DEF0u64;
    let mut out = Vec::new();
    let mut mbuf = [0u8; MANIFEST_MAX_LEN];
    let step_us = 1_000_000 / CHUNKS;
    let mut max_hold_us = 0;
    for seq in 0..CHUNKS {
        let now = Instant::from_micros(seq * step_us);
        let mut payload = Vec::with_capacity(CHUNK_MAX);
        let rap = seq % 50 == 0;
        for i in 0..PACKETS_PER_CHUNK {
            let pid = match (rap, i) {
                (true, 0) => 0,
                (true, 1) => PMT_PID,
                _ => 0x100,
            };
            packet(pid, (seq as usize * 7 + i) as u8, &mut rng, &mut payload);
        }
        let n = scramble(
            &mut payload,
            &key.key,
            key.id,
            TAG,
            seq,
            ClearPids { pmt: &[PMT_PID] },
        )
        .expect("fresh packets are clear");
        assert!(n >= 5);
        let flags = if rap {
            ChunkFlags::RAP
        } else {
            ChunkFlags::NONE
        };
        let info = ChunkInfo {
            seq,
            flags: flags.union(ChunkFlags::ENCRYPTED),
            key_id: key.id,
            stamp_ms: (seq * step_us / 1000) as u32,
        };
        signer.push(now, &info, &payload);
        out.push(Arrival::Chunk(info, payload));
        signer.handle_timeout(now);
        while let Some(n) = signer.poll_manifest(&mut mbuf) {
            let first = Manifest::parse(&mbuf[..n]).expect("own manifest").first_seq;
            max_hold_us = max_hold_us.max(seq.saturating_sub(first) * step_us);
            out.push(Arrival::Manifest(mbuf[..n].to_vec()));
        }
    }
    println!(
        "longest a chunk waits for its manifest at the root: {} ms",
        max_hold_us / 1000
    );
    signer.handle_timeout(Instant::from_micros(CHUNKS * step_us + 200_000));
    while let Some(n) = signer.poll_manifest(&mut mbuf) {
        out.push(Arrival::Manifest(mbuf[..n].to_vec()));
    }
    (out, pk, key.key)
}

/// The box's work on one second of stream, for a box that gets each chunk before its manifest (a
/// box fed by the root; the usual case): chunks are held, and when the manifest comes the held
/// ones are checked together ([`Verifier::check_many`]) and descrambled. Returns bytes output
/// (to keep the work observable).
fn box_side(arrivals: &mut [Arrival], pk: &Modulus, key: &[u8; 32]) -> usize {
    let mut v = Verifier::new(pk, TAG, 2048).expect("2048 is a valid window");
    let mut d = Descrambler::new();
    let mut pending: Vec<usize> = Vec::with_capacity(64);
    let mut verdicts = [Verdict::Unknown; 64];
    let mut output = 0;
    for i in 0..arrivals.len() {
        match &arrivals[i] {
            Arrival::Chunk(info, payload) => {
                if v.check(info, payload) == Verdict::Unknown {
                    pending.push(i);
                }
            }
            Arrival::Manifest(m) => {
                v.handle_manifest(m).expect("root's manifests verify");
                let held = pending.iter().map(|&j| match &arrivals[j] {
                    Arrival::Chunk(info, payload) => Some((*info, &payload[..])),
                    Arrival::Manifest(_) => None,
                });
                v.check_many(held, &mut verdicts);
                for (k, &j) in pending.iter().enumerate() {
                    assert_eq!(verdicts[k], Verdict::Valid);
                    if let Arrival::Chunk(info, payload) = &mut arrivals[j] {
                        d.descramble(payload, key, TAG, info.seq);
                        output += black_box(payload.len());
                    }
                }
                pending.clear();
            }
        }
    }
    assert!(pending.is_empty());
    output
}

/// The same work for a box that gets each manifest before its chunks (a box fed by another box,
/// which forwards the manifest, then the chunks it held), checking every chunk alone on arrival
/// ([`Verifier::check`], one hash at a time): what a box does when fewer than
/// [`tvmesh_crypto::MANY`] chunks come within `BATCH_WAIT` (low bit rates), and did before.
fn box_side_manifest_first(arrivals: &mut [Arrival], pk: &Modulus, key: &[u8; 32]) -> usize {
    let mut v = verifier_with_manifests(arrivals, pk);
    let mut d = Descrambler::new();
    let mut output = 0;
    for a in arrivals.iter_mut() {
        if let Arrival::Chunk(info, payload) = a {
            assert_eq!(v.check(info, payload), Verdict::Valid);
            d.descramble(payload, key, TAG, info.seq);
            output += black_box(payload.len());
        }
    }
    output
}

/// The same for a box that gets each manifest before its chunks and, as `peer/integrity.rs`
/// does, copies each arriving chunk into a batch slot, hashes [`tvmesh_crypto::MANY`] of them
/// side by side (at 8 Mbit/s eight arrive within ≈ 11 ms; `BATCH_WAIT` is 8 ms, and a box whose
/// parent passes on a segment at once gets them in a burst) and copies each out again.
fn box_side_manifest_first_batched(
    arrivals: &mut [Arrival],
    pk: &Modulus,
    key: &[u8; 32],
) -> usize {
    const N: usize = tvmesh_crypto::MANY;
    let mut v = verifier_with_manifests(arrivals, pk);
    let mut d = Descrambler::new();
    let empty = ChunkInfo {
        seq: 0,
        flags: ChunkFlags::NONE,
        key_id: 0,
        stamp_ms: 0,
    };
    let mut slots = vec![(empty, 0usize, [0u8; CHUNK_MAX]); N];
    let mut n = 0;
    let mut verdicts = [Verdict::Unknown; N];
    let mut output = 0;
    let chunks = arrivals.iter().filter_map(|a| match a {
        Arrival::Chunk(info, payload) => Some((*info, &payload[..])),
        Arrival::Manifest(_) => None,
    });
    let mut flush = |slots: &mut [(ChunkInfo, usize, [u8; CHUNK_MAX])], v: &mut Verifier| {
        v.check_many(
            slots.iter().map(|(i, len, p)| Some((*i, &p[..*len]))),
            &mut verdicts,
        );
        for (k, (info, len, p)) in slots.iter().enumerate() {
            assert_eq!(verdicts[k], Verdict::Valid);
            // The peer copies a released chunk out of its slot before passing it on.
            let mut out = [0u8; CHUNK_MAX];
            out[..*len].copy_from_slice(&p[..*len]);
            d.descramble(black_box(&mut out[..*len]), key, TAG, info.seq);
            output += black_box(*len);
        }
    };
    for (info, payload) in chunks {
        slots[n].0 = info;
        slots[n].1 = payload.len();
        slots[n].2[..payload.len()].copy_from_slice(payload);
        n += 1;
        if n == N {
            flush(&mut slots[..], &mut v);
            n = 0;
        }
    }
    flush(&mut slots[..n], &mut v);
    output
}

/// A verifier that has checked every manifest of `arrivals` (a box that got them all first).
fn verifier_with_manifests(arrivals: &[Arrival], pk: &Modulus) -> Verifier {
    let mut v = Verifier::new(pk, TAG, 2048).expect("2048 is a valid window");
    for a in arrivals {
        if let Arrival::Manifest(m) = a {
            v.handle_manifest(m).expect("root's manifests verify");
        }
    }
    v
}

/// One part of the box's work alone, for a split where callgrind is not available (the box
/// targets under qemu-user): `verify` (the manifests' signatures), `hash` (the same, then every
/// chunk against them, 8 at a time: subtract `verify`) or `descramble` (every chunk, no checks).
fn part(which: &str, arrivals: &mut [Arrival], pk: &Modulus, key: &[u8; 32]) -> usize {
    let mut v = if which == "descramble" {
        Verifier::new(pk, TAG, 2048).expect("2048 is a valid window")
    } else {
        verifier_with_manifests(arrivals, pk)
    };
    let mut verdicts = [Verdict::Unknown; CHUNKS as usize];
    let mut d = Descrambler::new();
    match which {
        "hash" => {
            let chunks = arrivals.iter().filter_map(|a| match a {
                Arrival::Chunk(info, payload) => Some(Some((*info, &payload[..]))),
                Arrival::Manifest(_) => None,
            });
            v.check_many(chunks, &mut verdicts);
            verdicts.iter().filter(|&&x| x == Verdict::Valid).count()
        }
        "descramble" => arrivals
            .iter_mut()
            .map(|a| match a {
                Arrival::Chunk(info, payload) => d.descramble(payload, key, TAG, info.seq),
                Arrival::Manifest(_) => 0,
            })
            .sum(),
        _ => v.stats().manifests as usize,
    }
}

// The benchmark measures wall time around the core's work; the core itself never reads a clock.
#[allow(clippy::disallowed_methods)]
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("box");
    let (arrivals, pk, key) = build();
    let manifests = arrivals
        .iter()
        .filter(|a| matches!(a, Arrival::Manifest(_)))
        .count();
    let side: fn(&mut [Arrival], &Modulus, &[u8; 32]) -> usize = match mode {
        "box-mf" | "time-mf" => box_side_manifest_first_batched,
        "box-mf1" | "time-mf1" => box_side_manifest_first,
        _ => box_side,
    };
    match mode {
        "root" => {
            // The one-time key setup every box mode also does (a verifier's Montgomery constants,
            // once per channel key): in the baseline, so `mode − root` is the per-second work.
            let v = Verifier::new(&pk, TAG, 2048).expect("2048 is a valid window");
            black_box(&v);
            println!("built {CHUNKS} chunks, {manifests} manifests");
        }
        "verify" | "hash" | "descramble" => {
            let mut a = arrivals;
            println!("{mode}: {}", black_box(part(mode, &mut a, &pk, &key)));
        }
        "box" | "box-mf" | "box-mf1" => {
            let mut a = arrivals;
            let n = side(&mut a, &pk, &key);
            println!("verified + descrambled {CHUNKS} chunks ({n} bytes), {manifests} manifests");
        }
        "time" | "time-mf" | "time-mf1" => {
            let reps: u32 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(50);
            let mut runs = Vec::with_capacity(reps as usize);
            for _ in 0..reps.max(1) {
                let mut a: Vec<Arrival> = arrivals
                    .iter()
                    .map(|x| match x {
                        Arrival::Chunk(i, p) => Arrival::Chunk(*i, p.clone()),
                        Arrival::Manifest(m) => Arrival::Manifest(m.clone()),
                    })
                    .collect();
                let t = WallClock::now();
                black_box(side(&mut a, &pk, &key));
                runs.push(t.elapsed());
            }
            runs.sort();
            let (best, median) = (runs[0], runs[runs.len() / 2]);
            println!(
                "{} runs per stream-second: best {best:?}, median {median:?} \
                 = {:.3}% of one core here (median)",
                runs.len(),
                median.as_secs_f64() * 100.0
            );
        }
        _ => eprintln!("usage: drm_cost [root|box|box-mf|box-mf1|verify|hash|descramble|time N|time-mf N|time-mf1 N]"),
    }
}
