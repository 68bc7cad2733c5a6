//! One seed copy, and the seed of the biggest tree crashes: the boxes below it look for new
//! parents all at once. None may stay below its own descendant (a parent loop: the substream
//! never comes back to anyone in it) beyond a MAP round, and everyone plays on.

mod common;
use common::*;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;
use tvmesh_core::output::OutputId;

const BOXES: usize = 200;

/// Boxes (by index) on a parent loop in substream `s`.
fn loops(sim: &Sim, s: usize) -> Vec<usize> {
    let index: HashMap<SocketAddr, usize> = (0..BOXES).map(|i| (box_addr(i), i)).collect();
    let parent = |i: usize| {
        sim.boxes[i].parent_addrs()[s]
            .and_then(|a| index.get(&a).copied())
            .filter(|&j| !sim.dead[j])
    };
    let mut on_loop = Vec::new();
    for start in (0..BOXES).filter(|&i| !sim.dead[i]) {
        let mut at = start;
        // A chain longer than the swarm revisits a box.
        for _ in 0..=BOXES {
            match parent(at) {
                Some(j) if j == start => {
                    on_loop.push(start);
                    break;
                }
                Some(j) => at = j,
                None => break,
            }
        }
    }
    on_loop
}

#[test]
fn no_parent_loop_after_a_seed_crash() {
    // Mixed uplinks, as in the field: trees several levels deep.
    let mut sim = Sim::one_seed_mixed(BOXES);
    sim.loss_ppm = 5_000;
    sim.run_for(Duration::from_secs(10));
    let victim = (0..BOXES)
        .filter(|&i| sim.boxes[i].hops().contains(&1))
        .max_by_key(|&i| sim.boxes[i].stats().bytes_uploaded)
        // After 10 s the root feeds at least one box: the test cannot go on without one.
        .expect("a seed box");
    sim.dead[victim] = true;
    let before: Vec<u64> = sim.boxes.iter().map(|b| b.stats().played).collect();
    // Boxes switching in the same instant on each other's stale MAPs can close a loop for one
    // MAP round (feasibility holds only on consistent information); the next MAP opens it. A
    // loop that lasts starves everyone in it: none may outlive three samples (300 ms). The code
    // before the rule held one of 10–15 boxes for 1.3 s here.
    let mut run = [0u32; 4];
    let mut worst = (0u32, 0usize, 0usize, Vec::new());
    for step in 0..80 {
        sim.run_for(Duration::from_millis(100));
        for (s, r) in run.iter_mut().enumerate() {
            let l = loops(&sim, s);
            *r = if l.is_empty() { 0 } else { *r + 1 };
            if *r > worst.0 {
                worst = (*r, step, s, l);
            }
        }
    }
    assert!(
        worst.0 <= 3,
        "{} ms after seed {victim} crashed, substream {}: boxes {:?} on a parent loop for {} ms",
        (worst.1 + 1) * 100,
        worst.2,
        worst.3,
        worst.0 * 100
    );
    // Everyone plays on; most boxes never notice. (A few, re-attached deep in the re-formed
    // tree, play part of the time more than `late_after` behind: late chunks count against
    // continuity. Measured: median 99.45%, 10th percentile 96.95%, lowest 78.1%. Before the
    // root introduced a new seed to the one it displaced, median 99.88%: see BENCHMARKS, the
    // regression after a seed crash.)
    let mut c: Vec<u32> = (0..BOXES)
        .filter(|&i| i != victim)
        .map(|i| sim.boxes[i].continuity_ppm(OutputId(0)))
        .collect();
    c.sort_unstable();
    println!(
        "continuity: lowest {}, 10th percentile {}, median {}",
        c[0],
        c[c.len() / 10],
        c[c.len() / 2]
    );
    assert!(
        c[c.len() / 2] >= 990_000,
        "median continuity {}",
        c[c.len() / 2]
    );
    assert!(
        c[c.len() / 10] >= 950_000,
        "10th percentile continuity {}",
        c[c.len() / 10]
    );
    for i in (0..BOXES).filter(|&i| i != victim) {
        assert!(
            sim.boxes[i].stats().played > before[i],
            "box {i} stopped playing: {:?}",
            sim.boxes[i].stats()
        );
    }
}
