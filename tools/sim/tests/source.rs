//! The synthetic source is what the issue asks for once the root's chunker has seen it:
//! 2 Mbit/s with one random-access chunk per second.

use tvmesh_core::root::{ChannelSpec, Root, RootConfig};
use tvmesh_core::time::Instant;
use tvmesh_sim::tsgen::TsGen;

#[test]
fn root_cuts_one_key_frame_per_second_at_2_mbit() {
    let mut root = Root::new(
        RootConfig::default(),
        &[ChannelSpec {
            name: "tv",
            bitrate_kbps: 2000,
        }],
        Instant::from_millis(1000),
    )
    .expect("default config is valid");
    let mut g = TsGen::new(2_000_000, 25, 25);
    let mut buf = Vec::new();
    for step in 1..=2000u64 {
        let t = step * 5_000; // 10 s in 5 ms steps
        g.feed_until(t, &mut buf);
        root.handle_source(Instant::from_micros(1_000_000 + t), 0, &buf);
        buf.clear();
        root.handle_timeout(Instant::from_micros(1_000_000 + t));
    }
    let s = root.channel_stats(0).expect("channel 0 exists");
    assert_eq!(s.chunker.psi_errors, 0);
    assert_eq!(s.resyncs, 0);
    assert!(
        (10..=11).contains(&s.chunker.raps),
        "{} key frames in 10 s",
        s.chunker.raps
    );
    let kbps = s.bytes_in * 8 / 10_000;
    assert!((1990..=2010).contains(&kbps), "{kbps} kbit/s");
    // Full chunks of 7 packets, plus one short chunk before each key frame.
    let per_s = s.chunker.chunks / 10;
    assert!((185..=200).contains(&per_s), "{per_s} chunks/s");
}
