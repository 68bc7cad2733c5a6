//! A box that gets nothing for seconds after joining (no partner can reach it, the root's seed
//! places are taken) starts near the live edge once the stream comes, not at the key frame
//! JOIN_ACK named: played from there, every chunk would be seconds behind the source.

mod common;
use common::*;
use std::time::Duration;
use tvmesh_core::peer::PeerConfig;
use tvmesh_core::root::RootConfig;

#[test]
fn a_start_point_gone_stale_moves_on() {
    let root = RootConfig {
        seed_copies: 1,
        ..root_config()
    };
    let mut sim = Sim::with_root(root, 1, PeerConfig::default());
    sim.run_for(Duration::from_secs(3));
    // Box 0 holds every seed place; box 1 cannot reach it, so the root refuses it (no place
    // free, and a box with no partner does not take an alone seed's place).
    let b1 = sim.add_box(PeerConfig::default());
    sim.cut.push((box_addr(0), box_addr(b1)));
    sim.run_for(Duration::from_millis(1200));
    assert!(
        sim.boxes[b1].join_time().is_none(),
        "box 1 got the stream while box 0 held the places"
    );
    // Box 0 crashes: its places go to box 1 when it next asks (about 2 s after it joined).
    sim.dead[0] = true;
    let mut lag_at_start = None;
    for _ in 0..100 {
        sim.run_for(Duration::from_millis(100));
        if sim.boxes[b1].join_time().is_some() {
            lag_at_start = sim.boxes[b1].lag_ms();
            break;
        }
    }
    let lag = lag_at_start.expect("box 1 plays within 10 s of box 0's crash");
    let waited = sim.boxes[b1].join_time().unwrap();
    assert!(
        waited >= Duration::from_secs(2),
        "first output after {waited:?}"
    );
    // Played from the key frame JOIN_ACK named, it would start about as far behind as it
    // waited (2.1 s measured); moved on after 1.5 s, 1.2 s.
    assert!(
        lag < 1_600,
        "box 1 started {lag} ms behind the source after waiting {waited:?}"
    );
    sim.run_for(Duration::from_secs(3));
    let st = sim.boxes[b1].stats();
    assert_eq!(st.late, 0, "chunks played more than 4 s late: {st:?}");
    assert!(st.played > 200, "box 1 played {} chunks", st.played);
}
