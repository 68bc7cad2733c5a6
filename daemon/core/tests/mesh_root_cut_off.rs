//! A box loses its path to the root for longer than the root's session timeout: it keeps playing
//! from its partners, and when the path returns it registers again (the root says its session is
//! unknown).

mod common;
use common::*;
use std::time::Duration;
use tvmesh_core::output::OutputId;
use tvmesh_core::peer::{PeerConfig, PeerState};

#[test]
fn box_plays_from_peers_and_reregisters() {
    let mut sim = Sim::new(6, PeerConfig::default());
    sim.run_for(Duration::from_secs(5));
    // Cut a box that is not a seed (gets little from the root) off the root.
    let victim = (0..6)
        .min_by_key(|&i| sim.boxes[i].stats().bytes_from_root)
        .unwrap();
    let before = sim.boxes[victim].output_stats(OutputId(0)).chunks;
    sim.cut.push((box_addr(victim), addr(ROOT)));
    sim.run_for(Duration::from_secs(14));
    let b = &sim.boxes[victim];
    assert!(
        b.output_stats(OutputId(0)).chunks > before + 1000,
        "kept playing from peers: {:?}",
        b.stats()
    );
    assert!(
        b.continuity_ppm(OutputId(0)) >= 990_000,
        "{:?}",
        b.output_stats(OutputId(0))
    );
    let joins = b.stats().joins;
    sim.cut.clear();
    sim.run_for(Duration::from_secs(4));
    let b = &sim.boxes[victim];
    assert_eq!(b.state(), PeerState::Playing);
    assert!(b.stats().joins > joins, "registered again: {:?}", b.stats());
    assert!(b.continuity_ppm(OutputId(0)) >= 990_000);
}
