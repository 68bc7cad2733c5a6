//! A box fed by another box gets each manifest before its chunks: it hashes them in batches
//! (side by side) instead of one by one, and still passes on only valid chunks, in time.

mod common;
use common::*;
use std::time::Duration;
use tvmesh_core::peer::PeerConfig;
use tvmesh_core::root::RootConfig;

#[test]
fn manifest_first_chunks_are_hashed_in_batches() {
    let root = RootConfig {
        seed_copies: 1,
        ..root_config()
    };
    let mut sim = Sim::with_root(root, 1, PeerConfig::default());
    sim.jitter_ms = 5;
    sim.run_for(Duration::from_secs(2));
    // Box 1 joins once box 0 holds every seed place: it is fed by box 0, manifests first.
    let b1 = sim.add_box(PeerConfig::default());
    sim.run_for(Duration::from_secs(6));
    let st = sim.boxes[b1].integrity_stats();
    let [full, timed] = st.batches;
    // Box 0 passes each segment's chunks on in a burst once its manifest has come: most batches
    // fill (measured: 60 full, 62 timed out, 650 chunks).
    assert!(
        full > 20 && full + timed > 50,
        "box 1 hashed {full} full batches and {timed} partial ones: {st:?}"
    );
    assert_eq!(st.forged, 0, "{st:?}");
    assert_eq!(st.held_dropped, 0, "{st:?}");
    assert!(
        sim.boxes[b1].stats().bytes_from_peers > 0,
        "box 1 fed by box 0"
    );
    // Every chunk hashed went on to the pool, and playback kept up (each waits ≤ BATCH_WAIT).
    let played = sim.boxes[b1].stats().played;
    assert!(played > 400, "box 1 played {played} chunks");
    assert_eq!(sim.boxes[b1].stats().lost, 0);
    let lag = sim.boxes[b1].lag_ms().unwrap();
    assert!(lag < 500, "box 1 plays {lag} ms behind the source");
}
