//! The root answers at most `peers_per_s` requests for peers a second; boxes short of partners
//! then learn addresses from each other, and all still play.

mod common;
use common::*;
use std::time::Duration;
use tvmesh_core::output::OutputId;
use tvmesh_core::peer::PeerConfig;
use tvmesh_core::root::RootConfig;

#[test]
fn peers_answers_stay_within_budget() {
    let root = RootConfig {
        peers_per_s: 1,
        ..root_config()
    };
    let mut sim = Sim::with_root(root, 0, PeerConfig::default());
    sim.run_for(Duration::from_secs(2));
    for _ in 0..24 {
        sim.add_box(PeerConfig::default());
        sim.run_for(Duration::from_millis(50));
    }
    let mut answered = Vec::new();
    for _ in 0..12 {
        let before = sim.root.stats().peers_answered;
        sim.run_for(Duration::from_secs(1));
        answered.push(sim.root.stats().peers_answered - before);
    }
    let st = sim.root.stats();
    println!(
        "answered per second: {answered:?}; {} answered, {} dropped in all",
        st.peers_answered, st.peers_dropped
    );
    assert!(
        st.peers_dropped > 0,
        "the budget never bit: the test shows nothing"
    );
    // One a second; a window boundary inside a one-second slice can let two through.
    assert!(answered.iter().all(|&n| n <= 2), "{answered:?}");
    for (i, b) in sim.boxes.iter().enumerate() {
        let c = b.continuity_ppm(OutputId(0));
        assert!(c >= 990_000, "box {i}: continuity {c}: {:?}", b.stats());
        assert!(b.partners() >= 2, "box {i}: {} partners", b.partners());
    }
}
