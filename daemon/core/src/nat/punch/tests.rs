use super::*;
use std::vec::Vec;

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn introduce_bytes() {
    let i = Introduce {
        session: 0x0102_0304,
        peer_id: 0xA0B0_C0D0,
        public: sa("203.0.113.7:4000"),
        private: Some(sa("198.51.100.2:5000")),
        nat: crate::nat::report::NatCode::Symmetric,
    };
    let mut b = [0u8; 64];
    let n = i.encode(&mut b).unwrap();
    #[rustfmt::skip]
    let want = [
        0xC1, 0x20, 0x00, 0x00,
        0x01, 0x02, 0x03, 0x04, 0xA0, 0xB0, 0xC0, 0xD0,
        0x04, 203, 0, 113, 7, 0x0F, 0xA0,
        0x04, 198, 51, 100, 2, 0x13, 0x88,
        0x04,
    ];
    assert_eq!(b[..n], want);
    assert_eq!(Introduce::parse(&want), Ok(i));
    // An older root's INTRODUCE has no NAT byte: unknown.
    let old = Introduce::parse(&want[..want.len() - 1]);
    assert_eq!(old.map(|o| o.nat), Ok(NatCode::Unknown));
    let none = Introduce { private: None, ..i };
    let n = none.encode(&mut b).unwrap();
    assert_eq!((n, b[n - 2], b[n - 1]), (21, 0, 4));
    assert_eq!(Introduce::parse(&b[..n]), Ok(none));
    for cut in 0..want.len() - 1 {
        assert!(Introduce::parse(&want[..cut]).is_err(), "cut at {cut}");
    }
    let mut bad = want;
    bad[12] = 5;
    assert_eq!(Introduce::parse(&bad), Err(PunchError::Family));
    assert_eq!(i.encode(&mut b[..26]), Err(PunchError::Buffer));
}

#[test]
fn probe_bytes() {
    let p = Probe {
        ack: false,
        session: 0xDEAD_BEEF,
        seq: 0x0102,
        cand: 1,
    };
    let mut b = [0u8; 16];
    assert_eq!(p.encode(&mut b), Ok(11));
    assert_eq!(
        b[..11],
        [0xC1, 0x21, 0, 0, 0xDE, 0xAD, 0xBE, 0xEF, 0x01, 0x02, 0x01]
    );
    assert_eq!(Probe::parse(&b[..11]), Ok(p));
    let a = Probe { ack: true, ..p };
    a.encode(&mut b).unwrap();
    assert_eq!(b[1], 0x22);
    assert_eq!(Probe::parse(&b[..11]), Ok(a));
    assert_eq!(Probe::parse(&b[..10]), Err(PunchError::Truncated));
    assert_eq!(Probe::parse(&[0xC1, 0x10, 0, 0]), Err(PunchError::Type));
    assert_eq!(p.encode(&mut b[..10]), Err(PunchError::Buffer));
}

