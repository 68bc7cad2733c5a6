use super::*;
use crate::nat::server::{answer, ServerAddrs};
use std::vec::Vec;

const LOCAL: &str = "198.51.100.2:5000";

/// A scripted NAT between the classifier and a root with four STUN sockets.
struct World {
    mapping: Mapping,
    filtering: Filtering,
    /// Destinations the box has sent to (for filtering).
    sent_to: Vec<SocketAddr>,
    /// Server answers dropped on purpose (a lossy path).
    drop_first: usize,
    server: ServerAddrs,
}

impl World {
    fn public(&self, dst: SocketAddr) -> SocketAddr {
        let port = match self.mapping {
            Mapping::Open => return LOCAL.parse().unwrap(),
            Mapping::Independent | Mapping::Unknown => 40000,
            Mapping::AddressDependent => 40000 + u16::from(dst.ip() == alt_ip()),
            Mapping::AddressPortDependent => {
                40000 + (dst.port() % 100) * 2 + u16::from(dst.ip() == alt_ip())
            }
        };
        SocketAddr::new("192.0.2.1".parse().unwrap(), port)
    }

    fn admits(&self, src: SocketAddr) -> bool {
        match self.filtering {
            Filtering::Open | Filtering::Independent | Filtering::Unknown => true,
            Filtering::AddressDependent => self.sent_to.iter().any(|d| d.ip() == src.ip()),
            Filtering::AddressPortDependent => self.sent_to.contains(&src),
        }
    }

    /// Runs a classifier to completion; returns the report and the virtual time it took.
    fn run(&mut self, cfg: ClassifyConfig) -> (NatReport, Duration) {
        let mut c = Classifier::new(cfg);
        let mut now = Instant::from_millis(1000);
        let start = now;
        let mut buf = [0u8; 256];
        let mut out = [0u8; 256];
        for _ in 0..1000 {
            if let Some(r) = c.report() {
                return (r, now.saturating_since(start));
            }
            while let Some(t) = c.poll_transmit(now, &mut buf) {
                assert!(t.len >= PADDED_LEN || !cfg.pad);
                self.sent_to.push(t.dst);
                let Some((on, _)) = self.server.locals().find(|(_, a)| *a == t.dst) else {
                    continue;
                };
                let src = self.public(t.dst);
                let Ok(a) = answer(&buf[..t.len], src, on, &self.server, t.len, &mut out) else {
                    continue;
                };
                assert!(a.full, "a padded request earns the full answer");
                let from = self.server.addr(a.from).unwrap();
                if self.drop_first > 0 {
                    self.drop_first -= 1;
                    continue;
                }
                if self.admits(from) {
                    assert!(c.handle_response(now, from, &out[..a.len]));
                }
            }
            let Some(next) = c.poll_timeout() else {
                continue;
            };
            now = next.max(now);
            c.handle_timeout(now);
        }
        panic!("classifier did not finish");
    }
}

fn alt_ip() -> core::net::IpAddr {
    "203.0.113.3".parse().unwrap()
}

fn world(mapping: Mapping, filtering: Filtering) -> World {
    World {
        mapping,
        filtering,
        sent_to: Vec::new(),
        drop_first: 0,
        server: ServerAddrs {
            primary: "203.0.113.2:3478".parse().unwrap(),
            alt_port: Some(3479),
            alt_ip: Some("203.0.113.3".parse().unwrap()),
        },
    }
}

fn cfg() -> ClassifyConfig {
    ClassifyConfig {
        server: "203.0.113.2:3478".parse().unwrap(),
        alt: None,
        local: Some(LOCAL.parse().unwrap()),
        rto: Duration::from_millis(100),
        max_tries: 3,
        pad: true,
        seed: 7,
    }
}

#[test]
fn classifies_every_scripted_nat() {
    use Filtering as F;
    use Mapping as M;
    let cases = [
        (M::Open, F::Open),
        (M::Independent, F::Independent),
        (M::Independent, F::AddressDependent),
        (M::Independent, F::AddressPortDependent),
        (M::AddressDependent, F::AddressPortDependent),
        (M::AddressPortDependent, F::AddressPortDependent),
        (M::AddressPortDependent, F::Independent),
    ];
    for (m, f) in cases {
        let mut w = world(m, f);
        let (r, took) = w.run(cfg());
        assert_eq!((r.mapping, r.filtering), (m, f), "scripted {m:?}/{f:?}");
        assert_eq!(r.other, Some("203.0.113.3:3479".parse().unwrap()));
        assert_eq!(r.alt_ip_tested, m != M::Open);
        assert_eq!(r.public_addr, Some(w.public(cfg().server)));
        // Two filtering tests timing out cost 2 × (100+200+400) ms at most.
        assert!(
            took <= Duration::from_millis(1400),
            "{m:?}/{f:?} took {took:?}"
        );
    }
}

#[test]
fn retransmits_through_loss() {
    let mut w = world(Mapping::Independent, Filtering::AddressPortDependent);
    w.drop_first = 2;
    let (r, _) = w.run(cfg());
    assert_eq!(r.mapping, Mapping::Independent);
    assert_eq!(r.filtering, Filtering::AddressPortDependent);
}

#[test]
fn plain_server_gives_only_the_address() {
    let mut w = world(Mapping::Independent, Filtering::Independent);
    w.server.alt_ip = None;
    w.server.alt_port = None;
    let (r, _) = w.run(cfg());
    assert_eq!(r.public_addr, Some("192.0.2.1:40000".parse().unwrap()));
    assert_eq!(
        (r.mapping, r.filtering),
        (Mapping::Unknown, Filtering::Unknown)
    );
    assert_eq!(r.other, None);
}

#[test]
fn port_only_alternate() {
    let mut w = world(
        Mapping::AddressPortDependent,
        Filtering::AddressPortDependent,
    );
    w.server.alt_ip = None;
    let (r, _) = w.run(cfg());
    assert!(!r.alt_ip_tested);
    assert_eq!(r.mapping, Mapping::AddressPortDependent);
    assert_eq!(r.filtering, Filtering::AddressPortDependent);
}

#[test]
fn no_server_at_all_is_bounded() {
    let mut w = world(Mapping::Independent, Filtering::Independent);
    w.server.primary = "203.0.113.99:1".parse().unwrap();
    let (r, took) = w.run(cfg());
    assert_eq!(r.public_addr, None);
    assert_eq!(took, Duration::from_millis(700));
    let sent = w.sent_to.len();
    assert_eq!(sent, 3, "max_tries requests, no more");
}

#[test]
fn error_answer_drops_padding() {
    let mut c = Classifier::new(cfg());
    let now = Instant::from_millis(5);
    let mut buf = [0u8; 256];
    let t = c.poll_transmit(now, &mut buf).unwrap();
    assert_eq!(t.len, PADDED_LEN);
    let txid: [u8; 12] = buf[8..20].try_into().unwrap();
    let mut e = [0u8; 64];
    let n = Builder::binding(Class::Error, txid, &mut e)
        .unwrap()
        .finish();
    assert!(c.handle_response(now, t.dst, &e[..n]));
    let t = c.poll_transmit(now, &mut buf).unwrap();
    assert_eq!(t.len, 28, "header + fingerprint, unpadded");
    // Garbage and foreign answers are not consumed.
    assert!(!c.handle_response(now, t.dst, &[0xC1, 1, 2, 3]));
    assert!(!c.handle_response(now, t.dst, &e[..n]));
}
