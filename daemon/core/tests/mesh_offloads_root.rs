//! Twenty boxes share the stream: the root sends about `seed_copies` (1, the default) copy of it
//! plus a few repairs and control, within issue 4's 2× target, every box plays with continuity ≥ 99.5% under 1% loss, and most bytes come from peers.

mod common;
use common::*;
use std::time::Duration;
use tvmesh_core::output::OutputId;
use tvmesh_core::peer::PeerConfig;

#[test]
fn root_egress_stays_near_one_copy() {
    let mut sim = Sim::new(0, PeerConfig::default());
    sim.loss_ppm = 10_000;
    sim.run_for(Duration::from_secs(2));
    for _ in 0..20 {
        sim.add_box(PeerConfig::default());
        sim.run_for(Duration::from_millis(100));
    }
    sim.run_for(Duration::from_secs(4));
    // Steady window: 10 s.
    let (b0, in0) = (
        sim.root_bytes_out(),
        sim.root.channel_stats(0).unwrap().bytes_in,
    );
    sim.run_for(Duration::from_secs(10));
    let (b1, in1) = (
        sim.root_bytes_out(),
        sim.root.channel_stats(0).unwrap().bytes_in,
    );
    let ratio = (b1 - b0) as f64 / (in1 - in0) as f64;
    println!("root egress = {ratio:.2} × the stream for 20 boxes");
    assert!(ratio <= 2.0, "root egress {ratio:.2} × stream");
    let (mut from_root, mut from_peers) = (0, 0);
    for (i, b) in sim.boxes.iter().enumerate() {
        let c = b.continuity_ppm(OutputId(0));
        assert!(
            c >= 995_000,
            "box {i}: continuity {c}: {:?} {:?} {:?}",
            b.stats(),
            b.output_stats(OutputId(0)),
            b.integrity_stats()
        );
        assert!(b.partners() >= 2, "box {i} has {} partners", b.partners());
        from_root += b.stats().bytes_from_root;
        from_peers += b.stats().bytes_from_peers;
    }
    assert!(
        from_peers > 4 * from_root,
        "peers {from_peers} vs root {from_root}"
    );
}
