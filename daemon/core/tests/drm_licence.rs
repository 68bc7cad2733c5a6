//! DRM on the data path, in virtual time: the root scrambles a protected channel at ingest; an
//! entitled box gets keys and its sink receives the clear stream; boxes with no entitlement, an
//! expired one, a wrong secret or no identity get no key, write nothing, say why — and still
//! relay the scrambled chunks. Keys rotate every 2 s during the run.

mod common;
use common::*;
use std::collections::HashSet;
use std::time::Duration;
use tvmesh_core::chunk::ChunkFlags;
use tvmesh_core::drm::entitlements::Entitlements;
use tvmesh_core::peer::{DeviceIdentity, DrmState, PeerConfig};

const UNIX0: u64 = 1_790_000_000;
const SECRET: [u8; 32] = [0x11; 32];

fn ents() -> Entitlements {
    let s = "11".repeat(32);
    let text = format!(
        "device good secret={s} channels=demo\n\
         device other secret={s} channels=news\n\
         device old secret={s} channels=* until=2020-01-01\n\
         device wrongkey secret={s} channels=*\n"
    );
    Entitlements::parse(&text, 16).unwrap()
}

fn cfg(id: Option<&str>, secret: [u8; 32]) -> PeerConfig {
    PeerConfig {
        device: id.map(|i| DeviceIdentity::new(i.as_bytes(), secret).unwrap()),
        // About two streams of upload each (the sample is ~1 Mbit/s): no one box can feed the
        // other five, so unlicensed boxes must relay too.
        upload_kbps: 2500,
        ..PeerConfig::default()
    }
}

fn step(sim: &mut Sim, d: Duration) {
    let end = sim.now + d;
    while sim.now < end {
        let unix = UNIX0 + sim.now.as_millis() / 1000;
        sim.root.handle_unix_time(unix);
        for b in &mut sim.boxes {
            b.handle_unix_time(unix);
        }
        sim.run_for(Duration::from_millis(100));
    }
}

#[test]
fn entitled_box_plays_others_relay_but_output_nothing() {
    let mut sim = Sim::new(0, PeerConfig::default());
    sim.root.handle_unix_time(UNIX0);
    sim.root.protect(0, [7; 32], 2).unwrap();
    sim.root.set_entitlements(ents());
    let good = sim.add_box(cfg(Some("good"), SECRET));
    // The licensed box joins alone (its join time is measured below); the others follow.
    step(&mut sim, Duration::from_secs(1));
    let none = sim.add_box(cfg(Some("other"), SECRET));
    let old = sim.add_box(cfg(Some("old"), SECRET));
    let bad = sim.add_box(cfg(Some("wrongkey"), [0x22; 32]));
    let stranger = sim.add_box(cfg(Some("nobody"), SECRET));
    let anon = sim.add_box(cfg(None, SECRET));
    step(&mut sim, Duration::from_secs(9));

    let st = |i: usize| sim.boxes[i].drm_state().0;
    assert_eq!(st(good), DrmState::Licensed);
    assert_eq!(st(none), DrmState::NoLicence);
    assert_eq!(st(old), DrmState::Expired);
    assert_eq!(st(bad), DrmState::BadAuth);
    assert_eq!(st(stranger), DrmState::UnknownDevice);
    assert_eq!(st(anon), DrmState::NoIdentity);
    for i in [none, old, bad, stranger, anon] {
        assert!(
            sim.sink[i].is_empty(),
            "box {i} wrote {} bytes",
            sim.sink[i].len()
        );
        // Still in the mesh: it received the scrambled chunks.
        assert!(
            sim.boxes[i].stats().chunks_in > 100,
            "box {i} holds no chunks"
        );
    }
    let uploaded: u64 = [none, old, bad, stranger, anon]
        .iter()
        .map(|&i| sim.boxes[i].stats().bytes_uploaded)
        .sum();
    assert!(uploaded > 0, "unlicensed boxes relayed nothing");

    // The licensed box wrote the clear stream: every packet it wrote is a source packet, and
    // keys rotated (2 s periods over 9 s) without a gap.
    let out = &sim.sink[good];
    assert!(
        out.len() > 500_000,
        "licensed box wrote {} bytes",
        out.len()
    );
    let src: HashSet<&[u8]> = sim.source.chunks(188).collect();
    let foreign = packets(out).iter().filter(|p| !src.contains(*p)).count();
    assert_eq!(foreign, 0, "packets not in the source (badly descrambled)");
    let s = sim.boxes[good].drm_stats();
    assert!(s.granted >= 3, "renewed at rotations: {s:?}");
    assert_eq!(
        sim.boxes[good]
            .output_stats(tvmesh_core::output::OutputId(0))
            .skips,
        0
    );
    // In transit and in the pool the chunks are scrambled.
    let pool = sim.boxes[good].pool();
    let newest = pool.newest().unwrap();
    let c = (newest - 50..newest).find_map(|s| pool.get(s)).unwrap();
    assert!(c.info.flags.contains(ChunkFlags::ENCRYPTED));
    assert_ne!(c.info.key_id, 0);
    assert!(!src.contains(&c.payload[188..376]) || !src.contains(&c.payload[376..564]));
    // The licence costs one round trip to the root after JOIN_ACK (virtual 20 ms links).
    let jt = sim.boxes[good].join_time().unwrap();
    println!("protected join to first byte: {jt:?}");
    assert!(jt <= Duration::from_millis(250), "join took {jt:?}");
    let r = sim.root.drm_stats();
    assert!(
        r.scrambled > 500 && r.granted >= 3 && r.refused >= 4,
        "{r:?}"
    );
}

#[test]
fn reloaded_entitlements_grant_a_waiting_box() {
    let mut sim = Sim::new(0, PeerConfig::default());
    sim.root.protect(0, [7; 32], 60).unwrap();
    let b = sim.add_box(cfg(Some("other"), SECRET));
    step(&mut sim, Duration::from_secs(3));
    assert_eq!(sim.boxes[b].drm_state().0, DrmState::UnknownDevice); // no file loaded yet
    assert!(sim.sink[b].is_empty());
    let s = "11".repeat(32);
    let text = format!("device other secret={s} channels=demo\n");
    sim.root
        .set_entitlements(Entitlements::parse(&text, 4).unwrap());
    step(&mut sim, Duration::from_secs(4));
    assert_eq!(sim.boxes[b].drm_state().0, DrmState::Licensed);
    assert!(sim.sink[b].len() > 100_000, "wrote {}", sim.sink[b].len());
}
