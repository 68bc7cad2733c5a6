use super::*;
use crate::nat::punch::{Introduce, PunchEvent};

#[test]
fn roles() {
    use NatCode::*;
    assert_eq!(role(Cone, Symmetric), Role::Easy);
    assert_eq!(role(Symmetric, Cone), Role::Hard);
    assert_eq!(role(Open, Symmetric), Role::Passive);
    assert_eq!(role(FullCone, Cone), Role::Passive);
    for (a, b) in [
        (Cone, Cone),
        (Symmetric, Symmetric),
        (Symmetric, FullCone),
        (Cone, Open),
        (Open, Unknown),
        (Unknown, Symmetric),
        (Cone, Unknown),
    ] {
        assert_eq!(role(a, b), Role::Plain, "{a:?} {b:?}");
    }
}

#[test]
fn sweep_is_paced_bounded_and_in_range() {
    let cfg = BirthdayConfig {
        probes: 100,
        ..BirthdayConfig::default()
    };
    let ip: IpAddr = "203.0.113.12".parse().unwrap();
    let t0 = Instant::ZERO;
    let mut s = Sweep::new(t0, ip, &cfg, 7);
    assert_eq!(s.poll(t0), None, "waits start_after");
    assert_eq!(s.poll_timeout(), Some(t0 + cfg.start_after));
    // Driven exactly at its deadlines: one probe each, 1 ms apart.
    let mut now = t0 + cfg.start_after;
    let mut ports = std::collections::BTreeSet::new();
    for _ in 0..50 {
        let d = s.poll(now).unwrap();
        assert_eq!(d.ip(), ip);
        assert!(d.port() >= PORT_LO);
        ports.insert(d.port());
        assert_eq!(s.poll(now), None, "one per interval");
        now = s.poll_timeout().unwrap();
    }
    assert!(ports.len() > 45, "random ports: {}", ports.len());
    // A wake-up 1 s late catches up by at most BURST probes.
    now = now + Duration::from_secs(1);
    let mut burst = 0;
    while s.poll(now).is_some() {
        burst += 1;
    }
    assert_eq!(burst, BURST + 1);
    // Never more than `probes` in all.
    let mut later = now;
    for _ in 0..1000 {
        later = later + Duration::from_millis(1);
        let _ = s.poll(later);
    }
    assert_eq!(s.sent, 100);
    assert_eq!(s.poll_timeout(), None);
}

/// A symmetric NAT: every (local socket, destination) gets a random public port.
struct HardNat {
    rng: Rng,
    out: std::collections::BTreeMap<(SocketAddr, SocketAddr), u16>,
    back: std::collections::BTreeMap<u16, (SocketAddr, SocketAddr)>,
}

impl HardNat {
    fn map(&mut self, local: SocketAddr, dst: SocketAddr) -> u16 {
        if let Some(p) = self.out.get(&(local, dst)) {
            return *p;
        }
        loop {
            let p = PORT_LO + (self.rng.next_u64() % 64_512) as u16;
            if let std::collections::btree_map::Entry::Vacant(e) = self.back.entry(p) {
                e.insert((local, dst));
                self.out.insert((local, dst), p);
                return p;
            }
        }
    }
}

