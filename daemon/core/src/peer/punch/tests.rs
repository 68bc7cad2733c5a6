use super::*;
use crate::nat::punch::Probe;
use std::vec::Vec;

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

const ROOT: &str = "203.0.113.2:3478";

fn at(ms: u64) -> Instant {
    Instant::ZERO + Duration::from_millis(ms)
}

/// Everything the box sends at `now`: (destination, ttl, datagram).
fn drain(p: &mut Peer, now: Instant) -> Vec<(SocketAddr, Option<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = [0u8; crate::wire::MAX_DATAGRAM];
    while let Some(t) = p.poll_transmit(now, &mut buf) {
        out.push((t.dst, p.transmit_ttl(), buf[..t.len].to_vec()));
    }
    out
}

fn playing_box() -> Peer {
    // Chunks here carry no manifests: integrity is tested in peer/integrity.rs.
    let cfg = PeerConfig {
        verify: false,
        ..PeerConfig::default()
    };
    let mut p = Peer::new(cfg, sa(ROOT), "ch", at(0)).unwrap();
    p.set_nat(NatCode::Cone, Some(sa("198.51.100.2:4000")));
    drain(&mut p, at(0));
    let mut b = [0u8; 128];
    let nonce = match p.state {
        State::Joining { nonce, .. } => nonce,
        _ => unreachable!(),
    };
    let n = Message::JoinAck {
        channel: 3,
        nonce,
        token: 0x0A0B_0C0D,
        live_seq: 100,
        rap_seq: 100,
        bitrate_kbps: 1000,
        now_ms: 0,
        flags: 0,
    }
    .emit(&mut b)
    .unwrap();
    p.handle_datagram(at(1), sa(ROOT), &b[..n]);
    p
}

#[test]
fn reports_punches_with_openers_and_greets_the_path() {
    let mut p = playing_box();
    let out = drain(&mut p, at(2));
    let report: Vec<u8> = [0xC1, 0x23, 0, 3, 0x0A, 0x0B, 0x0C, 0x0D, 3, 1]
        .into_iter()
        .chain([4, 198, 51, 100, 2, 0x0F, 0xA0])
        .collect();
    assert_eq!(out[0], (sa(ROOT), None, report), "REPORT first");
    // An INTRODUCE from anyone but the root is ignored.
    let peer = sa("203.0.113.20:4000");
    let intro = Introduce {
        session: 77,
        peer_id: 1,
        public: peer,
        private: None,
        nat: crate::nat::report::NatCode::Unknown,
    };
    let mut b = [0u8; 64];
    let n = intro.encode(&mut b).unwrap();
    p.handle_datagram(at(3), peer, &b[..n]);
    assert_eq!(p.punch_info().count(), 0);
    p.handle_datagram(at(3), sa(ROOT), &b[..n]);
    let out = drain(&mut p, at(3));
    let probe = |ack, seq| {
        let mut d = [0u8; Probe::LEN];
        Probe {
            ack,
            session: 77,
            seq,
            cand: 0,
        }
        .encode(&mut d)
        .unwrap();
        d.to_vec()
    };
    assert!(out.contains(&(peer, Some(2), probe(false, 0))), "{out:?}");
    // The next round goes at the default TTL.
    let out = drain(&mut p, at(110));
    assert!(out.contains(&(peer, None, probe(false, 1))), "{out:?}");
    // The peer answers: connected, and the box greets it there.
    p.handle_datagram(at(120), peer, &probe(true, 1));
    let info: Vec<PunchInfo> = p.punch_info().collect();
    assert_eq!(info[0].path, PathKind::Direct);
    assert_eq!((info[0].path_addr, info[0].after_ms), (Some(peer), 117));
    let out = drain(&mut p, at(121));
    assert!(
        out.iter().any(|(a, _, d)| *a == peer && d[1] == 0x07),
        "HELLO to the punched peer: {out:?}"
    );
    // A PUNCH from the peer is answered with an ACK.
    p.handle_datagram(at(130), peer, &probe(false, 5));
    let out = drain(&mut p, at(130));
    assert!(out.contains(&(peer, None, probe(true, 5))), "{out:?}");
}

#[test]
fn a_punch_without_answer_falls_back_to_relay() {
    let mut p = playing_box();
    let intro = Introduce {
        session: 9,
        peer_id: 1,
        public: sa("203.0.113.12:5555"),
        private: None,
        nat: crate::nat::report::NatCode::Unknown,
    };
    let mut b = [0u8; 64];
    let n = intro.encode(&mut b).unwrap();
    p.handle_datagram(at(3), sa(ROOT), &b[..n]);
    let mut sent = 0;
    let mut t = 3;
    while t < 4000 {
        p.handle_timeout(at(t));
        sent += drain(&mut p, at(t))
            .iter()
            .filter(|(_, _, d)| d[1] == 0x21)
            .count();
        t += 50;
    }
    assert_eq!(p.punch_info().next().unwrap().path, PathKind::Relay);
    // 3 s of rounds every 100 ms, one candidate: about 30 probes, then silence.
    assert!((28..=32).contains(&sent), "{sent} probes");
}

