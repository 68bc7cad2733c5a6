use super::*;
use crate::nat::punch::TYPE_INTRODUCE;
use std::vec::Vec;

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn root() -> Root {
    let spec = ChannelSpec {
        name: "ch",
        bitrate_kbps: 1000,
    };
    // Sessions outlive CLASSIFY_WAIT without keepalives.
    let cfg = RootConfig {
        session_timeout: Duration::from_secs(60),
        ..RootConfig::default()
    };
    Root::new(cfg, &[spec], Instant::ZERO).unwrap()
}

/// Drains the root; returns (destination, datagram) pairs.
fn drain(r: &mut Root) -> Vec<(SocketAddr, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = [0u8; crate::wire::MAX_DATAGRAM];
    while let Some(t) = r.poll_transmit(&mut buf) {
        out.push((t.dst, buf[..t.len].to_vec()));
    }
    out
}

/// Joins `from` and returns its token.
fn join(r: &mut Root, from: SocketAddr) -> u32 {
    let mut b = [0u8; 128];
    let n = Message::Join {
        nonce: 7,
        flags: FLAG_REACHABLE,
        upload_kbps: 1000,
        name: b"ch",
    }
    .emit(&mut b)
    .unwrap();
    r.handle_datagram(Instant::ZERO, from, &b[..n]);
    drain(r)
        .iter()
        .find_map(|(_, d)| match Message::parse(d) {
            Ok(Message::JoinAck { token, .. }) => Some(token),
            _ => None,
        })
        .unwrap()
}

fn report(r: &mut Root, from: SocketAddr, token: u32, nat: NatCode, private: SocketAddr) {
    let mut b = [0u8; 64];
    let rep = Report {
        token,
        nat,
        private: Some(private),
        reachable: true,
    };
    let n = rep.encode(0, &mut b).unwrap();
    r.handle_datagram(Instant::ZERO, from, &b[..n]);
}

#[test]
fn introduces_natted_pairs_with_private_addresses_behind_one_nat() {
    let mut r = root();
    let open = sa("203.0.113.20:4000");
    let (d1, d2) = (sa("203.0.113.13:4000"), sa("203.0.113.13:1024"));
    let (p1, p2) = (sa("198.51.100.34:4000"), sa("198.51.100.50:4000"));
    let e = sa("203.0.113.14:4000");
    let t_open = join(&mut r, open);
    let t1 = join(&mut r, d1);
    let t2 = join(&mut r, d2);
    let te = join(&mut r, e);
    // A REPORT with a wrong token is ignored: nothing validated, nothing introduced.
    report(&mut r, d1, t1 ^ 1, NatCode::Cone, p1);
    r.handle_timeout(Instant::ZERO + Duration::from_secs(1));
    assert!(drain(&mut r).is_empty());
    assert_eq!(r.poll_validated(), None);
    report(&mut r, open, t_open, NatCode::Open, open);
    report(&mut r, d1, t1, NatCode::Cone, p1);
    report(&mut r, d2, t2, NatCode::Unknown, p2);
    report(&mut r, e, te, NatCode::FullCone, sa("192.0.2.2:4000"));
    let mut validated = Vec::new();
    while let Some(a) = r.poll_validated() {
        validated.push(a);
    }
    assert_eq!(validated, [open, d1, d2, e]);
    let intros_at = |r: &mut Root, s: u64| -> Vec<(SocketAddr, Introduce)> {
        r.handle_timeout(Instant::ZERO + Duration::from_secs(s));
        drain(r)
            .into_iter()
            .filter(|(_, d)| d[1] == TYPE_INTRODUCE)
            .map(|(a, d)| (a, Introduce::parse(&d).unwrap()))
            .collect()
    };
    // d2 has no NAT type yet: at first only d1's pairs (open–d1, d1–e), each side told the
    // other's type.
    let first = intros_at(&mut r, 2);
    assert_eq!(first.len(), 4, "{first:?}");
    let nat_of = |to: SocketAddr, peer: SocketAddr| {
        first
            .iter()
            .find(|(a, i)| *a == to && i.public == peer)
            .map(|x| x.1.nat)
    };
    assert_eq!(nat_of(open, d1), Some(NatCode::Cone));
    assert_eq!(nat_of(d1, open), Some(NatCode::Open));
    assert_eq!(nat_of(d1, e), Some(NatCode::FullCone));
    // CLASSIFY_WAIT after its first REPORT, d2 is introduced all the same.
    let mut intros = intros_at(&mut r, CLASSIFY_WAIT.as_secs() + 1);
    intros.extend(first);
    let got = |to: SocketAddr, peer: SocketAddr| {
        intros
            .iter()
            .find(|(a, i)| *a == to && i.public == peer)
            .map(|x| x.1)
    };
    // Same NAT: private candidates both ways, one session nonce.
    let (x, y) = (got(d1, d2).unwrap(), got(d2, d1).unwrap());
    assert_eq!((x.private, y.private), (Some(p2), Some(p1)));
    assert_eq!(x.session, y.session);
    // NATed with open / full cone: public only. Open with full cone: no introduction needed.
    assert_eq!(got(open, d1).unwrap().private, None);
    assert_eq!(got(d1, open).unwrap().private, None);
    assert!(got(e, d2).is_some() && got(d2, e).is_some());
    assert!(got(open, e).is_none() && got(e, open).is_none());
    // 5 pairs (d1-d2, open-d1, open-d2, d1-e, d2-e), each introduced once.
    assert_eq!(intros.len(), 10);
    assert_eq!(r.intro_stats().pairs, 5);
    assert!(intros_at(&mut r, CLASSIFY_WAIT.as_secs() + 2).is_empty());
    // The NATed cone boxes left the PEERS sample; the full cone stays in it.
    let reachable = |r: &Root, a: SocketAddr| {
        r.sessions
            .iter()
            .flatten()
            .find(|s| s.addr == a)
            .unwrap()
            .reachable
    };
    assert!(!reachable(&r, d1) && !reachable(&r, d2));
    assert!(reachable(&r, open) && reachable(&r, e));
}
