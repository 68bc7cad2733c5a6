//! A box high in a substream's tree vanishes (no LEAVE). Its subtree is cut off from the root
//! and gets chunks by repair from outside, yet no box in it may claim a path fresher than the
//! vanished box had (`peer/fresh.rs`): that is what keeps a cut-off box from taking one of its
//! own descendants as parent. Then the subtree re-attaches, with no parent loop left.

mod common;
use common::*;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

const BOXES: usize = 80;

/// Box `i`'s parent in substream `s`, as a box index (`None`: the root, no parent, or gone).
fn parent(sim: &Sim, index: &HashMap<SocketAddr, usize>, i: usize, s: usize) -> Option<usize> {
    sim.boxes[i].parent_addrs()[s].and_then(|a| index.get(&a).copied())
}

#[test]
fn a_cut_off_subtree_is_never_fresher_than_its_top() {
    // Mixed uplinks, as in the field: trees several levels deep.
    let mut sim = Sim::one_seed_mixed(BOXES);
    sim.loss_ppm = 5_000;
    sim.run_for(Duration::from_secs(10));
    let index: HashMap<SocketAddr, usize> = (0..BOXES).map(|i| (box_addr(i), i)).collect();
    // The biggest subtree under a box that is not a seed, over all substreams.
    let below = |sim: &Sim, v: usize, s: usize| -> HashSet<usize> {
        let mut set = HashSet::new();
        for b in (0..BOXES).filter(|&b| b != v) {
            let (mut at, mut chain) = (b, Vec::new());
            for _ in 0..BOXES {
                match parent(sim, &index, at, s) {
                    Some(p) if p == v => {
                        chain.push(at);
                        set.extend(chain);
                        break;
                    }
                    Some(p) => {
                        chain.push(at);
                        at = p;
                    }
                    None => break,
                }
            }
        }
        set
    };
    let (victim, s, cut) = (0..BOXES)
        .flat_map(|v| (0..4).map(move |s| (v, s)))
        .filter(|&(v, s)| sim.boxes[v].hops()[s] >= 2)
        .map(|(v, s)| (v, s, below(&sim, v, s)))
        .max_by_key(|x| x.2.len())
        // After 10 s, 80 boxes form trees several levels deep: the test needs one such box.
        .expect("a box with a subtree");
    assert!(cut.len() >= 3, "subtree of {} boxes only", cut.len());
    let top = sim.boxes[victim].fresh()[s];
    assert!(top > 0, "the victim had no path freshness");
    sim.dead[victim] = true;
    // Sample every 50 ms for 4 s. A box of the cut subtree whose parent chain still stays
    // inside it is cut off: its freshness may not exceed the victim's. One whose chain once left
    // the subtree found a path elsewhere and is no longer checked.
    let mut escaped: HashSet<usize> = HashSet::new();
    let mut checked = 0u32;
    for step in 0..80 {
        sim.run_for(Duration::from_millis(50));
        for &b in &cut {
            if escaped.contains(&b) {
                continue;
            }
            let (mut at, mut inside) = (b, true);
            for _ in 0..BOXES {
                match parent(&sim, &index, at, s) {
                    Some(p) if p == victim || p == at => break,
                    Some(p) if cut.contains(&p) => at = p,
                    Some(_) => {
                        inside = false;
                        break;
                    }
                    // The root (a box re-seeded) or no parent.
                    None => {
                        inside = sim.boxes[at].hops()[s] != 1;
                        break;
                    }
                }
            }
            if !inside {
                escaped.insert(b);
                continue;
            }
            checked += 1;
            let f = sim.boxes[b].fresh()[s];
            assert!(
                f <= top,
                "{} ms after box {victim} vanished, box {b} (cut off below it in substream {s}) \
                 claims freshness {f} > {top}",
                (step + 1) * 50
            );
        }
    }
    println!(
        "victim {victim} s {s} subtree {} checked {checked} escaped {}",
        cut.len(),
        escaped.len()
    );
    assert!(checked > 0, "no box of the subtree was ever seen cut off");
    // All of them found a path again, none on a loop.
    for &b in &cut {
        let h = sim.boxes[b].hops()[s];
        assert!(
            (1..=16).contains(&h),
            "box {b} substream {s}: hops {h} 4 s after box {victim} vanished (cut off or looping)"
        );
        assert!(
            sim.boxes[b].fresh()[s] > top,
            "box {b} substream {s}: path no fresher than before the cut"
        );
    }
}
