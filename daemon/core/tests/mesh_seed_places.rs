//! One seed copy per substream: the root's four seed places end on four distinct strong boxes,
//! not on the weak box that asked first, and strong boxes sit nearer the root than weak ones.

mod common;
use common::*;
use std::time::Duration;
use tvmesh_core::output::OutputId;
use tvmesh_core::peer::PeerConfig;
use tvmesh_core::root::RootConfig;

fn cfg(upload_kbps: u32) -> PeerConfig {
    PeerConfig {
        upload_kbps,
        ..PeerConfig::default()
    }
}

#[test]
fn seed_places_spread_over_strong_boxes() {
    let root = RootConfig {
        seed_copies: 1,
        ..root_config()
    };
    // A weak box (half the 1000 kbit/s stream) joins first and takes every seed place.
    let mut sim = Sim::with_root(root, 1, cfg(500));
    sim.run_for(Duration::from_secs(3));
    assert_eq!(sim.root.channel_stats(0).unwrap().seeds, 1);
    for _ in 0..6 {
        sim.add_box(cfg(4000));
        sim.run_for(Duration::from_millis(300));
    }
    for _ in 0..5 {
        sim.add_box(cfg(500));
        sim.run_for(Duration::from_millis(300));
    }
    sim.run_for(Duration::from_secs(10));
    let seeds = sim.root.channel_stats(0).unwrap().seeds;
    assert_eq!(seeds, 4, "one distinct seed box per substream, got {seeds}");
    let hops: Vec<[u8; 4]> = sim.boxes.iter().map(|b| b.hops()).collect();
    println!(
        "hops: weak first {:?}, strong {:?}, weak {:?}",
        hops[0],
        &hops[1..7],
        &hops[7..]
    );
    for (s, &first) in hops[0].iter().enumerate() {
        // The root feeds strong boxes only, and no weak box is nearer the root than every strong one.
        assert!(first > 1, "the weak first box still seeds substream {s}");
        let strong = (1..7).map(|i| hops[i][s]).min().unwrap();
        let weak = (7..12).map(|i| hops[i][s]).min().unwrap();
        assert_eq!(strong, 1, "substream {s}: no strong seed");
        assert!(weak > 1, "substream {s}: a weak box is a seed");
    }
    for (i, b) in sim.boxes.iter().enumerate() {
        let c = b.continuity_ppm(OutputId(0));
        assert!(c >= 990_000, "box {i}: continuity {c}: {:?}", b.stats());
    }
}
