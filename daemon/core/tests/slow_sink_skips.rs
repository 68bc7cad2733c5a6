//! A sink that stops reading never stalls the box: its output skips to the latest key frame, the
//! skip is counted, and output stays packet-aligned and starts at PAT/PMT/key frame again.

mod common;
use common::*;
use std::time::Duration;
use tvmesh_core::output::OutputId;
use tvmesh_core::peer::PeerConfig;

#[test]
fn stalled_sink_skips_to_keyframe() {
    let cfg = PeerConfig {
        output_queue_chunks: 200,
        ..PeerConfig::default()
    };
    let mut sim = Sim::new(1, cfg);
    sim.run_for(Duration::from_secs(2));
    sim.drain = false;
    sim.run_for(Duration::from_millis(100));
    // The sink takes 100 bytes (mid-packet) then stops reading for 4 s.
    let first = sim.boxes[0].output_peek(OutputId(0)).unwrap().len();
    assert!(first > 100);
    sim.boxes[0].output_advance(OutputId(0), 100);
    let mut out = sim.sink[0].clone();
    out.extend_from_slice(&[0; 100]); // placeholder for the 100 bytes taken
    sim.run_for(Duration::from_secs(4));
    let played_during_stall = sim.boxes[0].stats().played;
    assert!(played_during_stall > 300);
    // The sink reads again: first the rest of the interrupted packet, then a key frame.
    let tail = sim.boxes[0].output_peek(OutputId(0)).unwrap().to_vec();
    assert_eq!(tail.len(), 88, "rest of the interrupted packet");
    sim.boxes[0].output_advance(OutputId(0), 88);
    out.extend_from_slice(&tail);
    let next = sim.boxes[0].output_peek(OutputId(0)).unwrap().to_vec();
    assert_eq!(pid(&next[..188]), 0, "resumes at a RAP chunk (PAT first)");
    assert_eq!(pid(&next[188..376]), 0x1000);
    let s = sim.boxes[0].output_stats(OutputId(0));
    assert_eq!(s.skips, 1);
    assert!(s.skipped_chunks > 100);
    assert!(sim.boxes[0].continuity_ppm(OutputId(0)) < 1_000_000);
    assert_eq!(out.len() % 188, 0, "aligned");
}
