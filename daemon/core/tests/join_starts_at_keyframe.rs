//! A box joining mid-stream writes PAT, PMT, then a key frame, first: the decoder starts at once.

mod common;
use common::*;
use std::time::Duration;
use tvmesh_core::peer::{PeerConfig, PeerState};

#[test]
fn first_bytes_are_pat_pmt_keyframe() {
    let mut sim = Sim::new(0, PeerConfig::default());
    // The channel runs 3.3 s before the box arrives: it joins mid-GOP.
    sim.run_for(Duration::from_millis(3300));
    sim.add_box(PeerConfig::default());
    let joined_at = sim.now;
    sim.run_for(Duration::from_secs(2));
    assert_eq!(sim.boxes[0].state(), PeerState::Playing);
    let out = &sim.sink[0];
    assert!(out.len() > 100_000, "box wrote {} bytes", out.len());
    assert_eq!(out.len() % 188, 0);
    let pk = packets(out);
    assert_eq!(pid(pk[0]), 0x0000, "PAT first");
    assert_eq!(pid(pk[1]), 0x1000, "PMT second");
    assert_eq!(pid(pk[2]), 0x0100, "video third");
    assert!(pk[2][1] & 0x40 != 0, "video PES starts");
    // Join to first byte within two round trips plus a chunk (virtual 20 ms links).
    let jt = sim.boxes[0].join_time().unwrap();
    assert!(
        jt <= Duration::from_millis(200),
        "join took {jt:?} (box created at {joined_at:?})"
    );
}
