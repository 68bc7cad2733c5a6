//! A box that asked the root for a substream claims to be one hop from the source only while the
//! root is actually pushing it to that box. Before the first chunk (refusal lost or unsaid) and
//! after the root falls silent it has no path, and says so in its MAPs: boxes cut off with it
//! must not hang themselves below a box with nothing to give.

use std::net::SocketAddr;
use std::time::Duration;
use tvmesh_core::chunk::{ChunkFlags, ChunkInfo};
use tvmesh_core::peer::{Peer, PeerConfig};
use tvmesh_core::time::Instant;
use tvmesh_core::wire::{Message, HOPS_NONE};

const ROOT: &str = "192.0.2.1:7000";

fn root() -> SocketAddr {
    ROOT.parse().unwrap()
}

/// Everything the box has to send now (dropped: no one answers).
fn drain(p: &mut Peer, now: Instant) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 2048];
    while let Some(t) = p.poll_transmit(now, &mut buf) {
        out.push(buf[..t.len].to_vec());
    }
    out
}

fn chunk(seq: u64, stamp_ms: u32) -> Vec<u8> {
    let mut payload = vec![0u8; 7 * 188];
    for pkt in payload.chunks_mut(188) {
        pkt[..4].copy_from_slice(&[0x47, 0x1f, 0xff, 0x10]);
    }
    let info = ChunkInfo {
        seq,
        flags: ChunkFlags::NONE,
        key_id: 0,
        stamp_ms,
    };
    let mut buf = [0u8; 2048];
    let n = Message::Chunk {
        channel: 1,
        info,
        sent_us: 0,
        payload: &payload,
    }
    .emit(&mut buf)
    .unwrap();
    buf[..n].to_vec()
}

#[test]
fn root_parent_counts_as_a_path_only_while_it_pushes() {
    let mut now = Instant::ZERO;
    // Unsigned test chunks: integrity checks (peer/integrity.rs) are another test's subject.
    let cfg = PeerConfig {
        verify: false,
        ..PeerConfig::default()
    };
    let mut p = Peer::new(cfg, root(), "demo", now).unwrap();
    p.output_open().unwrap();
    p.handle_timeout(now);
    let join = drain(&mut p, now);
    let nonce = join
        .iter()
        .find_map(|d| match Message::parse(d) {
            Ok(Message::Join { nonce, .. }) => Some(nonce),
            _ => None,
        })
        .expect("the box sends JOIN first");
    let mut buf = [0u8; 256];
    let n = Message::JoinAck {
        channel: 1,
        nonce,
        token: 77,
        live_seq: 100,
        rap_seq: 100,
        bitrate_kbps: 2000,
        now_ms: 0,
        flags: 0,
    }
    .emit(&mut buf)
    .unwrap();
    now = now + Duration::from_millis(50);
    p.handle_datagram(now, root(), &buf[..n]);
    // No partners: the box asks the root for every substream.
    for _ in 0..3 {
        now = now + Duration::from_millis(100);
        p.handle_timeout(now);
        drain(&mut p, now);
    }
    assert_eq!(
        p.parent_kinds(),
        [1; 4],
        "asked the root for every substream"
    );
    assert_eq!(
        p.hops(),
        [HOPS_NONE; 4],
        "nothing pushed yet: no path claimed"
    );
    // The root pushes substream 0 (seq 100 is in substream 0: seq % 4).
    now = now + Duration::from_millis(20);
    p.handle_datagram(now, root(), &chunk(100, 350));
    assert_eq!(p.hops()[0], 1, "fed by the root in substream 0");
    assert_eq!(p.hops()[1], HOPS_NONE);
    // The root falls silent (its SWITCH_HOLD keeps it the parent a while): no path any more.
    now = now + Duration::from_millis(1200);
    p.handle_timeout(now);
    drain(&mut p, now);
    assert_eq!(p.hops()[0], HOPS_NONE, "root silent past parent_timeout");
}
