//! One seed copy per substream, and a seed box crashes: its subtree loses the only path from
//! the root, asks the root again at once and keeps playing (continuity ≥ 99%) with no loop.

mod common;
use common::*;
use std::time::Duration;
use tvmesh_core::output::OutputId;
use tvmesh_core::peer::PeerConfig;
use tvmesh_core::root::RootConfig;

#[test]
fn a_crashed_seed_is_replaced() {
    let root = RootConfig {
        seed_copies: 1,
        ..root_config()
    };
    let mut sim = Sim::with_root(root, 16, PeerConfig::default());
    sim.loss_ppm = 5_000;
    sim.run_for(Duration::from_secs(8));
    // A box the root feeds directly, with children below it.
    let victim = (0..16)
        .filter(|&i| sim.boxes[i].hops().contains(&1))
        .max_by_key(|&i| sim.boxes[i].stats().bytes_uploaded)
        // After 8 s the root feeds at least one box: the test cannot go on without one.
        .expect("a seed box");
    let lost: Vec<usize> = (0..4)
        .filter(|&s| sim.boxes[victim].hops()[s] == 1)
        .collect();
    sim.dead[victim] = true;
    let before: Vec<u64> = sim.boxes.iter().map(|b| b.stats().played).collect();
    for _ in 0..10 {
        sim.run_for(Duration::from_secs(1));
        if std::env::var_os("DBG").is_some() {
            for (i, b) in sim.boxes.iter().enumerate() {
                println!(
                    "t box {i} hops {:?} kinds {:?} played {} partners {} joins {}",
                    b.hops(),
                    b.parent_kinds(),
                    b.stats().played,
                    b.partners(),
                    b.stats().joins
                );
            }
        }
    }
    for i in (0..16).filter(|&i| i != victim) {
        let b = &sim.boxes[i];
        let c = b.continuity_ppm(OutputId(0));
        assert!(
            c >= 990_000,
            "box {i}: continuity {c} after seed {victim} (substreams {lost:?}) crashed: {:?}",
            b.stats()
        );
        assert!(
            b.stats().played > before[i],
            "box {i} stopped playing: {} then {:?}",
            before[i],
            b.stats()
        );
        for s in 0..4 {
            let h = b.hops()[s];
            assert!(
                (1..=16).contains(&h),
                "box {i} substream {s}: hops {h} (cut off or looping)"
            );
        }
    }
}