#[test]
fn a_natted_box_is_greeted_by_nobody_and_greets_no_unreachable_peer() {
    // Before the root's JOIN_ACK: a box with NAT facts joins as unreachable.
    let mut p = Peer::new(PeerConfig::default(), sa(ROOT), "ch", at(0)).unwrap();
    p.set_nat(NatCode::Unknown, Some(sa("198.51.100.2:4000")));
    let join = drain(&mut p, at(0));
    match Message::parse(&join[0].2) {
        Ok(Message::Join { flags, .. }) => assert_eq!(flags, 0),
        m => panic!("{m:?}"),
    }
    // Without NAT facts (simulator, tests) it keeps its configured reachability.
    let mut q = Peer::new(PeerConfig::default(), sa(ROOT), "ch", at(0)).unwrap();
    match Message::parse(&drain(&mut q, at(0))[0].2) {
        Ok(Message::Join { flags, .. }) => assert_eq!(flags, crate::wire::FLAG_REACHABLE),
        m => panic!("{m:?}"),
    }
    // Playing: a PEERS list with one unreachable and one reachable box: only the reachable one
    // is greeted, and the HELLO says "do not greet me" (a cone lets no stranger in).
    let mut p = playing_box();
    drain(&mut p, at(2));
    let (hidden, open) = (sa("203.0.113.13:4000"), sa("203.0.113.20:4000"));
    let mut b = [0u8; 128];
    let n = crate::wire::emit_peers(3, &[(hidden, 0), (open, 1)], &mut b).unwrap();
    p.handle_datagram(at(3), sa(ROOT), &b[..n]);
    p.handle_timeout(at(300));
    let out = drain(&mut p, at(300));
    let hellos: Vec<_> = out
        .iter()
        .filter_map(|(a, _, d)| match Message::parse(d) {
            Ok(Message::Hello { flags, .. }) => Some((*a, flags)),
            _ => None,
        })
        .collect();
    assert_eq!(hellos, [(open, 0)], "{out:?}");
    // Once the box knows its NAT lets anyone in, it says so.
    p.set_nat(NatCode::FullCone, Some(sa("198.51.100.2:4000")));
    assert!(p.advertised_reachable());
}

#[test]
fn counts_bytes_of_relayed_substreams() {
    let mut p = playing_box();
    drain(&mut p, at(2));
    // The root subscribed us to all four substreams, relaying 0 and 1 (bits 4-7).
    p.parents = [Parent::Root; SUBSTREAMS];
    let mut b = [0u8; 2048];
    let n = Message::SubAck {
        channel: 3,
        token: 0x0A0B_0C0D,
        accepted: 0x3F,
        refused: 0,
    }
    .emit(&mut b)
    .unwrap();
    p.handle_datagram(at(3), sa(ROOT), &b[..n]);
    let mut relayed = 0;
    for seq in 100..108u64 {
        let info = crate::chunk::ChunkInfo {
            seq,
            flags: crate::chunk::ChunkFlags(0),
            key_id: 0,
            stamp_ms: 0,
        };
        let n = Message::Chunk {
            channel: 3,
            info,
            sent_us: 0,
            payload: &[0x47; 188],
        }
        .emit(&mut b)
        .unwrap();
        if substream(seq) < 2 {
            relayed += n as u64;
        }
        p.handle_datagram(at(4), sa(ROOT), &b[..n]);
    }
    assert!(relayed > 0);
    assert_eq!(p.bytes_relayed(), relayed);
}

/// An INTRODUCE from the root naming a peer with NAT `nat`.
fn introduce(p: &mut Peer, now: Instant, session: u32, public: SocketAddr, nat: NatCode) {
    let intro = Introduce {
        session,
        peer_id: 1,
        public,
        private: None,
        nat,
    };
    let mut b = [0u8; 64];
    let n = intro.encode(&mut b).unwrap();
    p.handle_datagram(now, sa(ROOT), &b[..n]);
}

#[test]
fn roles_follow_both_nat_types() {
    // Symmetric box, cone peer: a spray request once (only if the shell has ports), probes at
    // the opener TTL.
    let mut p = playing_box();
    p.set_nat(NatCode::Symmetric, Some(sa("198.51.100.18:4000")));
    drain(&mut p, at(2));
    introduce(&mut p, at(3), 40, sa("203.0.113.11:4000"), NatCode::Cone);
    assert_eq!(p.poll_spray(), None, "no spray ports: passive");
    p.set_spray_ports(256);
    introduce(&mut p, at(4), 41, sa("203.0.113.13:4000"), NatCode::Cone);
    let r = p.poll_spray().unwrap();
    assert_eq!(
        (r.dst, r.ports, r.ttl),
        (sa("203.0.113.13:4000"), 256, Some(2))
    );
    assert_eq!(&r.probe[..2], &[0xC1, 0x21]);
    assert_eq!(p.poll_spray(), None, "once");
    let later = drain(&mut p, at(500));
    let to_peer: Vec<_> = later.iter().filter(|o| o.0 == r.dst).collect();
    assert!(
        !to_peer.is_empty() && to_peer.iter().all(|o| o.1 == Some(2)),
        "{later:?}"
    );
    assert!(
        later.iter().all(|o| o.0 != sa("203.0.113.11:4000")),
        "passive: {later:?}"
    );
    // Cone box, symmetric peer: besides the plain probes, a sweep of the peer's IP.
    let mut q = playing_box();
    drain(&mut q, at(2));
    introduce(
        &mut q,
        at(3),
        42,
        sa("203.0.113.12:30000"),
        NatCode::Symmetric,
    );
    let mut swept = 0;
    for ms in 3..=300 {
        q.handle_timeout(at(ms));
        swept += drain(&mut q, at(ms))
            .iter()
            .filter(|o| o.0.ip() == sa("203.0.113.12:1").ip() && o.0.port() != 30000)
            .count();
    }
    // From 200 ms after the introduction, one per ms.
    assert!(
        (95..=100).contains(&swept),
        "{swept} sweep probes by 300 ms"
    );
}