/// A scripted cone ↔ symmetric pair. The easy box E sits behind an endpoint-independent NAT
/// with address-and-port-dependent filtering; the hard box H behind a NAT that gives every
/// (socket, destination) a random public port and lets in only that destination. H's shell
/// sprays `ports` sockets when asked and routes a peer's traffic through the socket it answered
/// on. Returns both sides' events, E's sweep count and the datagrams dropped by a filter.
fn birthday_pair(ports: u16, seed: u64) -> ([Option<PunchEvent>; 2], u16, usize) {
    use crate::nat::punch::{Punch, PunchConfig};
    use std::collections::BTreeMap;
    let sa = |s: &str| -> SocketAddr { s.parse().unwrap() };
    let (e_pub, h_ip) = (sa("203.0.113.11:4000"), sa("203.0.113.12:0").ip());
    let h_data = sa("198.51.100.18:4000");
    let intro = |public, nat| Introduce {
        session: 42,
        peer_id: 0,
        public,
        private: None,
        nat,
    };
    let t0 = Instant::from_millis(5);
    let bcfg = BirthdayConfig {
        ports,
        ..BirthdayConfig::default()
    };
    // E learnt H's public address from the root: the mapping of H's data socket toward it.
    let mut e = Punch::new(
        t0,
        &intro(SocketAddr::new(h_ip, 31_000), NatCode::Symmetric),
        PunchConfig::default(),
    );
    e.birthday(role(NatCode::Cone, NatCode::Symmetric), &bcfg, seed);
    let mut h = Punch::new(t0, &intro(e_pub, NatCode::Cone), PunchConfig::default());
    h.birthday(role(NatCode::Symmetric, NatCode::Cone), &bcfg, seed ^ 1);
    // H's NAT: (local socket, destination) → public port, and back.
    let mut nat = HardNat {
        rng: Rng::new(seed ^ 0xABCD),
        out: BTreeMap::new(),
        back: BTreeMap::new(),
    };
    let mut e_sent_to: BTreeMap<SocketAddr, ()> = BTreeMap::new();
    let mut route: Option<(SocketAddr, SocketAddr)> = None; // (peer, spray socket)
    let (mut dropped, mut ev) = (0, [None, None]);
    let mut now = t0;
    let mut buf = [0u8; 64];
    for _ in 0..100_000 {
        if let Some(r) = h.poll_spray() {
            assert_eq!((r.dst, r.ttl), (e_pub, Some(2)));
            for k in 0..r.ports {
                // TTL 2: the mapping exists, the datagram dies before E's NAT.
                nat.map(SocketAddr::new(h_data.ip(), 5000 + k), r.dst);
            }
        }
        while let Some(t) = e.poll_transmit(now, &mut buf) {
            e_sent_to.insert(t.dst, ());
            let hit = (t.dst.ip() == h_ip)
                .then(|| nat.back.get(&t.dst.port()).copied())
                .flatten()
                .filter(|(_, allowed)| *allowed == e_pub);
            match hit {
                Some((local, _)) => {
                    if local != h_data && route.is_none() {
                        route = Some((e_pub, local));
                    }
                    h.handle_datagram(now, e_pub, &buf[..t.len]);
                }
                None => dropped += 1,
            }
        }
        while let Some(t) = h.poll_transmit(now, &mut buf) {
            // The shell sends what it routes at the socket's default TTL.
            let (local, routed) = match route {
                Some((peer, sock)) if peer == t.dst => (sock, true),
                _ => (h_data, false),
            };
            if h.ttl().is_some() && !routed {
                nat.map(local, t.dst);
                continue;
            }
            let from = SocketAddr::new(h_ip, nat.map(local, t.dst));
            if t.dst == e_pub && e_sent_to.contains_key(&from) {
                e.handle_datagram(now, from, &buf[..t.len]);
            } else {
                dropped += 1;
            }
        }
        for (k, p) in [&mut e, &mut h].into_iter().enumerate() {
            p.handle_timeout(now);
            while let Some(x) = p.poll_event() {
                ev[k].get_or_insert(x);
            }
        }
        if ev.iter().all(Option::is_some) {
            break;
        }
        match [e.poll_timeout(), h.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
        {
            Some(t) => now = t.max(now + Duration::from_micros(1)),
            None => break,
        }
    }
    (ev, e.swept(), dropped)
}

#[test]
fn birthday_pair_connects_through_a_sprayed_port() {
    let mut connected = 0;
    for seed in 1..=5 {
        let (ev, swept, dropped) = birthday_pair(256, seed);
        let [Some(PunchEvent::Connected {
            addr: ea,
            kind,
            after,
        }), Some(PunchEvent::Connected { addr: ha, .. })] = ev
        else {
            panic!("seed {seed}: {ev:?} after {swept} sweep probes");
        };
        connected += 1;
        assert_eq!(
            ha,
            "203.0.113.11:4000".parse().unwrap(),
            "hard side talks to E's public address"
        );
        assert_eq!(ea.ip(), "203.0.113.12".parse::<IpAddr>().unwrap());
        assert_eq!(kind, crate::nat::punch::CandKind::Reflexive);
        assert!(swept <= 2048 && dropped > 0, "{swept} {dropped}");
        // The sweep stopped at the hit: it took (start_after + swept × 1 ms) plus a round trip.
        assert!(
            after < Duration::from_millis(200 + u64::from(swept) + 150),
            "{after:?} {swept}"
        );
    }
    assert_eq!(connected, 5);
}

#[test]
fn without_a_spray_the_sweep_gives_up_bounded() {
    let (ev, swept, _) = birthday_pair(0, 9);
    assert_eq!(ev[0], Some(PunchEvent::Failed));
    assert_eq!(ev[1], Some(PunchEvent::Failed));
    assert_eq!(swept, 2048, "all probes, then no more");
}

#[test]
fn passive_side_waits_for_the_peer_then_probes() {
    use crate::nat::punch::{Probe, Punch, PunchConfig};
    let peer: SocketAddr = "203.0.113.13:4000".parse().unwrap();
    let intro = Introduce {
        session: 5,
        peer_id: 0,
        public: peer,
        private: None,
        nat: NatCode::Cone,
    };
    let t0 = Instant::from_millis(1);
    let mut p = Punch::new(t0, &intro, PunchConfig::default());
    p.birthday(
        role(NatCode::Open, intro.nat),
        &BirthdayConfig::default(),
        1,
    );
    assert_eq!(p.role(), Role::Passive);
    let mut buf = [0u8; 64];
    // A second of rounds: nothing leaves toward the NATed peer.
    let mut now = t0;
    while now < t0 + Duration::from_secs(1) {
        assert_eq!(p.poll_transmit(now, &mut buf), None);
        now = p.poll_timeout().unwrap();
    }
    // The peer's PUNCH (from its mapping toward us) is answered at once, then probed.
    let from: SocketAddr = "203.0.113.13:4000".parse().unwrap();
    let punch = Probe {
        ack: false,
        session: 5,
        seq: 1,
        cand: 0,
    };
    let n = punch.encode(&mut buf).unwrap();
    assert!(p.handle_datagram(now, from, &buf[..n]));
    let ack = p.poll_transmit(now, &mut buf).unwrap();
    assert_eq!((ack.dst, buf[1]), (from, 0x22));
    let probe = p.poll_transmit(now, &mut buf).unwrap();
    assert_eq!((probe.dst, buf[1], p.ttl()), (peer, 0x21, None));
}
