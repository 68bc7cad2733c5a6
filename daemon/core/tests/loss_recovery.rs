//! With 5% loss in both directions, requests recover every chunk: the box's sink gets exactly the
//! root's stream, byte for byte, and continuity is 100%.

mod common;
use common::*;
use std::time::Duration;
use tvmesh_core::output::OutputId;
use tvmesh_core::peer::PeerConfig;

#[test]
fn five_percent_loss_recovered_byte_exact() {
    let mut sim = Sim::new(3, PeerConfig::default());
    sim.loss_ppm = 50_000;
    sim.run_for(Duration::from_secs(12));
    assert!(
        sim.dropped > 100,
        "the link really lost datagrams: {}",
        sim.dropped
    );
    // Reference: the root's own pool, read back from the first box's start.
    let pool = sim.root.pool(0).unwrap();
    for i in 0..3 {
        let b = &sim.boxes[i];
        let st = b.stats();
        assert!(st.requests > 0, "box {i} requested");
        assert_eq!(
            b.continuity_ppm(OutputId(0)),
            1_000_000,
            "box {i}: {:?} {:?}",
            st,
            b.output_stats(OutputId(0))
        );
        // Rebuild the expected bytes from the root's pool over the same sequence range.
        let out = &sim.sink[i];
        let chunks = b.output_stats(OutputId(0)).chunks;
        let first = b.play_head() - chunks;
        let mut expect = Vec::new();
        for s in first..b.play_head() {
            expect.extend_from_slice(pool.get(s).expect("root pool holds the whole run").payload);
        }
        assert_eq!(out.len(), expect.len(), "box {i} length");
        assert!(out == &expect, "box {i} bytes differ");
    }
}
