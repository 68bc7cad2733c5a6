//! The box that uploads most crashes mid-stream; its children find other parents and keep
//! playing (continuity ≥ 99%).

mod common;
use common::*;
use std::time::Duration;
use tvmesh_core::output::OutputId;
use tvmesh_core::peer::PeerConfig;

#[test]
fn children_survive_a_parent_crash() {
    let mut sim = Sim::new(12, PeerConfig::default());
    sim.run_for(Duration::from_secs(6));
    let victim = (0..12)
        .max_by_key(|&i| sim.boxes[i].stats().bytes_uploaded)
        .unwrap();
    assert!(sim.boxes[victim].stats().bytes_uploaded > 0);
    sim.dead[victim] = true;
    sim.run_for(Duration::from_secs(8));
    for i in (0..12).filter(|&i| i != victim) {
        let b = &sim.boxes[i];
        let c = b.continuity_ppm(OutputId(0));
        assert!(
            c >= 990_000,
            "box {i}: continuity {c} after box {victim} crashed: {:?}",
            b.stats()
        );
        assert!(b.partners() >= 1);
    }
}
