//! Random, truncated and mutated datagrams at the root and the box never panic; they are counted,
//! and the stream keeps flowing to an honest box.

mod common;
use common::*;
use std::time::Duration;
use tvmesh_core::output::OutputId;
use tvmesh_core::peer::PeerConfig;
use tvmesh_core::ring::Rng;

#[test]
fn garbage_is_counted_and_stream_continues() {
    let mut sim = Sim::new(1, PeerConfig::default());
    sim.run_for(Duration::from_secs(2));
    let mut rng = Rng::new(99);
    let attacker = box_addr(50);
    let mut buf = [0u8; 1500];
    for i in 0..20_000u32 {
        let len = (rng.next_u64() % 1400) as usize;
        for b in buf[..len].iter_mut() {
            *b = rng.next_u64() as u8;
        }
        // Half look like tvmesh (right magic, random type and body).
        if i % 2 == 0 && len > 1 {
            buf[0] = 0xC1;
            buf[1] = [0x01, 0x02, 0x03, 0x04, 0x05, 0x10, 0x11, 0x7F][(i / 2 % 8) as usize];
        }
        let now = sim.now;
        sim.root.handle_datagram(now, attacker, &buf[..len]);
        // The box accepts only its root's address; also throw garbage "from" the root.
        sim.boxes[0].handle_datagram(now, addr(ROOT), &buf[..len]);
        sim.boxes[0].handle_datagram(now, attacker, &buf[..len]);
    }
    sim.run_for(Duration::from_secs(3));
    assert!(sim.root.stats().bad_datagrams > 5_000);
    assert!(sim.boxes[0].stats().bad_datagrams > 5_000);
    assert!(
        sim.boxes[0].stats().ignored > 10_000,
        "{:?} {:?}",
        sim.boxes[0].stats(),
        sim.boxes[0].integrity_stats()
    );
    let st = sim.boxes[0].output_stats(OutputId(0));
    assert!(st.chunks > 400, "stream continued: {st:?}");
    // Garbage chunks "from the root" with far-away sequence numbers can restart the stream epoch,
    // which is what a root restart looks like; the output must still be whole packets.
    assert_eq!(sim.sink[0].len() % 188, 0);
}