/// Two punch sessions and a scripted network: `deliver(src, dst)` says whether a datagram from
/// `src` reaches `dst`, and with which source address it arrives.
fn run(
    a_intro: Introduce,
    b_intro: Introduce,
    a_local: SocketAddr,
    b_local: SocketAddr,
    deliver: impl Fn(SocketAddr, SocketAddr) -> Option<(SocketAddr, SocketAddr)>,
    until: Duration,
) -> (Vec<PunchEvent>, Vec<PunchEvent>, usize) {
    let t0 = Instant::from_millis(10);
    let cfg = PunchConfig {
        keepalive: Duration::from_secs(60), // clamped to 25 s
        ..PunchConfig::default()
    };
    let mut p = [Punch::new(t0, &a_intro, cfg), Punch::new(t0, &b_intro, cfg)];
    let locals = [a_local, b_local];
    let mut ev = [Vec::new(), Vec::new()];
    let mut sent = 0;
    let mut now = t0;
    let mut buf = [0u8; 64];
    for _ in 0..100_000 {
        for i in 0..2 {
            while let Some(t) = p[i].poll_transmit(now, &mut buf) {
                sent += 1;
                // (arriving source, delivered to which session)
                if let Some((src, dst)) = deliver(locals[i], t.dst) {
                    if let Some(j) = locals.iter().position(|l| *l == dst) {
                        assert!(p[j].handle_datagram(now, src, &buf[..t.len]));
                    }
                }
            }
        }
        for i in 0..2 {
            p[i].handle_timeout(now);
            while let Some(e) = p[i].poll_event() {
                ev[i].push(e);
            }
        }
        let next = [p[0].poll_timeout(), p[1].poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        match next {
            Some(n) if n.saturating_since(t0) <= until => {
                now = n.max(now + Duration::from_micros(1))
            }
            _ => break,
        }
    }
    let [a, b] = ev;
    (a, b, sent)
}

fn intro(session: u32, public: SocketAddr, private: Option<SocketAddr>) -> Introduce {
    Introduce {
        session,
        peer_id: 0,
        public,
        private,
        nat: crate::nat::report::NatCode::Unknown,
    }
}

#[test]
fn open_pair_connects_on_public() {
    let a = sa("203.0.113.10:1000");
    let b = sa("203.0.113.11:2000");
    let ia = intro(9, b, None);
    let ib = intro(9, a, None);
    let (ea, eb, _) = run(ia, ib, a, b, |s, d| Some((s, d)), Duration::from_secs(1));
    assert!(
        matches!(ea[0], PunchEvent::Connected { addr, kind: CandKind::Public, .. } if addr == b)
    );
    assert!(matches!(eb[0], PunchEvent::Connected { addr, .. } if addr == a));
}

#[test]
fn same_nat_prefers_private() {
    // Both behind 192.0.2.1; hairpinning works too, but the private path must win.
    let (a, b) = (sa("198.51.100.2:1000"), sa("198.51.100.3:1000"));
    let (pa, pb) = (sa("192.0.2.1:1000"), sa("192.0.2.1:1001"));
    let ia = intro(9, pb, Some(b));
    let ib = intro(9, pa, Some(a));
    let net = move |s: SocketAddr, d: SocketAddr| {
        let src = if d.ip() == pa.ip() {
            if s == a {
                pa
            } else {
                pb
            }
        } else {
            s
        };
        let dst = if d == pa {
            a
        } else if d == pb {
            b
        } else {
            d
        };
        Some((src, dst))
    };
    let (ea, eb, _) = run(ia, ib, a, b, net, Duration::from_secs(1));
    assert!(
        matches!(ea[0], PunchEvent::Connected { addr, kind: CandKind::Private, .. } if addr == b),
        "{ea:?}"
    );
    assert!(
        matches!(
            eb[0],
            PunchEvent::Connected {
                kind: CandKind::Private,
                ..
            }
        ),
        "{eb:?}"
    );
}

#[test]
fn symmetric_peer_reached_through_reflexive_candidate() {
    // B is behind an address-and-port-dependent NAT: toward A it appears as 192.0.2.9:7777, not
    // the public address the root saw. A is open.
    let a = sa("203.0.113.10:1000");
    let b = sa("198.51.100.2:5000");
    let b_root = sa("192.0.2.9:6666");
    let b_to_a = sa("192.0.2.9:7777");
    let ia = intro(5, b_root, Some(b));
    let ib = intro(5, a, None);
    let net = move |s: SocketAddr, d: SocketAddr| {
        if s == b && d == a {
            Some((b_to_a, a))
        } else if s == a && d == b_to_a {
            Some((a, b))
        } else {
            None
        }
    };
    let (ea, eb, _) = run(ia, ib, a, b, net, Duration::from_secs(2));
    assert!(
        matches!(ea[0], PunchEvent::Connected { addr, kind: CandKind::Reflexive, .. } if addr == b_to_a),
        "{ea:?}"
    );
    assert!(
        matches!(eb[0], PunchEvent::Connected { addr, .. } if addr == a),
        "{eb:?}"
    );
}

#[test]
fn blocked_pair_fails_at_deadline_with_bounded_probes() {
    let a = sa("203.0.113.10:1000");
    let b = sa("203.0.113.11:2000");
    let ia = intro(9, b, Some(sa("198.51.100.9:1")));
    let ib = intro(9, a, None);
    let (ea, eb, sent) = run(ia, ib, a, b, |_, _| None, Duration::from_secs(10));
    assert_eq!(ea, [PunchEvent::Failed]);
    assert_eq!(eb, [PunchEvent::Failed]);
    // 31 rounds (t = 0, 0.1, … 3.0 s) × 2 candidates + 31 × 1.
    assert!(sent <= 31 * 3, "sent {sent}");
}

#[test]
fn keepalive_at_most_25s_and_loss_detected() {
    let a = sa("203.0.113.10:1000");
    let b = sa("203.0.113.11:2000");
    let ia = intro(1, b, None);
    let t0 = Instant::ZERO;
    let mut p = Punch::new(
        t0,
        &ia,
        PunchConfig {
            keepalive: Duration::from_secs(90),
            ..PunchConfig::default()
        },
    );
    let mut buf = [0u8; 32];
    let t = p.poll_transmit(t0, &mut buf).unwrap();
    let mut ack = [0u8; 16];
    let n = Probe {
        ack: true,
        ..Probe::parse(&buf[..t.len]).unwrap()
    }
    .encode(&mut ack)
    .unwrap();
    assert!(p.handle_datagram(t0, b, &ack[..n]));
    assert!(matches!(p.poll_event(), Some(PunchEvent::Connected { .. })));
    assert_eq!(p.path(), Some(b));
    assert_eq!(p.poll_timeout(), Some(Instant::from_millis(25_000)));
    let k = Instant::from_millis(25_000);
    assert_eq!(p.poll_transmit(k, &mut buf).map(|t| t.dst), Some(b));
    // A datagram from another session changes nothing.
    let n2 = Probe {
        ack: true,
        session: 2,
        seq: 0,
        cand: 0,
    }
    .encode(&mut ack)
    .unwrap();
    assert!(!p.handle_datagram(k, b, &ack[..n2]));
    p.handle_timeout(Instant::from_millis(75_000));
    assert_eq!(p.poll_event(), Some(PunchEvent::Lost));
    let _ = a;
}

#[test]
fn first_round_to_public_candidates_is_ttl_limited() {
    let ia = intro(1, sa("203.0.113.11:2000"), Some(sa("198.51.100.2:9")));
    let t0 = Instant::ZERO;
    let mut p = Punch::new(t0, &ia, PunchConfig::default());
    let mut buf = [0u8; 32];
    let mut round = |now| {
        let mut v = Vec::new();
        while let Some(t) = p.poll_transmit(now, &mut buf) {
            v.push((t.dst.port(), p.ttl()));
        }
        v
    };
    assert_eq!(round(t0), [(2000, Some(2)), (9, None)]);
    assert_eq!(round(Instant::from_millis(100)), [(2000, None), (9, None)]);
}

#[test]
fn relay_budget_is_a_token_bucket() {
    let t0 = Instant::ZERO;
    let mut r = RelayBudget::new(t0, 1000, 1500);
    assert!(r.try_consume(t0, 1500));
    assert!(!r.try_consume(t0, 1));
    assert!(r.try_consume(Instant::from_millis(500), 500));
    assert!(!r.try_consume(Instant::from_millis(500), 1));
    assert!(r.try_consume(Instant::from_millis(10_000), 1500));
    assert_eq!((r.relayed, r.refused), (3500, 2));
}
