//! A swarm in which 20% of boxes are malicious (flipped bits, replayed chunks, forged manifests,
//! lying maps, request floods) delivers zero corrupted bytes to honest sinks: every chunk an honest
//! box hands its sink is byte-identical to the source's chunk with the same sequence number, in
//! order, and honest continuity stays ≥ 99%.

mod common;
use common::hostile::{Hostile, ALL_ATTACKS};
use common::*;
use std::collections::HashMap;
use std::time::Duration;
use tvmesh_core::output::OutputId;
use tvmesh_core::peer::PeerConfig;

const BOXES: usize = 25;

#[test]
fn malicious_fifth_corrupts_nothing() {
    let mut sim = Sim::new(0, PeerConfig::default());
    sim.loss_ppm = 2_000;
    sim.drain = false;
    sim.run_for(Duration::from_secs(2));
    for i in 0..BOXES {
        let b = sim.add_box(PeerConfig::default());
        if i % 5 == 4 {
            sim.hostile[b] = Some(Hostile::new(ALL_ATTACKS[i / 5]));
        }
        sim.run_for(Duration::from_millis(100));
    }
    let honest: Vec<usize> = (0..BOXES).filter(|&i| sim.hostile[i].is_none()).collect();
    // What each honest sink takes, chunk by chunk (a peek is one chunk's remaining bytes).
    let mut written: Vec<Vec<Vec<u8>>> = vec![Vec::new(); BOXES];
    let start = sim.now;
    let mut steps = 0;
    while sim.now.saturating_since(start) < Duration::from_secs(14) {
        steps += 1;
        assert!(steps < 10_000, "bounded");
        sim.run_for(Duration::from_millis(20));
        for &i in &honest {
            while let Some(b) = sim.boxes[i].output_peek(OutputId(0)) {
                let n = b.len();
                written[i].push(b.to_vec());
                sim.boxes[i].output_advance(OutputId(0), n);
            }
        }
    }
    // The source's chunks, by payload (the sample loops, so one payload may have several seqs).
    let pool = sim.root.pool(0).unwrap();
    let (lo, hi) = (pool.window_start().unwrap(), pool.newest().unwrap());
    let mut by_payload: HashMap<&[u8], Vec<u64>> = HashMap::new();
    for seq in lo..=hi {
        if let Some(c) = pool.get(seq) {
            by_payload.entry(c.payload).or_default().push(seq);
        }
    }
    let first_joined = 1_000_000 + 150; // boxes joined after ~2 s of a ~100 chunk/s source
    assert!(lo < first_joined, "root pool holds the whole run: {lo}");
    let mut low = Vec::new();
    for &i in &honest {
        let mut last = 0u64;
        for (k, w) in written[i].iter().enumerate() {
            let seqs = by_payload.get(w.as_slice());
            let next = seqs.and_then(|s| s.iter().copied().find(|&s| s > last));
            let Some(seq) = next else {
                panic!(
                    "box {i}: chunk {k} ({} bytes) matches no source chunk after {last}",
                    w.len()
                );
            };
            last = seq;
        }
        let c = sim.boxes[i].continuity_ppm(OutputId(0));
        let st = sim.boxes[i].integrity_stats();
        println!(
            "box {i}: {} chunks, continuity {c}, {st:?}",
            written[i].len()
        );
        assert!(
            written[i].len() > 1000,
            "box {i} played: {}",
            written[i].len()
        );
        if c < 990_000 {
            low.push((i, c, sim.boxes[i].stats()));
        }
    }
    assert!(low.is_empty(), "continuity < 99%: {low:?}");
    // The attacks were seen and answered.
    let sum = |f: fn(&tvmesh_core::peer::IntegrityStats) -> u64| {
        honest
            .iter()
            .map(|&i| f(&sim.boxes[i].integrity_stats()))
            .sum::<u64>()
    };
    println!(
        "forged {} rejected manifests {} bans {} refused requests {}",
        sum(|s| s.forged),
        sum(|s| s.manifests_rejected),
        sum(|s| s.bans),
        sum(|s| s.requests_refused)
    );
    assert!(sum(|s| s.forged) > 0);
    assert!(sum(|s| s.bans) > 0);
}
