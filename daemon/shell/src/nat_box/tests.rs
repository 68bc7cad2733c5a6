//! `NatBox` against the core's STUN responder on a simulated network (no sockets): a box with no
//! NAT, one behind a full-cone NAT, and a silent server.

use super::*;
use std::net::IpAddr;
use tvmesh_core::nat::server::{answer, Local, ServerAddrs};

const ROOT: &str = "203.0.113.2:3478";

fn addrs() -> ServerAddrs {
    ServerAddrs {
        primary: ROOT.parse().unwrap(),
        alt_port: Some(3479),
        alt_ip: Some("203.0.113.3".parse::<IpAddr>().unwrap()),
    }
}

/// Runs `nb` to the end of one classification; the network maps the box's address to `public`
/// and, with `answers` false, the server never answers. Returns the time it ended.
fn drive(nb: &mut NatBox, start: Instant, public: SocketAddr, answers: bool) -> Instant {
    let a = addrs();
    let (mut tx, mut out) = ([0u8; 256], [0u8; 256]);
    let mut now = start;
    for _ in 0..1000 {
        while let Some(t) = nb.poll_transmit(now, &mut tx) {
            let Some((on, _)) = a.locals().find(|(_, x)| *x == t.dst) else {
                panic!("sent to {} which is no server socket", t.dst);
            };
            if !answers {
                continue;
            }
            let ans = answer(&tx[..t.len], public, on, &a, 1500, &mut out).unwrap();
            let from = a.addr(ans.from).unwrap();
            // The full-cone / open network lets every answer in.
            assert!(nb.handle_stun(now, from, &out[..ans.len]));
        }
        if nb.run.is_none() && nb.runs > 0 {
            return now;
        }
        now = nb.poll_timeout().unwrap();
        nb.handle_timeout(now);
        if nb.run.is_none() {
            return now;
        }
    }
    panic!("classification did not end in 1000 steps");
}

#[test]
fn open_box_reports_open_with_its_own_address() {
    let bound: SocketAddr = "203.0.113.20:5000".parse().unwrap();
    let t0 = Instant::from_millis(1);
    let mut nb = NatBox::new(ROOT.parse().unwrap(), None, bound, 7, t0);
    assert_eq!(nb.view().kind, "unknown");
    assert_eq!(nb.view().public_addr, None);
    let end = drive(&mut nb, t0, bound, true);
    let v = nb.view();
    assert_eq!((v.kind, v.public_addr, v.runs), ("open", Some(bound), 1));
    assert_eq!(nb.poll_timeout(), Some(end + RECLASSIFY_EVERY));
}

#[test]
fn full_cone_box_learns_the_public_address_and_reruns() {
    let bound: SocketAddr = "192.0.2.2:5000".parse().unwrap();
    let public: SocketAddr = "203.0.113.14:40000".parse().unwrap();
    let t0 = Instant::from_millis(1);
    let mut nb = NatBox::new(ROOT.parse().unwrap(), None, bound, 7, t0);
    let end = drive(&mut nb, t0, public, true);
    let v = nb.view();
    assert_eq!(
        (v.kind, v.mapping, v.filtering, v.public_addr),
        (
            "full-cone",
            "endpoint-independent",
            "endpoint-independent",
            Some(public)
        )
    );
    // Nothing is sent until the re-run is due; then a new run starts and keeps the old view.
    let mut tx = [0u8; 256];
    assert!(nb
        .poll_transmit(end + RECLASSIFY_EVERY - RTO, &mut tx)
        .is_none());
    assert!(nb.poll_transmit(end + RECLASSIFY_EVERY, &mut tx).is_some());
    assert_eq!(nb.view().kind, "full-cone");
    assert_eq!(nb.view().runs, 1);
    drive(&mut nb, end + RECLASSIFY_EVERY, public, true);
    assert_eq!(nb.view().runs, 2);
}

#[test]
fn silent_server_stays_unknown_and_retries_sooner() {
    let bound: SocketAddr = "192.0.2.2:5000".parse().unwrap();
    let t0 = Instant::from_millis(1);
    let mut nb = NatBox::new(ROOT.parse().unwrap(), None, bound, 7, t0);
    let end = drive(&mut nb, t0, bound, false);
    // Bounded by the classifier: one test, TRIES requests, 7 · RTO.
    assert!(end.saturating_since(t0) <= RTO * 7, "{:?}", end);
    let v = nb.view();
    assert_eq!((v.kind, v.public_addr, v.runs), ("unknown", None, 1));
    assert_eq!(nb.poll_timeout(), Some(end + RETRY_AFTER));
    // A stray STUN answer between runs is dropped and counted.
    let a = addrs();
    let mut tx = [0u8; 256];
    let mut out = [0u8; 256];
    let n =
        tvmesh_core::stun::Builder::binding(tvmesh_core::stun::Class::Request, [1; 12], &mut tx)
            .unwrap()
            .finish_with_fingerprint()
            .unwrap();
    let ans = answer(&tx[..n], bound, Local::PRIMARY, &a, 1500, &mut out).unwrap();
    assert!(!nb.handle_stun(end, a.primary, &out[..ans.len]));
    assert_eq!(nb.stun_ignored, 1);
}

#[test]
fn stun_server_that_does_not_resolve_waits_and_sends_nothing() {
    let bound: SocketAddr = "192.0.2.2:5000".parse().unwrap();
    let t0 = Instant::from_millis(1);
    // `.invalid` never resolves (RFC 2606).
    let mut nb = NatBox::new(
        ROOT.parse().unwrap(),
        Some("stun.invalid:3478"),
        bound,
        7,
        t0,
    );
    let mut tx = [0u8; 256];
    assert!(nb.poll_transmit(t0, &mut tx).is_none());
    assert_eq!(nb.poll_timeout(), Some(t0 + RETRY_AFTER));
    assert_eq!(nb.view().kind, "unknown");
}
