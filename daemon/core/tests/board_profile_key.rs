//! A board profile that names the channel key by its fingerprint: the box accepts the root's key
//! only when the fingerprint matches, and with any other fingerprint it verifies nothing, so it
//! stores, forwards and outputs nothing.

mod common;
use common::*;
use std::time::Duration;
use tvmesh_core::peer::PeerConfig;

#[test]
fn only_the_named_key_is_pinned() {
    let mut sim = Sim::new(0, PeerConfig::default());
    let fingerprint = sim.root.channel_key_fingerprint(0).expect("the root signs");
    let mut wrong = fingerprint;
    wrong[0] ^= 1;
    let good = sim.add_box(PeerConfig {
        channel_key: Some(fingerprint),
        ..PeerConfig::default()
    });
    let bad = sim.add_box(PeerConfig {
        channel_key: Some(wrong),
        ..PeerConfig::default()
    });
    sim.run_for(Duration::from_secs(4));

    let g = sim.boxes[good].integrity_stats();
    assert!(g.key_known, "{g:?}");
    assert_eq!(sim.boxes[good].channel_key(), Some(fingerprint));
    assert!(g.valid > 200, "the good box verified {} chunks", g.valid);
    assert!(!sim.sink[good].is_empty(), "the good box plays");

    let b = sim.boxes[bad].integrity_stats();
    assert!(!b.key_known, "{b:?}");
    assert_eq!(sim.boxes[bad].channel_key(), None);
    assert!(b.key_mismatch > 0, "the root's key was refused: {b:?}");
    assert_eq!(b.valid, 0, "{b:?}");
    assert!(
        sim.sink[bad].is_empty(),
        "nothing unverified reaches the sink"
    );
    assert_eq!(sim.boxes[bad].stats().played, 0);
}
